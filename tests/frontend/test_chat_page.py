"""The conversation page: members only, history escaped, a no-JavaScript send that a double
submit cannot duplicate."""

from __future__ import annotations

import pytest

from chat.models import Conversation, Message
from chat.services import message_send
from cycles.models import Match, MatchStatus
from cycles.services import match_accept
from tests.factories import ProjectFactory, request_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation(entrepreneur, mentor):
    support_request = request_for(ProjectFactory(owner=entrepreneur))
    match = Match.objects.create(
        request=support_request, entrepreneur=entrepreneur, provider_user=mentor, mentor=mentor.mentor_profile,
        territory=support_request.territory, status=MatchStatus.PENDING,
    )
    match_accept(actor=entrepreneur, match=match)
    match_accept(actor=mentor, match=match)
    return Conversation.objects.get(match=match)


def test_members_see_the_history_as_text(page_client, conversation, entrepreneur, mentor):
    message_send(user=mentor, conversation=conversation, client_id="c1", body='<img src=x onerror="alert(1)">Bonjour')
    response = page_client(entrepreneur).get(f"/conversations/{conversation.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;Bonjour" in html and "<img src=x" not in html
    assert 'data-last-seq="1"' in html and "Conversation avec Sophie" in html
    assert "/static/frontend/js/chat.js" in html


def test_the_conversation_is_linked_from_my_matches(page_client, conversation, entrepreneur):
    assert f"/conversations/{conversation.pk}/" in page_client(entrepreneur).get("/binomes/").content.decode()


def test_others_cannot_open_the_conversation(page_client, conversation, other_entrepreneur, other_mentor, coordinator):
    assert page_client(other_entrepreneur).get(f"/conversations/{conversation.pk}/").status_code == 404
    assert page_client(other_mentor).post(f"/conversations/{conversation.pk}/", {"body": "x"}).status_code == 404
    assert page_client(coordinator).get(f"/conversations/{conversation.pk}/").status_code == 403
    assert page_client(None).get(f"/conversations/{conversation.pk}/").status_code == 302
    assert not Message.objects.exists()


def test_without_javascript_the_form_sends_once_even_when_submitted_twice(page_client, conversation, entrepreneur):
    client = page_client(entrepreneur)
    for _ in range(2):
        response = client.post(f"/conversations/{conversation.pk}/", {"client_id": "form-1", "body": "Bonjour !"})
        assert response.status_code == 302
    assert list(Message.objects.values_list("body", flat=True)) == ["Bonjour !"]
    assert "Bonjour !" in client.get(f"/conversations/{conversation.pk}/").content.decode()


def test_an_empty_message_is_refused_with_a_message(page_client, conversation, entrepreneur):
    response = page_client(entrepreneur).post(f"/conversations/{conversation.pk}/", {"client_id": "e", "body": "  "}, follow=True)
    assert "Le message est vide." in response.content.decode()
    assert not Message.objects.exists()
