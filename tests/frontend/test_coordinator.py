"""Coordinator pages through Django's test client: access, the cycle's life (create, open, run,
review, publish, close), the proposals table (sort, filter, paginate, decide one by one and in
bulk), manual assignment with its warnings, unmatched requests in words, the dashboard's
accessible charts and the CSV exports; and the company's hours per offer."""

from __future__ import annotations

import csv
import html as htmllib
import io
import re

import pytest

from audit.models import AuditEvent
from cycles.models import (
    Cycle,
    CycleStatus,
    Match,
    MatchStatus,
    Proposal,
    ProposalStatus,
    UnmatchedRequest,
)
from marketplace.models import Language
from tests import factories as f
from tests.backend.cycles.conftest import immediate_tasks, make_cycle, make_proposal, open_request  # noqa: F401
from tests.frontend.test_pages import INLINE_HANDLER, INLINE_SCRIPT, errors_of

pytestmark = pytest.mark.django_db


def text(response) -> str:
    """The page's words, tags removed and spaces collapsed."""
    return re.sub(r"\s+", " ", htmllib.unescape(re.sub(r"<[^>]+>", " ", response.content.decode()))).strip()


def flashed(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


@pytest.fixture
def review(entrepreneur, other_entrepreneur, mentor):
    """A cycle in review with two proposals for Sophie (two places), Amina's scoring higher."""
    cycle = make_cycle(status=CycleStatus.REVIEW)
    profile = mentor.mentor_profile
    amina = open_request(entrepreneur)
    karim = open_request(other_entrepreneur)
    high = make_proposal(cycle, amina, mentor=profile, score=80.0)
    low = make_proposal(cycle, karim, mentor=profile, score=40.0)
    return {"cycle": cycle, "high": high, "low": low, "amina": amina, "karim": karim}


# --- Access ---------------------------------------------------------------------------------------


def test_only_coordinators_and_administrators_reach_the_coordinator_pages(
    page_client, entrepreneur, mentor, company, coordinator, administrator
):
    for url in ("/coordination/cycles/", "/coordination/tableau-de-bord/", "/coordination/cycles/nouveau/"):
        assert page_client(None).get(url)["Location"] == f"/connexion/?next={url}"
        for user in (entrepreneur, mentor, company):
            assert page_client(user).get(url).status_code == 403, (url, user.role)
        assert page_client(coordinator).get(url).status_code == 200, url
        assert page_client(administrator).get(url).status_code == 200, url


def test_the_coordinator_menu_shows_cycles_dashboard_and_my_data(page_client, coordinator):
    html = page_client(coordinator).get("/coordination/cycles/").content.decode()
    nav = re.search(r'<nav class="site-nav".*?</nav>', html, re.S).group(0)
    assert re.findall(r'href="([^"]+)"', nav) == ["/coordination/cycles/", "/coordination/tableau-de-bord/",
                                                  "/mes-donnees/"]


def test_a_cycle_of_another_territory_is_not_found_anywhere(page_client, review, outside_coordinator):
    client = page_client(outside_coordinator)
    cycle, proposal = review["cycle"], review["high"]
    base = f"/coordination/cycles/{cycle.pk}"
    for url in (f"{base}/", f"{base}/propositions/", f"{base}/propositions.csv", f"{base}/sans-proposition/",
                f"{base}/affecter/", f"{base}/progression/", f"{base}/reglages/",
                f"/coordination/propositions/{proposal.pk}/"):
        assert client.get(url).status_code == 404, url
    for url in (f"{base}/publier/", f"{base}/clore/", f"/coordination/propositions/{proposal.pk}/approuver/"):
        assert client.post(url).status_code == 404, url
    assert client.post(f"{base}/propositions/lot/", {"ids": [proposal.pk], "decision": "approve"}).status_code == 404
    proposal.refresh_from_db()
    cycle.refresh_from_db()
    assert proposal.status == ProposalStatus.PROPOSED and cycle.status == CycleStatus.REVIEW
    assert "Cycle de test" not in page_client(outside_coordinator).get("/coordination/cycles/").content.decode()


def test_actions_are_post_only_and_every_form_carries_a_csrf_token(page_client, review, coordinator):
    client = page_client(coordinator)
    base = f"/coordination/cycles/{review['cycle'].pk}"
    for url in (f"{base}/ouvrir/", f"{base}/calculer/", f"{base}/publier/", f"{base}/clore/"):
        assert client.get(url).status_code == 405, url
    for url in ("/coordination/cycles/", "/coordination/cycles/nouveau/", f"{base}/", f"{base}/propositions/",
                f"{base}/sans-proposition/", f"{base}/affecter/", f"/coordination/propositions/{review['high'].pk}/",
                "/coordination/tableau-de-bord/", f"{base}/reglages/"):
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert not INLINE_SCRIPT.search(html) and not INLINE_HANDLER.search(html), url
        for form in re.findall(r'<form[^>]*method="post".*?</form>', html, re.S):
            assert "csrfmiddlewaretoken" in form, url


# --- A cycle's life -------------------------------------------------------------------------------


def test_creating_a_cycle_shows_errors_on_their_fields_and_writes_nothing(page_client, coordinator):
    client = page_client(coordinator)
    response = client.post("/coordination/cycles/nouveau/", {
        "name": "Mai", "territory": f.town().territory_id, "opens_on": "2026-05-31", "closes_on": "2026-05-01",
    })
    assert "La clôture doit suivre l'ouverture." in errors_of(response, "closes_on")
    response = client.post("/coordination/cycles/nouveau/", {
        "name": "Mai", "territory": f.town().territory_id, "opens_on": "2026-05-01", "closes_on": "2026-05-31",
        "min_score": "250",
    })
    assert "100" in errors_of(response, "min_score")
    assert not Cycle.objects.exists()


def test_a_coordinator_cannot_create_a_cycle_for_another_territory(page_client, coordinator):
    other = f.other_territory()
    response = page_client(coordinator).post("/coordination/cycles/nouveau/", {
        "name": "Mai", "territory": other.pk, "opens_on": "2026-05-01", "closes_on": "2026-05-31",
    })
    assert errors_of(response, "territory")
    assert not Cycle.objects.exists()


def test_a_cycle_goes_from_draft_to_review_through_the_pages(
    page_client, coordinator, entrepreneur, mentor, immediate_tasks, django_capture_on_commit_callbacks  # noqa: F811
):
    open_request(entrepreneur)
    client = page_client(coordinator)
    response = client.post("/coordination/cycles/nouveau/", {
        "name": "Lormont, mai", "territory": f.town().territory_id, "opens_on": "2026-05-01",
        "closes_on": "2026-05-31", "min_score": "10", "response_days": "7",
    })
    cycle = Cycle.objects.get()
    assert response["Location"] == f"/coordination/cycles/{cycle.pk}/"
    assert (cycle.status, cycle.min_score, cycle.response_days, cycle.created_by) == ("draft", 10.0, 7, coordinator)
    html = client.get(f"/coordination/cycles/{cycle.pk}/").content.decode()
    assert "Ouvrir le cycle" in html and "Lancer le calcul" not in html

    client.post(f"/coordination/cycles/{cycle.pk}/ouvrir/")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/coordination/cycles/{cycle.pk}/calculer/", follow=True)
    assert "Le calcul est lancé." in text(response)
    cycle.refresh_from_db()
    assert cycle.status == CycleStatus.REVIEW and cycle.matched_count == 1
    html = text(client.get(f"/coordination/cycles/{cycle.pk}/"))
    assert "En revue" in html and "Propositions calculées 1" in html and "Publier les propositions approuvées" in html
    actions = set(AuditEvent.objects.filter(target_id=cycle.pk).values_list("action", flat=True))
    assert {"cycle.create", "cycle.open", "cycle.run", "cycle.solved"} <= actions


def test_a_cycle_being_solved_shows_its_progress_for_the_script_and_a_link_without_it(page_client, coordinator):
    from cycles.services import cycle_run_start

    cycle = cycle_run_start(actor=coordinator, cycle=make_cycle(status=CycleStatus.OPEN))  # queued for the worker
    client = page_client(coordinator)
    html = client.get(f"/coordination/cycles/{cycle.pk}/").content.decode()
    assert f'data-progress-url="/coordination/cycles/{cycle.pk}/progression/"' in html
    assert f'<a href="/coordination/cycles/{cycle.pk}/">Actualiser maintenant</a>' in html
    assert 'src="/static/frontend/js/coordinator.js"' in html and "Lancer le calcul" not in html
    # A second run while this one is alive (queued, fresh) is refused, with the reason shown.
    response = client.post(f"/coordination/cycles/{cycle.pk}/calculer/", follow=True)
    assert "Un calcul de ce cycle est déjà en cours." in flashed(response)
    Cycle.objects.filter(pk=cycle.pk).update(run_stage="solve", run_progress=0.4)
    response = client.get(f"/coordination/cycles/{cycle.pk}/progression/")
    assert response["Cache-Control"] == "no-store"
    assert response.json() == {"status": "solving", "status_label": "Calcul en cours", "stage": "solve",
                               "stage_label": "Optimisation", "progress": 0.4, "solving": True, "error": ""}


def test_publishing_turns_approved_proposals_into_pending_matches(page_client, review, coordinator):
    client = page_client(coordinator)
    client.post(f"/coordination/propositions/{review['high'].pk}/approuver/")
    response = client.post(f"/coordination/cycles/{review['cycle'].pk}/publier/", follow=True)
    assert "Le cycle est publié" in text(response)
    match = Match.objects.get()
    assert match.request_id == review["amina"].pk and match.status == MatchStatus.PENDING
    review["low"].refresh_from_db()
    assert review["low"].status == ProposalStatus.CANCELLED
    # Publishing again is a conflict, told in words, not a crash.
    response = client.post(f"/coordination/cycles/{review['cycle'].pk}/publier/", follow=True)
    assert "Seul un cycle en revue peut être publié." in flashed(response)
    response = client.post(f"/coordination/cycles/{review['cycle'].pk}/clore/", {"reason": "fin"}, follow=True)
    assert "Le cycle est clos." in flashed(response)


def test_the_configuration_is_changed_with_errors_on_their_fields(page_client, review, coordinator):
    client = page_client(coordinator)
    url = f"/coordination/cycles/{review['cycle'].pk}/reglages/"
    response = client.post(url, {"weight_skills": "0", "weight_sector": "0", "weight_distance": "0",
                                 "weight_availability": "0", "weight_preference": "0"})
    assert "Au moins un critère doit avoir un poids positif." in errors_of(response, "weight_skills")
    assert client.post(url, {"min_score": "35"}).status_code == 302
    review["cycle"].refresh_from_db()
    assert review["cycle"].min_score == 35


# --- Proposals: the table, decisions --------------------------------------------------------------


def test_the_table_breaks_the_score_down_and_sorts_by_a_criterion(page_client, review, coordinator):
    Proposal.objects.filter(pk=review["low"].pk).update(points_skills=30, points_distance=10)
    Proposal.objects.filter(pk=review["high"].pk).update(points_skills=70, points_distance=10)
    client = page_client(coordinator)
    url = f"/coordination/cycles/{review['cycle'].pk}/propositions/"
    html = client.get(url).content.decode()
    titles = re.findall(r'<th scope="row"><a href="/coordination/propositions/(\d+)/">', html)
    assert titles == [str(review["high"].pk), str(review["low"].pk)]  # by score, highest first
    assert 'aria-sort="descending"' in html and "Compétences" in html and "70,0" in html
    html = client.get(url + "?tri=skills").content.decode()
    assert re.findall(r'<th scope="row"><a href="/coordination/propositions/(\d+)/">', html) == [
        str(review["low"].pk), str(review["high"].pk)]
    assert re.search(r'aria-sort="ascending"><a href="\?tri=-skills"', html)


def test_the_table_filters_by_score_criterion_and_town_and_paginates(page_client, review, coordinator):
    client = page_client(coordinator)
    url = f"/coordination/cycles/{review['cycle'].pk}/propositions/"
    assert "1 proposition" in text(client.get(url + "?min_score=50"))
    Proposal.objects.filter(pk=review["low"].pk).update(points_distance=12)
    page = text(client.get(url + "?criterion=distance&min_points=10"))
    assert "1 proposition" in page and "Karim" in page and "Amina" not in page
    assert "0 proposition" in text(client.get(url + "?town=33119"))  # Cenon: nobody there
    assert "2 propositions" in text(client.get(url + "?town=33249"))
    for i in range(30):
        make_proposal(review["cycle"], open_request(), mentor=f.MentorProfileFactory(), score=10 + i)
    page1, page2 = client.get(url).content.decode(), client.get(url + "?page=2").content.decode()
    assert "32 propositions" in page1 and "Page 1 sur 2" in page1 and "Page 2 sur 2" in page2
    assert page1.count('name="ids"') == 25 and page2.count('name="ids"') == 7


def test_the_table_costs_the_same_number_of_queries_for_5_or_30_rows(
    page_client, review, coordinator, django_assert_max_num_queries
):
    client = page_client(coordinator)
    url = f"/coordination/cycles/{review['cycle'].pk}/propositions/"
    for i in range(3):
        make_proposal(review["cycle"], open_request(), mentor=f.MentorProfileFactory(), score=10 + i)
    client.get(url)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for i in range(25):
        make_proposal(review["cycle"], open_request(), offer=f.OfferFactory(), score=10 + i)
    with django_assert_max_num_queries(len(few)):
        client.get(url)


def test_approving_one_proposal_from_the_table(page_client, review, coordinator):
    client = page_client(coordinator)
    table = f"/coordination/cycles/{review['cycle'].pk}/propositions/"
    html = client.get(table).content.decode()
    assert f'form="approve-{review["high"].pk}"' in html
    response = client.post(f"/coordination/propositions/{review['high'].pk}/approuver/", {"next": table})
    assert response["Location"] == table
    review["high"].refresh_from_db()
    assert review["high"].status == ProposalStatus.APPROVED and review["high"].decided_by == coordinator
    # An outside "next" is ignored.
    response = client.post(f"/coordination/propositions/{review['low'].pk}/approuver/", {"next": "https://evil.example/"})
    assert response["Location"] == f"/coordination/propositions/{review['low'].pk}/"


def test_rejecting_needs_a_reason_shown_on_its_field(page_client, review, coordinator):
    client = page_client(coordinator)
    url = f"/coordination/propositions/{review['low'].pk}/rejeter/"
    response = client.post(url, {})
    assert errors_of(response, "reason_code")
    response = client.post(url, {"reason_code": "other", "reason": " "})
    assert "Précisez le motif." in errors_of(response, "reason")
    review["low"].refresh_from_db()
    assert review["low"].status == ProposalStatus.PROPOSED
    response = client.post(url, {"reason_code": "known_conflict", "reason": "déjà vus ensemble"})
    assert response["Location"] == f"/coordination/cycles/{review['cycle'].pk}/propositions/"
    review["low"].refresh_from_db()
    assert (review["low"].status, review["low"].reason_code) == (ProposalStatus.REJECTED, "known_conflict")
    html = text(client.get(f"/coordination/propositions/{review['low'].pk}/"))
    assert "Décidée par Nadia" in html and "déjà vus ensemble" in html and "Rejeter cette proposition" not in html


def test_bulk_decisions_report_what_was_done_and_what_was_refused(page_client, review, mentor, coordinator):
    client = page_client(coordinator)
    url = f"/coordination/cycles/{review['cycle'].pk}/propositions/lot/"
    ids = [review["high"].pk, review["low"].pk]
    response = client.post(url, {"ids": ids, "decision": "reject"}, follow=True)
    assert any("Indiquez le motif du rejet." in m for m in flashed(response))
    response = client.post(url, {"decision": "approve"}, follow=True)
    assert "Cochez au moins une proposition." in flashed(response)
    assert Proposal.objects.filter(status=ProposalStatus.PROPOSED).count() == 2

    # Sophie has two places; a third proposal for her is refused for capacity, the others pass.
    third = make_proposal(review["cycle"], open_request(), mentor=mentor.mentor_profile, score=60.0)
    response = client.post(url, {"ids": [*ids, third.pk, 999999], "decision": "approve"}, follow=True)
    said = flashed(response)
    assert "2 proposition(s) approuvée(s)." in said
    assert any(m.startswith(f"Proposition n° {third.pk} : ") and "n'a plus de place" in m for m in said), said
    assert "Proposition n° 999999 : introuvable dans ce cycle." in said
    assert Proposal.objects.filter(status=ProposalStatus.APPROVED).count() == 2


def test_bulk_decisions_in_english(page_client, review, coordinator):
    client = page_client(coordinator)
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    response = client.post(f"/coordination/cycles/{review['cycle'].pk}/propositions/lot/",
                           {"ids": [review["low"].pk], "decision": "reject", "reason_code": "skills_mismatch"},
                           follow=True)
    assert "1 proposal(s) rejected." in flashed(response)
    html = client.get(f"/coordination/cycles/{review['cycle'].pk}/propositions/").content.decode()
    assert "Decide in bulk" in html and "Skills" in html


# --- Manual assignment and unmatched requests -----------------------------------------------------


def test_a_manual_assignment_shows_the_broken_rules_and_needs_a_confirmation(page_client, coordinator, mentor):
    cycle = make_cycle(status=CycleStatus.REVIEW)
    english_only = open_request(languages=[Language.objects.get(code="en")])
    UnmatchedRequest.objects.create(cycle=cycle, request=english_only, territory_id=english_only.territory_id,
                                    town_id=english_only.entrepreneur.entrepreneur_profile.town_id,
                                    reason="no_common_language")
    client = page_client(coordinator)
    page = client.get(f"/coordination/cycles/{cycle.pk}/sans-proposition/").content.decode()
    assert "Aucun accompagnant disponible ne parle une langue de la demande." in htmllib.unescape(page)
    assert f"/affecter/?demande={english_only.pk}" in page
    form = client.get(f"/coordination/cycles/{cycle.pk}/affecter/?demande={english_only.pk}").content.decode()
    assert re.search(rf'<option value="{english_only.pk}" selected>', form)
    assert f'value="m{mentor.mentor_profile.pk}"' in form and "2 place(s) libre(s)" in htmllib.unescape(form)

    data = {"request_id": english_only.pk, "provider": f"m{mentor.mentor_profile.pk}", "reason": "parle un peu"}
    response = client.post(f"/coordination/cycles/{cycle.pk}/affecter/", data)
    page = text(response)
    assert "Aucune langue en commun." in page and re.search(r"Score de cette paire : \d+ sur 100", page)
    assert errors_of(response, "force")
    assert not Proposal.objects.exists()
    response = client.post(f"/coordination/cycles/{cycle.pk}/affecter/", {**data, "force": "on"})
    proposal = Proposal.objects.get()
    assert response["Location"] == f"/coordination/propositions/{proposal.pk}/"
    assert (proposal.status, proposal.source, proposal.warnings) == ("approved", "manual", ["no_common_language"])
    assert not UnmatchedRequest.objects.exists()
    # The request now holds a place: it is no longer offered for assignment.
    form = client.get(f"/coordination/cycles/{cycle.pk}/affecter/").content.decode()
    assert f'<option value="{english_only.pk}"' not in form


def test_a_provider_without_a_place_left_is_not_offered(page_client, coordinator, mentor):
    cycle = make_cycle(status=CycleStatus.REVIEW)
    profile = mentor.mentor_profile
    for slot in range(1, profile.capacity + 1):
        held = make_proposal(cycle, open_request(), mentor=profile, score=50)
        Proposal.objects.filter(pk=held.pk).update(status=ProposalStatus.APPROVED, slot=slot)
    form = page_client(coordinator).get(f"/coordination/cycles/{cycle.pk}/affecter/").content.decode()
    assert f'value="m{profile.pk}"' not in form


def test_assignment_is_only_for_a_cycle_in_review(page_client, coordinator):
    cycle = make_cycle(status=CycleStatus.OPEN)
    response = page_client(coordinator).get(f"/coordination/cycles/{cycle.pk}/affecter/", follow=True)
    assert "On n'affecte à la main que dans un cycle en revue." in flashed(response)


# --- Dashboard and exports ------------------------------------------------------------------------


def test_the_dashboard_draws_accessible_charts_each_followed_by_its_table(page_client, review, coordinator):
    page = page_client(coordinator).get(f"/coordination/tableau-de-bord/?cycle={review['cycle'].pk}")
    html = page.content.decode()
    svgs = re.findall(r"<svg.*?</svg>", html, re.S)
    assert len(svgs) == 4
    for svg in svgs:
        chart_id = re.search(r'aria-labelledby="([\w-]+)-title \1-desc"', svg).group(1)
        assert 'role="img"' in svg and f'<title id="{chart_id}-title">' in svg and f'<desc id="{chart_id}-desc">' in svg
        after = html[html.index(svg) + len(svg):]
        assert after.index("<table") < after.index("<svg") if "<svg" in after else "<table" in after
    # Two proposals, scores 80 and 40: the histogram counts one in each of those bins.
    scores = re.search(r'id="chart-scores-desc">(.*?)</desc>', svgs[2]).group(1)
    assert "40–50 : 1" in scores and "80–90 : 1" in scores and "0–10 : 0" in scores
    # Two requests in Lormont: fewer than five, so the figures are not shown.
    assert "&lt; 5" in html and "non diffusé" in html


def test_the_dashboard_shows_rates_when_there_are_enough_people(page_client, coordinator):
    from django.utils import timezone

    cycle = make_cycle(status=CycleStatus.PUBLISHED)
    for i in range(6):
        req = open_request()
        mentor = f.MentorProfileFactory()
        Match.objects.create(request=req, entrepreneur=req.entrepreneur, provider_user=mentor.user, mentor=mentor,
                             territory_id=req.territory_id, cycle=cycle,
                             status=MatchStatus.ACTIVE if i < 5 else MatchStatus.DECLINED,
                             activated_at=timezone.now() if i < 5 else None)
    html = text(page_client(coordinator).get("/coordination/tableau-de-bord/"))
    assert re.search(r"Lormont : 83 %", html)  # 5 matched of 6, in the chart's description
    assert "Taux de mise en relation 83 %" in html


def test_dashboard_filters_are_checked(page_client, coordinator):
    response = page_client(coordinator).get("/coordination/tableau-de-bord/?date_from=2026-05-10&date_to=2026-05-01")
    assert "La fin de la période précède son début." in errors_of(response, "date_to")
    response = page_client(coordinator).get("/coordination/tableau-de-bord/?territory=grand-paris")
    assert errors_of(response, "territory")


def test_the_report_exports_as_csv_with_suppressed_counts(page_client, review, coordinator):
    response = page_client(coordinator).get(f"/coordination/tableau-de-bord/rapport.csv?cycle={review['cycle'].pk}")
    assert response["Content-Type"].startswith("text/csv") and "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["section", "group", "metric", "value"]
    assert ["summary", "", "requests", "< 5"] in rows


def test_the_proposals_export_as_csv_and_user_text_cannot_become_a_formula(page_client, review, coordinator):
    project = review["amina"].project
    project.title = "=HYPERLINK(\"http://evil\")"
    project.save()
    response = page_client(coordinator).get(f"/coordination/cycles/{review['cycle'].pk}/propositions.csv?min_score=50")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:4] == ["proposal", "status", "source", "request"]
    assert len(rows) == 2  # the table's filter applies
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["project"] == "'=HYPERLINK(\"http://evil\")" and row["score"] == "80.0"
    assert row["provider"] == "Sophie" and row["town"] == "Lormont"


