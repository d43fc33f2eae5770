"""Report figures on a known data set, exact, with the suppression of small counts; access;
CSV and JSON export (audited); a fixed number of queries."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Consent, ConsentPurpose
from audit.models import AuditEvent
from cycles.models import Cycle, MatchStatus
from followup.models import Feedback, Meeting, Outcome
from followup.reports import ReportScope, report_build, shown_partition
from marketplace.models import Gender, Territory
from tests.backend.followup.conftest import make_match
from tests.conftest import client_for
from tests.factories import (
    EntrepreneurProfileFactory,
    OfferFactory,
    ProjectFactory,
    luhn_complete,
    request_for,
    town,
)

pytestmark = pytest.mark.django_db

JAN = dt.datetime(2026, 1, 10, 10, 0, tzinfo=dt.UTC)


def filed(insee: str, *, created: dt.datetime = JAN, woman: bool = False, consent: bool = False):
    profile = EntrepreneurProfileFactory(town=town(insee), gender=Gender.WOMAN if woman else "")
    if consent:
        Consent.objects.create(user=profile.user, purpose=ConsentPurpose.PRIORITY_DATA)
    request = request_for(ProjectFactory(owner=profile.user))
    type(request).objects.filter(pk=request.pk).update(created_at=created)
    request.refresh_from_db()
    return request


def matched(request, provider, *, wait_days: float, status=MatchStatus.ACTIVE, offer=None, cycle=None):
    return make_match(request.entrepreneur, provider, request=request, status=status, offer=offer, cycle=cycle,
                      activated_at=request.created_at + dt.timedelta(days=wait_days))


@pytest.fixture
def dataset(mentor, company, other_company):
    """16 requests in January in the Rive Droite: Lormont 8 (6 matched, with Acme's sponsorship,
    6 women with live consent of whom 5 matched), Cenon 6 (5 matched, one with Globex), Floirac 2
    (1 matched). Waits 1..12 days. 5 matches ended (4 completed, 1 early); one woman of Floirac
    declared her data but withdrew her consent."""
    acme = OfferFactory(company=company.company_profile, hours_budget=100)
    globex = OfferFactory(company=other_company.company_profile, hours_budget=100)
    lormont = [filed("33249", woman=i < 6, consent=i < 6) for i in range(8)]
    cenon = [filed("33119") for _ in range(6)]
    floirac = [filed("33167", woman=True) for _ in range(2)]
    withdrawn = Consent.objects.create(user=floirac[0].entrepreneur, purpose=ConsentPurpose.PRIORITY_DATA)
    withdrawn.withdrawn_at = timezone.now()
    withdrawn.save()
    # Lormont: the first 5 (women) and the 7th (not a woman) are matched with Acme.
    statuses = [MatchStatus.COMPLETED, MatchStatus.COMPLETED, MatchStatus.COMPLETED, MatchStatus.COMPLETED,
                MatchStatus.ENDED_EARLY] + [MatchStatus.ACTIVE] * 7
    matched_requests = [*lormont[:5], lormont[6], *cenon[:5], floirac[0]]
    matches = []
    for wait, (request, status) in enumerate(zip(matched_requests, statuses, strict=True), start=1):
        if request in lormont:
            match = matched(request, company, wait_days=wait, status=status, offer=acme)
        elif request is cenon[0]:
            match = matched(request, other_company, wait_days=wait, status=status, offer=globex)
        else:
            match = matched(request, mentor, wait_days=wait, status=status)
        matches.append(match)
    # A declined match never counts as matched.
    make_match(cenon[5].entrepreneur, mentor, request=cenon[5], status=MatchStatus.DECLINED)
    # Acme: 6 meetings of 50 minutes (5 h, 6 beneficiaries); Globex: 90 minutes (1.5 h).
    for match in matches[:6]:
        Meeting.objects.create(match=match, offer=acme, date=dt.date(2026, 2, 1), duration_minutes=50, format="video")
    Meeting.objects.create(match=matches[6], offer=globex, date=dt.date(2026, 2, 1), duration_minutes=90, format="phone")
    # Final ratings of the 5 ended matches by the entrepreneurs; 4 by providers (suppressed).
    for match, stars in zip(matches[:5], [5, 4, 4, 3, 2], strict=True):
        Feedback.objects.create(match=match, side="entrepreneur", phase="final", rating=stars)
    for match in matches[:4]:
        Feedback.objects.create(match=match, side="provider", phase="final", rating=5)
    Feedback.objects.create(match=matches[7], side="entrepreneur", phase="midway", rating=1)  # not final
    # Outcomes: 5 businesses created (8 jobs), 1 in progress.
    for i, (match, jobs) in enumerate(zip(matches[:5], [1, 1, 2, 1, 3], strict=True)):
        Outcome.objects.create(match=match, status="business_created", siret=luhn_complete(f"55210055400{i:02d}"),
                               jobs_created=jobs)
    Outcome.objects.create(match=matches[5], status="in_progress")
    return matches


def rive_droite_scope(**kwargs) -> ReportScope:
    territory = Territory.objects.get(code="rive-droite")
    return ReportScope(territory_ids=(territory.pk,), territory_codes=("rive-droite",), **kwargs)


def test_the_figures_of_a_known_data_set_are_exact_and_small_counts_are_suppressed(dataset):
    report = report_build(rive_droite_scope()).as_dict()
    assert (report["requests"], report["matched_requests"], report["match_rate"]) == (16, 12, 0.75)
    assert report["median_waiting_days"] == 6.5
    assert report["matches_by_status"] == {"active": 7, "completed": None, "ended_early": None}
    # Floirac (2) is hidden, and so is the smallest other town, or 16 - 8 - 6 would give it back.
    assert [(t["town"], t["requests"], t["matched"], t["match_rate"]) for t in report["by_town"]] == [
        ("33119", None, None, None), ("33167", None, None, None), ("33249", 8, 6, 0.75)]
    groups = {g["group"]: (g["requests"], g["matched"], g["match_rate"]) for g in report["by_priority_public"]}
    assert groups == {
        "woman": (6, 5, 0.8333),  # Floirac's women: one without consent, one withdrawn: not counted
        "under_26": (None, None, None), "over_50": (None, None, None), "qpv_resident": (None, None, None),
        "job_seeker": (None, None, None), "no_criterion": (None, None, None), "undisclosed": (10, 7, 0.7),
    }
    assert report["sponsorship_hours"] == [
        {"company_id": dataset[0].offer.company_id, "company": "Acme", "hours": 5.0, "meetings": 6, "beneficiaries": 6},
        {"company_id": dataset[6].offer.company_id, "company": "Globex", "hours": 1.5, "meetings": 1, "beneficiaries": None},
    ]
    assert report["sponsorship_hours_total"] == 6.5
    assert report["satisfaction"]["entrepreneur"] == {
        "count": 5, "average": 3.6, "distribution": {"1": None, "2": None, "3": None, "4": None, "5": None}}
    assert report["satisfaction"]["provider"] == {
        "count": None, "average": None, "distribution": {"1": None, "2": None, "3": None, "4": None, "5": None}}
    assert report["outcomes"] == {"reported": 6, "business_created": 5, "in_progress": None, "gave_up": None,
                                  "jobs_created": 8}


def test_a_period_counts_the_requests_filed_in_it(dataset):
    february = [filed("33249", created=dt.datetime(2026, 2, 3, 12, 0, tzinfo=dt.UTC)) for _ in range(5)]
    report = report_build(rive_droite_scope(date_from=dt.date(2026, 2, 1), date_to=dt.date(2026, 2, 28)))
    assert (report.requests, report.matched_requests, report.match_rate) == (5, None, None)
    assert report_build(rive_droite_scope(date_to=dt.date(2026, 1, 31))).requests == 16
    assert len(february) == 5


def test_a_cycle_counts_its_pool_and_its_matches(dataset):
    today = timezone.localdate()
    cycle = Cycle.objects.create(territory=Territory.objects.get(code="rive-droite"), name="Mars",
                                 opens_on=today, closes_on=today)
    for match in dataset[6:11]:
        type(match).objects.filter(pk=match.pk).update(cycle=cycle)
    report = report_build(rive_droite_scope(cycle_id=cycle.pk))
    assert (report.requests, report.matched_requests, report.match_rate) == (5, 5, 1.0)
    assert report.sponsorship_hours_total == 1.5


def test_a_partition_with_one_hidden_part_hides_a_second_one():
    assert shown_partition({"a": 3, "b": 9, "c": 7}) == {"a": None, "b": 9, "c": None}
    assert shown_partition({"a": 3, "b": 2, "c": 7}) == {"a": None, "b": None, "c": 7}
    assert shown_partition({"a": 0, "b": 12}) == {"a": None, "b": None}


# --- API, access and export -----------------------------------------------------------------------


def test_a_coordinator_reads_the_report_of_his_territory(coordinator, dataset):
    response = client_for(coordinator).get("/api/followup/reports/", {"territory": "rive-droite"})
    assert response.status_code == 200, response.content
    assert (response.json()["requests"], response.json()["scope"]["territories"]) == (16, ["rive-droite"])


@pytest.mark.parametrize(("persona", "expected"), [("entrepreneur", 403), ("mentor", 403), ("company", 403),
                                                   ("outside_coordinator", 403), ("administrator", 200)])
def test_reports_are_for_coordinators_of_the_territory_and_administrators(request, persona, expected):
    user = request.getfixturevalue(persona)
    assert client_for(user).get("/api/followup/reports/", {"territory": "rive-droite"}).status_code == expected
    assert client_for(None).get("/api/followup/reports/").status_code == 403


def test_an_outside_coordinator_sees_only_his_own_territory_by_default(outside_coordinator, dataset):
    report = client_for(outside_coordinator).get("/api/followup/reports/").json()
    assert report["scope"]["territories"] == ["grand-paris"] and report["requests"] is None


def test_a_cycle_of_another_territory_is_missing(outside_coordinator, coordinator):
    today = timezone.localdate()
    cycle = Cycle.objects.create(territory=Territory.objects.get(code="rive-droite"), name="C", opens_on=today,
                                 closes_on=today)
    assert client_for(outside_coordinator).get("/api/followup/reports/", {"cycle": cycle.pk}).status_code == 404
    assert client_for(coordinator).get("/api/followup/reports/", {"cycle": cycle.pk}).status_code == 200


@pytest.mark.parametrize(("params", "field"), [({"territory": "atlantis"}, "territory"), ({"date_from": "hier"}, "date_from"),
                                               ({"date_from": "2026-02-01", "date_to": "2026-01-01"}, "date_to"),
                                               ({"cycle": "x"}, "cycle")])
def test_a_bad_scope_is_a_400_naming_the_field(coordinator, params, field):
    response = client_for(coordinator).get("/api/followup/reports/", params)
    assert response.status_code == 400 and field in response.json()


def test_the_csv_export_shows_suppressed_counts_as_less_than_5_and_is_audited(coordinator, dataset):
    response = client_for(coordinator).get("/api/followup/reports/export/", {"territory": "rive-droite", "as": "csv"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = {(r["section"], r["group"], r["metric"]): r["value"]
            for r in csv.DictReader(io.StringIO(response.content.decode()))}
    assert rows[("summary", "", "requests")] == "16"
    assert rows[("summary", "", "match_rate")] == "0.75"
    assert rows[("by_town", "33167 Floirac", "requests")] == "< 5"
    assert rows[("by_town", "33167 Floirac", "match_rate")] == ""
    assert rows[("sponsorship_hours", "Globex", "hours")] == "1.5"
    assert rows[("outcomes", "", "in_progress")] == "< 5"
    event = AuditEvent.objects.get(action="report.export")
    assert (event.actor, event.data["format"], event.territory_id) == (coordinator, "csv", dataset[0].territory_id)


def test_the_json_export_is_the_report(coordinator, dataset):
    response = client_for(coordinator).get("/api/followup/reports/export/", {"as": "json"})
    assert response.status_code == 200 and response.json()["matched_requests"] == 12


def test_a_company_name_cannot_become_a_spreadsheet_formula(coordinator, dataset, company):
    company.company_profile.name = "=HYPERLINK(\"http://evil\")"
    company.company_profile.save()
    body = client_for(coordinator).get("/api/followup/reports/export/", {"as": "csv"}).content.decode()
    assert "'=HYPERLINK" in body and "\n=HYPERLINK" not in body and ",=HYPERLINK" not in body


def test_the_report_runs_a_fixed_number_of_queries(coordinator, dataset):
    client = client_for(coordinator)
    client.get("/api/followup/reports/")
    with CaptureQueriesContext(connection) as few:
        client.get("/api/followup/reports/")
    for request in [filed("33249") for _ in range(5)]:
        Meeting.objects.create(match=make_match(request.entrepreneur, dataset[0].provider_user, request=request,
                                                offer=dataset[0].offer),
                               offer=dataset[0].offer, date=dt.date(2026, 2, 2), duration_minutes=10, format="phone")
    with CaptureQueriesContext(connection) as many:
        client.get("/api/followup/reports/")
    assert len(many.captured_queries) == len(few.captured_queries) <= 15
