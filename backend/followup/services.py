"""Writes of the follow-up: meetings and sponsorship hours, feedback, outcomes, nudges, and the
outbox (reminders written in the event's transaction, delivered after it, each exactly once).

The end of a match (completed, ended early) is ``cycles.services.match_end``; nothing here
changes a match's state."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import EmailMessage, get_connection
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from audit.services import audit_record
from cycles.models import Match, MatchStatus
from followup.conf import followup_setting
from followup.models import (
    FEEDBACK_COMMENT_MAX_CHARS,
    MEETING_MAX_MINUTES,
    MEETING_NOTE_MAX_CHARS,
    NUDGE_MESSAGE_MAX_CHARS,
    OUTCOME_MAX_JOBS,
    Feedback,
    FeedbackPhase,
    Meeting,
    MeetingFormat,
    Nudge,
    OfferHours,
    OutboxKind,
    OutboxMessage,
    OutboxStatus,
    Outcome,
    OutcomeStatus,
    Side,
)
from marketplace.api.errors import Conflict
from marketplace.models import Offer
from marketplace.selectors import user_can_coordinate
from marketplace.validators import validate_siret

logger = logging.getLogger(__name__)

FOLLOWED_STATUSES = (MatchStatus.ACTIVE, MatchStatus.COMPLETED, MatchStatus.ENDED_EARLY)
ENDED_STATUSES = (MatchStatus.COMPLETED, MatchStatus.ENDED_EARLY)


def _conflict(message: Any, **extra: Any) -> Conflict:
    conflict = Conflict(str(message))
    if extra:
        # Set after construction: APIException would turn the numbers into strings.
        conflict.detail = {"detail": conflict.detail, **extra}
    return conflict


def _side(actor: User, match: Match) -> str:
    if actor.pk == match.entrepreneur_id:
        return Side.ENTREPRENEUR
    if actor.pk == match.provider_user_id:
        return Side.PROVIDER
    raise PermissionDenied(_("Seules les deux personnes du binôme peuvent faire cela."))


def _clean_text(value: Any, *, field: str, max_chars: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError({field: _("Doit être un texte.")})
    text = value.strip()
    if len(text) > max_chars:
        raise ValidationError({field: _("%(max)d caractères au plus.") % {"max": max_chars}})
    return text


def _int_in(value: Any, *, field: str, lo: int, hi: int) -> int:
    if isinstance(value, bool):
        raise ValidationError({field: _("Doit être un nombre entier.")})
    try:
        number = int(value)
        if number != value and str(number) != str(value).strip():
            raise ValueError
    except (TypeError, ValueError):
        raise ValidationError({field: _("Doit être un nombre entier.")}) from None
    if not lo <= number <= hi:
        raise ValidationError({field: _("Doit être compris entre %(lo)d et %(hi)d.") % {"lo": lo, "hi": hi}})
    return number


def _minutes_text(minutes: int) -> str:
    hours, rest = divmod(max(minutes, 0), 60)
    return f"{hours} h {rest:02d}"


# --- Meetings and sponsorship hours ---------------------------------------------------------------


def _lock_offer_ledger(offer_id: int) -> tuple[Offer, OfferHours]:
    # Lock the offer: two meetings logged at once on one sponsorship serialise here, so the second
    # sees the first's minutes and the budget is never exceeded.
    offer = Offer.objects.select_for_update().get(pk=offer_id)
    ledger, _created = OfferHours.objects.get_or_create(
        offer=offer, defaults={"budget_minutes": offer.hours_budget * 60}
    )
    return offer, ledger


def meeting_log(
    *,
    actor: User,
    match: Match,
    date: dt.date,
    duration_minutes: int,
    format: str,
    note: str = "",
) -> Meeting:
    """Either party logs a meeting of an active (or just ended) match. For a company's
    sponsorship its minutes are added to the offer's delivered hours, never beyond the budget
    (409 with what remains)."""
    side = _side(actor, match)
    duration = _int_in(duration_minutes, field="duration_minutes", lo=1, hi=MEETING_MAX_MINUTES)
    if format not in MeetingFormat.values:
        raise ValidationError({"format": _("Format inconnu : choisissez in_person, video ou phone.")})
    note = _clean_text(note, field="note", max_chars=MEETING_NOTE_MAX_CHARS)
    if not isinstance(date, dt.date) or isinstance(date, dt.datetime):
        raise ValidationError({"date": _("Date invalide.")})
    if date > timezone.localdate():
        raise ValidationError({"date": _("Un rendez-vous se note une fois qu'il a eu lieu.")})
    with transaction.atomic():
        offer_ledger = _lock_offer_ledger(match.offer_id) if match.offer_id else None
        # Lock order everywhere: offer, then match (as in cycles: provider row first).
        locked = Match.objects.select_for_update().get(pk=match.pk)
        if locked.status not in FOLLOWED_STATUSES:
            raise _conflict(_("Seul un binôme actif ou terminé peut noter un rendez-vous."), status=locked.status)
        started = timezone.localdate(locked.activated_at or locked.created_at)
        if date < started:
            raise ValidationError({"date": _("La date précède le début du binôme (%(d)s).") % {"d": started.isoformat()}})
        if offer_ledger is not None:
            offer, ledger = offer_ledger
            budget = offer.hours_budget * 60
            if ledger.delivered_minutes + duration > budget:
                remaining = max(budget - ledger.delivered_minutes, 0)
                raise _conflict(
                    _("Ce rendez-vous dépasserait le budget d'heures de l'offre : il reste %(left)s sur %(budget)d h.")
                    % {"left": _minutes_text(remaining), "budget": offer.hours_budget},
                    budget_minutes=budget, delivered_minutes=ledger.delivered_minutes, remaining_minutes=remaining,
                )
            OfferHours.objects.filter(pk=ledger.pk).update(
                budget_minutes=budget, delivered_minutes=F("delivered_minutes") + duration, updated_at=timezone.now()
            )
        meeting = Meeting.objects.create(
            match=locked, offer_id=locked.offer_id, date=date, duration_minutes=duration, format=format,
            note=note, logged_by=actor,
        )
        audit_record(actor=actor, action="meeting.log", target=meeting, territory_id=locked.territory_id,
                     data={"side": side, "minutes": duration})
    return meeting


def meeting_delete(*, actor: User, meeting: Meeting) -> None:
    """Remove a meeting logged by mistake: by the person who logged it or a coordinator of the
    territory. Its minutes go back to the offer's budget."""
    match = meeting.match
    is_coord = user_can_coordinate(actor, match.territory_id)
    if meeting.logged_by_id != actor.pk and not is_coord:
        raise PermissionDenied(_("Seule la personne qui l'a noté, ou la coordination, peut retirer ce rendez-vous."))
    with transaction.atomic():
        if meeting.offer_id:
            _offer, ledger = _lock_offer_ledger(meeting.offer_id)
        deleted, _rows = Meeting.objects.filter(pk=meeting.pk).delete()
        if not deleted:
            return  # removed by a concurrent request: nothing to give back
        if meeting.offer_id:
            OfferHours.objects.filter(pk=ledger.pk).update(
                delivered_minutes=F("delivered_minutes") - meeting.duration_minutes, updated_at=timezone.now()
            )
        audit_record(actor=actor, action="meeting.delete", target=match, territory_id=match.territory_id,
                     data={"meeting": meeting.pk, "minutes": meeting.duration_minutes})


