"""Matching cycles, their proposals and unmatched requests, and matches (binômes).

Capacity is held by two kinds of rows: approved proposals not yet published, and live matches
(pending, active). Each holds one numbered ``slot`` of its provider; partial unique indexes make
two live holds of one provider on one slot impossible, whatever the races (the services choose a
free slot under the provider's row lock, the index is the last line)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# --- Cycles ---------------------------------------------------------------------------------------


class CycleStatus(models.TextChoices):
    DRAFT = "draft", _("Brouillon")
    OPEN = "open", _("Ouvert")
    SOLVING = "solving", _("Calcul en cours")
    REVIEW = "review", _("En revue")
    PUBLISHED = "published", _("Publié")
    CLOSED = "closed", _("Clos")


class RunStage(models.TextChoices):
    IDLE = "", _("Aucun calcul")
    QUEUED = "queued", _("En file d'attente")
    LOAD = "load", _("Chargement")
    SCORE = "score", _("Calcul des scores")
    SOLVE = "solve", _("Optimisation")
    WRITE = "write", _("Écriture des propositions")
    DONE = "done", _("Terminé")
    FAILED = "failed", _("Échec")


# Ranges of the configuration; the service reports a value outside them as a 400 on the field, and
# CHECK constraints repeat them in the database.
CONFIG_RANGES: dict[str, tuple[float, float]] = {
    "weight_skills": (0, 10),
    "weight_sector": (0, 10),
    "weight_distance": (0, 10),
    "weight_availability": (0, 10),
    "weight_preference": (0, 10),
    "min_score": (0, 100),
    "priority_bonus_tier1": (0, 100),
    "priority_bonus_tier2": (0, 100),
    "waiting_bonus_per_30_days": (0, 50),
    "waiting_bonus_cap": (0, 100),
    "candidates_per_request": (1, 200),
    "response_days": (1, 60),
}
WEIGHT_FIELDS = ("weight_skills", "weight_sector", "weight_distance", "weight_availability", "weight_preference")


def _range_check(name: str) -> models.CheckConstraint:
    lo, hi = CONFIG_RANGES[name]
    return models.CheckConstraint(
        condition=Q(**{f"{name}__gte": lo, f"{name}__lte": hi}), name=f"cycle_{name}_range"
    )


class Cycle(models.Model):
    """A matching cycle of one territory (or of all, ``territory`` null: administrators only)."""

    territory = models.ForeignKey(
        "marketplace.Territory", null=True, blank=True, on_delete=models.PROTECT, related_name="cycles"
    )
    name = models.CharField(_("nom"), max_length=120)
    opens_on = models.DateField(_("ouverture"))
    closes_on = models.DateField(_("clôture"))
    status = models.CharField(max_length=10, choices=CycleStatus.choices, default=CycleStatus.DRAFT)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    published_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    # Configuration (see matching.CycleConfig): relative criteria weights, minimum score, value in
    # score points of serving priority publics and long waits, candidate graph size.
    weight_skills = models.FloatField(default=0.55)
    weight_sector = models.FloatField(default=0.10)
    weight_distance = models.FloatField(default=0.15)
    weight_availability = models.FloatField(default=0.15)
    weight_preference = models.FloatField(default=0.05)
    min_score = models.FloatField(default=20.0)
    priority_bonus_tier1 = models.FloatField(default=10.0)
    priority_bonus_tier2 = models.FloatField(default=20.0)
    waiting_bonus_per_30_days = models.FloatField(default=1.0)
    waiting_bonus_cap = models.FloatField(default=12.0)
    candidates_per_request = models.PositiveSmallIntegerField(default=20)
    response_days = models.PositiveSmallIntegerField(_("délai de réponse (jours)"), default=10)

    # The current or last run. ``run_token`` identifies the run allowed to write: a run that was
    # superseded (killed, then restarted) finds another token and writes nothing.
    run_token = models.CharField(max_length=32, blank=True)
    run_task_id = models.CharField(max_length=64, blank=True)
    run_from_status = models.CharField(max_length=10, choices=CycleStatus.choices, blank=True)
    run_stage = models.CharField(max_length=10, choices=RunStage.choices, blank=True, default=RunStage.IDLE)
    run_progress = models.FloatField(default=0.0)
    run_heartbeat_at = models.DateTimeField(null=True, blank=True)
    run_started_at = models.DateTimeField(null=True, blank=True)
    run_finished_at = models.DateTimeField(null=True, blank=True)
    run_error = models.TextField(blank=True)
    run_count = models.PositiveIntegerField(default=0)
    # Results of the last successful run.
    input_hash = models.CharField(max_length=64, blank=True)
    request_count = models.PositiveIntegerField(default=0)
    provider_count = models.PositiveIntegerField(default=0)
    objective = models.FloatField(null=True, blank=True)
    matched_count = models.PositiveIntegerField(default=0)
    run_seconds = models.FloatField(null=True, blank=True)
    run_timings = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(closes_on__gte=models.F("opens_on")), name="cycle_period"),
            models.CheckConstraint(
                condition=Q(status__in=[s.value for s in CycleStatus]), name="cycle_status_valid"
            ),
            *[_range_check(name) for name in CONFIG_RANGES],
        ]
        indexes = [models.Index(fields=["territory", "status"])]

    def __str__(self) -> str:
        return self.name

    def weights(self) -> dict[str, float]:
        return {name.removeprefix("weight_"): getattr(self, name) for name in WEIGHT_FIELDS}


# --- Proposals ------------------------------------------------------------------------------------


class ProposalStatus(models.TextChoices):
    PROPOSED = "proposed", _("Proposée")
    APPROVED = "approved", _("Approuvée")
    REJECTED = "rejected", _("Rejetée")
    PUBLISHED = "published", _("Publiée")
    SUPERSEDED = "superseded", _("Remplacée")
    CANCELLED = "cancelled", _("Annulée")


class ProposalSource(models.TextChoices):
    SOLVER = "solver", _("Calculée")
    MANUAL = "manual", _("Affectation manuelle")


class RejectReason(models.TextChoices):
    SKILLS_MISMATCH = "skills_mismatch", _("Compétences inadaptées")
    KNOWN_CONFLICT = "known_conflict", _("Incompatibilité connue")
    PROVIDER_UNAVAILABLE = "provider_unavailable", _("Accompagnant indisponible")
    REQUEST_NOT_READY = "request_not_ready", _("Demande pas prête")
    OTHER = "other", _("Autre")


class Proposal(models.Model):
    """A pair suggested by the solver (or assigned by hand) in a cycle, with its score broken
    down in points per criterion (the five add up to ``score``)."""

    cycle = models.ForeignKey(Cycle, on_delete=models.CASCADE, related_name="proposals")
    request = models.ForeignKey("marketplace.Request", on_delete=models.CASCADE, related_name="proposals")
    mentor = models.ForeignKey(
        "marketplace.MentorProfile", null=True, blank=True, on_delete=models.CASCADE, related_name="proposals"
    )
    offer = models.ForeignKey(
        "marketplace.Offer", null=True, blank=True, on_delete=models.CASCADE, related_name="proposals"
    )
    provider_user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    territory = models.ForeignKey("marketplace.Territory", on_delete=models.PROTECT, related_name="+")
    town = models.ForeignKey("marketplace.Town", on_delete=models.PROTECT, related_name="+")
    source = models.CharField(max_length=8, choices=ProposalSource.choices, default=ProposalSource.SOLVER)
    status = models.CharField(max_length=10, choices=ProposalStatus.choices, default=ProposalStatus.PROPOSED)
    score = models.FloatField()
    points_skills = models.FloatField(default=0.0)
    points_sector = models.FloatField(default=0.0)
    points_distance = models.FloatField(default=0.0)
    points_availability = models.FloatField(default=0.0)
    points_preference = models.FloatField(default=0.0)
    warnings = models.JSONField(default=list, blank=True)
    slot = models.PositiveSmallIntegerField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    reason_code = models.CharField(max_length=30, blank=True)
    reason = models.TextField(blank=True)
    match = models.OneToOneField(
        "cycles.Match", null=True, blank=True, on_delete=models.SET_NULL, related_name="proposal"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-score", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(mentor__isnull=False) & Q(offer__isnull=True))
                | (Q(mentor__isnull=True) & Q(offer__isnull=False)),
                name="proposal_one_provider",
            ),
            models.CheckConstraint(condition=Q(score__gte=0, score__lte=100), name="proposal_score_range"),
            # One undecided or approved proposal per request and cycle.
            models.UniqueConstraint(
                fields=["cycle", "request"],
                condition=Q(status__in=["proposed", "approved"]),
                name="one_open_proposal_per_request_and_cycle",
            ),
            # A request never holds two places at once, across cycles.
            models.UniqueConstraint(
                fields=["request"], condition=Q(status="approved"), name="one_approved_proposal_per_request"
            ),
            # Two approved proposals never share a place of one provider.
            models.UniqueConstraint(
                fields=["mentor", "slot"],
                condition=Q(status="approved", mentor__isnull=False, slot__isnull=False),
                name="proposal_mentor_slot_unique",
            ),
            models.UniqueConstraint(
                fields=["offer", "slot"],
                condition=Q(status="approved", offer__isnull=False, slot__isnull=False),
                name="proposal_offer_slot_unique",
            ),
            models.CheckConstraint(
                condition=Q(slot__isnull=True) | Q(slot__gte=1, slot__lte=500), name="proposal_slot_range"
            ),
            models.CheckConstraint(
                condition=~Q(status="approved") | Q(slot__isnull=False), name="approved_proposal_holds_slot"
            ),
        ]
        indexes = [
            models.Index(fields=["cycle", "status", "-score"]),
            # The review table's default order (a cycle's proposals by -score, id) without sorting a
            # national cycle's tens of thousands of rows per page.
            models.Index(fields=["cycle", "-score", "id"], name="proposal_cycle_score_idx"),
            # A coordinator's view of a cycle (cycle = and territory IN his territories, maybe a
            # status): the review table's count is an index-only scan instead of reading the table.
            models.Index(fields=["cycle", "territory", "status"], name="proposal_cycle_territory_idx"),
            models.Index(fields=["mentor", "status"]),
            models.Index(fields=["offer", "status"]),
        ]

    def __str__(self) -> str:
        return f"Proposal {self.pk} ({self.status})"

    @property
    def provider_kind(self) -> str:
        return "mentor" if self.mentor_id else "offer"

    @property
    def breakdown(self) -> dict[str, float]:
        return {
            "skills": self.points_skills,
            "sector": self.points_sector,
            "distance": self.points_distance,
            "availability": self.points_availability,
            "preference": self.points_preference,
        }


class UnmatchedRequest(models.Model):
    """An open request of a cycle's pool that got no proposal, with the reason why."""

    cycle = models.ForeignKey(Cycle, on_delete=models.CASCADE, related_name="unmatched")
    request = models.ForeignKey("marketplace.Request", on_delete=models.CASCADE, related_name="+")
    territory = models.ForeignKey("marketplace.Territory", on_delete=models.PROTECT, related_name="+")
    town = models.ForeignKey("marketplace.Town", on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=30)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["cycle", "request"], name="unmatched_once_per_cycle")]
        # ?reason= on a cycle's unmatched list (tens of thousands of rows in a national cycle).
        indexes = [models.Index(fields=["cycle", "reason"], name="unmatched_cycle_reason_idx")]

    def __str__(self) -> str:
        return f"Unmatched {self.request_id} ({self.reason})"


