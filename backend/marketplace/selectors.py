"""Reads on a user's behalf. Every object fetched for a user comes from a ``*_get_for_user``
selector (or a queryset from ``*_list_for_user``): that is where access is decided, once per model.

Objects a user may not see are reported as missing (404), so ids leak nothing."""

from __future__ import annotations

from typing import Any

from django.db.models import Exists, OuterRef, QuerySet
from django.http import Http404

from accounts.models import Role, User
from marketplace.models import (
    CompanyProfile,
    CoordinatorScope,
    EntrepreneurProfile,
    Language,
    MentorProfile,
    Offer,
    Project,
    ProjectStage,
    Request,
    Sector,
    Skill,
    Territory,
    Town,
)


def coordinator_territory_ids(user: Any) -> list[int]:
    cached = getattr(user, "_territory_ids_cache", None)
    if cached is None:
        cached = list(CoordinatorScope.objects.filter(user=user).values_list("territory_id", flat=True))
        user._territory_ids_cache = cached
    return cached


def _is_admin(user: Any) -> bool:
    return bool(user.is_authenticated and (user.is_superuser or user.role == Role.ADMINISTRATOR))


def _is_coordinator(user: Any) -> bool:
    return bool(user.is_authenticated and user.role == Role.COORDINATOR)


def user_can_coordinate(user: Any, territory_id: int | None) -> bool:
    """Whether ``user`` may act as coordinator on objects of ``territory_id``."""
    if _is_admin(user):
        return True
    return _is_coordinator(user) and territory_id in coordinator_territory_ids(user)


def _none_if_anonymous(user: Any, qs: QuerySet[Any]) -> QuerySet[Any] | None:
    if not user.is_authenticated:
        return qs.none()
    if _is_admin(user):
        return qs
    return None


def _get(qs: QuerySet[Any], pk: Any, what: str) -> Any:
    try:
        return qs.get(pk=int(pk))
    except (qs.model.DoesNotExist, ValueError, TypeError):
        raise Http404(f"{what} not found") from None


# --- Projects -------------------------------------------------------------------------------------


def project_list_for_user(user: Any) -> QuerySet[Project]:
    qs = Project.objects.select_related("sector", "stage", "owner").prefetch_related("needs__skill")
    early = _none_if_anonymous(user, qs)
    if early is not None:
        return early
    if user.role == Role.ENTREPRENEUR:
        return qs.filter(owner=user)
    if user.role == Role.COORDINATOR:
        return qs.filter(owner__entrepreneur_profile__town__territory_id__in=coordinator_territory_ids(user))
    return qs.filter(Exists(Request.objects.filter(project=OuterRef("pk"), matches__provider_user=user)))


def project_get_for_user(*, user: Any, project_id: Any) -> Project:
    return _get(project_list_for_user(user), project_id, "project")


# --- Requests -------------------------------------------------------------------------------------


def request_list_for_user(user: Any) -> QuerySet[Request]:
    qs = Request.objects.select_related("project__stage", "project__sector", "territory").prefetch_related(
        "needs__skill", "languages"
    )
    early = _none_if_anonymous(user, qs)
    if early is not None:
        return early
    if user.role == Role.ENTREPRENEUR:
        return qs.filter(entrepreneur=user)
    if user.role == Role.COORDINATOR:
        return qs.filter(territory_id__in=coordinator_territory_ids(user))
    return qs.filter(Exists(Request.objects.filter(pk=OuterRef("pk"), matches__provider_user=user)))


def request_get_for_user(*, user: Any, request_id: Any) -> Request:
    return _get(request_list_for_user(user), request_id, "request")


# --- Offers ---------------------------------------------------------------------------------------


def offer_list_for_user(user: Any) -> QuerySet[Offer]:
    qs = Offer.objects.select_related("company", "town").prefetch_related(
        "skills__skill", "languages", "accepted_stages", "reachable_towns", "sectors"
    )
    early = _none_if_anonymous(user, qs)
    if early is not None:
        return early
    if user.role == Role.COMPANY:
        return qs.filter(company__user=user)
    if user.role == Role.COORDINATOR:
        return qs.filter(company__town__territory_id__in=coordinator_territory_ids(user))
    if user.role == Role.ENTREPRENEUR:
        return qs.filter(Exists(Offer.objects.filter(pk=OuterRef("pk"), matches__entrepreneur=user)))
    return qs.none()