# --- Feedback and outcomes ------------------------------------------------------------------------


def feedback_give(*, actor: User, match: Match, phase: str, rating: Any, comment: str = "") -> Feedback:
    """One side rates its match (1 to 5): midway while it is active, final once it has ended.
    Once per side and phase (409 the second time)."""
    side = _side(actor, match)
    if phase not in FeedbackPhase.values:
        raise ValidationError({"phase": _("Choisissez « midway » ou « final ».")})
    rating = _int_in(rating, field="rating", lo=1, hi=5)
    comment = _clean_text(comment, field="comment", max_chars=FEEDBACK_COMMENT_MAX_CHARS)
    with transaction.atomic():
        # Lock the match: a double submission serialises here and the second gets a clear 409.
        locked = Match.objects.select_for_update().get(pk=match.pk)
        if phase == FeedbackPhase.MIDWAY and locked.status != MatchStatus.ACTIVE:
            raise _conflict(_("L'avis à mi-parcours se donne pendant le binôme."), status=locked.status)
        if phase == FeedbackPhase.FINAL and locked.status not in ENDED_STATUSES:
            raise _conflict(_("L'avis final se donne une fois le binôme terminé."), status=locked.status)
        if Feedback.objects.filter(match=locked, side=side, phase=phase).exists():
            raise _conflict(_("Vous avez déjà donné cet avis."))
        feedback = Feedback.objects.create(
            match=locked, author=actor, side=side, phase=phase, rating=rating, comment=comment
        )
    return feedback


