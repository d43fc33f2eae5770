"""Entrepreneur pages: onboarding in short steps (profile → project → needs → request), my
requests with their status, withdraw."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.models import ConsentPurpose, Role
from accounts.services import consent_grant, consent_is_live, consent_withdraw
from config.response_cache import cached_page
from frontend.access import role_required
from frontend.forms import (
    EntrepreneurProfileForm,
    NeedsForm,
    ProjectForm,
    ReasonForm,
    RequestForm,
    apply_service_errors,
)
from marketplace import selectors, services
from marketplace.models import LIVE_REQUEST_STATUSES, Project

entrepreneur_only = role_required(Role.ENTREPRENEUR)


def _onboarding(user: Any) -> dict[str, Any]:
    """Where the entrepreneur stands in the four steps, and the next one to do."""
    profile = selectors.own_profile(user)
    project = selectors.project_list_for_user(user).first()
    has_needs = bool(project and project.needs.all())
    live_request = (
        selectors.request_list_for_user(user).filter(project=project, status__in=LIVE_REQUEST_STATUSES).first()
        if project else None
    )
    steps = [
        {"key": "profile", "done": profile is not None},
        {"key": "project", "done": project is not None},
        {"key": "needs", "done": has_needs},
        {"key": "request", "done": live_request is not None},
    ]
    next_step = next((s["key"] for s in steps if not s["done"]), None)
    return {"profile": profile, "project": project, "steps": steps, "next_step": next_step, "live_request": live_request}


@entrepreneur_only
@cached_page
def home(request: HttpRequest) -> HttpResponse:
    state = _onboarding(request.user)
    requests = selectors.request_list_for_user(request.user)[:5]
    return render(request, "frontend/entrepreneur/home.html", {**state, "requests": requests})


@entrepreneur_only
def profile(request: HttpRequest) -> HttpResponse:
    user = request.user
    current = selectors.own_profile(user)
    consented = consent_is_live(user=user, purpose=ConsentPurpose.PRIORITY_DATA)
    initial: dict[str, Any] = {"priority_consent": consented}
    if current is not None:
        initial.update(
            town=current.town, neighbourhood=current.neighbourhood, languages=list(current.languages.all()),
            preferred_format=current.preferred_format, availability=current.availability,
            age_band=current.age_band, gender=current.gender,
            qpv_resident={True: "1", False: "0"}.get(current.qpv_resident, ""),
            job_seeker={True: "1", False: "0"}.get(current.job_seeker, ""),
        )
    form = EntrepreneurProfileForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        wants_consent = data.pop("priority_consent")
        try:
            # Consent and profile change together or not at all.
            with transaction.atomic():
                if wants_consent:
                    consent_grant(user=user, purpose=ConsentPurpose.PRIORITY_DATA)
                elif consented:
                    consent_withdraw(user=user, purpose=ConsentPurpose.PRIORITY_DATA)
                if not wants_consent:
                    for name in EntrepreneurProfileForm.PRIORITY_FIELDS:
                        data[name] = None if name in ("qpv_resident", "job_seeker") else ""
                services.entrepreneur_profile_upsert(user=user, **data)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, _("Votre profil est enregistré."))
            state = _onboarding(user)
            if state["project"] is None:
                return redirect("frontend:project_create")
            return redirect("frontend:entrepreneur_home")
    return render(request, "frontend/entrepreneur/profile.html", {"form": form, "first_time": current is None})


@entrepreneur_only
def project_create(request: HttpRequest) -> HttpResponse:
    form = ProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            project = services.project_create(user=request.user, needs=[], **form.cleaned_data)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, _("Votre projet est enregistré. Dites-nous maintenant de quoi vous avez besoin."))
            return redirect("frontend:project_needs", project_id=project.pk)
    return render(request, "frontend/entrepreneur/project_form.html", {"form": form, "project": None})


def _needs_of(project: Project) -> list[services.Need]:
    return [services.Need(skill=n.skill, importance=n.importance) for n in project.needs.all()]


@entrepreneur_only
def project_edit(request: HttpRequest, project_id: int) -> HttpResponse:
    project = selectors.project_get_for_user(user=request.user, project_id=project_id)
    initial = {"title": project.title, "description": project.description, "sector": project.sector, "stage": project.stage}
    form = ProjectForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.project_update(project=project, needs=_needs_of(project), **form.cleaned_data)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, _("Votre projet est enregistré."))
            return redirect("frontend:entrepreneur_home")
    return render(request, "frontend/entrepreneur/project_form.html", {"form": form, "project": project})


@entrepreneur_only
def project_needs(request: HttpRequest, project_id: int) -> HttpResponse:
    project = selectors.project_get_for_user(user=request.user, project_id=project_id)
    initial = {n.skill_id: n.importance for n in project.needs.all()}
    form = NeedsForm(request.POST or None, initial_needs=initial)
    if request.method == "POST" and form.is_valid():
        needs = [services.Need(skill=skill, importance=level) for skill, level in form.chosen_skills()]
        try:
            services.project_update(
                project=project, needs=needs, title=project.title, stage=project.stage,
                description=project.description, sector=project.sector,
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, _("Vos besoins sont enregistrés."))
            has_live = selectors.request_list_for_user(request.user).filter(
                project=project, status__in=LIVE_REQUEST_STATUSES
            ).exists()
            if has_live:
                return redirect("frontend:my_requests")
            return redirect("frontend:request_create", project_id=project.pk)
    return render(request, "frontend/entrepreneur/needs.html", {"form": form, "project": project})


@entrepreneur_only
def request_create(request: HttpRequest, project_id: int) -> HttpResponse:
    project = selectors.project_get_for_user(user=request.user, project_id=project_id)
    profile = selectors.own_profile(request.user)
    if profile is None:
        messages.warning(request, _("Complétez d'abord votre profil."))
        return redirect("frontend:entrepreneur_profile")
    initial = {"languages": list(profile.languages.all()), "format": profile.preferred_format}
    form = RequestForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.request_create(user=request.user, project=project, **form.cleaned_data)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(
                request,
                _("Votre demande est envoyée. Un coordinateur vous proposera un binôme lors du prochain cycle."),
            )
            return redirect("frontend:my_requests")
    return render(
        request, "frontend/entrepreneur/request_form.html",
        {"form": form, "project": project, "needs": project.needs.all()},
    )


@entrepreneur_only
@cached_page
def my_requests(request: HttpRequest) -> HttpResponse:
    requests = selectors.request_list_for_user(request.user).select_related("project")
    return render(request, "frontend/entrepreneur/requests.html", {"requests": requests, "live": LIVE_REQUEST_STATUSES})


@entrepreneur_only
@require_POST
def request_withdraw(request: HttpRequest, request_id: int) -> HttpResponse:
    support_request = selectors.request_get_for_user(user=request.user, request_id=request_id)
    form = ReasonForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    try:
        services.request_withdraw(user=request.user, request=support_request, reason=reason)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, _(message))
    else:
        messages.success(request, _("Votre demande est retirée."))
    return redirect("frontend:my_requests")