# --- Matches --------------------------------------------------------------------------------------


class MatchStatus(models.TextChoices):
    PENDING = "pending", _("En attente des deux accords")
    ACTIVE = "active", _("Actif")
    COMPLETED = "completed", _("Terminé")
    ENDED_EARLY = "ended_early", _("Arrêté avant la fin")
    DECLINED = "declined", _("Refusé")
    EXPIRED = "expired", _("Sans réponse")


LIVE_MATCH_STATUSES = (MatchStatus.PENDING, MatchStatus.ACTIVE)


class DeclineReason(models.TextChoices):
    NOT_AVAILABLE = "not_available", _("Pas disponible en ce moment")
    NOT_A_FIT = "not_a_fit", _("Ne correspond pas à mon besoin")
    DISTANCE = "distance", _("Trop loin")
    PERSONAL = "personal", _("Raison personnelle")
    OTHER = "other", _("Autre")


class Match(models.Model):
    """A pair (binôme): one request and one provider, a mentor or a company offer.

    ``provider_user`` is the person who talks with the entrepreneur: the mentor, or the company's
    account for an offer. Live matches (pending, active) hold one place of the provider's
    capacity."""

    request = models.ForeignKey("marketplace.Request", on_delete=models.CASCADE, related_name="matches")
    entrepreneur = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="matches_as_entrepreneur"
    )
    provider_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="matches_as_provider"
    )
    mentor = models.ForeignKey(
        "marketplace.MentorProfile", null=True, blank=True, on_delete=models.CASCADE, related_name="matches"
    )
    offer = models.ForeignKey(
        "marketplace.Offer", null=True, blank=True, on_delete=models.CASCADE, related_name="matches"
    )
    territory = models.ForeignKey("marketplace.Territory", on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=12, choices=MatchStatus.choices, default=MatchStatus.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    activated_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.TextField(blank=True)
    # Consent of both parties (null until given) and the deadline to give it.
    cycle = models.ForeignKey(Cycle, null=True, blank=True, on_delete=models.SET_NULL, related_name="matches")
    respond_by = models.DateTimeField(null=True, blank=True)
    entrepreneur_accepted_at = models.DateTimeField(null=True, blank=True)
    provider_accepted_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    end_reason_code = models.CharField(max_length=30, blank=True)
    score = models.FloatField(null=True, blank=True)
    slot = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(mentor__isnull=False) & Q(offer__isnull=True))
                | (Q(mentor__isnull=True) & Q(offer__isnull=False)),
                name="match_one_provider",
            ),
            # A request never has two live matches, whatever the races.
            models.UniqueConstraint(
                fields=["request"],
                condition=Q(status__in=["pending", "active"]),
                name="one_live_match_per_request",
            ),
            # Two live matches never share a place of one provider.
            models.UniqueConstraint(
                fields=["mentor", "slot"],
                condition=Q(status__in=["pending", "active"], mentor__isnull=False, slot__isnull=False),
                name="match_mentor_slot_unique",
            ),
            models.UniqueConstraint(
                fields=["offer", "slot"],
                condition=Q(status__in=["pending", "active"], offer__isnull=False, slot__isnull=False),
                name="match_offer_slot_unique",
            ),
            models.CheckConstraint(
                condition=Q(slot__isnull=True) | Q(slot__gte=1, slot__lte=500), name="match_slot_range"
            ),
        ]
        indexes = [
            models.Index(fields=["territory", "status"]),
            models.Index(fields=["mentor", "status"]),
            models.Index(fields=["offer", "status"]),
            models.Index(fields=["status", "respond_by"]),
            # The list's default order (-created_at, -id): everything for an administrator, one
            # territory for a coordinator, read from the index instead of sorted per page.
            models.Index(fields=["created_at", "id"], name="match_created_idx"),
            models.Index(fields=["territory", "created_at", "id"], name="match_territory_created_idx"),
        ]

    def __str__(self) -> str:
        return f"Match {self.pk} ({self.status})"

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_MATCH_STATUSES

    @property
    def provider_kind(self) -> str:
        return "mentor" if self.mentor_id else "offer"
