"""The socket's send on PostgreSQL, awaited on the event loop (``message_send_async`` on the loop's
own connections, ``chat.pg``): the same statement as ``message_send``, so the same answers, the
same refusals that write nothing, the same resend and numbering guarantees under concurrency; and
connections that fail are dropped, never reused."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import psycopg
import pytest
from channels.db import database_sync_to_async as sync_to_async
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.utils import timezone

from chat import pg, services
from chat.models import ChatSocket, Conversation, Message
from chat.services import ConversationClosed, RateLimited, message_send_async
from tests.backend.chat.conftest import connect

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.postgres]


@pytest.fixture(autouse=True)
def _reused_connections(monkeypatch):
    """The chat fixtures set CONN_MAX_AGE to 0 (every connection closed after use); these tests
    look at reuse, so the loop's connections live for the test (closed by the chat fixtures)."""
    real_connect = pg._connect

    async def connect_for_ten_minutes():
        conn, _max_age = await real_connect()
        return conn, 600.0

    monkeypatch.setattr(pg, "_connect", connect_for_ten_minutes)


async def send(user, conversation, client_id, body="Bonjour"):
    return await message_send_async(user=user, conversation_id=conversation.pk, client_id=client_id, body=body)


@sync_to_async
def rows(conversation):
    return list(Message.objects.filter(conversation=conversation).order_by("seq").values_list("seq", "client_id", "body"))


@sync_to_async
def last_seq(conversation) -> int:
    return Conversation.objects.values_list("last_seq", flat=True).get(pk=conversation.pk)


@sync_to_async
def remove(conversation, user):
    services.conversation_member_remove(conversation=conversation, user=user)


@sync_to_async
def close(conversation):
    services.conversation_close_for_match(match=conversation.match)


@sync_to_async
def mark_online(conversation, user):
    ChatSocket.objects.create(channel_name=f"live-{user.pk}", conversation=conversation, user=user)


async def test_a_send_is_committed_when_it_returns_and_a_resend_returns_the_first_row(conversation, entrepreneur, mentor):
    await mark_online(conversation, mentor)
    await mark_online(conversation, entrepreneur)
    first = await send(entrepreneur, conversation, "one", body="premier")
    assert (first.created, first.seq, first.sender_id, first.body) == (True, 1, entrepreneur.pk, "premier")
    stored = await sync_to_async(Message.objects.get)(pk=first.id)  # another connection sees it: committed
    assert stored.created_at == first.created_at and stored.created_at.isoformat() == first.payload()["created_at"]
    again = await send(entrepreneur, conversation, "one", body="autre texte")
    assert not again.created
    assert again.payload() == first.payload()  # the first row, its text and time, byte for byte
    assert (await send(mentor, conversation, "two")).seq == 2  # the resend used no number
    assert await rows(conversation) == [(1, "one", "premier"), (2, "two", "Bonjour")]
    assert await last_seq(conversation) == 2
    assert mail.outbox == []  # both members online


async def test_it_refuses_what_the_thread_path_refuses_and_writes_nothing(
    settings, conversation, entrepreneur, mentor, other_mentor
):
    with pytest.raises(ValidationError):
        await send(entrepreneur, conversation, "bad id with spaces")
    with pytest.raises(ValidationError):
        await send(entrepreneur, conversation, "blank", body="   ")
    with pytest.raises(PermissionDenied):
        await send(other_mentor, conversation, "intrus")
    await send(mentor, conversation, "before")
    await remove(conversation, mentor)
    with pytest.raises(PermissionDenied):
        await send(mentor, conversation, "after")
    with pytest.raises(PermissionDenied):
        await send(mentor, conversation, "before")  # removed: not even a resend is answered
    settings.CHAT_RATE_LIMIT_MESSAGES = 1
    settings.CHAT_RATE_LIMIT_WINDOW_SECONDS = 60
    await send(entrepreneur, conversation, "r1")
    with pytest.raises(RateLimited) as exc:
        await send(entrepreneur, conversation, "r2")
    assert 55 <= exc.value.retry_after <= 60
    assert not (await send(entrepreneur, conversation, "r1")).created  # a resend passes the limit
    settings.CHAT_RATE_LIMIT_MESSAGES = 30
    await close(conversation)
    with pytest.raises(ConversationClosed):
        await send(entrepreneur, conversation, "late")
    assert (await send(entrepreneur, conversation, "r1")).seq == 2  # still acknowledged once ended
    assert await rows(conversation) == [(1, "before", "Bonjour"), (2, "r1", "Bonjour")]
    assert await last_seq(conversation) == 2


async def test_an_offline_member_is_emailed_once_after_the_commit(conversation, entrepreneur, mentor):
    await send(entrepreneur, conversation, "mail-1", body="texte secret")
    await send(entrepreneur, conversation, "mail-2", body="texte secret")
    assert [m.to for m in mail.outbox] == [[mentor.email]]
    assert "texte secret" not in mail.outbox[0].body


