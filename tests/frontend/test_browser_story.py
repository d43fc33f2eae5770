"""The whole story of issue 6 in a real Chromium against Daphne, with the real worker
(``manage.py db_worker``) solving the cycle: an entrepreneur registers and files a request; a
coordinator creates and opens a cycle, runs it and follows its progress live, reviews the
proposals (table, detail, bulk approval), looks at the unmatched requests, the manual assignment
and the dashboard, and publishes; both parties accept; they talk live. In French, then in
English. Every coordinator page and the "my data" page is audited with axe and photographed at
360 and 1280 px."""

from __future__ import annotations

import json
import re

import pytest

from tests.frontend.test_browser import PASSWORD, Visit, switch_language
from tests.frontend.test_browser_chat import login, send, wait_text

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SEED = """
import datetime as dt
from django.utils import timezone
from accounts.models import Role, User
from cycles.services import cycle_create, cycle_open, cycle_run_start
from marketplace import services as m
from marketplace.models import CoordinatorScope, Language, Skill, Territory, Town
territory = Territory.objects.get(code="rive-droite")
today = timezone.localdate()
for lang in ("fr", "en"):
    nadia = User.objects.create_user(email=f"coord-{lang}@example.org", password="{password}",
        display_name=f"Nadia {lang}", role=Role.COORDINATOR, email_verified=True)
    CoordinatorScope.objects.create(user=nadia, territory=territory)
    sophie = User.objects.create_user(email=f"mentor-{lang}@example.org", password="{password}",
        display_name=f"Sophie {lang}", role=Role.MENTOR, email_verified=True)
    # Each story's pair speaks its own language only: the two stories never take each other's places.
    m.mentor_profile_upsert(user=sophie, town=Town.objects.get(insee_code="33119"), capacity=5,
        languages=[Language.objects.get(code=lang)],
        skills=[m.SkillLevel(skill=Skill.objects.get(code="microcredit"), level=3)])
    # A cycle whose run is queued but never picked up (no job): its page stays "being solved".
    waiting = cycle_create(actor=nadia, territory=territory, name=f"En file {lang}", opens_on=today,
        closes_on=today + dt.timedelta(days=30))
    cycle_run_start(actor=nadia, cycle=cycle_open(actor=nadia, cycle=waiting), enqueue=False)
    print("SOLVING", lang, waiting.pk)
"""


@pytest.fixture(scope="module")
def queued_cycles(server) -> dict[str, int]:
    """The people of both stories, made in one ``manage.py shell`` (a process start costs seconds):
    per language a coordinator, a mentor, and a cycle left queued; returns that cycle's id."""
    out = server.shell(SEED.replace("{password}", PASSWORD))
    return {lang: int(pk) for lang, pk in re.findall(r"SOLVING (\w+) (\d+)", out)}

WORDS = {
    "fr": {"language": "Français", "review": "En revue", "decide": "Voir et décider les propositions",
           "published": "Publié", "online": "Connecté", "cycles": "Cycles", "dashboard": "Tableau de bord"},
    "en": {"language": "English", "review": "In review", "decide": "See and decide the proposals",
           "published": "Published", "online": "Connected", "cycles": "Cycles", "dashboard": "Dashboard"},
}


