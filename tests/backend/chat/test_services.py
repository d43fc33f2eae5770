"""Conversations follow their match; messages are numbered, idempotent, and read positions move
forward only. Through the services, as the cycles app and the views call them."""

from __future__ import annotations

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from chat import services
from chat.models import ChatSocket, ConversationMember, Message
from chat.services import (
    ConversationClosed,
    conversation_close_for_match,
    conversation_mark_read,
    conversation_member_remove,
    conversation_open_for_match,
    message_send,
)
from tests.backend.chat.conftest import active_match

pytestmark = pytest.mark.django_db


def send(user, conversation, body="Bonjour", client_id=None):
    send.counter = getattr(send, "counter", 0) + 1
    return message_send(user=user, conversation=conversation, client_id=client_id or f"c{send.counter}", body=body)


def test_opening_a_conversation_twice_for_one_match_gives_the_same_conversation(entrepreneur, mentor):
    match = active_match(entrepreneur, mentor)
    first = conversation_open_for_match(match=match)
    second = conversation_open_for_match(match=match)
    assert first.pk == second.pk
    assert set(ConversationMember.objects.filter(conversation=first).values_list("user_id", flat=True)) == {
        entrepreneur.pk,
        mentor.pk,
    }


def test_a_company_match_opens_a_conversation_with_the_company_account(entrepreneur, company):
    conversation = conversation_open_for_match(match=active_match(entrepreneur, company))
    assert set(conversation.members.values_list("user_id", flat=True)) == {entrepreneur.pk, company.pk}


def test_messages_are_numbered_one_after_the_other_per_conversation(conversation, entrepreneur, mentor, other_mentor):
    other = conversation_open_for_match(match=active_match(entrepreneur, other_mentor))
    seqs = [send(entrepreneur, conversation).message.seq, send(mentor, conversation).message.seq,
            send(entrepreneur, other).message.seq, send(entrepreneur, conversation).message.seq]
    assert seqs == [1, 2, 1, 3]
    conversation.refresh_from_db()
    assert conversation.last_seq == 3


def test_the_same_client_id_sent_three_times_makes_one_row_and_returns_it(conversation, entrepreneur):
    results = [send(entrepreneur, conversation, body="Une seule fois", client_id="same-id") for _ in range(3)]
    assert [r.created for r in results] == [True, False, False]
    assert len({r.message.pk for r in results}) == 1
    assert Message.objects.filter(conversation=conversation).count() == 1


def test_two_members_may_use_the_same_client_id(conversation, entrepreneur, mentor):
    a = send(entrepreneur, conversation, client_id="x1")
    b = send(mentor, conversation, client_id="x1")
    assert a.created and b.created and a.message.pk != b.message.pk


def test_the_database_refuses_a_second_message_with_the_same_sequence_number(conversation, entrepreneur):
    send(entrepreneur, conversation)
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.create(conversation=conversation, seq=1, sender=entrepreneur, client_id="other", body="x")


@pytest.mark.parametrize(
    ("body", "client_id", "field"),
    [
        ("", "ok-1", "body"),
        ("   \n", "ok-2", "body"),
        ("x" * 4001, "ok-3", "body"),
        ("nul\x00", "ok-4", "body"),
        (42, "ok-5", "body"),
        ("Bonjour", "", "client_id"),
        ("Bonjour", "x" * 65, "client_id"),
        ("Bonjour", "espace interdit", "client_id"),
        ("Bonjour", None, "client_id"),
    ],
)
def test_bad_input_is_refused_by_field_and_nothing_is_written(conversation, entrepreneur, body, client_id, field):
    with pytest.raises(ValidationError) as exc:
        message_send(user=entrepreneur, conversation=conversation, client_id=client_id, body=body)
    assert field in exc.value.message_dict
    assert not Message.objects.exists()


def test_a_message_of_exactly_4000_characters_is_accepted(conversation, entrepreneur):
    assert send(entrepreneur, conversation, body="é" * 4000).message.seq == 1


def test_closing_makes_the_conversation_read_only(conversation, entrepreneur):
    send(entrepreneur, conversation)
    conversation_close_for_match(match=conversation.match)
    conversation_close_for_match(match=conversation.match)  # idempotent
    with pytest.raises(ConversationClosed):
        send(entrepreneur, conversation)
    assert Message.objects.count() == 1


def test_closing_a_match_without_a_conversation_does_nothing(entrepreneur, mentor):
    conversation_close_for_match(match=active_match(entrepreneur, mentor))


def test_a_removed_member_can_no_longer_send(conversation, entrepreneur, mentor):
    conversation_member_remove(conversation=conversation, user=mentor)
    with pytest.raises(PermissionDenied):
        send(mentor, conversation)
    send(entrepreneur, conversation)


