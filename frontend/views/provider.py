"""Mentor and company pages: profile, skills and levels, capacity and pause; offers and the
hours given on each."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from accounts.models import Role
from config.response_cache import cached_page
from followup.selectors import OfferHoursSummary
from frontend.access import role_required
from frontend.forms import CompanyProfileForm, MentorProfileForm, OfferForm, apply_service_errors
from marketplace import selectors, services

mentor_only = role_required(Role.MENTOR)
company_only = role_required(Role.COMPANY)


def _skill_levels(form: Any) -> list[services.SkillLevel]:
    return [services.SkillLevel(skill=skill, level=level) for skill, level in form.chosen_skills()]


# --- Mentor ---------------------------------------------------------------------------------------


@mentor_only
@cached_page
def mentor_home(request: HttpRequest) -> HttpResponse:
    profile = selectors.own_profile(request.user)
    # The skills with their labels in one query (the template read each skill's row apart).
    skills = profile.skills.select_related("skill") if profile is not None else []
    return render(request, "frontend/provider/mentor_home.html", {"profile": profile, "skills": skills})


@mentor_only
def mentor_profile(request: HttpRequest) -> HttpResponse:
    user = request.user
    current = selectors.own_profile(user)
    initial: dict[str, Any] = {}
    initial_skills: dict[int, int] = {}
    if current is not None:
        initial = {
            "bio": current.bio, "town": current.town, "reachable_towns": list(current.reachable_towns.all()),
            "format": current.format, "languages": list(current.languages.all()), "sectors": list(current.sectors.all()),
            "availability": current.availability, "capacity": current.capacity, "paused": current.paused,
        }
        initial_skills = {s.skill_id: s.level for s in current.skills.all()}
    form = MentorProfileForm(request.POST or None, initial=initial, initial_skills=initial_skills)
    if request.method == "POST" and form.is_valid():
        data = {k: v for k, v in form.cleaned_data.items() if not k.startswith(form.skill_prefix)}
        try:
            services.mentor_profile_upsert(
                user=user, skills=_skill_levels(form), employer=current.employer if current else None, **data
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, _("Votre profil est enregistré."))
            return redirect("frontend:mentor_home")
    return render(request, "frontend/provider/mentor_profile.html", {"form": form, "first_time": current is None})


# --- Company --------------------------------------------------------------------------------------


def _offers_with_hours(user: Any) -> list[Any]:
    """The company's offers with the hours given on each (the follow-up ledger, one join: no
    query per offer) against its budget."""
    offers = list(selectors.offer_list_for_user(user).prefetch_related(None).annotate(
        delivered_minutes=Coalesce(F("hours_ledger__delivered_minutes"), Value(0))))
    for offer in offers:
        offer.hours = OfferHoursSummary(offer_id=offer.pk, budget_hours=offer.hours_budget,
                                        delivered_minutes=offer.delivered_minutes)
        offer.hours_percent = min(100, round(100 * offer.delivered_minutes / max(offer.hours.budget_minutes, 1)))
    return offers


@company_only
@cached_page
def company_home(request: HttpRequest) -> HttpResponse:
    profile = selectors.own_profile(request.user)
    return render(request, "frontend/provider/company_home.html",
                  {"profile": profile, "offers": _offers_with_hours(request.user)})


@company_only
def company_profile(request: HttpRequest) -> HttpResponse:
    current = selectors.own_profile(request.user)
    initial: dict[str, Any] = {}
    if current is not None:
        initial = {f: getattr(current, f) for f in CompanyProfileForm.base_fields}
    form = CompanyProfileForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.company_profile_upsert(user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, _("Le profil de l'entreprise est enregistré."))
            return redirect("frontend:offers" if current is not None else "frontend:offer_create")
    return render(request, "frontend/provider/company_profile.html", {"form": form, "first_time": current is None})


@company_only
@cached_page
def offers(request: HttpRequest) -> HttpResponse:
    profile = selectors.own_profile(request.user)
    return render(
        request, "frontend/provider/offers.html",
        {"offers": _offers_with_hours(request.user), "profile": profile},
    )


OFFER_PLAIN_FIELDS = ("title", "description", "format", "town", "availability", "capacity", "hours_budget",
                      "starts_on", "ends_on", "active")
OFFER_M2M_FIELDS = ("reachable_towns", "languages", "sectors", "accepted_stages")


def _offer_form_response(request: HttpRequest, offer: Any) -> HttpResponse:
    if offer is None and selectors.own_profile(request.user) is None:
        messages.warning(request, _("Complétez d'abord le profil de l'entreprise."))
        return redirect("frontend:company_profile")
    initial: dict[str, Any] = {}
    initial_skills: dict[int, int] = {}
    if offer is not None:
        initial = {f: getattr(offer, f) for f in OFFER_PLAIN_FIELDS}
        initial.update({f: list(getattr(offer, f).all()) for f in OFFER_M2M_FIELDS})
        initial_skills = {s.skill_id: s.level for s in offer.skills.all()}
    form = OfferForm(request.POST or None, initial=initial, initial_skills=initial_skills)
    if request.method == "POST" and form.is_valid():
        data = {k: v for k, v in form.cleaned_data.items() if not k.startswith(form.skill_prefix)}
        try:
            if offer is None:
                services.offer_create(user=request.user, skills=_skill_levels(form), **data)
            else:
                services.offer_update(user=request.user, offer=offer, skills=_skill_levels(form), **data)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, _("L'offre est enregistrée."))
            return redirect("frontend:offers")
    return render(request, "frontend/provider/offer_form.html", {"form": form, "offer": offer})


@company_only
def offer_create(request: HttpRequest) -> HttpResponse:
    return _offer_form_response(request, None)


@company_only
def offer_edit(request: HttpRequest, offer_id: int) -> HttpResponse:
    offer = selectors.offer_get_for_user(user=request.user, offer_id=offer_id)
    return _offer_form_response(request, offer)
