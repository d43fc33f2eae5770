"""Pages through Django's test client: status, access by role, forms and their errors, CSRF,
escaping, the Content-Security-Policy and the English catalogue."""

from __future__ import annotations

import html as htmllib
import re

import pytest
from django.core import mail
from django.core.management import call_command

from accounts.models import Role, User
from marketplace.models import Project, Request, RequestStatus
from tests.factories import PASSWORD, OfferFactory, ProjectFactory, request_for, skill, town

pytestmark = pytest.mark.django_db

PUBLIC_PAGES = ["/", "/confidentialite/", "/inscription/", "/connexion/", "/mot-de-passe/oublie/"]
ENTREPRENEUR_PAGES = ["/porteur/", "/porteur/profil/", "/porteur/projets/nouveau/", "/porteur/demandes/"]
MENTOR_PAGES = ["/parrainage/", "/parrainage/profil/"]
COMPANY_PAGES = ["/entreprise/", "/entreprise/profil/", "/entreprise/offres/", "/entreprise/offres/nouvelle/"]
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
INLINE_HANDLER = re.compile(r"\son[a-z]+\s*=", re.I)


def errors_of(response, field):
    """The error text tied to a field: its element must point at the error by aria-describedby."""
    html = response.content.decode()
    error = re.search(rf'<ul class="error-list" id="id_{field}_error">(.*?)</ul>', html, re.S)
    assert error, f"no error list for {field}"
    assert re.search(rf'id="id_{field}"[^>]*aria-describedby="[^"]*id_{field}_error', html) or re.search(
        rf'aria-describedby="[^"]*id_{field}_error[^"]*"[^>]*id="id_{field}"', html
    ), f"{field} is not described by its error"
    return htmllib.unescape(re.sub(r"<[^>]+>", "", error.group(1)))


# --- Public pages, headers, languages -------------------------------------------------------------


@pytest.mark.parametrize("url", PUBLIC_PAGES)
def test_public_pages_open_to_anyone_with_a_strict_policy_and_no_inline_script(client, url):
    response = client.get(url)
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy and "unsafe-inline" not in policy
    html = response.content.decode()
    assert not INLINE_SCRIPT.search(html) and not INLINE_HANDLER.search(html)
    assert '<html lang="fr">' in html


def test_the_home_page_explains_the_offer_in_three_steps_in_french_then_in_english(client):
    html = client.get("/").content.decode()
    assert "Comment ça marche, en trois étapes" in html
    assert html.count('<li><h3>') >= 3
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert response.status_code == 302
    html = client.get("/").content.decode()
    assert '<html lang="en">' in html and "How it works, in three steps" in html
    assert "Comment ça marche" not in html


def test_every_catalogue_string_is_translated_to_english():
    call_command("extract_messages", "--check")


def test_every_form_on_a_page_carries_a_csrf_token(page_client, entrepreneur, mentor, company):
    for user, pages in [(None, PUBLIC_PAGES), (entrepreneur, ENTREPRENEUR_PAGES), (mentor, MENTOR_PAGES),
                        (company, COMPANY_PAGES)]:
        client = page_client(user)
        for url in pages:
            html = client.get(url).content.decode()
            for form in re.findall(r"<form[^>]*method=\"post\".*?</form>", html, re.S):
                assert "csrfmiddlewaretoken" in form, url


def test_a_post_without_the_csrf_token_is_refused(page_client):
    client = page_client(csrf=True)
    response = client.post("/inscription/", {"email": "x@example.org"})
    assert response.status_code == 403
    assert not User.objects.filter(email="x@example.org").exists()