def offer_get_for_user(*, user: Any, offer_id: Any) -> Offer:
    return _get(offer_list_for_user(user), offer_id, "offer")


# --- Profiles -------------------------------------------------------------------------------------


def mentor_profile_list_for_user(user: Any) -> QuerySet[MentorProfile]:
    qs = MentorProfile.objects.select_related("user", "town", "employer").prefetch_related(
        "skills__skill", "languages", "sectors", "reachable_towns"
    )
    early = _none_if_anonymous(user, qs)
    if early is not None:
        return early
    if user.role == Role.MENTOR:
        return qs.filter(user=user)
    if user.role == Role.COORDINATOR:
        return qs.filter(town__territory_id__in=coordinator_territory_ids(user))
    if user.role == Role.ENTREPRENEUR:
        from cycles.models import Match

        return qs.filter(Exists(Match.objects.filter(mentor=OuterRef("pk"), entrepreneur=user)))
    return qs.none()


def mentor_profile_get_for_user(*, user: Any, mentor_id: Any) -> MentorProfile:
    return _get(mentor_profile_list_for_user(user), mentor_id, "mentor")


def company_profile_list_for_user(user: Any) -> QuerySet[CompanyProfile]:
    qs = CompanyProfile.objects.select_related("user", "town")
    early = _none_if_anonymous(user, qs)
    if early is not None:
        return early
    if user.role == Role.COMPANY:
        return qs.filter(user=user)
    if user.role == Role.COORDINATOR:
        return qs.filter(town__territory_id__in=coordinator_territory_ids(user))
    if user.role == Role.ENTREPRENEUR:
        from cycles.models import Match

        return qs.filter(Exists(Match.objects.filter(offer__company=OuterRef("pk"), entrepreneur=user)))
    return qs.none()


def company_profile_get_for_user(*, user: Any, company_id: Any) -> CompanyProfile:
    return _get(company_profile_list_for_user(user), company_id, "company")


def entrepreneur_profile_list_for_user(user: Any) -> QuerySet[EntrepreneurProfile]:
    qs = EntrepreneurProfile.objects.select_related("user", "town", "neighbourhood").prefetch_related(
        "languages"
    )
    early = _none_if_anonymous(user, qs)
    if early is not None:
        return early
    if user.role == Role.ENTREPRENEUR:
        return qs.filter(user=user)
    if user.role == Role.COORDINATOR:
        return qs.filter(town__territory_id__in=coordinator_territory_ids(user))
    from cycles.models import Match

    return qs.filter(Exists(Match.objects.filter(entrepreneur=OuterRef("user"), provider_user=user)))


def entrepreneur_profile_get_for_user(*, user: Any, entrepreneur_id: Any) -> EntrepreneurProfile:
    return _get(entrepreneur_profile_list_for_user(user), entrepreneur_id, "entrepreneur")


def own_profile(user: User) -> EntrepreneurProfile | MentorProfile | CompanyProfile | None:
    """The role profile of ``user`` itself (None if not created yet)."""
    model = {Role.ENTREPRENEUR: EntrepreneurProfile, Role.MENTOR: MentorProfile, Role.COMPANY: CompanyProfile}.get(
        user.role  # type: ignore[call-overload]
    )
    if model is None:
        return None
    return model.objects.filter(user=user).first()


# --- Reference data (public) ----------------------------------------------------------------------


def reference_querysets() -> dict[str, QuerySet[Any]]:
    return {
        "territories": Territory.objects.all(),
        "towns": Town.objects.select_related("territory").prefetch_related("neighbourhoods"),
        "skills": Skill.objects.select_related("group"),
        "sectors": Sector.objects.all(),
        "languages": Language.objects.all(),
        "stages": ProjectStage.objects.all(),
    }
