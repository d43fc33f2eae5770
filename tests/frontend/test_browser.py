"""The story in a real Chromium (Debian's, through Playwright) against Daphne: registration,
onboarding, a request, a mentor's and a company's profile, a company's home and offers, the 403 and
404 pages and the password pages (change, reset request, sent, new password from a real reset
link, complete), in French then in English. Every page is audited with axe-core (no serious or
critical violation), must raise no CSP violation, and is photographed at phone (360 px) and
desktop (1280 px) widths into test-artifacts/screenshots/."""

from __future__ import annotations

import json
import re

import pytest

from tests.frontend.conftest import ARGS, CHROMIUM  # noqa: F401
from tests.frontend.live import REPO

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SHOTS = REPO / "test-artifacts" / "screenshots"
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 900}
PASSWORD = "un-mot-de-passe-solide-42"


class Visit:
    """One browser context (one person) with the checks run on every page it reaches."""

    def __init__(self, browser, server, lang: str):
        from axe_playwright_python.sync_playwright import Axe

        self.axe = Axe()
        self.server = server
        self.lang = lang
        self.context = browser.new_context(viewport=PHONE, locale="fr-FR")
        self.page = self.context.new_page()
        self.page.set_default_timeout(10_000)
        self.csp_errors: list[str] = []
        self.page.on("console", lambda m: self.csp_errors.append(m.text) if "Content Security Policy" in m.text else None)
        self.audited: list[str] = []

    def goto(self, path: str) -> None:
        self.page.goto(self.server.url + path)

    def check(self, name: str, shots: bool = True) -> None:
        page = self.page
        assert page.locator("html").get_attribute("lang") == self.lang, name
        assert page.title().endswith("Social LAB"), name
        results = self.axe.run(page)
        bad = [
            f"{v['id']} ({v['impact']}): {v['help']} → {[n['target'] for n in v['nodes']][:3]}"
            for v in results.response["violations"] if v["impact"] in ("serious", "critical")
        ]
        assert not bad, f"{name} [{self.lang}] has accessibility violations:\n" + "\n".join(bad)
        assert not self.csp_errors, f"{name}: CSP violations {self.csp_errors}"
        if shots:
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / f"{name}-{self.lang}-360.png"), full_page=True)
            page.set_viewport_size(DESKTOP)
            page.screenshot(path=str(SHOTS / f"{name}-{self.lang}-1280.png"), full_page=True)
            page.set_viewport_size(PHONE)
        self.audited.append(name)

    def no_horizontal_scroll(self, name: str) -> None:
        width = self.page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{name} scrolls sideways at 360 px ({width} px)"

    def register(self, role: str, name: str, email: str) -> None:
        page = self.page
        self.goto("/inscription/")
        page.locator(f'input[name="role"][value="{role}"]').check()
        page.locator("#id_display_name").fill(name)
        page.locator("#id_email").fill(email)
        page.locator("#id_password").fill(PASSWORD)
        page.locator("#id_privacy").check()
        page.locator("main form button[type=submit]").click()
        page.wait_for_load_state()

    def submit(self) -> None:
        self.page.locator("main form.stack button[type=submit]").click()
        self.page.wait_for_load_state()

    def close(self) -> None:
        self.context.close()


def switch_language(visit: Visit, lang: str) -> None:
    if lang != "fr":
        visit.goto("/")
        visit.page.locator(f'.lang-switch button[value="{lang}"]').click()
        visit.page.wait_for_load_state()
        assert visit.page.locator("html").get_attribute("lang") == lang