# --- Company: hours per offer ---------------------------------------------------------------------


def test_a_company_sees_the_hours_given_on_each_offer(page_client, company):
    from followup.models import OfferHours

    given = f.OfferFactory(company=company.company_profile, title="Site vitrine", hours_budget=40)
    f.OfferFactory(company=company.company_profile, title="Compta", hours_budget=10)
    OfferHours.objects.create(offer=given, budget_minutes=40 * 60, delivered_minutes=90)
    for url in ("/entreprise/offres/", "/entreprise/"):
        page = text(page_client(company).get(url))
        assert re.search(r"Site vitrine \S+ – \S+ 3 40 1 h 30 \(4 %\) 38 h 30 Active", page), url
        assert re.search(r"Compta \S+ – \S+ 3 10 0 h \(0 %\) 10 h Active", page), url



# --- Dashboard report cache (followup.reports.report_cached) --------------------------------------


def _match_request(cycle, *, active):
    from django.utils import timezone

    req = open_request()
    mentor = f.MentorProfileFactory()
    Match.objects.create(request=req, entrepreneur=req.entrepreneur, provider_user=mentor.user, mentor=mentor,
                         territory_id=req.territory_id, cycle=cycle,
                         status=MatchStatus.ACTIVE if active else MatchStatus.DECLINED,
                         activated_at=timezone.now() if active else None)


