"""Reads of the follow-up on a user's behalf.

Meetings, feedback, outcomes and nudges of a match are visible to its two parties, to the
coordinators of its territory and to administrators; nobody else (404, as if they did not
exist). Stalled pairs are a coordinator's view."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import DateTimeField, Max, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce, Greatest
from django.http import Http404
from django.utils import timezone

from accounts.models import Role
from cycles.models import Match, MatchStatus
from followup.conf import followup_setting
from followup.models import Feedback, Meeting, Nudge, OfferHours, Outcome
from marketplace.models import Offer
from marketplace.selectors import coordinator_territory_ids

_MAX_ID = 2**63 - 1


def is_admin(user: Any) -> bool:
    return bool(getattr(user, "is_authenticated", False) and (user.is_superuser or user.role == Role.ADMINISTRATOR))


def is_coordinator(user: Any) -> bool:
    return bool(getattr(user, "is_authenticated", False) and user.role == Role.COORDINATOR)


def _get(qs: QuerySet[Any], pk: Any, what: str) -> Any:
    try:
        number = int(pk)
    except (TypeError, ValueError):
        raise Http404(f"{what} not found") from None
    if not 0 < number <= _MAX_ID:
        raise Http404(f"{what} not found")
    try:
        return qs.get(pk=number)
    except qs.model.DoesNotExist:
        raise Http404(f"{what} not found") from None


def _by_match_access(qs: QuerySet[Any], user: Any, prefix: str = "match__") -> QuerySet[Any]:
    """Rows of matches ``user`` may follow: his own (either side), his territories' as a
    coordinator, all as an administrator."""
    if not getattr(user, "is_authenticated", False):
        return qs.none()
    if is_admin(user):
        return qs
    if is_coordinator(user):
        return qs.filter(**{f"{prefix}territory_id__in": coordinator_territory_ids(user)})
    return qs.filter(Q(**{f"{prefix}entrepreneur": user}) | Q(**{f"{prefix}provider_user": user}))


# --- Meetings -------------------------------------------------------------------------------------


def meeting_list_for_user(user: Any) -> QuerySet[Meeting]:
    return _by_match_access(Meeting.objects.select_related("match", "logged_by"), user)


def meeting_get_for_user(*, user: Any, meeting_id: Any) -> Meeting:
    return _get(meeting_list_for_user(user), meeting_id, "meeting")


# --- Feedback and outcomes ------------------------------------------------------------------------


def feedback_list_for_user(user: Any) -> QuerySet[Feedback]:
    return _by_match_access(Feedback.objects.select_related("match", "author"), user)


def feedback_get_for_user(*, user: Any, feedback_id: Any) -> Feedback:
    return _get(feedback_list_for_user(user), feedback_id, "feedback")


def outcome_list_for_user(user: Any) -> QuerySet[Outcome]:
    return _by_match_access(Outcome.objects.select_related("match"), user)


def outcome_get_for_user(*, user: Any, outcome_id: Any) -> Outcome:
    return _get(outcome_list_for_user(user), outcome_id, "outcome")


def nudge_list_for_user(user: Any) -> QuerySet[Nudge]:
    return _by_match_access(Nudge.objects.select_related("match", "coordinator"), user)


def nudge_get_for_user(*, user: Any, nudge_id: Any) -> Nudge:
    return _get(nudge_list_for_user(user), nudge_id, "nudge")


# --- Sponsorship hours ----------------------------------------------------------------------------


@dataclass(frozen=True)
class OfferHoursSummary:
    offer_id: int
    budget_hours: int
    delivered_minutes: int

    @property
    def budget_minutes(self) -> int:
        return self.budget_hours * 60

    @property
    def remaining_minutes(self) -> int:
        return max(self.budget_minutes - self.delivered_minutes, 0)


def offer_hours_summary(offer: Offer) -> OfferHoursSummary:
    """Called with an offer from ``marketplace.selectors.offer_get_for_user``."""
    delivered = OfferHours.objects.filter(offer=offer).values_list("delivered_minutes", flat=True).first() or 0
    return OfferHoursSummary(offer_id=offer.pk, budget_hours=offer.hours_budget, delivered_minutes=delivered)


# --- Activity and stalled pairs -------------------------------------------------------------------


def with_last_activity(qs: QuerySet[Match]) -> QuerySet[Match]:
    """Annotate matches with ``last_message_at``, ``last_meeting_at`` (when the last meeting was
    logged or held, whichever is later) and ``last_activity_at``: the latest of these and of
    the activation, so that a pair that never spoke is idle since it started."""
    from chat.models import Conversation

    last_message = Conversation.objects.filter(match=OuterRef("pk")).values("last_message_at")[:1]
    last_meeting = (
        Meeting.objects.filter(match=OuterRef("pk")).order_by().values("match").annotate(at=Max("created_at")).values("at")
    )
    started = Coalesce("activated_at", "created_at")
    return qs.annotate(
        last_message_at=Subquery(last_message, output_field=DateTimeField()),
        last_meeting_at=Subquery(last_meeting, output_field=DateTimeField()),
    ).annotate(
        # Greatest is NULL on SQLite as soon as one argument is: every argument has a fallback.
        last_activity_at=Greatest(
            started, Coalesce("last_message_at", started), Coalesce("last_meeting_at", started)
        )
    )


def stalled_cutoff(*, now: dt.datetime | None = None, days: int | None = None) -> dt.datetime:
    days = int(days if days is not None else followup_setting("FOLLOWUP_STALLED_DAYS"))
    return (now or timezone.now()) - dt.timedelta(days=days)


def stalled_matches(*, now: dt.datetime | None = None, days: int | None = None) -> QuerySet[Match]:
    """Active matches with no message and no meeting for ``days`` (FOLLOWUP_STALLED_DAYS),
    the longest idle first, with the time of their last nudge."""
    last_nudge = (
        Nudge.objects.filter(match=OuterRef("pk")).order_by().values("match").annotate(at=Max("created_at")).values("at")
    )
    return (
        with_last_activity(Match.objects.filter(status=MatchStatus.ACTIVE))
        .filter(last_activity_at__lt=stalled_cutoff(now=now, days=days))
        .annotate(last_nudge_at=Subquery(last_nudge, output_field=DateTimeField()))
        .order_by("last_activity_at", "id")
    )


def stalled_list_for_user(user: Any, *, now: dt.datetime | None = None) -> QuerySet[Match]:
    """The stalled pairs a coordinator follows (his territories; all for an administrator).
    Parties and anonymous callers get nothing (the view answers 403 to them)."""
    qs = stalled_matches(now=now).select_related("entrepreneur", "provider_user", "territory", "offer__company")
    if is_admin(user):
        return qs
    if is_coordinator(user):
        return qs.filter(territory_id__in=coordinator_territory_ids(user))
    return qs.none()