WORDS = {
    "fr": {"open": "Ouverte", "error": "Il y a un problème", "french": "Français", "essential": "3"},
    "en": {"open": "Open", "error": "There is a problem", "french": "French", "essential": "3"},
}


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_public_pages_and_the_entrepreneur_onboarding(browser, server, lang):
    words = WORDS[lang]
    visit = Visit(browser, server, lang)
    page = visit.page
    try:
        switch_language(visit, lang)
        for path, name in [("/", "home"), ("/confidentialite/", "privacy"), ("/connexion/", "login"),
                           ("/mot-de-passe/oublie/", "password-reset"), ("/inscription/", "register")]:
            visit.goto(path)
            visit.no_horizontal_scroll(name)
            visit.check(name, shots=name in ("home", "register", "login"))

        # A form sent empty: the error summary takes the focus and each error is tied to its field.
        page.locator("main form button[type=submit]").click()
        page.wait_for_load_state()
        assert words["error"] in page.locator(".error-summary").inner_text()
        assert page.evaluate("document.activeElement.classList.contains('error-summary')")
        assert page.locator("#id_email").get_attribute("aria-invalid") == "true"
        visit.check("register-errors", shots=False)

        visit.register("entrepreneur", "Aïcha <b>B.</b>", f"aicha-{lang}@example.org")
        assert page.url.endswith("/porteur/")
        assert "<b>B.</b>" in page.locator("h1").inner_text()  # shown as text, not markup
        visit.check("entrepreneur-home")

        page.get_by_role("link", name=re.compile("profil|profile", re.I)).first.click()
        visit.check("entrepreneur-profile")
        page.locator("#id_town").select_option(label="Lormont")
        page.get_by_label(words["french"], exact=True).check()
        visit.submit()
        assert page.url.endswith("/porteur/projets/nouveau/")
        visit.check("project")
        page.locator("#id_title").fill("Traiteur <script>alert(1)</script>")
        page.locator('input[name="stage"]').first.check()
        visit.submit()
        assert "/besoins/" in page.url
        page.locator("details.group summary").nth(1).click()  # financing
        page.locator("#id_skill_microcredit").select_option("3")
        visit.check("needs")
        visit.submit()
        assert "/demande/" in page.url
        visit.check("request")
        visit.submit()
        assert page.url.endswith("/porteur/demandes/")
        assert words["open"] in page.locator(".status").first.inner_text()
        assert "Traiteur <script>alert(1)</script>" in page.locator("main h2").first.inner_text()
        visit.no_horizontal_scroll("requests")
        visit.check("my-requests")
    finally:
        visit.close()


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_mentor_and_company_profiles(browser, server, lang):
    visit = Visit(browser, server, lang)
    page = visit.page
    try:
        switch_language(visit, lang)
        visit.register("mentor", "Sophie", f"sophie-{lang}@example.org")
        assert page.url.endswith("/parrainage/")
        visit.check("mentor-home", shots=False)
        visit.goto("/parrainage/profil/")
        page.locator("#id_town").select_option(label="Cenon")
        page.get_by_label(WORDS[lang]["french"], exact=True).check()
        page.locator("details.group summary").first.click()
        page.locator("#id_skill_business_model").select_option("3")
        page.locator("#id_capacity").fill("2")
        visit.check("mentor-profile")
        visit.submit()
        assert page.url.endswith("/parrainage/")
        visit.check("mentor-home-filled", shots=False)

        visit.context.clear_cookies()
        switch_language(visit, lang)
        visit.register("company", "RH Acme", f"rh-{lang}@acme.example")
        visit.goto("/entreprise/profil/")
        page.locator("#id_name").fill("Acme")
        page.locator("#id_siret").fill("73282932000074" if lang == "fr" else "55210055400013")
        page.locator("#id_town").select_option(label="Bassens")
        visit.check("company-profile", shots=False)
        visit.submit()
        assert "/entreprise/offres/nouvelle/" in page.url, page.locator("main").inner_text()[:500]
        visit.check("offer-form")
    finally:
        visit.close()