def _six_requests_five_matched():
    """Six requests of the coordinator's territory (Lormont), five of them matched: 83 %."""
    cycle = make_cycle(status=CycleStatus.PUBLISHED)
    for i in range(6):
        _match_request(cycle, active=i < 5)
    return cycle


@pytest.fixture
def report_builds(monkeypatch):
    """The scopes ``followup.reports.report_build`` is called with, in order."""
    from followup import reports

    calls = []
    real = reports.report_build

    def counting(scope):
        calls.append(scope)
        return real(scope)

    monkeypatch.setattr(reports, "report_build", counting)
    return calls


RATE_83 = "Taux de mise en relation 83 %"


def test_the_dashboard_reads_its_report_from_the_cache_within_the_ttl(page_client, coordinator, report_builds):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from followup import reports

    _six_requests_five_matched()
    client = page_client(coordinator)
    with CaptureQueriesContext(connection) as first:
        html_first = text(client.get("/coordination/tableau-de-bord/"))
    with CaptureQueriesContext(connection) as second:
        html_second = text(client.get("/coordination/tableau-de-bord/"))
    assert len(report_builds) == 1
    # The second view issues none of the report's queries: exactly that many fewer than the first.
    with CaptureQueriesContext(connection) as build:
        reports.report_build(report_builds[0])
    assert len(build) >= 5 and len(second) <= len(first) - len(build)
    assert not {q["sql"] for q in build.captured_queries} & {q["sql"] for q in second.captured_queries}
    assert RATE_83 in html_first and RATE_83 in html_second
    assert re.search(r"Chiffres calculés à \d\d:\d\d\. Recalculer maintenant", html_second)


