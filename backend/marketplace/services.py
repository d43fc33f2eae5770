"""Writes of the marketplace: profiles, projects, requests, offers.

Each service validates what the database cannot, runs in one transaction, and either completes
or changes nothing. Views and serializers stay thin and call these."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import ConsentPurpose, Role, User
from accounts.services import consent_is_live
from audit.services import audit_record
from marketplace.models import (
    CompanyProfile,
    EntrepreneurProfile,
    Language,
    MentorProfile,
    MentorSkill,
    Neighbourhood,
    Offer,
    OfferSkill,
    Project,
    ProjectNeed,
    ProjectStage,
    Request,
    RequestNeed,
    RequestStatus,
    Sector,
    Skill,
    Town,
)

MAX_NEEDS = 12
MAX_SKILLS = 30


@dataclass(frozen=True)
class Need:
    skill: Skill
    importance: int


@dataclass(frozen=True)
class SkillLevel:
    skill: Skill
    level: int


def _require_role(user: User, role: str, what: str) -> None:
    if user.role != role:
        raise PermissionDenied(f"Only a {role} account can {what}.")


def _check_unique(items: Sequence[Any], key: str, field: str) -> None:
    seen = [getattr(getattr(item, key), "pk", getattr(item, key)) for item in items]
    if len(seen) != len(set(seen)):
        raise ValidationError({field: "Chaque compétence ne peut figurer qu'une fois."})


def _check_needs(needs: Sequence[Need], field: str = "needs") -> None:
    if len(needs) > MAX_NEEDS:
        raise ValidationError({field: f"Au plus {MAX_NEEDS} besoins."})
    for need in needs:
        if not 1 <= int(need.importance) <= 3:
            raise ValidationError({field: "L'importance va de 1 à 3."})
    _check_unique(needs, "skill", field)


def _check_neighbourhood(town: Town, neighbourhood: Neighbourhood | None) -> None:
    if neighbourhood is not None and neighbourhood.town_id != town.pk:
        raise ValidationError({"neighbourhood": "Ce quartier n'est pas dans la commune choisie."})


# --- Profiles -------------------------------------------------------------------------------------


def entrepreneur_profile_upsert(
    *,
    user: User,
    town: Town,
    languages: Iterable[Language],
    neighbourhood: Neighbourhood | None = None,
    preferred_format: int = 3,
    availability: int | None = None,
    age_band: str = "",
    gender: str = "",
    qpv_resident: bool | None = None,
    job_seeker: bool | None = None,
) -> EntrepreneurProfile:
    _require_role(user, Role.ENTREPRENEUR, "have an entrepreneur profile")
    _check_neighbourhood(town, neighbourhood)
    languages = list(languages)
    if not languages:
        raise ValidationError({"languages": "Indiquez au moins une langue."})
    priority = {"age_band": age_band, "gender": gender, "qpv_resident": qpv_resident, "job_seeker": job_seeker}
    if any(v not in ("", None) for v in priority.values()) and not consent_is_live(
        user=user, purpose=ConsentPurpose.PRIORITY_DATA
    ):
        raise ValidationError(
            {"consent": "Ces informations ne sont enregistrées qu'avec votre accord (consentement « priority_data »)."}
        )
    with transaction.atomic():
        profile, _ = EntrepreneurProfile.objects.select_for_update().get_or_create(
            user=user, defaults={"town": town}
        )
        profile.town = town
        profile.neighbourhood = neighbourhood
        profile.preferred_format = preferred_format
        if availability is not None:
            profile.availability = availability
        for key, value in priority.items():
            setattr(profile, key, value)
        profile.full_clean()
        profile.save()
        profile.languages.set(languages)
    return profile


def entrepreneur_priority_data_clear(*, user: User) -> None:
    EntrepreneurProfile.objects.filter(user=user).update(age_band="", gender="", qpv_resident=None, job_seeker=None)


def mentor_profile_upsert(
    *,
    user: User,
    town: Town,
    languages: Iterable[Language],
    skills: Sequence[SkillLevel],
    reachable_towns: Iterable[Town] = (),
    sectors: Iterable[Sector] = (),
    bio: str = "",
    format: int = 3,
    availability: int | None = None,
    capacity: int = 1,
    paused: bool = False,
    employer: CompanyProfile | None = None,
) -> MentorProfile:
    _require_role(user, Role.MENTOR, "have a mentor profile")
    languages = list(languages)
    if not languages:
        raise ValidationError({"languages": "Indiquez au moins une langue."})
    if not skills:
        raise ValidationError({"skills": "Indiquez au moins une compétence."})
    if len(skills) > MAX_SKILLS:
        raise ValidationError({"skills": f"Au plus {MAX_SKILLS} compétences."})
    _check_unique(skills, "skill", "skills")
    if not 0 <= capacity <= 10:
        raise ValidationError({"capacity": "Entre 0 et 10 personnes accompagnées à la fois."})
    with transaction.atomic():
        profile, _ = MentorProfile.objects.select_for_update().get_or_create(user=user, defaults={"town": town})
        profile.town = town
        profile.bio = bio
        profile.format = format
        if availability is not None:
            profile.availability = availability
        profile.capacity = capacity
        profile.paused = paused
        profile.employer = employer
        profile.full_clean()
        profile.save()
        profile.languages.set(languages)
        profile.sectors.set(list(sectors))
        profile.reachable_towns.set(list(reachable_towns))
        MentorSkill.objects.filter(mentor=profile).delete()
        MentorSkill.objects.bulk_create(
            [MentorSkill(mentor=profile, skill=s.skill, level=s.level) for s in skills]
        )
    return profile


def company_profile_upsert(
    *,
    user: User,
    name: str,
    siret: str,
    town: Town,
    description: str = "",
    contact_name: str = "",
    contact_email: str = "",
    contact_phone: str = "",
) -> CompanyProfile:
    _require_role(user, Role.COMPANY, "have a company profile")
    if CompanyProfile.objects.filter(siret=siret).exclude(user=user).exists():
        raise ValidationError({"siret": "Ce SIRET est déjà enregistré."})
    with transaction.atomic():
        profile = CompanyProfile.objects.select_for_update().filter(user=user).first() or CompanyProfile(user=user)
        profile.name = name
        profile.siret = siret
        profile.town = town
        profile.description = description
        profile.contact_name = contact_name
        profile.contact_email = contact_email
        profile.contact_phone = contact_phone
        profile.full_clean()
        profile.save()
    return profile


# --- Projects -------------------------------------------------------------------------------------


def project_create(
    *,
    user: User,
    title: str,
    stage: ProjectStage,
    needs: Sequence[Need],
    description: str = "",
    sector: Sector | None = None,
) -> Project:
    _require_role(user, Role.ENTREPRENEUR, "create a project")
    _check_needs(needs)
    with transaction.atomic():
        project = Project(owner=user, title=title, description=description, sector=sector, stage=stage)
        project.full_clean()
        project.save()
        ProjectNeed.objects.bulk_create(
            [ProjectNeed(project=project, skill=n.skill, importance=n.importance) for n in needs]
        )
    return project


def project_update(
    *,
    project: Project,
    title: str,
    stage: ProjectStage,
    needs: Sequence[Need],
    description: str = "",
    sector: Sector | None = None,
) -> Project:
    """Called with a project the caller owns (from ``project_get_for_user``)."""
    _check_needs(needs)
    with transaction.atomic():
        project.title = title
        project.description = description
        project.sector = sector
        project.stage = stage
        project.full_clean()
        project.save()
        ProjectNeed.objects.filter(project=project).delete()
        ProjectNeed.objects.bulk_create(
            [ProjectNeed(project=project, skill=n.skill, importance=n.importance) for n in needs]
        )
    return project


# --- Requests -------------------------------------------------------------------------------------


def request_create(
    *,
    user: User,
    project: Project,
    kind: int = 3,
    format: int | None = None,
    languages: Iterable[Language] | None = None,
    needs: Sequence[Need] | None = None,
    notes: str = "",
) -> Request:
    """File a request for ``project``; ``needs`` default to the project's. Called with a project
    fetched through ``project_get_for_user``; checks that the caller owns it."""
    _require_role(user, Role.ENTREPRENEUR, "file a request")
    if project.owner_id != user.pk:
        raise PermissionDenied("This project is not yours.")
    profile = EntrepreneurProfile.objects.filter(user=user).select_related("town").first()
    if profile is None:
        raise ValidationError({"profile": "Complétez votre profil (commune, langues) avant de faire une demande."})
    if needs is None:
        needs = [Need(skill=n.skill, importance=n.importance) for n in project.needs.select_related("skill")]
    _check_needs(needs)
    if not needs:
        raise ValidationError({"needs": "Indiquez au moins un besoin."})
    languages = list(languages) if languages is not None else list(profile.languages.all())
    if not languages:
        raise ValidationError({"languages": "Indiquez au moins une langue."})
    with transaction.atomic():
        # Lock the project row: two simultaneous filings for one project serialise here, and the
        # partial unique index is the last line behind this check.
        Project.objects.select_for_update().get(pk=project.pk)
        if Request.objects.filter(project=project, status__in=[RequestStatus.OPEN, RequestStatus.PROPOSED]).exists():
            raise ValidationError({"project": "Ce projet a déjà une demande en cours."})
        request = Request(
            project=project,
            entrepreneur=user,
            territory_id=profile.town.territory_id,
            kind=kind,
            format=format if format is not None else profile.preferred_format,
            notes=notes,
        )
        request.full_clean(exclude=["languages"], validate_constraints=False)
        try:
            with transaction.atomic():
                request.save()
        except IntegrityError:
            raise ValidationError({"project": "Ce projet a déjà une demande en cours."}) from None
        request.languages.set(languages)
        RequestNeed.objects.bulk_create(
            [RequestNeed(request=request, skill=n.skill, importance=n.importance) for n in needs]
        )
        audit_record(actor=user, action="request.create", target=request, territory_id=request.territory_id)
    return request


def request_withdraw(*, user: User, request: Request, reason: str = "") -> Request:
    """Withdraw a request before it is matched. Called with a request from
    ``request_get_for_user``; only its entrepreneur may withdraw it."""
    if request.entrepreneur_id != user.pk:
        raise PermissionDenied("Only the entrepreneur who filed this request can withdraw it.")
    with transaction.atomic():
        locked = Request.objects.select_for_update().get(pk=request.pk)
        if locked.status not in (RequestStatus.OPEN, RequestStatus.PROPOSED):
            raise ValidationError({"status": "Seule une demande ouverte ou en proposition peut être retirée."})
        locked.status = RequestStatus.WITHDRAWN
        locked.status_changed_at = timezone.now()
        locked.save(update_fields=["status", "status_changed_at"])
        _withdraw_hook(request=locked, user=user)
        audit_record(
            actor=user, action="request.withdraw", target=locked, territory_id=locked.territory_id, reason=reason
        )
    request.refresh_from_db()
    return request


def _withdraw_hook(*, request: Request, user: User) -> None:
    """Proposals (undecided or approved) and pending matches of a withdrawn request stop holding
    a place of their provider at once, instead of at the next publication."""
    from cycles.models import Match, MatchStatus, Proposal, ProposalStatus

    Proposal.objects.filter(
        request=request, status__in=[ProposalStatus.PROPOSED, ProposalStatus.APPROVED]
    ).update(status=ProposalStatus.CANCELLED, slot=None)
    Match.objects.filter(request=request, status=MatchStatus.PENDING).update(
        status=MatchStatus.DECLINED, ended_at=timezone.now(), end_reason="request withdrawn"
    )


# --- Offers ---------------------------------------------------------------------------------------


def _offer_apply(
    offer: Offer,
    *,
    skills: Sequence[SkillLevel],
    languages: Iterable[Language],
    accepted_stages: Iterable[ProjectStage],
    reachable_towns: Iterable[Town],
    sectors: Iterable[Sector],
    fields: dict[str, Any],
) -> Offer:
    if not skills:
        raise ValidationError({"skills": "Indiquez au moins une compétence."})
    if len(skills) > MAX_SKILLS:
        raise ValidationError({"skills": f"Au plus {MAX_SKILLS} compétences."})
    _check_unique(skills, "skill", "skills")
    languages = list(languages)
    stages = list(accepted_stages)
    if not languages:
        raise ValidationError({"languages": "Indiquez au moins une langue."})
    if not stages:
        raise ValidationError({"accepted_stages": "Indiquez au moins une étape de projet."})
    for key, value in fields.items():
        setattr(offer, key, value)
    if offer.starts_on and offer.ends_on and offer.ends_on < offer.starts_on:
        raise ValidationError({"ends_on": "La fin doit suivre le début."})
    offer.full_clean(validate_constraints=False)
    offer.save()
    offer.languages.set(languages)
    offer.accepted_stages.set(stages)
    offer.reachable_towns.set(list(reachable_towns))
    offer.sectors.set(list(sectors))
    OfferSkill.objects.filter(offer=offer).delete()
    OfferSkill.objects.bulk_create([OfferSkill(offer=offer, skill=s.skill, level=s.level) for s in skills])
    return offer


def offer_create(
    *,
    user: User,
    skills: Sequence[SkillLevel],
    languages: Iterable[Language],
    accepted_stages: Iterable[ProjectStage],
    reachable_towns: Iterable[Town] = (),
    sectors: Iterable[Sector] = (),
    **fields: Any,
) -> Offer:
    _require_role(user, Role.COMPANY, "publish a sponsorship offer")
    company = CompanyProfile.objects.filter(user=user).first()
    if company is None:
        raise ValidationError({"company": "Complétez le profil de l'entreprise avant de publier une offre."})
    fields.setdefault("town", company.town)
    with transaction.atomic():
        offer = _offer_apply(
            Offer(company=company),
            skills=skills,
            languages=languages,
            accepted_stages=accepted_stages,
            reachable_towns=reachable_towns,
            sectors=sectors,
            fields=fields,
        )
        audit_record(actor=user, action="offer.create", target=offer, territory_id=company.town.territory_id)
    return offer


def offer_update(
    *,
    user: User,
    offer: Offer,
    skills: Sequence[SkillLevel],
    languages: Iterable[Language],
    accepted_stages: Iterable[ProjectStage],
    reachable_towns: Iterable[Town] = (),
    sectors: Iterable[Sector] = (),
    **fields: Any,
) -> Offer:
    """Called with an offer from ``offer_get_for_user``; only its company may change it."""
    if offer.company.user_id != user.pk:
        raise PermissionDenied("Only the company that published this offer can change it.")
    with transaction.atomic():
        locked = Offer.objects.select_for_update().get(pk=offer.pk)
        return _offer_apply(
            locked,
            skills=skills,
            languages=languages,
            accepted_stages=accepted_stages,
            reachable_towns=reachable_towns,
            sectors=sectors,
            fields=fields,
        )
