from django.urls import path
from rest_framework.routers import SimpleRouter

from marketplace.api import views

router = SimpleRouter()
router.register("projects", views.ProjectViewSet, basename="project")
router.register("requests", views.RequestViewSet, basename="request")
router.register("offers", views.OfferViewSet, basename="offer")
router.register("mentors", views.MentorViewSet, basename="mentor")
router.register("companies", views.CompanyViewSet, basename="company")
router.register("entrepreneurs", views.EntrepreneurViewSet, basename="entrepreneur")
router.register("consents", views.ConsentViewSet, basename="consent")

urlpatterns = [
    path("auth/register/", views.RegisterView.as_view(), name="auth-register"),
    path("auth/login/", views.LoginView.as_view(), name="auth-login"),
    path("auth/logout/", views.LogoutView.as_view(), name="auth-logout"),
    path("auth/token/", views.TokenView.as_view(), name="auth-token"),
    path("auth/password/change/", views.PasswordChangeView.as_view(), name="auth-password-change"),
    path("auth/password/reset/", views.PasswordResetView.as_view(), name="auth-password-reset"),
    path("auth/password/reset/confirm/", views.PasswordResetConfirmView.as_view(), name="auth-password-reset-confirm"),
    path("me/", views.MeView.as_view(), name="me"),
    path("me/profile/", views.MyProfileView.as_view(), name="me-profile"),
    *[
        path(f"reference/{kind}/", views.reference_view(kind), name=f"reference-{kind}")
        for kind in ("territories", "towns", "skills", "sectors", "languages", "stages")
    ],
    *router.urls,
]