def test_the_read_position_moves_forward_only_and_never_past_the_last_message(conversation, entrepreneur, mentor):
    for _ in range(3):
        send(mentor, conversation)
    assert conversation_mark_read(user=entrepreneur, conversation=conversation, up_to_seq=2) == 2
    assert conversation_mark_read(user=entrepreneur, conversation=conversation, up_to_seq=1) == 2
    assert conversation_mark_read(user=entrepreneur, conversation=conversation, up_to_seq=99) == 3


def test_the_rate_limit_refuses_new_messages_past_the_limit_with_a_retry_delay(settings, conversation, entrepreneur):
    settings.CHAT_RATE_LIMIT_MESSAGES = 3
    settings.CHAT_RATE_LIMIT_WINDOW_SECONDS = 60
    for _ in range(3):
        send(entrepreneur, conversation)
    with pytest.raises(services.RateLimited) as exc:
        send(entrepreneur, conversation)
    assert 1 <= exc.value.retry_after <= 60
    assert Message.objects.count() == 3


def test_an_offline_member_gets_one_email_without_the_text_per_quarter_hour(
    conversation, entrepreneur, mentor, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        send(entrepreneur, conversation, body="Mon secret de fabrication")
        send(entrepreneur, conversation, body="Deuxième message")
    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == [mentor.email]
    assert "Amina" in email.subject
    assert "secret" not in email.body and "secret" not in email.subject
    assert f"/conversations/{conversation.pk}/" in email.body


def test_no_email_is_sent_before_the_commit(conversation, entrepreneur, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        send(entrepreneur, conversation)
        assert mail.outbox == []
    assert callbacks  # broadcast and e-mail wait for the commit
    for callback in callbacks:
        callback()
    assert len(mail.outbox) == 1


def test_a_member_with_a_live_socket_gets_no_email(conversation, entrepreneur, mentor, django_capture_on_commit_callbacks):
    services.chat_socket_open(channel_name="chan-1", conversation_id=conversation.pk, user_id=mentor.pk)
    with django_capture_on_commit_callbacks(execute=True):
        send(entrepreneur, conversation)
    assert mail.outbox == []


def test_a_socket_whose_disconnect_never_ran_stops_counting_after_its_ttl(
    settings, conversation, entrepreneur, mentor, django_capture_on_commit_callbacks
):
    import time_machine

    services.chat_socket_open(channel_name="ghost", conversation_id=conversation.pk, user_id=mentor.pk)
    with time_machine.travel(ChatSocket.objects.get().seen_at, tick=True) as traveller:
        traveller.shift(61)  # past the 60-second presence TTL, and no heartbeat came
        with django_capture_on_commit_callbacks(execute=True):
            send(entrepreneur, conversation)
    assert [m.to for m in mail.outbox] == [[mentor.email]]


def test_erasing_a_user_anonymises_their_messages_and_removes_them_everywhere(conversation, entrepreneur, mentor):
    send(mentor, conversation, body="Je m'appelle Sophie Martin")
    send(entrepreneur, conversation, body="Merci")
    assert services.chat_user_erase(user=mentor) == 1
    erased = Message.objects.get(seq=1)
    assert erased.sender_id is None and erased.body == "" and erased.redacted_at is not None
    assert Message.objects.get(seq=2).body == "Merci"
    assert ConversationMember.objects.get(user=mentor).removed_at is not None


def test_the_export_lists_the_users_conversations_and_sent_messages(conversation, entrepreneur):
    send(entrepreneur, conversation, body="À exporter")
    data = services.chat_user_export(user=entrepreneur)
    assert data["conversations"][0]["conversation_id"] == conversation.pk
    assert [m["body"] for m in data["messages_sent"]] == ["À exporter"]


def test_the_broadcast_waits_for_the_commit_and_a_rollback_sends_nothing(
    monkeypatch, conversation, entrepreneur, django_capture_on_commit_callbacks
):
    import chat.events

    rung = []
    monkeypatch.setattr(chat.events, "group_send_now", lambda cid, event: rung.append((cid, event["type"])))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        send(entrepreneur, conversation, body="après le commit")
    assert rung == []  # nothing left while the transaction was open
    for callback in callbacks:
        callback()
    assert rung == [(conversation.pk, "chat.message")]

    rung.clear()
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        with transaction.atomic():
            send(entrepreneur, conversation, body="annulé")
            raise RuntimeError("the surrounding work fails")
    assert rung == []
    assert list(Message.objects.values_list("body", flat=True)) == ["après le commit"]