async def test_concurrent_sends_are_numbered_without_gaps_and_a_raced_resend_is_stored_once(
    settings, conversation, entrepreneur, mentor
):
    settings.CHAT_RATE_LIMIT_MESSAGES = 1000
    results = await asyncio.gather(
        *[send(user, conversation, f"{user.pk}-{i}") for i in range(8) for user in (entrepreneur, mentor)]
    )
    assert sorted(r.seq for r in results) == list(range(1, 17))
    retried = await asyncio.gather(*[send(entrepreneur, conversation, "retry") for _ in range(4)])
    assert len({r.id for r in retried}) == 1 and sorted(r.created for r in retried) == [False, False, False, True]
    assert len(await rows(conversation)) == 17 and await last_seq(conversation) == 17
    assert len(pg.pool()._all) <= pg.pool().size  # never more connections than allowed


async def test_a_broken_or_cancelled_connection_is_dropped_and_the_next_send_works(conversation, entrepreneur, mentor):
    await mark_online(conversation, mentor)
    await send(entrepreneur, conversation, "warm")
    [conn] = pg.pool()._idle

    @sync_to_async
    def terminate(pid):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])

    await terminate(conn.info.backend_pid)
    with pytest.raises(psycopg.OperationalError):
        await send(entrepreneur, conversation, "lost")  # one call fails; the client resends it
    assert conn.closed and conn not in pg.pool()._all
    assert (await send(entrepreneur, conversation, "lost")).seq == 2  # on a new connection

    # A send cancelled while its statement runs leaves a connection in an unknown state: closed.
    blocker, _ = await pg._connect()  # another session holds the conversation's row lock
    try:
        await blocker.execute("BEGIN")
        await blocker.execute(
            f"SELECT 1 FROM {Conversation._meta.db_table} WHERE id = %s FOR UPDATE", [conversation.pk]
        )
        task = asyncio.ensure_future(send(entrepreneur, conversation, "cancelled"))
        for _ in range(500):  # until the send's statement waits for that lock
            cursor = await blocker.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'sociallab-chat-send'"
                " AND wait_event_type = 'Lock'"
            )
            if (await cursor.fetchone())[0]:
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the send never waited for the lock")
        [busy] = [c for c in pg.pool()._all if c not in pg.pool()._idle]
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert busy.closed and busy not in pg.pool()._all
    finally:
        await blocker.execute("COMMIT")
        await blocker.close()
    # Whether the cancelled statement committed or not, a resend gives one row.
    assert (await send(entrepreneur, conversation, "cancelled")).seq == 3
    assert [r[1] for r in await rows(conversation)] == ["warm", "lost", "cancelled"]


async def test_callers_beyond_the_pool_size_wait_for_a_free_connection(monkeypatch, settings, conversation, entrepreneur):
    settings.CHAT_RATE_LIMIT_MESSAGES = 1000
    monkeypatch.setattr(pg.pool(), "size", 2)
    results = await asyncio.gather(*[send(entrepreneur, conversation, f"w{i}") for i in range(10)])
    assert sorted(r.seq for r in results) == list(range(1, 11))
    assert len(pg.pool()._all) == 2 and not pg.pool()._waiters


async def test_connections_older_than_conn_max_age_are_closed_after_their_statement(
    monkeypatch, conversation, entrepreneur
):
    monkeypatch.undo()  # the real _connect: CONN_MAX_AGE is 0 under the chat fixtures
    assert connection.settings_dict["CONN_MAX_AGE"] == 0
    await send(entrepreneur, conversation, "a")
    assert pg.pool()._all == {} and pg.pool()._idle == []
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", None)
    await send(entrepreneur, conversation, "b")
    assert len(pg.pool()._idle) == 1


async def test_the_socket_sends_through_the_loop_connections_and_the_ack_matches_the_row(
    monkeypatch, conversation, entrepreneur, mentor
):
    import chat.consumers

    assert chat.consumers._ASYNC_SEND

    async def no_thread(*args):
        raise AssertionError("the thread path must not be used on PostgreSQL")

    monkeypatch.setattr(chat.consumers, "_send_in_thread", no_thread)
    a, _, _ = await connect(entrepreneur, conversation.pk)
    b, _, _ = await connect(mentor, conversation.pk)
    for sock in (a, b):
        assert (await sock.receive_json_from(timeout=3))["type"] == "hello"
    await a.send_json_to({"type": "send", "client_id": "via-loop", "body": "Bonjour"})
    ack = await a.receive_json_from(timeout=3)
    message = await b.receive_json_from(timeout=3)
    row = await sync_to_async(Message.objects.get)(client_id="via-loop")
    assert ack == {"type": "ack", "client_id": "via-loop", "id": row.pk, "seq": 1,
                   "created_at": row.created_at.isoformat(), "duplicate": False}
    assert message == {"type": "message", "id": row.pk, "seq": 1, "sender_id": entrepreneur.pk,
                       "client_id": "via-loop", "body": "Bonjour", "created_at": row.created_at.isoformat()}
    assert row.created_at > timezone.now() - timedelta(minutes=1)
    assert len(pg.pool()._all) == 1
    await a.disconnect()
    await b.disconnect()
