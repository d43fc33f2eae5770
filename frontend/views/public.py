"""Pages anyone can open: home, registration, login, password reset, privacy notice."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth import views as auth_views
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from accounts.services import user_register
from accounts.throttling import (
    THROTTLED_MESSAGE,
    ThrottledFormPageMixin,
    ThrottledLoginPageMixin,
    page_rate_retry_after,
    retry_after_header,
)
from frontend.access import login_required
from frontend.forms import LoginForm, RegisterForm, apply_service_errors
from frontend.navigation import home_url_for


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "frontend/public/home.html")


def privacy(request: HttpRequest) -> HttpResponse:
    from django.conf import settings

    # The notice states the retention ages actually configured (accounts/gdpr.py).
    return render(request, "frontend/public/privacy.html", {
        "unverified_days": settings.RETENTION_UNVERIFIED_ACCOUNT_DAYS, "audit_days": settings.RETENTION_AUDIT_DAYS,
    })


def register(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect(home_url_for(request.user))
    form = RegisterForm(request.POST or None, initial={"role": request.GET.get("role", "")})
    wait = page_rate_retry_after(request, "register") if request.method == "POST" else None
    if wait is not None:  # the API's registration rate, per address (accounts/throttling.py)
        form = RegisterForm(initial={"role": request.POST.get("role", "")})
        form.cleaned_data = {}
        form.add_error(None, str(THROTTLED_MESSAGE))
        return retry_after_header(render(request, "frontend/public/register.html", {"form": form}, status=429), wait)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = user_register(
                email=data["email"], password=data["password"], display_name=data["display_name"],
                role=data["role"], request=request,
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            login(request, user, backend="accounts.authcache.CachedModelBackend")
            messages.success(request, _("Bienvenue ! Votre compte est créé."))
            return redirect(home_url_for(user))
    return render(request, "frontend/public/register.html", {"form": form})


class LoginView(ThrottledLoginPageMixin, auth_views.LoginView):
    """Throttled like the API login (accounts/throttling.py): 429 with Retry-After."""

    template_name = "frontend/registration/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def get_default_redirect_url(self) -> str:
        return home_url_for(self.request.user)


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    messages.info(request, _("Vous êtes déconnecté."))
    return redirect("frontend:home")


@login_required
def my_space(request: HttpRequest) -> HttpResponse:
    return HttpResponseRedirect(home_url_for(request.user))


class PasswordResetView(ThrottledFormPageMixin, auth_views.PasswordResetView):
    throttle_scope = "password_reset"  # shared with the API: reset e-mails cannot be used to flood

    template_name = "frontend/registration/password_reset.html"
    email_template_name = "frontend/registration/password_reset_email.txt"
    subject_template_name = "frontend/registration/password_reset_subject.txt"
    success_url = reverse_lazy("frontend:password_reset_done")


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "frontend/registration/password_reset_done.html"


class PasswordResetConfirmView(ThrottledFormPageMixin, auth_views.PasswordResetConfirmView):
    throttle_scope = "password_reset"

    template_name = "frontend/registration/password_reset_confirm.html"
    success_url = reverse_lazy("frontend:password_reset_complete")


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "frontend/registration/password_reset_complete.html"


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "frontend/registration/password_change.html"
    success_url = reverse_lazy("frontend:my_space")

    def form_valid(self, form):  # type: ignore[no-untyped-def]
        messages.success(self.request, gettext_lazy("Votre mot de passe est changé."))
        return super().form_valid(form)