def register_and_file_a_request(visit: Visit, lang: str, title: str) -> None:
    """The entrepreneur's onboarding (audited in test_browser.py; here only walked)."""
    page = visit.page
    switch_language(visit, lang)
    visit.register("entrepreneur", f"Awa {lang}", f"awa-{lang}@example.org")
    visit.goto("/porteur/profil/")
    page.locator("#id_town").select_option(label="Lormont")
    page.get_by_label(WORDS[lang]["language"], exact=True).check()
    visit.submit()
    page.locator("#id_title").fill(title)
    page.locator('input[name="stage"]').first.check()
    visit.submit()
    page.locator("details.group summary").nth(1).click()  # financing
    page.locator("#id_skill_microcredit").select_option("3")
    visit.submit()
    visit.submit()  # the request, with the profile's defaults
    assert page.url.endswith("/porteur/demandes/"), page.url


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_from_a_request_to_a_live_conversation_through_a_coordinators_cycle(
    browser, server, cycle_worker, queued_cycles, lang
):
    words = WORDS[lang]
    solving_id = queued_cycles[lang]
    title = f"Épicerie <i>solidaire</i> {lang}"
    awa, nadia, sophie = (Visit(browser, server, lang) for _ in range(3))
    try:
        register_and_file_a_request(awa, lang, title)

        # --- The coordinator: cycles, creation, run with live progress --------------------------
        page = nadia.page
        page.on("dialog", lambda dialog: dialog.accept())  # the "are you sure?" of publish
        login(nadia, f"coord-{lang}@example.org")
        assert page.url.endswith("/coordination/cycles/")
        nav = page.locator("nav.site-nav")
        assert nav.get_by_role("link", name=words["cycles"]).is_visible()
        assert nav.get_by_role("link", name=words["dashboard"]).is_visible()
        nadia.check("coordinator-cycles")
        page.locator("main a.button").first.click()  # create a cycle
        nadia.check("coordinator-cycle-form", shots=False)
        page.locator("#id_name").fill(f"Rive Droite {lang}")
        page.locator("main form.stack button[type=submit]").click()
        page.wait_for_load_state()
        assert re.search(r"/coordination/cycles/\d+/$", page.url)
        cycle_url = page.url
        page.locator("main form[action$='/ouvrir/'] button").click()
        page.wait_for_load_state()
        page.locator("main form[action$='/calculer/'] button").click()
        page.wait_for_load_state()
        # The worker picks the job up; the page follows the run and reloads itself when it is done.
        page.get_by_role("link", name=words["decide"]).wait_for(timeout=30_000)
        assert words["review"] in page.locator("#cycle-status").inner_text()
        nadia.check("coordinator-cycle-review")

        # A cycle whose run is still queued: progress bar, polite status line, no-JS link.
        nadia.goto(f"/coordination/cycles/{solving_id}/")
        assert page.locator("progress#run-progress").is_visible()
        assert page.locator(f"a[href='/coordination/cycles/{solving_id}/']").count() == 1
        nadia.check("coordinator-cycle-solving", shots=False)

        # --- Review: the table, one proposal's detail, a bulk approval -------------------------
        page.goto(cycle_url)
        page.get_by_role("link", name=words["decide"]).click()
        page.wait_for_load_state()
        row = page.locator("table.proposals tbody tr", has_text=title)
        assert row.count() == 1, page.locator("main").inner_text()[:800]
        assert row.locator("th a").inner_text() == title  # shown as text, not markup
        nadia.no_horizontal_scroll("coordinator-proposals")  # the wide table scrolls inside its box
        nadia.check("coordinator-proposals")
        row.locator("th a").click()
        page.wait_for_load_state()
        assert page.locator("caption", has_text="100").count() == 1
        nadia.check("coordinator-proposal", shots=False)
        page.go_back()
        page.locator("table.proposals tbody tr", has_text=title).locator("input[name=ids]").check()
        page.locator('input[name="decision"][value="approve"]').check()
        page.locator("fieldset.bulk button[type=submit]").click()
        page.wait_for_load_state()
        assert page.locator(".message-success").count() == 1, page.locator(".messages").inner_text()

        cycle_path = cycle_url.removeprefix(server.url)
        nadia.goto(cycle_path + "sans-proposition/")
        nadia.check("coordinator-unmatched", shots=False)
        nadia.goto(cycle_path + "affecter/")
        nadia.check("coordinator-assign", shots=False)
        nadia.goto(cycle_path + "reglages/")
        nadia.check("coordinator-cycle-settings", shots=False)
        nadia.goto("/coordination/tableau-de-bord/")
        assert page.locator("main svg[role=img]").count() == 4
        nadia.no_horizontal_scroll("coordinator-dashboard")
        nadia.check("coordinator-dashboard")
        with page.expect_download() as download:
            page.locator("main a[href^='/coordination/tableau-de-bord/rapport.csv']").click()
        assert download.value.suggested_filename.startswith("sociallab-rapport-")

        page.goto(cycle_url)
        page.locator("main form[action$='/publier/'] button").click()
        page.wait_for_load_state()
        assert words["published"] in page.locator("#cycle-status").inner_text()

        # --- My data: audited, and the export downloads ---------------------------------------
        nadia.goto("/mes-donnees/")
        nadia.check("my-data")
        page.locator("#id_export-password").fill(PASSWORD)
        with page.expect_download() as download:
            page.locator("main form:has(input[value=export]) button[type=submit]").click()
        exported = json.loads(open(download.value.path(), encoding="utf-8").read())
        assert exported["account"]["email"] == f"coord-{lang}@example.org"

        # --- Both parties accept, then talk live ----------------------------------------------
        awa.goto("/propositions/")
        awa.page.locator("main form[action$='/accepter/'] button").first.click()
        awa.page.wait_for_load_state()
        login(sophie, f"mentor-{lang}@example.org")
        sophie.goto("/propositions/")
        card = sophie.page.locator("li.card", has_text=title)
        card.locator("form[action$='/accepter/'] button").click()
        sophie.page.wait_for_load_state()
        assert sophie.page.url.endswith("/binomes/")
        sophie.page.locator("li.card", has_text=title).locator("a.button").click()
        sophie.page.wait_for_load_state()
        conversation = sophie.page.url.removeprefix(server.url)
        assert re.fullmatch(r"/conversations/\d+/", conversation)
        awa.goto(conversation)
        for visit in (awa, sophie):
            visit.page.locator("#chat-status", has_text=words["online"]).wait_for()
        send(awa, f"Bonjour Sophie, merci ! ({lang})")
        wait_text(sophie, f"Bonjour Sophie, merci ! ({lang})")
        send(sophie, f"Avec plaisir, Awa. ({lang})")
        wait_text(awa, f"Avec plaisir, Awa. ({lang})")
    finally:
        for visit in (awa, nadia, sophie):
            visit.close()