def outcome_report(
    *, actor: User, match: Match, status: str, siret: str = "", jobs_created: Any = 0
) -> Outcome:
    """The entrepreneur reports (or updates) what became of the project: a business created with
    its SIRET (checked), still in progress, or given up; and the jobs created."""
    if actor.pk != match.entrepreneur_id:
        raise PermissionDenied(_("Seul le porteur ou la porteuse de projet déclare le résultat."))
    if status not in OutcomeStatus.values:
        raise ValidationError({"status": _("Choisissez business_created, in_progress ou gave_up.")})
    jobs = _int_in(jobs_created if jobs_created is not None else 0, field="jobs_created", lo=0, hi=OUTCOME_MAX_JOBS)
    siret = (siret or "").replace(" ", "") if isinstance(siret, str) else siret
    if status == OutcomeStatus.BUSINESS_CREATED:
        if not siret:
            raise ValidationError({"siret": _("Indiquez le SIRET de l'entreprise créée.")})
        try:
            validate_siret(siret)
        except ValidationError as exc:
            raise ValidationError({"siret": exc.messages}) from None
    else:
        siret = ""
    with transaction.atomic():
        # Lock the match: two reports at once (two tabs) update one row instead of racing to create two.
        locked = Match.objects.select_for_update().get(pk=match.pk)
        if locked.status not in FOLLOWED_STATUSES:
            raise _conflict(_("Le résultat se déclare pour un binôme actif ou terminé."), status=locked.status)
        now = timezone.now()
        outcome = Outcome.objects.filter(match=locked).first()
        if outcome is None:
            outcome = Outcome(match=locked, reported_at=now)
        outcome.status, outcome.siret, outcome.jobs_created = status, siret, jobs
        outcome.reported_by, outcome.updated_at = actor, now
        outcome.save()
    return outcome


# --- Nudges ---------------------------------------------------------------------------------------


def _site() -> str:
    return str(getattr(settings, "SITE_URL", "")).rstrip("/")


