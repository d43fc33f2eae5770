""""My data", for every signed-in user: download everything the platform holds about me (JSON)
and erase my account, each behind my password (``accounts.gdpr``: ``user_export``,
``user_erase``). Attempts are throttled like the API's (``accounts.throttling.GdprThrottle``),
so a stolen session cannot guess the password quickly."""

from __future__ import annotations

import datetime as dt
import json
import math

from django import forms
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.gdpr import user_erase, user_export
from accounts.throttling import GdprThrottle
from frontend.access import login_required


class PasswordForm(forms.Form):
    password = forms.CharField(
        label=gettext_lazy("Votre mot de passe"), strip=False, max_length=128,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, *args: object, user: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.user = user

    def clean_password(self) -> str:
        value = self.cleaned_data["password"]
        if not self.user.check_password(value):  # type: ignore[attr-defined]
            raise forms.ValidationError(_("Mot de passe incorrect."))
        return value


class EraseForm(PasswordForm):
    confirm = forms.BooleanField(
        label=gettext_lazy("Je comprends que l'effacement est définitif : mon compte, mon profil et mes demandes "
                           "disparaissent, mes binômes en cours s'arrêtent."),
        error_messages={"required": gettext_lazy("Cochez cette case pour confirmer l'effacement.")},
    )


def _throttled(request: HttpRequest) -> int | None:
    """Seconds to wait when this user tried too often, else None (each attempt counts)."""
    throttle = GdprThrottle()
    if throttle.allow_request(request, None):
        return None
    return max(1, math.ceil(throttle.wait()))


@login_required
def my_data(request: HttpRequest) -> HttpResponse:
    user = request.user
    action = request.POST.get("action") if request.method == "POST" else None
    export_form = PasswordForm(request.POST if action == "export" else None, user=user, prefix="export")
    erase_form = EraseForm(request.POST if action == "erase" else None, user=user, prefix="erase")
    status = 200
    if action in ("export", "erase"):
        wait = _throttled(request)
        form = export_form if action == "export" else erase_form
        if wait is not None:
            form.is_valid()
            form.add_error(None, _("Trop de tentatives. Réessayez dans %(minutes)d minute(s).")
                           % {"minutes": max(1, math.ceil(wait / 60))})
            status = 429
        elif action == "export" and export_form.is_valid():
            data = user_export(user=user, actor=user, request=request)
            stamp = timezone.now().astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
            response = HttpResponse(json.dumps(data, ensure_ascii=False, indent=2),
                                    content_type="application/json; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="sociallab-mes-donnees-{stamp}.json"'
            response["Cache-Control"] = "no-store"
            return response
        elif action == "erase" and erase_form.is_valid():
            user_erase(user=user, actor=user, request=request)
            logout(request)
            messages.success(request, _("Votre compte est effacé. Merci d'avoir participé au Social LAB."))
            return redirect("frontend:home")
    return render(request, "frontend/account/my_data.html",
                  {"export_form": export_form, "erase_form": erase_form}, status=status)