# --- Access by role ------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ENTREPRENEUR_PAGES + MENTOR_PAGES + COMPANY_PAGES + ["/espace/"])
def test_anonymous_visitors_are_sent_to_the_login_page(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"/connexion/?next={url}"


@pytest.mark.parametrize(
    "persona, allowed",
    [("entrepreneur", ENTREPRENEUR_PAGES), ("mentor", MENTOR_PAGES), ("company", COMPANY_PAGES), ("coordinator", [])],
)
def test_each_role_reaches_only_its_own_pages(request, page_client, persona, allowed):
    client = page_client(request.getfixturevalue(persona))
    for url in ENTREPRENEUR_PAGES + MENTOR_PAGES + COMPANY_PAGES:
        expected = 200 if url in allowed else 403
        assert client.get(url).status_code == expected, url


def test_another_entrepreneurs_project_and_request_are_not_found(page_client, entrepreneur, other_entrepreneur):
    project = ProjectFactory(owner=other_entrepreneur)
    theirs = request_for(project)
    client = page_client(entrepreneur)
    for url in [f"/porteur/projets/{project.pk}/", f"/porteur/projets/{project.pk}/besoins/",
                f"/porteur/projets/{project.pk}/demande/"]:
        assert client.get(url).status_code == 404, url
    assert client.post(f"/porteur/demandes/{theirs.pk}/retirer/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == RequestStatus.OPEN


def test_another_companys_offer_is_not_found(page_client, company, other_company):
    offer = OfferFactory(company=other_company.company_profile)
    client = page_client(company)
    assert client.get(f"/entreprise/offres/{offer.pk}/").status_code == 404
    assert client.post(f"/entreprise/offres/{offer.pk}/", {"title": "pris"}).status_code == 404


# --- Registration, login, password reset ----------------------------------------------------------


def test_registering_as_an_entrepreneur_logs_in_and_opens_the_onboarding(client):
    response = client.post("/inscription/", {
        "role": "entrepreneur", "display_name": "Fatou", "email": "Fatou@Example.org",
        "password": "un-mot-de-passe-solide", "privacy": "on",
    })
    assert response.status_code == 302 and response["Location"] == "/porteur/"
    user = User.objects.get(email="fatou@example.org")
    assert user.role == Role.ENTREPRENEUR
    assert "Bonjour Fatou" in client.get("/porteur/").content.decode()


def test_registration_errors_are_shown_next_to_their_fields(client, entrepreneur):
    response = client.post("/inscription/", {
        "role": "coordinator", "display_name": "", "email": entrepreneur.email, "password": "123", "privacy": "",
    })
    assert response.status_code == 200
    html = response.content.decode()
    assert 'class="error-summary"' in html and 'href="#id_display_name"' in html
    assert errors_of(response, "display_name")
    assert errors_of(response, "privacy")
    assert User.objects.count() == 1


def test_registration_with_a_taken_address_says_so_on_the_email_field(client, entrepreneur):
    response = client.post("/inscription/", {
        "role": "mentor", "display_name": "Bis", "email": entrepreneur.email.upper(),
        "password": "un-mot-de-passe-solide", "privacy": "on",
    })
    assert "Un compte existe déjà avec cette adresse." in errors_of(response, "email")


def test_a_weak_password_is_refused_on_the_password_field(client):
    response = client.post("/inscription/", {
        "role": "mentor", "display_name": "Léa", "email": "lea@example.org", "password": "12345678901", "privacy": "on",
    })
    assert errors_of(response, "password")
    assert not User.objects.filter(email="lea@example.org").exists()


def test_login_lands_each_role_in_its_space(client, mentor):
    response = client.post("/connexion/", {"username": mentor.email, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/parrainage/"


def test_a_wrong_password_shows_an_error_and_no_session(client, mentor):
    response = client.post("/connexion/", {"username": mentor.email, "password": "nope"})
    assert response.status_code == 200
    assert "Adresse e-mail ou mot de passe incorrect." in response.content.decode()
    assert client.get("/parrainage/").status_code == 302


def test_logout_is_a_post_and_ends_the_session(page_client, mentor):
    client = page_client(mentor)
    assert client.get("/deconnexion/").status_code == 405
    assert client.post("/deconnexion/").status_code == 302
    assert client.get("/parrainage/").status_code == 302


def test_password_reset_sends_a_link_that_sets_a_new_password(client, mentor):
    response = client.post("/mot-de-passe/oublie/", {"email": mentor.email})
    assert response.status_code == 302 and response["Location"] == "/mot-de-passe/envoye/"
    assert len(mail.outbox) == 1
    link = re.search(r"http://testserver(/mot-de-passe/nouveau/\S+/)", mail.outbox[0].body).group(1)
    form_url = client.get(link)["Location"]  # Django swaps the token for a session marker
    response = client.post(form_url, {"new_password1": "tout-nouveau-secret-9", "new_password2": "tout-nouveau-secret-9"})
    assert response.status_code == 302
    mentor.refresh_from_db()
    assert mentor.check_password("tout-nouveau-secret-9")


def test_password_reset_for_an_unknown_address_says_the_same_and_sends_nothing(client):
    response = client.post("/mot-de-passe/oublie/", {"email": "personne@example.org"})
    assert response.status_code == 302 and len(mail.outbox) == 0


# --- Entrepreneur onboarding ----------------------------------------------------------------------


def test_an_entrepreneur_goes_from_profile_to_request_in_four_short_steps(page_client):
    from tests.factories import UserFactory

    user = UserFactory(role=Role.ENTREPRENEUR, display_name="Aïcha")
    client = page_client(user)
    lormont = town("33249")
    response = client.post("/porteur/profil/", {
        "town": lormont.pk, "languages": [1], "preferred_format": "3", "availability": ["0", "1", "13"],
    })
    assert response.status_code == 302 and response["Location"] == "/porteur/projets/nouveau/"
    stage = __import__("marketplace.models", fromlist=["ProjectStage"]).ProjectStage.objects.get(code="idea")
    response = client.post("/porteur/projets/nouveau/", {"title": "Traiteur", "stage": stage.pk})
    project = Project.objects.get(owner=user)
    assert response["Location"] == f"/porteur/projets/{project.pk}/besoins/"
    response = client.post(f"/porteur/projets/{project.pk}/besoins/", {"skill_microcredit": "3", "skill_website": "1"})
    assert response["Location"] == f"/porteur/projets/{project.pk}/demande/"
    response = client.post(f"/porteur/projets/{project.pk}/demande/", {"kind": "1", "format": "3", "languages": [1]})
    assert response["Location"] == "/porteur/demandes/"
    filed = Request.objects.get(project=project)
    assert filed.status == RequestStatus.OPEN
    assert {n.skill.code: n.importance for n in filed.needs.all()} == {"microcredit": 3, "website": 1}
    assert user.entrepreneur_profile.availability == 0b10000000000011
    html = client.get("/porteur/").content.decode()
    assert html.count('class="done"') == 4


def test_priority_data_is_refused_without_consent_and_kept_with_it(page_client, entrepreneur):
    client = page_client(entrepreneur)
    base = {"town": town("33249").pk, "languages": [1], "preferred_format": "3", "availability": ["0"]}
    response = client.post("/porteur/profil/", {**base, "gender": "woman"})
    assert errors_of(response, "priority_consent")
    response = client.post("/porteur/profil/", {**base, "gender": "woman", "priority_consent": "on"})
    assert response.status_code == 302
    entrepreneur.entrepreneur_profile.refresh_from_db()
    assert entrepreneur.entrepreneur_profile.gender == "woman"
    client.post("/porteur/profil/", base)  # consent withdrawn: the data goes with it
    entrepreneur.entrepreneur_profile.refresh_from_db()
    assert entrepreneur.entrepreneur_profile.gender == ""


def test_a_neighbourhood_of_another_town_is_an_error_on_that_field(page_client, entrepreneur):
    from marketplace.models import Neighbourhood

    cenon_neighbourhood = Neighbourhood.objects.filter(town__insee_code="33119").first()
    response = page_client(entrepreneur).post("/porteur/profil/", {
        "town": town("33249").pk, "neighbourhood": cenon_neighbourhood.pk, "languages": [1],
        "preferred_format": "3", "availability": ["0"],
    })
    assert "Ce quartier n'est pas dans la commune choisie." in errors_of(response, "neighbourhood")


def test_a_second_request_for_the_same_project_is_refused_with_a_message(page_client, entrepreneur):
    project = ProjectFactory(owner=entrepreneur)
    request_for(project)
    response = page_client(entrepreneur).post(f"/porteur/projets/{project.pk}/demande/", {"kind": "1", "format": "3", "languages": [1]})
    assert response.status_code == 200
    assert "Ce projet a déjà une demande en cours." in htmllib.unescape(response.content.decode())
    assert Request.objects.filter(project=project).count() == 1


def test_user_written_text_is_escaped(page_client, entrepreneur):
    project = ProjectFactory(owner=entrepreneur, title='<script>alert("x")</script><img src=x onerror=alert(1)>')
    request_for(project, notes="<b>gras</b>")
    html = page_client(entrepreneur).get("/porteur/demandes/").content.decode()
    assert "<script>alert" not in html and "<img src=x" not in html and "<b>gras</b>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html and "&lt;b&gt;gras&lt;/b&gt;" in html


def test_withdrawing_a_request_records_it_and_shows_the_new_status(page_client, entrepreneur):
    support_request = request_for(ProjectFactory(owner=entrepreneur))
    client = page_client(entrepreneur)
    response = client.post(f"/porteur/demandes/{support_request.pk}/retirer/", {"reason": "projet en pause"})
    assert response.status_code == 302
    support_request.refresh_from_db()
    assert support_request.status == RequestStatus.WITHDRAWN
    html = client.get("/porteur/demandes/").content.decode()
    assert "Retirée" in html and "Retirer ma demande" not in html
    response = client.post(f"/porteur/demandes/{support_request.pk}/retirer/", follow=True)
    assert "Seule une demande ouverte ou en proposition peut être retirée." in htmllib.unescape(response.content.decode())


def test_withdraw_is_post_only(page_client, entrepreneur):
    support_request = request_for(ProjectFactory(owner=entrepreneur))
    assert page_client(entrepreneur).get(f"/porteur/demandes/{support_request.pk}/retirer/").status_code == 405


# --- Mentor and company ---------------------------------------------------------------------------


def _mentor_form(**overrides):
    data = {"town": town("33119").pk, "format": "3", "languages": [1], "availability": ["0", "2"], "capacity": "2",
            "skill_pitch": "3", "skill_bookkeeping": "1", "bio": "Vingt ans de commerce."}
    data.update(overrides)
    return data


def test_a_mentor_declares_skills_levels_capacity_and_pause(page_client, mentor):
    client = page_client(mentor)
    assert client.post("/parrainage/profil/", _mentor_form(paused="on", capacity="3")).status_code == 302
    profile = mentor.mentor_profile
    profile.refresh_from_db()
    assert profile.paused and profile.capacity == 3
    assert {s.skill.code: s.level for s in profile.skills.all()} == {"pitch": 3, "bookkeeping": 1}
    html = client.get("/parrainage/profil/").content.decode()
    assert re.search(r'<option value="3" selected>', html)  # the saved level is shown again
    assert "En pause" in client.get("/parrainage/").content.decode()


def test_a_mentor_capacity_out_of_range_is_an_error_on_capacity(page_client, mentor):
    response = page_client(mentor).post("/parrainage/profil/", _mentor_form(capacity="40"))
    assert errors_of(response, "capacity")


def test_a_mentor_without_any_skill_is_told_so(page_client, mentor):
    response = page_client(mentor).post("/parrainage/profil/", _mentor_form(skill_pitch="0", skill_bookkeeping="0"))
    assert response.status_code == 200
    assert "Indiquez au moins une compétence." in htmllib.unescape(response.content.decode())


def test_a_bad_siret_is_an_error_on_the_siret_field(page_client):
    from tests.factories import UserFactory

    client = page_client(UserFactory(role=Role.COMPANY))
    response = client.post("/entreprise/profil/", {"name": "Acme", "siret": "12345678901234", "town": town("33032").pk})
    assert "Ce SIRET n'est pas valide" in errors_of(response, "siret")


def test_a_company_publishes_then_edits_an_offer(page_client, company):
    from marketplace.models import Offer, ProjectStage

    client = page_client(company)
    data = {
        "title": "Site vitrine en 10 h", "format": "2", "town": town("33032").pk, "languages": [1],
        "accepted_stages": [s.pk for s in ProjectStage.objects.all()], "availability": ["0"], "capacity": "3",
        "hours_budget": "30", "starts_on": "2026-01-01", "ends_on": "2026-06-30", "active": "on", "skill_website": "3",
    }
    assert client.post("/entreprise/offres/nouvelle/", data).status_code == 302
    offer = Offer.objects.get(company__user=company)
    assert offer.skills.get().skill == skill("website")
    response = client.post(f"/entreprise/offres/{offer.pk}/", {**data, "ends_on": "2025-01-01"})
    assert "La fin doit suivre le début." in errors_of(response, "ends_on")
    assert client.post(f"/entreprise/offres/{offer.pk}/", {**data, "hours_budget": "50"}).status_code == 302
    offer.refresh_from_db()
    assert offer.hours_budget == 50
    assert "Site vitrine en 10 h" in client.get("/entreprise/offres/").content.decode()


def test_the_catalogue_check_fails_on_an_untranslated_page_string_but_not_on_a_backend_one(tmp_path):
    from frontend.management.commands.extract_messages import Catalogue, update_po

    catalogue = Catalogue()
    catalogue.add("Une phrase de page", "frontend/templates/x.html")
    catalogue.add("Une phrase du backend", "backend/cycles/services.py")
    problems, backend_only = update_po(tmp_path / "django.po", catalogue, check=True)
    assert problems == ["missing: 'Une phrase de page'"]
    assert backend_only == ["missing: 'Une phrase du backend'"]