def test_refresh_recomputes_the_report_and_replaces_the_cached_one(page_client, coordinator, report_builds):
    cycle = _six_requests_five_matched()
    client = page_client(coordinator)
    assert RATE_83 in text(client.get("/coordination/tableau-de-bord/"))
    _match_request(cycle, active=True)  # 6 matched of 7: 86 %
    assert RATE_83 in text(client.get("/coordination/tableau-de-bord/"))  # cached
    assert len(report_builds) == 1
    page = client.get("/coordination/tableau-de-bord/?refresh=1")
    assert "Taux de mise en relation 86 %" in text(page) and len(report_builds) == 2
    # The refreshed report replaced the cached one; links of the page do not carry refresh.
    assert "Taux de mise en relation 86 %" in text(client.get("/coordination/tableau-de-bord/"))
    assert len(report_builds) == 2
    assert "refresh" not in page.context["query"] and 'href="?refresh=1"' in page.content.decode()


def test_refresh_keeps_the_filters_and_their_checks(page_client, coordinator, outside_coordinator, report_builds):
    cycle = _six_requests_five_matched()
    client = page_client(coordinator)
    page = client.get(f"/coordination/tableau-de-bord/?cycle={cycle.pk}&refresh=1")
    assert RATE_83 in text(page) and report_builds[-1].cycle_id == cycle.pk
    assert f'href="?cycle={cycle.pk}&amp;refresh=1"' in page.content.decode()
    assert f"rapport.csv?cycle={cycle.pk}\"" in page.content.decode()
    # Refreshing does not widen the scope: another territory is still refused.
    response = client.get("/coordination/tableau-de-bord/?territory=grand-paris&refresh=1")
    assert errors_of(response, "territory") and "report" not in response.context
    response = page_client(outside_coordinator).get(f"/coordination/tableau-de-bord/?cycle={cycle.pk}&refresh=1")
    assert errors_of(response, "cycle") and "report" not in response.context
    assert len(report_builds) == 1


