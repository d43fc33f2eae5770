"""The report's figures are SQL aggregates (``followup.reports.report_build``); they must equal
what the former row-by-row Python computation gave (kept below as the reference) on a varied
data set: every priority criterion, consent given, withdrawn or absent, a request whose
entrepreneur has no profile, matches in every status, of two cycles, several matches for one request."""

from __future__ import annotations

import datetime as dt
import random
import statistics
from collections import Counter

import pytest
from django.db.models import Exists, OuterRef

from accounts.models import Consent, ConsentPurpose
from cycles.models import Cycle, Match, MatchStatus
from followup.reports import (
    PRIORITY_GROUPS,
    REPORTED_MATCH_STATUSES,
    ReportScope,
    _groups,
    _requests,
    report_build,
    shown_partition,
)
from marketplace.models import AgeBand, EntrepreneurProfile, Gender, Territory
from tests.backend.followup.conftest import make_match
from tests.factories import EntrepreneurProfileFactory, ProjectFactory, request_for, town

pytestmark = pytest.mark.django_db

JAN = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)


def python_figures(scope: ReportScope) -> dict:
    """The former implementation: every cohort row and every match read into Python."""
    cohort = _requests(scope)
    live_consent = Consent.objects.filter(
        user=OuterRef("entrepreneur"), purpose=ConsentPurpose.PRIORITY_DATA, withdrawn_at__isnull=True
    )
    rows = list(cohort.annotate(consent=Exists(live_consent)).values_list(
        "pk", "created_at", "entrepreneur__entrepreneur_profile__town__insee_code",
        "entrepreneur__entrepreneur_profile__town__name", "entrepreneur__entrepreneur_profile__gender",
        "entrepreneur__entrepreneur_profile__age_band", "entrepreneur__entrepreneur_profile__qpv_resident",
        "entrepreneur__entrepreneur_profile__job_seeker", "consent").order_by())
    matches = Match.objects.filter(request__in=cohort.values("pk"), activated_at__isnull=False,
                                   status__in=REPORTED_MATCH_STATUSES)
    if scope.cycle_id is not None:
        matches = matches.filter(cycle_id=scope.cycle_id)
    match_rows = list(matches.values_list("pk", "request_id", "activated_at", "status").order_by())
    first: dict[int, dt.datetime] = {}
    for _pk, request_id, activated_at, _status in match_rows:
        if request_id not in first or activated_at < first[request_id]:
            first[request_id] = activated_at
    waits = [(first[pk] - created).total_seconds() / 86400 for pk, created, *_ in rows if pk in first]
    towns: Counter = Counter()
    towns_matched: Counter = Counter()
    groups: Counter = Counter()
    groups_matched: Counter = Counter()
    for pk, _created, insee, _name, gender, age, qpv, job, consent in rows:
        towns[insee or "unknown"] += 1
        towns_matched[insee or "unknown"] += pk in first
        for group in _groups(gender or "", age or "", qpv, job, bool(consent)):
            groups[group] += 1
            groups_matched[group] += pk in first
    return {
        "requests": len(rows), "matched": len(first),
        "median": round(statistics.median(waits), 1) if waits else None,
        "statuses": {s: Counter(s for *_x, s in match_rows)[s] for s in REPORTED_MATCH_STATUSES},
        "towns": {t: (towns[t], towns_matched[t]) for t in sorted(towns)},
        "groups": {g: (groups[g], groups_matched[g]) for g in PRIORITY_GROUPS},
    }


def sql_figures(scope: ReportScope) -> dict:
    report = report_build(scope)
    return {
        "requests": report.requests, "matched": report.matched_requests, "median": report.median_waiting_days,
        "statuses": dict(report.matches_by_status),
        "towns": {t["town"]: (t["requests"], t["matched"]) for t in report.by_town},
        "groups": {g["group"]: (g["requests"], g["matched"]) for g in report.by_priority_public},
    }