# A company's profile and offer, a password-reset link for its account (uid and token made with
# Django's own generator in the server's database) and the 404 page as production serves it: the
# live server runs with DEBUG on, where Django answers a 404 with its technical page, so the app's
# 404 response (headers, CSP nonce and all) is made here with DEBUG off and served by the browser
# at the server's origin. One ``manage.py shell`` for all three (a process start costs seconds).
COMPANY_SEED = """
import datetime as dt, json
from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.test import Client, override_settings
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from accounts.models import User
from marketplace import services as m
from marketplace.models import Language, ProjectStage, Skill, Town
user = User.objects.get(email="{email}")
m.company_profile_upsert(user=user, name="Bêta <b>SAS</b>", siret="{siret}", town=Town.objects.get(insee_code="33249"))
today = timezone.localdate()
m.offer_create(user=user, title="Atelier <i>pitch</i>", capacity=2, hours_budget=20, starts_on=today,
    ends_on=today + dt.timedelta(days=90), languages=[Language.objects.get(code="{lang}")],
    accepted_stages=[ProjectStage.objects.get(code="idea")],
    skills=[m.SkillLevel(skill=Skill.objects.get(code="pitch"), level=3)])
print("RESET", urlsafe_base64_encode(force_bytes(user.pk)), default_token_generator.make_token(user))
client = Client(HTTP_HOST="127.0.0.1")
client.cookies[settings.LANGUAGE_COOKIE_NAME] = "{lang}"
with override_settings(DEBUG=False):
    response = client.get("/page-introuvable/")
print("NOTFOUND", json.dumps({"status": response.status_code, "body": response.content.decode(),
    "headers": {k: v for k, v in response.headers.items() if k.lower() != "content-length"}}))
"""
SIRETS = {"fr": "44679852200012", "en": "44679852200020"}
NEW_PASSWORD = "un-autre-mot-de-passe-solide-43"


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_company_spaces_error_pages_and_password_pages(browser, server, lang):
    visit = Visit(browser, server, lang)
    page = visit.page
    email = f"rh-{lang}@beta.example"
    try:
        switch_language(visit, lang)
        visit.register("company", "RH Bêta", email)
        out = server.shell(COMPANY_SEED.replace("{email}", email).replace("{siret}", SIRETS[lang])
                           .replace("{lang}", lang))
        uid, token = re.search(r"^RESET (\S+) (\S+)$", out, re.M).groups()
        not_found = json.loads(re.search(r"^NOTFOUND (.*)$", out, re.M).group(1))

        visit.goto("/entreprise/")
        assert "Atelier <i>pitch</i>" in page.locator("main").inner_text()  # shown as text
        visit.no_horizontal_scroll("company-home")
        visit.check("company-home")
        visit.goto("/entreprise/offres/")
        assert "Atelier <i>pitch</i>" in page.locator("main").inner_text()
        visit.no_horizontal_scroll("offers")
        visit.check("offers")

        response = page.goto(server.url + "/parrainage/")  # a mentor's page: 403 for a company
        assert response.status == 403
        visit.check("403")

        visit.goto("/mot-de-passe/modifier/")
        assert page.locator("#id_old_password").count() == 1
        visit.check("password-change")

        # Signed out: the reset request, the "sent" page, the link, the new password, the end.
        visit.context.clear_cookies()
        switch_language(visit, lang)
        visit.goto("/mot-de-passe/oublie/")
        page.locator("#id_email").fill(email)
        visit.submit()
        assert page.url.endswith("/mot-de-passe/envoye/"), page.url
        visit.check("password-reset-sent", shots=False)
        visit.goto(f"/mot-de-passe/nouveau/{uid}/{token}/")
        assert page.url.endswith(f"/mot-de-passe/nouveau/{uid}/set-password/"), page.url
        assert page.locator("#id_new_password1").count() == 1, page.locator("main").inner_text()[:300]
        visit.check("password-reset-confirm")
        page.locator("#id_new_password1").fill(NEW_PASSWORD)
        page.locator("#id_new_password2").fill(NEW_PASSWORD)
        visit.submit()
        assert page.url.endswith("/mot-de-passe/change/"), page.url
        visit.check("password-reset-complete", shots=False)

        assert not_found["status"] == 404
        missing = server.url + "/page-introuvable/"
        page.route(missing, lambda route: route.fulfill(
            status=404, headers=not_found["headers"], body=not_found["body"]))
        assert page.goto(missing).status == 404
        visit.check("404")
    finally:
        visit.close()
