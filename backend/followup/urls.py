from django.urls import path
from rest_framework.routers import SimpleRouter

from followup.api import views

router = SimpleRouter()
router.register("followup/meetings", views.MeetingViewSet, basename="followup-meeting")
router.register("followup/feedback", views.FeedbackViewSet, basename="followup-feedback")
router.register("followup/outcomes", views.OutcomeViewSet, basename="followup-outcome")
router.register("followup/nudges", views.NudgeViewSet, basename="followup-nudge")
router.register("followup/stalled", views.StalledViewSet, basename="followup-stalled")

urlpatterns = [
    path("followup/matches/<int:match_id>/nudge/", views.MatchNudgeView.as_view(), name="followup-match-nudge"),
    path("followup/offers/<int:offer_id>/hours/", views.OfferHoursView.as_view(), name="followup-offer-hours"),
    path("followup/reports/", views.ReportView.as_view(), name="followup-report"),
    path("followup/reports/export/", views.ReportExportView.as_view(), name="followup-report-export"),
    *router.urls,
]