def match_nudge(*, actor: User, match: Match, message: str = "", request: Any = None) -> Nudge:
    """A coordinator of the territory nudges an active pair: the nudge is recorded, audited, and
    both parties are e-mailed through the outbox (after the commit). At most one nudge per pair
    in FOLLOWUP_NUDGE_MIN_INTERVAL_HOURS (409)."""
    if not user_can_coordinate(actor, match.territory_id):
        raise PermissionDenied(_("Seule la coordination du territoire peut relancer un binôme."))
    message = _clean_text(message, field="message", max_chars=NUDGE_MESSAGE_MAX_CHARS)
    with transaction.atomic():
        # Lock the match: two coordinators nudging at once serialise, the second sees the first.
        locked = Match.objects.select_for_update().select_related("entrepreneur", "provider_user").get(pk=match.pk)
        if locked.status != MatchStatus.ACTIVE:
            raise _conflict(_("Seul un binôme actif peut être relancé."), status=locked.status)
        now = timezone.now()
        since = now - dt.timedelta(hours=int(followup_setting("FOLLOWUP_NUDGE_MIN_INTERVAL_HOURS")))
        if Nudge.objects.filter(match=locked, created_at__gt=since).exists():
            raise _conflict(_("Ce binôme a déjà été relancé récemment."))
        nudge = Nudge.objects.create(match=locked, coordinator=actor, message=message, created_at=now)
        for user, other in ((locked.entrepreneur, locked.provider_user), (locked.provider_user, locked.entrepreneur)):
            body = gettext(
                "Bonjour %(name)s,\n\nLa coordination du Social LAB prend des nouvelles de votre binôme avec "
                "%(other)s : où en êtes-vous ? Un message ou un rendez-vous suffit pour relancer l'échange."
            ) % {"name": user.display_name, "other": other.display_name}
            if message:
                body += "\n\n" + gettext("Message de %(coord)s :") % {"coord": actor.display_name} + "\n" + message
            body += f"\n\n{_site()}/binomes/{locked.pk}/\n"
            outbox_enqueue(
                key=f"nudge:{nudge.pk}:{user.pk}", kind=OutboxKind.NUDGE, recipient=user, match=locked,
                subject=gettext("Social LAB : des nouvelles de votre binôme ?"), body=body,
            )
        audit_record(actor=actor, action="match.nudge", target=locked, territory_id=locked.territory_id,
                     data={"nudge": nudge.pk, "with_message": bool(message)}, request=request)
        outbox_kick_on_commit()
    return nudge


# --- Outbox ---------------------------------------------------------------------------------------


def outbox_enqueue(
    *, key: str, kind: str, recipient: User, subject: str, body: str, match: Match | None = None
) -> OutboxMessage | None:
    """Write an e-mail to send, in the caller's transaction (the event's). Returns None when a
    message with this key already exists: each key is sent once, whatever reruns and races."""
    try:
        # Savepoint: a duplicate key must not break the caller's transaction.
        with transaction.atomic():
            return OutboxMessage.objects.create(
                key=key, kind=kind, recipient=recipient, match=match, subject=subject[:200], body=body
            )
    except IntegrityError:
        if OutboxMessage.objects.filter(key=key).exists():
            return None
        raise


def outbox_kick_on_commit() -> None:
    """After the commit, queue a delivery run (the worker sends; nothing is sent in the
    transaction). If the queue is unavailable the messages wait for ``manage.py send_outbox``."""

    def kick() -> None:
        from followup.tasks import outbox_deliver_task

        try:
            outbox_deliver_task.enqueue()
        except Exception:  # the outbox rows are committed: the next run sends them
            logger.exception("could not queue outbox delivery; run manage.py send_outbox")

    transaction.on_commit(kick)


def outbox_backoff_seconds(attempts: int) -> int:
    base = int(followup_setting("OUTBOX_BACKOFF_BASE_SECONDS"))
    cap = int(followup_setting("OUTBOX_BACKOFF_MAX_SECONDS"))
    return int(min(base * 2 ** max(attempts - 1, 0), cap))


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    dead: int = 0
    skipped: int = 0
    next_retry_at: dt.datetime | None = None


def _due(now: dt.datetime) -> Q:
    # Pending and due, or claimed by a worker whose lease ran out (it died mid-send).
    return Q(status=OutboxStatus.PENDING, next_attempt_at__lte=now) | Q(
        status=OutboxStatus.SENDING, claimed_until__lt=now
    )


