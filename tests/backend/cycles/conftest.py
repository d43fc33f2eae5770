"""Builders for cycle tests: a small pool of requests and providers in the Rive Droite, made with
the project's factories and services."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from cycles.models import Cycle, CycleStatus, Proposal, ProposalStatus
from marketplace.models import MentorProfile, Territory
from tests import factories as f


def rive_droite() -> Territory:
    return Territory.objects.get(code="rive-droite")


def open_request(user=None, needs=None, **kwargs):
    """A live request of a new project of ``user`` (a new entrepreneur if None)."""
    if user is None:
        user = f.EntrepreneurProfileFactory().user
    project = f.ProjectFactory(owner=user, needs=needs)
    return f.request_for(project, **kwargs)


def mentor_profile(user=None, **kwargs) -> MentorProfile:
    if user is not None:
        return user.mentor_profile
    return f.MentorProfileFactory(**kwargs)


def make_cycle(*, status: str = CycleStatus.DRAFT, territory=None, **config) -> Cycle:
    today = timezone.localdate()
    return Cycle.objects.create(
        territory=territory or rive_droite(), name="Cycle de test", opens_on=today,
        closes_on=today + dt.timedelta(days=30), status=status, **config,
    )


def make_proposal(cycle: Cycle, request, *, mentor=None, offer=None, score: float = 70.0,
                  status: str = ProposalStatus.PROPOSED) -> Proposal:
    provider_user = mentor.user if mentor is not None else offer.company.user
    return Proposal.objects.create(
        cycle=cycle, request=request, mentor=mentor, offer=offer, provider_user=provider_user,
        territory_id=request.territory_id, town_id=request.entrepreneur.entrepreneur_profile.town_id,
        score=score, points_skills=score, status=status,
    )


@pytest.fixture
def immediate_tasks(settings):
    """Run queued tasks at once, in-process (the real worker is tested separately)."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    yield