def test_coordinators_of_other_territories_never_read_each_others_cached_report(
    page_client, coordinator, outside_coordinator, report_builds
):
    _six_requests_five_matched()
    assert RATE_83 in text(page_client(coordinator).get("/coordination/tableau-de-bord/"))
    page = page_client(outside_coordinator).get("/coordination/tableau-de-bord/")
    assert RATE_83 not in text(page)
    assert page.context["report"]["scope"]["territories"] == ["grand-paris"]
    assert page.context["report"]["match_rate"] is None and page.context["towns"] == []
    assert len(report_builds) == 2 and report_builds[0].territory_ids != report_builds[1].territory_ids


def test_a_second_coordinator_of_the_territory_shares_the_report_not_the_own_figures(
    page_client, coordinator, report_builds, monkeypatch
):
    from frontend.views import coordinator_dashboard

    _six_requests_five_matched()
    waiting_users = []
    real = coordinator_dashboard._waiting_counts

    def counting(request, scope):
        waiting_users.append(request.user.pk)
        return real(request, scope)

    monkeypatch.setattr(coordinator_dashboard, "_waiting_counts", counting)
    colleague = f.coordinator(email="coord2@sociallab.example", display_name="Inès")
    assert RATE_83 in text(page_client(coordinator).get("/coordination/tableau-de-bord/"))
    assert RATE_83 in text(page_client(colleague).get("/coordination/tableau-de-bord/"))
    page_client(colleague).get("/coordination/tableau-de-bord/")
    assert len(report_builds) == 1  # the same scope: one report
    assert waiting_users == [coordinator.pk, colleague.pk]  # what each may see: one count each