@pytest.fixture
def varied(settings, mentor, company):
    settings.REPORT_MIN_COUNT = 1  # compare every figure, none suppressed (zero still is: see below)
    rng = random.Random(10)
    cycles = [Cycle.objects.create(territory=Territory.objects.get(code="rive-droite"), name=f"C{i}",
                                   opens_on=dt.date(2026, 1, 1), closes_on=dt.date(2026, 1, 31)) for i in range(2)]
    requests = []
    for i in range(60):
        profile = EntrepreneurProfileFactory(
            town=town(rng.choice(["33249", "33119", "33167", "33032"])),
            gender=rng.choice(["", Gender.WOMAN, Gender.MAN]),
            age_band=rng.choice(["", AgeBand.UNDER_26, AgeBand.FROM_26_TO_49, AgeBand.OVER_50]),
            qpv_resident=rng.choice([None, True, False]), job_seeker=rng.choice([None, True, False]))
        consent = rng.random()
        if consent < 0.7:
            given = Consent.objects.create(user=profile.user, purpose=ConsentPurpose.PRIORITY_DATA)
            if consent < 0.1:
                given.withdrawn_at = JAN
                given.save()
        request = request_for(ProjectFactory(owner=profile.user))
        if i % 17 == 0:  # an entrepreneur without a profile (no town, no criterion)
            EntrepreneurProfile.objects.filter(pk=profile.pk).delete()
        type(request).objects.filter(pk=request.pk).update(created_at=JAN + dt.timedelta(days=i % 20, hours=i))
        request.refresh_from_db()
        requests.append(request)
    statuses = [*REPORTED_MATCH_STATUSES, MatchStatus.DECLINED, MatchStatus.PENDING]
    for i, request in enumerate(requests):
        count = rng.choice([0, 0, 1, 1, 2])  # none, one, or two matches (the first activation counts)
        for k in range(count):
            # At most one live (pending or active) match per request: a first of two has ended.
            ended = [MatchStatus.COMPLETED, MatchStatus.ENDED_EARLY, MatchStatus.DECLINED]
            status = rng.choice(ended if count == 2 and k == 0 else statuses)
            activated = (request.created_at + dt.timedelta(days=rng.randint(1, 40), hours=k)
                         if status in REPORTED_MATCH_STATUSES else None)
            make_match(request.entrepreneur, mentor if (i + k) % 3 else company, request=request, status=status,
                       activated_at=activated, cycle=cycles[(i + k) % 2] if (i + k) % 5 else None)
    return cycles


def test_the_sql_figures_equal_the_python_ones_for_every_scope(varied):
    rive_droite = Territory.objects.get(code="rive-droite")
    scopes = [
        ReportScope(territory_ids=None),
        ReportScope(territory_ids=(rive_droite.pk,), territory_codes=("rive-droite",)),
        ReportScope(territory_ids=None, cycle_id=varied[0].pk),
        ReportScope(territory_ids=None, cycle_id=varied[1].pk),
        ReportScope(territory_ids=None, date_from=dt.date(2026, 1, 8), date_to=dt.date(2026, 1, 15)),
        ReportScope(territory_ids=None, date_from=dt.date(2027, 1, 1)),  # empty cohort
    ]
    checked_groups = set()
    for scope in scopes:
        expected = python_figures(scope)
        got = sql_figures(scope)
        # The same suppression (zero is hidden, and a second part of a partition with one hidden).
        expected["statuses"] = shown_partition(expected["statuses"])
        expected["groups"] = {g: (n or None, m or None) for g, (n, m) in expected["groups"].items()}
        towns = expected["towns"]
        requests = shown_partition({t: n for t, (n, _m) in towns.items()})
        matched = shown_partition({t: m for t, (_n, m) in towns.items()})
        expected["towns"] = {t: (requests[t], matched[t]) for t in towns}
        expected["requests"] = expected["requests"] or None
        expected["matched"] = expected["matched"] or None
        assert got == expected, scope
        checked_groups |= {g for g, (n, m) in expected["groups"].items() if n and m}
    assert checked_groups == set(PRIORITY_GROUPS)  # every group was compared with non-zero counts
