from django.urls import path

from audit.api import AuditTrailView

urlpatterns = [
    path("audit/trail/", AuditTrailView.as_view(), name="audit-trail"),
]
