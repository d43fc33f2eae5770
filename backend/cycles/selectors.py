"""Reads of cycles, proposals, matches and the audit trail on a user's behalf.

A coordinator sees the cycles of his territories (national cycles, ``territory`` null, are for
administrators), and the proposals and matches of requests of his territories; an administrator
sees everything; an entrepreneur or a provider sees only his own matches (a proposal becomes
visible to them only once published, as a match). What a user may not see is reported missing."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from accounts.models import Role
from audit.models import AuditEvent
from cycles.models import (
    LIVE_MATCH_STATUSES,
    Cycle,
    Match,
    Proposal,
    ProposalStatus,
    UnmatchedRequest,
)
from marketplace.models import MentorProfile, Offer
from marketplace.selectors import coordinator_territory_ids


def _is_admin(user: Any) -> bool:
    return bool(user.is_authenticated and (user.is_superuser or user.role == Role.ADMINISTRATOR))


def _is_coordinator(user: Any) -> bool:
    return bool(user.is_authenticated and user.role == Role.COORDINATOR)


def _get(qs: QuerySet[Any], pk: Any, what: str) -> Any:
    try:
        return qs.get(pk=int(pk))
    except (qs.model.DoesNotExist, ValueError, TypeError, OverflowError):
        raise Http404(f"{what} not found") from None


# --- Cycles ---------------------------------------------------------------------------------------


def cycle_list_for_user(user: Any) -> QuerySet[Cycle]:
    qs = Cycle.objects.select_related("territory")
    if _is_admin(user):
        return qs
    if _is_coordinator(user):
        return qs.filter(territory_id__in=coordinator_territory_ids(user))
    return qs.none()


def cycle_get_for_user(*, user: Any, cycle_id: Any) -> Cycle:
    return _get(cycle_list_for_user(user), cycle_id, "cycle")


# --- Proposals ------------------------------------------------------------------------------------


def proposal_list_for_user(user: Any) -> QuerySet[Proposal]:
    qs = Proposal.objects.select_related(
        "cycle", "request", "town", "territory", "mentor__user", "offer__company", "provider_user"
    )
    if _is_admin(user):
        return qs
    if _is_coordinator(user):
        # The cycle and the request must both be in his territories.
        ids = coordinator_territory_ids(user)
        return qs.filter(cycle__territory_id__in=ids, territory_id__in=ids)
    if not user.is_authenticated:
        return qs.none()
    # Parties see a proposal only once it is published (it then is a match they can answer).
    return qs.filter(status=ProposalStatus.PUBLISHED).filter(Q(request__entrepreneur=user) | Q(provider_user=user))


def proposal_get_for_user(*, user: Any, proposal_id: Any) -> Proposal:
    return _get(proposal_list_for_user(user), proposal_id, "proposal")


def unmatched_list_for_cycle(cycle: Cycle) -> QuerySet[UnmatchedRequest]:
    """Called with a cycle from ``cycle_get_for_user``."""
    return UnmatchedRequest.objects.filter(cycle=cycle).select_related("request", "town")


# --- Matches --------------------------------------------------------------------------------------


def match_list_for_user(user: Any) -> QuerySet[Match]:
    qs = Match.objects.select_related(
        "request__project", "entrepreneur", "provider_user", "mentor", "offer", "territory"
    )
    if _is_admin(user):
        return qs
    if _is_coordinator(user):
        return qs.filter(territory_id__in=coordinator_territory_ids(user))
    if not user.is_authenticated:
        return qs.none()
    return qs.filter(Q(entrepreneur=user) | Q(provider_user=user))


def match_get_for_user(*, user: Any, match_id: Any) -> Match:
    return _get(match_list_for_user(user), match_id, "match")


# --- Audit ----------------------------------------------------------------------------------------


def audit_list_for_user(user: Any) -> QuerySet[AuditEvent]:
    """Decisions of the territories a coordinator works for; everything for administrators."""
    qs = AuditEvent.objects.all()
    if _is_admin(user):
        return qs
    if _is_coordinator(user):
        return qs.filter(territory_id__in=coordinator_territory_ids(user))
    return qs.none()


# --- Capacity -------------------------------------------------------------------------------------


def provider_holds(*, mentor: MentorProfile | None = None, offer: Offer | None = None) -> list[int]:
    """Slots held on a provider: live matches and approved (not yet published) proposals.
    Rows held without a slot (created by other code paths) count as one place each, as slot 0."""
    key = {"mentor": mentor} if mentor is not None else {"offer": offer}
    matches = Match.objects.filter(**key, status__in=LIVE_MATCH_STATUSES).values_list("slot", flat=True)
    approved = Proposal.objects.filter(**key, status=ProposalStatus.APPROVED).values_list("slot", flat=True)
    return [s or 0 for s in [*matches, *approved]]


def provider_capacity(*, mentor: MentorProfile | None = None, offer: Offer | None = None,
                      today: dt.date | None = None) -> int:
    """Total places of a provider right now: none while a mentor is paused or an offer is
    inactive or outside its period."""
    if mentor is not None:
        return 0 if mentor.paused else int(mentor.capacity)
    assert offer is not None
    today = today or timezone.localdate()
    if not offer.active or not (offer.starts_on <= today <= offer.ends_on):
        return 0
    return int(offer.capacity)


def provider_free_capacity(*, mentor: MentorProfile | None = None, offer: Offer | None = None) -> int:
    return max(provider_capacity(mentor=mentor, offer=offer) - len(provider_holds(mentor=mentor, offer=offer)), 0)


def proposal_counts_by_status(cycle: Cycle) -> dict[str, int]:
    rows = Proposal.objects.filter(cycle=cycle).values("status").annotate(n=Count("id"))
    return {row["status"]: row["n"] for row in rows}


def proposal_get_for_decision(*, user: Any, proposal_id: Any) -> Proposal:
    """The proposal a coordinator wants to decide on. Coordinators and administrators get any
    existing proposal, so that deciding on one of another territory is a clear 403 from the
    service (coordinators are staff; the id's existence is no secret to them); everybody else
    gets only what ``proposal_get_for_user`` shows them (404 otherwise)."""
    if _is_admin(user) or _is_coordinator(user):
        return _get(Proposal.objects.select_related("cycle"), proposal_id, "proposal")
    return proposal_get_for_user(user=user, proposal_id=proposal_id)
