"""Follow-up of matches after they start: meetings and sponsorship hours, feedback, outcomes,
coordinators' nudges, and the durable outbox through which every follow-up e-mail is sent.

The lifecycle itself (active → completed / ended early) belongs to ``cycles.services.match_end``;
this app only reads a match's state."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Length
from django.db.models.lookups import LessThanOrEqual
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

MEETING_NOTE_MAX_CHARS = 500
MEETING_MAX_MINUTES = 600
FEEDBACK_COMMENT_MAX_CHARS = 2000
NUDGE_MESSAGE_MAX_CHARS = 1000
OUTCOME_MAX_JOBS = 1000


# --- Meetings and sponsorship hours ---------------------------------------------------------------


class MeetingFormat(models.TextChoices):
    IN_PERSON = "in_person", _("En présentiel")
    VIDEO = "video", _("En visio")
    PHONE = "phone", _("Par téléphone")


class Meeting(models.Model):
    """A meeting of a pair, logged by either party. For a company's sponsorship (``offer`` set,
    copied from the match) its duration counts as hours delivered against the offer's budget."""

    match = models.ForeignKey("cycles.Match", on_delete=models.CASCADE, related_name="meetings")
    # Denormalised from the match: the hours ledger and the reports sum per offer on one index.
    offer = models.ForeignKey(
        "marketplace.Offer", null=True, blank=True, on_delete=models.CASCADE, related_name="meetings"
    )
    date = models.DateField(_("date"))
    duration_minutes = models.PositiveSmallIntegerField(_("durée (minutes)"))
    format = models.CharField(_("format"), max_length=10, choices=MeetingFormat.choices)
    note = models.TextField(_("note"), max_length=MEETING_NOTE_MAX_CHARS, blank=True)
    logged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-date", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(duration_minutes__gte=1, duration_minutes__lte=MEETING_MAX_MINUTES),
                name="meeting_duration_range",
            ),
            models.CheckConstraint(
                condition=LessThanOrEqual(Length("note"), MEETING_NOTE_MAX_CHARS), name="meeting_note_max"
            ),
            models.CheckConstraint(
                condition=Q(format__in=[f.value for f in MeetingFormat]), name="meeting_format_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["match", "created_at"]),
            models.Index(fields=["offer", "date"]),
        ]

    def __str__(self) -> str:
        return f"Meeting {self.pk} of match {self.match_id}"


class OfferHours(models.Model):
    """The running total of minutes delivered on an offer. Only written with the offer's row
    locked; the CHECK constraint is the last line behind the service's budget check."""

    offer = models.OneToOneField("marketplace.Offer", on_delete=models.CASCADE, related_name="hours_ledger")
    budget_minutes = models.PositiveIntegerField()
    delivered_minutes = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "offer hours"
        constraints = [
            models.CheckConstraint(
                condition=Q(delivered_minutes__lte=F("budget_minutes")), name="offer_hours_within_budget"
            ),
        ]

    def __str__(self) -> str:
        return f"Offer {self.offer_id}: {self.delivered_minutes}/{self.budget_minutes} min"


# --- Feedback and outcomes --------------------------------------------------------------------------


class Side(models.TextChoices):
    ENTREPRENEUR = "entrepreneur", _("Porteur ou porteuse de projet")
    PROVIDER = "provider", _("Parrain, marraine ou entreprise")


class FeedbackPhase(models.TextChoices):
    MIDWAY = "midway", _("À mi-parcours")
    FINAL = "final", _("À la fin")