def outbox_deliver_due(*, limit: int | None = None) -> DeliveryReport:
    """Send the due messages of the outbox, each at most once per claim: a message is claimed
    (pending → sending, with a lease) by a conditional UPDATE committed on its own, sent, then
    marked sent; a failure puts it back to pending with an exponential backoff, and after
    OUTBOX_MAX_ATTEMPTS it is given up (``dead``, logged).

    Must be called outside any transaction (raises ``RuntimeError`` otherwise): an e-mail is
    never sent for something that could still roll back, and a claim must be visible to other
    workers at once."""
    report = DeliveryReport()
    limit = int(limit or followup_setting("OUTBOX_BATCH"))
    lease = dt.timedelta(seconds=int(followup_setting("OUTBOX_LEASE_SECONDS")))
    max_attempts = int(followup_setting("OUTBOX_MAX_ATTEMPTS"))
    now = timezone.now()
    with transaction.atomic(durable=True):  # fails loudly when called inside a transaction
        ids = list(OutboxMessage.objects.filter(_due(now)).order_by("next_attempt_at", "id").values_list("pk", flat=True)[:limit])
    connection = None
    try:
        for pk in ids:
            now = timezone.now()
            with transaction.atomic(durable=True):
                claimed = OutboxMessage.objects.filter(_due(now), pk=pk).update(
                    status=OutboxStatus.SENDING, claimed_until=now + lease, attempts=F("attempts") + 1
                )
            if not claimed:  # another worker took it, or it was sent meanwhile
                report.skipped += 1
                continue
            message = OutboxMessage.objects.select_related("recipient").get(pk=pk)
            recipient = message.recipient
            if not recipient.is_active or not recipient.email:
                OutboxMessage.objects.filter(pk=pk, status=OutboxStatus.SENDING).update(
                    status=OutboxStatus.DEAD, claimed_until=None, last_error="recipient inactive"
                )
                report.dead += 1
                continue
            try:
                if connection is None:
                    connection = get_connection(fail_silently=False)
                EmailMessage(message.subject, message.body, None, [recipient.email], connection=connection).send()
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"[:2000]
                if message.attempts >= max_attempts:
                    OutboxMessage.objects.filter(pk=pk).update(
                        status=OutboxStatus.DEAD, claimed_until=None, last_error=error
                    )
                    logger.error("outbox %s given up after %d attempts: %s", message.key, message.attempts, error)
                    report.dead += 1
                else:
                    retry_at = timezone.now() + dt.timedelta(seconds=outbox_backoff_seconds(message.attempts))
                    OutboxMessage.objects.filter(pk=pk).update(
                        status=OutboxStatus.PENDING, claimed_until=None, next_attempt_at=retry_at, last_error=error
                    )
                    logger.warning("outbox %s failed (attempt %d), retry at %s: %s", message.key,
                                   message.attempts, retry_at.isoformat(), error)
                    report.failed += 1
                    if report.next_retry_at is None or retry_at < report.next_retry_at:
                        report.next_retry_at = retry_at
                # A broken SMTP connection is not reused for the next message.
                connection = None
                continue
            OutboxMessage.objects.filter(pk=pk).update(
                status=OutboxStatus.SENT, sent_at=timezone.now(), claimed_until=None, last_error=""
            )
            report.sent += 1
    finally:
        if connection is not None:
            try:
                connection.close()
            except Exception:
                logger.warning("closing the mail connection failed", exc_info=True)
    return report


def outbox_prune(*, older_than_days: int = 90) -> int:
    """Delete sent and given-up messages older than this (they hold names and e-mail text)."""
    cutoff = timezone.now() - dt.timedelta(days=older_than_days)
    deleted, _rows = OutboxMessage.objects.filter(
        status__in=[OutboxStatus.SENT, OutboxStatus.DEAD], created_at__lt=cutoff
    ).delete()
    return deleted


# --- Reminders ------------------------------------------------------------------------------------


@dataclass
class RemindersReport:
    proposal_reminders: int = 0
    stalled_reminders: int = 0


def _enqueue_missing(rows: list[OutboxMessage]) -> int:
    """Insert the messages whose key does not exist yet; returns how many were new. A row
    inserted by a concurrent run in between is ignored by the unique key."""
    if not rows:
        return 0
    existing = set(OutboxMessage.objects.filter(key__in=[r.key for r in rows]).values_list("key", flat=True))
    new = [r for r in rows if r.key not in existing]
    OutboxMessage.objects.bulk_create(new, ignore_conflicts=True, batch_size=1000)
    return len(new)


