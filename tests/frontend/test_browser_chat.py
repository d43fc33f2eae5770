"""Two people talk live in two browser contexts (Daphne, the real WebSocket protocol): messages
arrive both ways with typing and read receipts; one goes offline, messages arrive meanwhile, it
comes back and sees each exactly once, in order; a third tab whose WebSockets are blocked falls
back to REST. In French, then in English, with axe on the conversation page."""

from __future__ import annotations

import json
import re

import pytest

from tests.frontend.test_browser import PASSWORD, Visit, switch_language

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SEED = """
from accounts.models import Role, User
from marketplace import services as m
from marketplace.models import Language, ProjectStage, Skill, Town
from cycles.models import Match
from cycles.services import match_accept
from chat.models import Conversation
fr = Language.objects.get(code="fr")
e = User.objects.create_user(email="e-{lang}@example.org", password="{password}", display_name="Amina {lang}", role=Role.ENTREPRENEUR)
p = User.objects.create_user(email="p-{lang}@example.org", password="{password}", display_name="Sophie {lang}", role=Role.MENTOR)
m.entrepreneur_profile_upsert(user=e, town=Town.objects.get(insee_code="33249"), languages=[fr])
mentor = m.mentor_profile_upsert(user=p, town=Town.objects.get(insee_code="33119"), languages=[fr],
    skills=[m.SkillLevel(skill=Skill.objects.get(code="pitch"), level=3)])
project = m.project_create(user=e, title="Projet {lang}", stage=ProjectStage.objects.get(code="idea"),
    needs=[m.Need(skill=Skill.objects.get(code="pitch"), importance=3)])
request = m.request_create(user=e, project=project)
match = Match.objects.create(request=request, entrepreneur=e, provider_user=p, mentor=mentor, territory=request.territory)
match_accept(actor=e, match=match)
match_accept(actor=p, match=match)
print("CONVERSATION", Conversation.objects.get(match=match).pk)
"""

STATUS = {
    "fr": {"online": "Connecté", "offline": "Hors ligne", "fallback": "Connexion directe impossible",
           "typing": "écrit", "read": "Lu", "sent": "Envoyé"},
    "en": {"online": "Connected", "offline": "Offline", "fallback": "No direct connection",
           "typing": "typing", "read": "Read", "sent": "Sent"},
}


def login(visit: Visit, email: str) -> None:
    switch_language(visit, visit.lang)
    visit.goto("/connexion/")
    visit.page.locator("#id_username").fill(email)
    visit.page.locator("#id_password").fill(PASSWORD)
    visit.page.locator("main form button[type=submit]").click()
    visit.page.wait_for_load_state()


def send(visit: Visit, text: str) -> None:
    visit.page.locator("#chat-body").fill(text)
    visit.page.locator("#chat-form button[type=submit]").click()


def wait_text(visit: Visit, text: str) -> None:
    visit.page.locator("#chat-log .msg-body", has_text=text).first.wait_for(timeout=15_000)


def transcript(visit: Visit) -> list[tuple[int, str]]:
    return visit.page.eval_on_selector_all(
        "#chat-log li[data-seq]", "els => els.map(e => [Number(e.dataset.seq), e.querySelector('.msg-body').textContent])"
    )


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_two_people_talk_live_and_nothing_is_lost_or_doubled_across_an_outage(browser, server, lang):
    words = STATUS[lang]
    out = server.shell(SEED.format(lang=lang, password=PASSWORD))
    conversation = int(re.search(r"CONVERSATION (\d+)", out).group(1))
    amina, sophie = Visit(browser, server, lang), Visit(browser, server, lang)
    blocked = Visit(browser, server, lang)
    try:
        login(amina, f"e-{lang}@example.org")
        login(sophie, f"p-{lang}@example.org")
        amina.goto("/binomes/")
        amina.check("my-matches")
        amina.page.locator("main a.button").first.click()  # "open the conversation"
        assert amina.page.url.endswith(f"/conversations/{conversation}/")
        for visit in (amina, sophie):
            visit.goto(f"/conversations/{conversation}/")
            visit.page.locator("#chat-status", has_text=words["online"]).wait_for()

        send(amina, "Bonjour <b>Sophie</b> !")
        wait_text(sophie, "Bonjour <b>Sophie</b> !")  # as text, not markup
        # Sophie's page is visible, so it reports the message read; Amina sees "read".
        amina.page.locator("#chat-log li.msg-mine .msg-state", has_text=words["read"]).wait_for()

        sophie.page.locator("#chat-body").press_sequentially("Bonj")
        amina.page.locator("#chat-typing", has_text=words["typing"]).wait_for()
        send(sophie, "Bonjour Amina, ravie !")
        wait_text(amina, "Bonjour Amina, ravie !")
        amina.check("conversation")

        # Amina's phone loses the network: Sophie keeps writing, Amina writes too.
        amina.context.set_offline(True)
        amina.page.locator("#chat-status", has_text=words["offline"]).wait_for()
        for n in range(1, 4):
            send(sophie, f"Pendant la coupure {n}")
            wait_text(sophie, f"Pendant la coupure {n}")
        send(amina, "Écrit hors ligne")
        assert amina.page.locator("#chat-log li.msg-mine").last.locator(".msg-state").inner_text() != words["sent"]

        amina.context.set_offline(False)
        wait_text(amina, "Pendant la coupure 3")
        wait_text(sophie, "Écrit hors ligne")
        amina.page.locator("#chat-status", has_text=words["online"]).wait_for()

        # The socket of a third tab is blocked: it falls back to REST polling and sending.
        blocked.page.route_web_socket(re.compile(r".*/ws/.*"), lambda ws: ws.close())
        login(blocked, f"p-{lang}@example.org")
        blocked.goto(f"/conversations/{conversation}/")
        blocked.page.locator("#chat-status", has_text=words["fallback"]).wait_for(timeout=15_000)
        send(blocked, "Envoyé sans WebSocket")
        wait_text(amina, "Envoyé sans WebSocket")
        wait_text(blocked, "Pendant la coupure 3")

        expected = [
            "Bonjour <b>Sophie</b> !", "Bonjour Amina, ravie !", "Pendant la coupure 1", "Pendant la coupure 2",
            "Pendant la coupure 3", "Écrit hors ligne", "Envoyé sans WebSocket",
        ]
        for visit in (amina, sophie):
            wait_text(visit, "Envoyé sans WebSocket")
            shown = transcript(visit)
            assert [seq for seq, _ in shown] == list(range(1, len(expected) + 1)), shown  # in order, no gap, no double
            assert sorted(body for _, body in shown) == sorted(expected)
            assert len(visit.page.locator("#chat-log li.msg").all()) == len(expected)
        stored = server.shell(
            f"import json; from chat.models import Message; print('STORED', json.dumps(list(Message.objects"
            f".filter(conversation_id={conversation}).order_by('seq').values_list('body', flat=True))))"
        )
        assert json.loads(stored.split("STORED ", 1)[1]) == [body for _, body in transcript(amina)]
    finally:
        for visit in (amina, sophie, blocked):
            visit.close()