class Feedback(models.Model):
    """One side's rating (1 to 5) of its match, at midway (optional) or at the end."""

    match = models.ForeignKey("cycles.Match", on_delete=models.CASCADE, related_name="feedback")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    side = models.CharField(max_length=12, choices=Side.choices)
    phase = models.CharField(max_length=8, choices=FeedbackPhase.choices)
    rating = models.PositiveSmallIntegerField(_("note"))
    comment = models.TextField(_("commentaire"), max_length=FEEDBACK_COMMENT_MAX_CHARS, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # Last line behind the service's check: one feedback per side and phase.
            models.UniqueConstraint(fields=["match", "side", "phase"], name="feedback_one_per_side_and_phase"),
            models.CheckConstraint(condition=Q(rating__gte=1, rating__lte=5), name="feedback_rating_range"),
            models.CheckConstraint(
                condition=LessThanOrEqual(Length("comment"), FEEDBACK_COMMENT_MAX_CHARS),
                name="feedback_comment_max",
            ),
        ]

    def __str__(self) -> str:
        return f"Feedback {self.side}/{self.phase} on match {self.match_id}"


class OutcomeStatus(models.TextChoices):
    BUSINESS_CREATED = "business_created", _("Entreprise créée")
    IN_PROGRESS = "in_progress", _("Projet en cours")
    GAVE_UP = "gave_up", _("Projet abandonné")


class Outcome(models.Model):
    """What became of the project, as the entrepreneur reports it (updatable as it evolves)."""

    match = models.OneToOneField("cycles.Match", on_delete=models.CASCADE, related_name="outcome")
    status = models.CharField(max_length=20, choices=OutcomeStatus.choices)
    siret = models.CharField(max_length=14, blank=True)
    jobs_created = models.PositiveSmallIntegerField(default=0)
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reported_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-updated_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=[s.value for s in OutcomeStatus]), name="outcome_status_valid"
            ),
            # A created business has its SIRET; other outcomes carry none.
            models.CheckConstraint(
                condition=(Q(status="business_created") & ~Q(siret="")) | (~Q(status="business_created") & Q(siret="")),
                name="outcome_siret_iff_created",
            ),
            models.CheckConstraint(condition=Q(jobs_created__lte=OUTCOME_MAX_JOBS), name="outcome_jobs_range"),
        ]

    def __str__(self) -> str:
        return f"Outcome {self.status} of match {self.match_id}"


# --- Nudges ---------------------------------------------------------------------------------------


class Nudge(models.Model):
    """A coordinator's nudge of a stalled pair (both parties are e-mailed through the outbox)."""

    match = models.ForeignKey("cycles.Match", on_delete=models.CASCADE, related_name="nudges")
    coordinator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    message = models.TextField(max_length=NUDGE_MESSAGE_MAX_CHARS, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["match", "created_at"])]

    def __str__(self) -> str:
        return f"Nudge {self.pk} of match {self.match_id}"


# --- Outbox ---------------------------------------------------------------------------------------


class OutboxStatus(models.TextChoices):
    PENDING = "pending", _("À envoyer")
    SENDING = "sending", _("Envoi en cours")
    SENT = "sent", _("Envoyé")
    DEAD = "dead", _("Abandonné après trop d'échecs")


class OutboxKind(models.TextChoices):
    PROPOSAL_REMINDER = "proposal_reminder", _("Relance d'une proposition sans réponse")
    STALLED_REMINDER = "stalled_reminder", _("Relance d'un binôme sans activité")
    NUDGE = "nudge", _("Relance de la coordination")


class OutboxMessage(models.Model):
    """An e-mail to send, written in the transaction of the event that causes it (so it exists
    if and only if the event committed) and delivered later, outside any transaction, by
    ``followup.services.outbox_deliver_due``.

    ``key`` makes each e-mail exist once whatever reruns or races (a reminder is keyed by match,
    kind and step). A row is claimed by a conditional UPDATE (pending → sending, with a lease), so
    two workers never send it twice; a failure puts it back to pending with a backoff."""

    key = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=20, choices=OutboxKind.choices)
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    match = models.ForeignKey(
        "cycles.Match", null=True, blank=True, on_delete=models.CASCADE, related_name="outbox_messages"
    )
    subject = models.CharField(max_length=200)
    body = models.TextField()
    status = models.CharField(max_length=8, choices=OutboxStatus.choices, default=OutboxStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=[s.value for s in OutboxStatus]), name="outbox_status_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status="sent") | Q(sent_at__isnull=False), name="outbox_sent_has_time"
            ),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"Outbox {self.key} ({self.status})"