def reminders_enqueue_due(*, now: dt.datetime | None = None) -> RemindersReport:
    """Write the reminders that are due into the outbox, idempotently (each key once):

    - a pending proposal not answered by a party after 3, 7 and 14 days
      (FOLLOWUP_PROPOSAL_REMINDER_DAYS) from its publication: one e-mail per silent party and
      step, only the latest step due (a late run does not send three at once);
    - an active pair with no message and no meeting for FOLLOWUP_STALLED_DAYS: one e-mail to each
      party per idle period (keyed by the time of the last activity, so a pair that talks again
      and falls silent again is reminded again).

    Delivery is queued after the commit."""
    from followup.selectors import stalled_matches

    now = now or timezone.now()
    report = RemindersReport()
    steps = tuple(followup_setting("FOLLOWUP_PROPOSAL_REMINDER_DAYS"))
    site = _site()
    with transaction.atomic():
        rows: list[OutboxMessage] = []
        pending = (
            Match.objects.filter(status=MatchStatus.PENDING, created_at__lte=now - dt.timedelta(days=steps[0]))
            .filter(Q(respond_by__isnull=True) | Q(respond_by__gt=now))
            .filter(Q(entrepreneur_accepted_at__isnull=True) | Q(provider_accepted_at__isnull=True))
            .select_related("entrepreneur", "provider_user")
        )
        for match in pending.iterator(chunk_size=1000):
            age_days = (now - match.created_at).days
            step = max((d for d in steps if age_days >= d), default=None)
            if step is None:
                continue
            for side, user, other, answered in (
                (Side.ENTREPRENEUR, match.entrepreneur, match.provider_user, match.entrepreneur_accepted_at),
                (Side.PROVIDER, match.provider_user, match.entrepreneur, match.provider_accepted_at),
            ):
                if answered is not None:
                    continue
                deadline = (
                    gettext(" avant le %(d)s") % {"d": timezone.localtime(match.respond_by).strftime("%d/%m/%Y")}
                    if match.respond_by else ""
                )
                rows.append(OutboxMessage(
                    key=f"{OutboxKind.PROPOSAL_REMINDER}:{match.pk}:{step}:{side}",
                    kind=OutboxKind.PROPOSAL_REMINDER, recipient=user, match=match,
                    subject=gettext("Social LAB : une proposition de binôme attend votre réponse"),
                    body=gettext(
                        "Bonjour %(name)s,\n\nLa mise en relation avec %(other)s attend votre réponse depuis "
                        "%(days)d jours. Acceptez-la ou déclinez-la%(deadline)s : %(url)s\n"
                    ) % {"name": user.display_name, "other": other.display_name, "days": step,
                         "deadline": deadline, "url": f"{site}/binomes/{match.pk}/"},
                ))
        report.proposal_reminders = _enqueue_missing(rows)

        rows = []
        stalled = stalled_matches(now=now).select_related("entrepreneur", "provider_user")
        for match in stalled.iterator(chunk_size=1000):
            idle_since = match.last_activity_at
            days = (now - idle_since).days
            for side, user, other in (
                (Side.ENTREPRENEUR, match.entrepreneur, match.provider_user),
                (Side.PROVIDER, match.provider_user, match.entrepreneur),
            ):
                rows.append(OutboxMessage(
                    key=f"{OutboxKind.STALLED_REMINDER}:{match.pk}:{int(idle_since.timestamp())}:{side}",
                    kind=OutboxKind.STALLED_REMINDER, recipient=user, match=match,
                    subject=gettext("Social LAB : et votre binôme ?"),
                    body=gettext(
                        "Bonjour %(name)s,\n\nAucun message ni rendez-vous avec %(other)s depuis %(days)d jours. "
                        "Un petit mot suffit pour reprendre contact : %(url)s\n"
                    ) % {"name": user.display_name, "other": other.display_name, "days": days,
                         "url": f"{site}/binomes/{match.pk}/"},
                ))
        report.stalled_reminders = _enqueue_missing(rows)
        if report.proposal_reminders or report.stalled_reminders:
            outbox_kick_on_commit()
    return report