def test_the_cache_key_is_the_scope(coordinator, outside_coordinator):
    import datetime as dt

    from followup import reports

    mine = reports.report_scope_for_user(user=coordinator)
    theirs = reports.report_scope_for_user(user=outside_coordinator)
    key = reports.report_cache_key
    assert key(mine) == key(reports.report_scope_for_user(user=coordinator))
    variants = [mine, theirs, reports.ReportScope(territory_ids=None),
                reports.ReportScope(territory_ids=mine.territory_ids, cycle_id=1),
                reports.ReportScope(territory_ids=mine.territory_ids, date_from=dt.date(2026, 1, 1)),
                reports.ReportScope(territory_ids=mine.territory_ids, date_to=dt.date(2026, 1, 1))]
    assert len({key(s) for s in variants}) == len(variants)


def test_a_cached_report_expires(page_client, coordinator, report_builds, settings):
    import time

    settings.REPORT_CACHE_SECONDS = 1
    _six_requests_five_matched()
    client = page_client(coordinator)
    client.get("/coordination/tableau-de-bord/")
    client.get("/coordination/tableau-de-bord/")
    assert len(report_builds) == 1
    time.sleep(1.3)
    client.get("/coordination/tableau-de-bord/")
    assert len(report_builds) == 2


def test_no_cache_when_its_duration_is_zero(page_client, coordinator, report_builds, settings):
    settings.REPORT_CACHE_SECONDS = 0
    client = page_client(coordinator)
    client.get("/coordination/tableau-de-bord/")
    client.get("/coordination/tableau-de-bord/")
    assert len(report_builds) == 2


def test_the_dashboard_csv_is_always_built_from_the_data(page_client, coordinator, report_builds):
    client = page_client(coordinator)
    client.get("/coordination/tableau-de-bord/")
    client.get("/coordination/tableau-de-bord/rapport.csv")
    assert len(report_builds) == 2


def test_the_computed_at_line_in_english(page_client, coordinator):
    client = page_client(coordinator)
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert re.search(r"Figures computed at \d\d:\d\d\. Recompute now", text(client.get("/coordination/tableau-de-bord/")))
