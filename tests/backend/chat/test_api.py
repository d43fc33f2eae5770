"""The conversations API: members only, history by sequence number, fallback send, read
positions and unread counts, reports seen by the territory's coordinators and nobody else."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from chat.models import Message, MessageReport
from chat.services import conversation_close_for_match, message_send
from tests.backend.chat.conftest import open_conversation
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def post_message(user, conversation, body="Bonjour", client_id="c-1"):
    return client_for(user).post(
        f"/api/conversations/{conversation.pk}/messages/", {"client_id": client_id, "body": body}, format="json"
    )


def fill(conversation, sender, count):
    for i in range(count):
        message_send(user=sender, conversation=conversation, client_id=f"fill-{sender.pk}-{i}", body=f"n°{i + 1}")


def test_members_list_their_conversations_with_unread_counts_and_the_last_message(conversation, entrepreneur, mentor):
    fill(conversation, mentor, 3)
    post_message(entrepreneur, conversation, body="Merci !")
    rows = client_for(entrepreneur).get("/api/conversations/").json()["results"]
    assert len(rows) == 1
    row = rows[0]
    assert row["id"] == conversation.pk and row["is_open"] is True
    assert row["unread_count"] == 3 and row["read_up_to_seq"] == 0 and row["last_seq"] == 4
    assert row["last_message"]["body"] == "Merci !"
    assert {m["display_name"] for m in row["members"]} == {"Amina", "Sophie"}
    assert client_for(mentor).get("/api/conversations/").json()["results"][0]["unread_count"] == 1


def test_the_conversation_list_costs_the_same_queries_for_one_or_many(entrepreneur, mentor, other_mentor, company):
    fill(open_conversation(entrepreneur, mentor), entrepreneur, 2)
    client = client_for(entrepreneur)
    with CaptureQueriesContext(connection) as one:
        assert client.get("/api/conversations/").status_code == 200
    for provider in (other_mentor, company):
        fill(open_conversation(entrepreneur, provider), entrepreneur, 2)
    with CaptureQueriesContext(connection) as three:
        assert len(client.get("/api/conversations/").json()["results"]) == 3
    assert len(three) == len(one)


@pytest.mark.parametrize("persona", ["other_entrepreneur", "other_mentor", "coordinator", "outside_coordinator", "administrator"])
def test_nobody_but_the_members_sees_a_conversation_or_its_messages(request, conversation, entrepreneur, persona):
    fill(conversation, entrepreneur, 1)
    outsider = request.getfixturevalue(persona)
    client = client_for(outsider)
    assert client.get("/api/conversations/").json()["results"] == []
    assert client.get(f"/api/conversations/{conversation.pk}/").status_code == 404
    assert client.get(f"/api/conversations/{conversation.pk}/messages/").status_code == 404
    assert post_message(outsider, conversation).status_code == 404
    assert client.post(f"/api/conversations/{conversation.pk}/read/", {"up_to_seq": 1}, format="json").status_code == 404
    message = Message.objects.get()
    assert client.post(f"/api/messages/{message.pk}/report/", {"reason": "x"}, format="json").status_code == 404
    assert Message.objects.count() == 1


def test_anonymous_gets_no_conversation(api, conversation):
    assert api.get("/api/conversations/").status_code in (401, 403)
    assert api.get(f"/api/conversations/{conversation.pk}/messages/").status_code in (401, 403)


def test_history_pages_backwards_and_forwards_by_sequence_number(conversation, entrepreneur):
    fill(conversation, entrepreneur, 7)
    client = client_for(entrepreneur)
    url = f"/api/conversations/{conversation.pk}/messages/"
    latest = client.get(url, {"limit": 3}).json()
    assert [m["seq"] for m in latest["results"]] == [5, 6, 7] and latest["has_more"] is True
    older = client.get(url, {"before": 5, "limit": 3}).json()
    assert [m["seq"] for m in older["results"]] == [2, 3, 4] and older["has_more"] is True
    oldest = client.get(url, {"before": 2, "limit": 3}).json()
    assert [m["seq"] for m in oldest["results"]] == [1] and oldest["has_more"] is False
    newer = client.get(url, {"after": 4, "limit": 2}).json()
    assert [m["seq"] for m in newer["results"]] == [5, 6] and newer["has_more"] is True


@pytest.mark.parametrize(
    ("params", "field"),
    [({"before": "abc"}, "before"), ({"after": -1}, "after"), ({"limit": 0}, "limit"), ({"limit": 500}, "limit"),
     ({"before": 3, "after": 1}, "after"), ({"after": 10**20}, "after")],
)
def test_bad_history_parameters_are_a_400_naming_the_field(conversation, entrepreneur, params, field):
    response = client_for(entrepreneur).get(f"/api/conversations/{conversation.pk}/messages/", params)
    assert response.status_code == 400 and field in response.json()


def test_sending_over_rest_is_idempotent_by_client_id(conversation, entrepreneur):
    first = post_message(entrepreneur, conversation, client_id="rest-1")
    again = post_message(entrepreneur, conversation, client_id="rest-1")
    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["id"] == again.json()["id"] and first.json()["seq"] == 1
    assert Message.objects.count() == 1


@pytest.mark.parametrize(
    ("payload", "field"),
    [({"client_id": "a", "body": ""}, "body"), ({"client_id": "a", "body": "x" * 4001}, "body"),
     ({"client_id": "a", "body": "nul\x00"}, "body"), ({"client_id": "", "body": "x"}, "client_id"),
     ({"client_id": "é!", "body": "x"}, "client_id"), ({"body": "x"}, "client_id"), ({"client_id": "a"}, "body")],
)
def test_a_bad_message_is_a_400_naming_the_field_and_nothing_is_written(conversation, entrepreneur, payload, field):
    response = client_for(entrepreneur).post(f"/api/conversations/{conversation.pk}/messages/", payload, format="json")
    assert response.status_code == 400 and field in response.json()
    assert not Message.objects.exists()


def test_sending_to_an_ended_conversation_is_a_409(conversation, entrepreneur):
    conversation_close_for_match(match=conversation.match)
    response = post_message(entrepreneur, conversation)
    assert response.status_code == 409 and "terminée" in response.json()["detail"]
    assert client_for(entrepreneur).get(f"/api/conversations/{conversation.pk}/").json()["is_open"] is False


def test_flooding_over_rest_is_a_429_with_retry_after(settings, conversation, entrepreneur):
    settings.CHAT_RATE_LIMIT_MESSAGES = 2
    settings.CHAT_RATE_LIMIT_WINDOW_SECONDS = 30
    assert post_message(entrepreneur, conversation, client_id="a").status_code == 201
    assert post_message(entrepreneur, conversation, client_id="b").status_code == 201
    response = post_message(entrepreneur, conversation, client_id="c")
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 30
    assert Message.objects.count() == 2


def test_marking_read_returns_the_position_and_the_remaining_unread(conversation, entrepreneur, mentor):
    fill(conversation, mentor, 5)
    client = client_for(entrepreneur)
    response = client.post(f"/api/conversations/{conversation.pk}/read/", {"up_to_seq": 3}, format="json")
    assert response.json() == {"read_up_to_seq": 3, "unread_count": 2}
    assert client.post(f"/api/conversations/{conversation.pk}/read/", {"up_to_seq": "x"}, format="json").status_code == 400


def test_a_member_reports_a_message_and_the_territory_coordinator_sees_only_that_message(
    conversation, entrepreneur, mentor, coordinator, outside_coordinator, other_entrepreneur
):
    message_send(user=mentor, conversation=conversation, client_id="bad", body="Propos déplacés")
    message_send(user=mentor, conversation=conversation, client_id="fine", body="Message privé ordinaire")
    reported = Message.objects.get(client_id="bad")
    response = client_for(entrepreneur).post(
        f"/api/messages/{reported.pk}/report/", {"reason": "Propos insultants"}, format="json"
    )
    assert response.status_code == 201
    again = client_for(entrepreneur).post(f"/api/messages/{reported.pk}/report/", {"reason": "encore"}, format="json")
    assert again.status_code == 200 and MessageReport.objects.count() == 1

    reports = client_for(coordinator).get("/api/chat/reports/").json()["results"]
    assert len(reports) == 1
    assert reports[0]["message"]["body"] == "Propos déplacés"
    assert reports[0]["message"]["sender_name"] == "Sophie" and reports[0]["reason"] == "Propos insultants"
    assert "Message privé ordinaire" not in str(reports)
    # Still no access to the conversation itself.
    assert client_for(coordinator).get(f"/api/conversations/{conversation.pk}/messages/").status_code == 404
    assert client_for(outside_coordinator).get("/api/chat/reports/").json()["results"] == []
    assert client_for(other_entrepreneur).get("/api/chat/reports/").json()["results"] == []
    assert client_for(mentor).get("/api/chat/reports/").json()["results"] == []  # the reported one sees nothing
    audit = AuditEvent.objects.get(action="chat.message.report")
    assert "Propos" not in str(audit.data) and audit.territory_id == conversation.territory_id


def test_the_coordinator_resolves_a_report_and_an_outsider_cannot(conversation, entrepreneur, mentor, coordinator):
    message_send(user=mentor, conversation=conversation, client_id="bad", body="x")
    report_id = client_for(entrepreneur).post(
        f"/api/messages/{Message.objects.get().pk}/report/", {"reason": "spam"}, format="json"
    ).json()["id"]
    url = f"/api/chat/reports/{report_id}/resolve/"
    assert client_for(entrepreneur).post(url, {"note": "moi"}, format="json").status_code == 403
    response = client_for(coordinator).post(url, {"note": "Échange avec le parrain"}, format="json")
    assert response.status_code == 200 and response.json()["resolved_by_name"] == "Nadia"


def test_reporting_needs_a_reason_and_not_ones_own_message(conversation, entrepreneur):
    message_send(user=entrepreneur, conversation=conversation, client_id="mine", body="x")
    url = f"/api/messages/{Message.objects.get().pk}/report/"
    assert "reason" in client_for(entrepreneur).post(url, {"reason": ""}, format="json").json()
    response = client_for(entrepreneur).post(url, {"reason": "test"}, format="json")
    assert response.status_code == 400 and "message" in response.json()
