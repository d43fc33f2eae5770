"""Proposals and matches seen by the two parties: who, why this match (each criterion in words),
accept or decline with a reason; my matches."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST
from rest_framework.exceptions import APIException

from accounts.models import Role
from cycles import selectors as cycle_selectors
from cycles import services as cycle_services
from cycles.models import DeclineReason, MatchStatus
from frontend.access import role_required

parties_only = role_required(Role.ENTREPRENEUR, Role.MENTOR, Role.COMPANY)

# What each criterion means, in the words of the person reading the proposal.
CRITERIA = {
    "skills": gettext_lazy("Compétences : ce que cette personne sait faire couvre vos besoins"),
    "sector": gettext_lazy("Secteur : elle connaît votre secteur d'activité"),
    "distance": gettext_lazy("Distance : vous pouvez vous rencontrer facilement"),
    "availability": gettext_lazy("Disponibilités : vous avez des moments libres en commun"),
    "preference": gettext_lazy("Préférences : vos souhaits sont respectés"),
}


class DeclineForm(forms.Form):
    reason_code = forms.ChoiceField(label=gettext_lazy("Pourquoi refusez-vous ?"), choices=DeclineReason.choices,
                                    widget=forms.RadioSelect)
    reason = forms.CharField(label=gettext_lazy("Précisions"), widget=forms.Textarea(attrs={"rows": 2}),
                             max_length=1000, required=False)


def _why(match: Any) -> list[dict[str, Any]]:
    proposal = getattr(match, "proposal", None)
    if proposal is None:
        return []
    return [{"label": CRITERIA[key], "points": round(points)} for key, points in proposal.breakdown.items()
            if key in CRITERIA and points > 0]


def _card(match: Any, user: Any) -> dict[str, Any]:
    side = "entrepreneur" if match.entrepreneur_id == user.pk else "provider"
    mine = match.entrepreneur_accepted_at if side == "entrepreneur" else match.provider_accepted_at
    return {"m": match, "side": side, "i_accepted": mine is not None, "why": _why(match),
            "pending": match.status == MatchStatus.PENDING, "form": DeclineForm(prefix=f"m{match.pk}")}


def _list(request: HttpRequest, *, pending: bool) -> HttpResponse:
    matches = cycle_selectors.match_list_for_user(request.user).select_related(
        "proposal", "conversation", "mentor__user", "offer__company", "request__project__stage"
    )
    matches = matches.filter(status=MatchStatus.PENDING) if pending else matches.exclude(status=MatchStatus.PENDING)
    cards = [_card(m, request.user) for m in matches]
    return render(request, "frontend/matches/list.html", {"cards": cards, "pending": pending})


@parties_only
def proposals(request: HttpRequest) -> HttpResponse:
    return _list(request, pending=True)


@parties_only
def my_matches(request: HttpRequest) -> HttpResponse:
    return _list(request, pending=False)


def _show_conflict(request: HttpRequest, exc: Exception) -> None:
    detail = getattr(exc, "detail", None)
    if isinstance(detail, dict):
        detail = detail.get("detail", next(iter(detail.values()), ""))
    messages.error(request, _(str(detail or exc)))


@parties_only
@require_POST
def match_accept(request: HttpRequest, match_id: int) -> HttpResponse:
    match = cycle_selectors.match_get_for_user(user=request.user, match_id=match_id)
    try:
        match = cycle_services.match_accept(actor=request.user, match=match)
    except (APIException, PermissionDenied) as exc:
        _show_conflict(request, exc)
        return redirect("frontend:proposals")
    if match.status == MatchStatus.ACTIVE:
        messages.success(request, _("Vous avez accepté tous les deux : votre binôme commence."))
        return redirect("frontend:my_matches")
    messages.success(request, _("C'est noté. Nous attendons la réponse de l'autre personne."))
    return redirect("frontend:proposals")


@parties_only
@require_POST
def match_decline(request: HttpRequest, match_id: int) -> HttpResponse:
    match = cycle_selectors.match_get_for_user(user=request.user, match_id=match_id)
    form = DeclineForm(request.POST, prefix=f"m{match.pk}")
    if not form.is_valid():
        messages.error(request, _("Indiquez pourquoi vous refusez."))
        return redirect("frontend:proposals")
    try:
        cycle_services.match_decline(actor=request.user, match=match, **form.cleaned_data)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, _(message))
    except (APIException, PermissionDenied) as exc:
        _show_conflict(request, exc)
    else:
        messages.success(request, _("C'est noté. Votre demande retourne dans le prochain cycle."))
    return redirect("frontend:proposals")
