"""The PostgreSQL send: one statement (membership, resend, rate limit, numbering, insert) in
autocommit. It must refuse exactly what the portable path refuses and write nothing when it does."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chat import services
from chat.models import ChatSocket, Conversation, Message
from chat.services import ConversationClosed, RateLimited, message_send

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.postgres]


def send(user, conversation, client_id, body="Bonjour", **kwargs):
    return message_send(user=user, conversation=conversation, client_id=client_id, body=body, **kwargs)


def last_seq(conversation) -> int:
    return Conversation.objects.values_list("last_seq", flat=True).get(pk=conversation.pk)


def test_outside_a_transaction_a_send_is_one_statement_and_committed(conversation, entrepreneur, mentor):
    # The other member is online (no e-mail to schedule): the send is the statement, nothing more.
    ChatSocket.objects.create(channel_name="live", conversation=conversation, user=mentor)
    assert connection.get_autocommit() and not connection.in_atomic_block
    with CaptureQueriesContext(connection) as queries:
        result = send(entrepreneur, conversation, "one", broadcast=False)
    assert len(queries) == 1 and queries[0]["sql"].lstrip().startswith("WITH member AS")
    stored = Message.objects.get(pk=result.message.pk)  # committed: visible from another transaction too
    assert (stored.seq, stored.client_id, stored.body, stored.sender_id) == (1, "one", "Bonjour", entrepreneur.pk)
    assert stored.created_at == result.message.created_at
    assert last_seq(conversation) == 1


def test_an_offline_member_is_emailed_once_after_the_commit(conversation, entrepreneur, mentor):
    from django.core import mail

    send(entrepreneur, conversation, "mail-1", body="texte secret")
    send(entrepreneur, conversation, "mail-2", body="texte secret")
    assert [m.to for m in mail.outbox] == [[mentor.email]]
    assert "texte secret" not in mail.outbox[0].body


def test_a_non_member_is_refused_and_nothing_is_written(conversation, entrepreneur, other_mentor):
    send(entrepreneur, conversation, "first")
    with pytest.raises(PermissionDenied):
        send(other_mentor, conversation, "intrus")
    assert Message.objects.count() == 1 and last_seq(conversation) == 1


def test_a_removed_member_is_refused_even_for_a_client_id_they_used(conversation, entrepreneur, mentor):
    send(mentor, conversation, "before")
    services.conversation_member_remove(conversation=conversation, user=mentor)
    with pytest.raises(PermissionDenied):
        send(mentor, conversation, "after")
    with pytest.raises(PermissionDenied):
        send(mentor, conversation, "before")
    assert Message.objects.count() == 1 and last_seq(conversation) == 1


def test_an_ended_conversation_refuses_new_messages_but_still_acknowledges_a_resend(conversation, entrepreneur):
    first = send(entrepreneur, conversation, "kept", body="avant la fin")
    services.conversation_close_for_match(match=conversation.match)
    with pytest.raises(ConversationClosed):
        send(entrepreneur, conversation, "late")
    again = send(entrepreneur, conversation, "kept", body="autre texte")
    assert not again.created
    assert (again.message.pk, again.message.seq, again.message.body) == (first.message.pk, 1, "avant la fin")
    assert Message.objects.count() == 1 and last_seq(conversation) == 1


def test_a_duplicate_returns_the_stored_row_and_uses_no_number(conversation, entrepreneur, mentor):
    first = send(entrepreneur, conversation, "dup", body="premier")
    with CaptureQueriesContext(connection) as queries:
        again = send(entrepreneur, conversation, "dup", body="second texte ignoré")
    assert len(queries) == 1
    assert not again.created
    assert (again.message.pk, again.message.seq, again.message.body, again.message.created_at) == (
        first.message.pk, 1, "premier", first.message.created_at,
    )
    assert send(mentor, conversation, "next").message.seq == 2  # no gap left by the duplicate
    assert Message.objects.count() == 2 and last_seq(conversation) == 2


def test_the_rate_limit_counts_stored_messages_only_and_refuses_without_writing(settings, conversation, entrepreneur):
    settings.CHAT_RATE_LIMIT_MESSAGES = 2
    settings.CHAT_RATE_LIMIT_WINDOW_SECONDS = 60
    send(entrepreneur, conversation, "r1")
    send(entrepreneur, conversation, "r1")  # a resend: not a new message, not counted
    send(entrepreneur, conversation, "r2")
    with pytest.raises(RateLimited) as exc:
        send(entrepreneur, conversation, "r3")
    assert 55 <= exc.value.retry_after <= 60
    assert send(entrepreneur, conversation, "r2").created is False  # a resend is still answered
    assert Message.objects.count() == 2 and last_seq(conversation) == 2
    # The window slides: once the oldest message is older than the window, one more is accepted.
    Message.objects.filter(client_id="r1").update(created_at=timezone.now() - timedelta(seconds=61))
    assert send(entrepreneur, conversation, "r3").message.seq == 3


def test_the_rate_limit_is_per_user_across_conversations(settings, conversation, entrepreneur, mentor, other_mentor):
    from tests.backend.chat.conftest import open_conversation

    settings.CHAT_RATE_LIMIT_MESSAGES = 2
    settings.CHAT_RATE_LIMIT_WINDOW_SECONDS = 60
    second = open_conversation(entrepreneur, other_mentor)
    send(entrepreneur, conversation, "x1")
    send(entrepreneur, second, "x2")
    with pytest.raises(RateLimited):
        send(entrepreneur, conversation, "x3")
    send(mentor, conversation, "m1")  # the other member has their own budget
    assert last_seq(conversation) == 2 and last_seq(second) == 1


def test_inside_a_transaction_the_broadcast_waits_for_the_commit(monkeypatch, conversation, entrepreneur):
    import chat.events

    rung = []
    monkeypatch.setattr(chat.events, "group_send_now", lambda cid, event: rung.append(event["message"]["seq"]))
    with transaction.atomic():
        send(entrepreneur, conversation, "in-tx")
        assert rung == []  # a savepoint inside the caller's transaction: not committed yet
    assert rung == [1]
    with pytest.raises(RuntimeError), transaction.atomic():
        send(entrepreneur, conversation, "rolled-back")
        raise RuntimeError("the surrounding work fails")
    assert rung == [1] and Message.objects.count() == 1 and last_seq(conversation) == 1
