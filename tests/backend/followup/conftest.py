"""Follow-up fixtures: matches between personas in any state, created directly (as the cycles app
leaves them), a mail box, and a mail backend that fails on demand."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend
from django.utils import timezone

from cycles.models import Match, MatchStatus
from tests.factories import OfferFactory, ProjectFactory, request_for


def make_match(entrepreneur, provider, *, status: str = MatchStatus.ACTIVE, activated_at=None, offer=None,
               created_at=None, request=None, cycle=None, **fields) -> Match:
    """A match of ``entrepreneur`` with a mentor or a company (its offer, made if not given)."""
    from marketplace.models import CompanyProfile, MentorProfile

    request = request or request_for(ProjectFactory(owner=entrepreneur))
    mentor = MentorProfile.objects.filter(user=provider).first()
    if mentor is None and offer is None:
        offer = OfferFactory(company=CompanyProfile.objects.get(user=provider))
    now = timezone.now()
    if status in (MatchStatus.ACTIVE, MatchStatus.COMPLETED, MatchStatus.ENDED_EARLY) and activated_at is None:
        activated_at = now
    return Match.objects.create(
        request=request, entrepreneur=entrepreneur, provider_user=provider, mentor=mentor if offer is None else None,
        offer=offer, territory=request.territory, status=status, activated_at=activated_at,
        created_at=created_at or activated_at or now, cycle=cycle, **fields,
    )


class FlakyBackend(LocmemBackend):
    """Fails the next ``FlakyBackend.failures`` sends, then delivers to ``mail.outbox``."""

    failures = 0

    def send_messages(self, messages):
        if FlakyBackend.failures > 0:
            FlakyBackend.failures -= 1
            raise ConnectionRefusedError("SMTP server unreachable")
        return super().send_messages(messages)


@pytest.fixture(autouse=True)
def _mailbox(settings):
    settings.EMAIL_BACKEND = "tests.backend.followup.conftest.FlakyBackend"
    FlakyBackend.failures = 0
    mail.outbox = []
    yield
    FlakyBackend.failures = 0


@pytest.fixture
def mentor_match(entrepreneur, mentor):
    """Amina (entrepreneur) and Sophie (mentor), active since now."""
    return make_match(entrepreneur, mentor)


@pytest.fixture
def sponsorship(entrepreneur, company):
    """Amina and Acme, active, on an offer with a budget of 2 hours."""
    offer = OfferFactory(company=company.company_profile, hours_budget=2)
    return make_match(entrepreneur, company, offer=offer, activated_at=timezone.now() - dt.timedelta(days=10))
