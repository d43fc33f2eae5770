from rest_framework.routers import SimpleRouter

from cycles.api import views

router = SimpleRouter()
router.register("cycles", views.CycleViewSet, basename="cycle")
router.register("proposals", views.ProposalViewSet, basename="proposal")
router.register("matches", views.MatchViewSet, basename="match")
router.register("audit", views.AuditViewSet, basename="audit")

urlpatterns = [*router.urls]
