"""Matching cycles, proposals and matches."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class MatchStatus(models.TextChoices):
    PENDING = "pending", _("En attente des deux accords")
    ACTIVE = "active", _("Actif")
    COMPLETED = "completed", _("Terminé")
    ENDED_EARLY = "ended_early", _("Arrêté avant la fin")
    DECLINED = "declined", _("Refusé")
    EXPIRED = "expired", _("Sans réponse")


LIVE_MATCH_STATUSES = (MatchStatus.PENDING, MatchStatus.ACTIVE)


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
        ]
        indexes = [models.Index(fields=["territory", "status"])]

    def __str__(self) -> str:
        return f"Match {self.pk} ({self.status})"

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_MATCH_STATUSES
