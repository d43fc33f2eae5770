"""The conversation socket, driven through the real ASGI application (Origin validator, session
auth, routing) with Channels' WebsocketCommunicator and the in-memory layer."""

from __future__ import annotations

import json

import pytest
from channels.db import (
    database_sync_to_async as sync_to_async,  # closes its connection after each call
)
from channels.layers import get_channel_layer

from chat import selectors, services
from chat.events import CLOSE_CONVERSATION_ENDED, CLOSE_FRAME_TOO_LARGE, CLOSE_NOT_MEMBER
from chat.models import Message
from tests.backend.chat.conftest import connect

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


async def frames_until(communicator, kind, *, timeout=3):
    """Frames received up to and including the first of type ``kind``."""
    seen = []
    while True:
        frame = await communicator.receive_json_from(timeout=timeout)
        seen.append(frame)
        if frame["type"] == kind:
            return seen


async def hello(communicator):
    frame = await communicator.receive_json_from(timeout=3)
    assert frame["type"] == "hello"
    return frame


async def send_message(communicator, body, client_id):
    await communicator.send_json_to({"type": "send", "client_id": client_id, "body": body})
    frames = await frames_until(communicator, "ack")
    return frames[-1]


async def next_message(communicator):
    frames = await frames_until(communicator, "message")
    return frames[-1]


async def pair(conversation, entrepreneur, mentor, **kwargs):
    a, ok_a, _ = await connect(entrepreneur, conversation.pk, **kwargs)
    b, ok_b, _ = await connect(mentor, conversation.pk, **kwargs)
    assert ok_a and ok_b
    await hello(a)
    await hello(b)
    return a, b


# --- Who may connect ---------------------------------------------------------------------------


@pytest.fixture
def outsiders(other_entrepreneur, other_mentor, coordinator, administrator):
    return [other_entrepreneur, other_mentor, coordinator, administrator]


async def test_only_members_from_an_allowed_origin_get_a_socket(conversation, entrepreneur, outsiders):
    refused = [
        await connect(None, conversation.pk),  # anonymous
        await connect(entrepreneur, conversation.pk, origin=b"https://evil.example"),  # cross-site
        await connect(entrepreneur, conversation.pk, origin=None),  # no Origin at all
        await connect(entrepreneur, conversation.pk + 1000),  # unknown: refused like a foreign one
        *[await connect(outsider, conversation.pk) for outsider in outsiders],  # not members
    ]
    assert [connected for _, connected, _ in refused] == [False] * 8
    member, connected, _ = await connect(entrepreneur, conversation.pk)
    assert connected
    assert (await hello(member))["conversation_id"] == conversation.pk
    await member.disconnect()


# --- Sending and receiving -----------------------------------------------------------------------


async def test_a_message_is_acknowledged_once_stored_and_reaches_the_other_member_once(
    conversation, entrepreneur, mentor
):
    a, b = await pair(conversation, entrepreneur, mentor)
    acks = [await send_message(a, "Bonjour Sophie", "m-1") for _ in range(3)]  # the same client id 3 times
    assert [ack["duplicate"] for ack in acks] == [False, True, True]
    assert {(ack["id"], ack["seq"]) for ack in acks} == {(acks[0]["id"], 1)}
    received = await next_message(b)
    assert received == {
        "type": "message", "id": acks[0]["id"], "seq": 1, "sender_id": entrepreneur.pk, "client_id": "m-1",
        "body": "Bonjour Sophie", "created_at": acks[0]["created_at"],
    }
    assert await b.receive_nothing(timeout=0.3)  # one event, not three
    assert await sync_to_async(Message.objects.count)() == 1

    # Both members sending at once: distinct, gapless numbers, delivered in order.
    for i in range(10):
        await a.send_json_to({"type": "send", "client_id": f"a{i}", "body": "a"})
        await b.send_json_to({"type": "send", "client_id": f"b{i}", "body": "b"})
    delivered = []
    while len(delivered) < 20:
        frame = await a.receive_json_from(timeout=3)
        if frame["type"] == "message":
            delivered.append(frame["seq"])
    assert delivered == list(range(2, 22))
    await a.disconnect()
    await b.disconnect()


async def test_the_broadcast_carries_the_committed_row_and_leaves_after_the_commit(conversation, entrepreneur, mentor):
    a, b = await pair(conversation, entrepreneur, mentor)
    layer = get_channel_layer()
    real_group_send = layer.group_send
    published = []

    async def watching_group_send(group, message):
        if message.get("type") == "chat.message":
            # Read from another connection: the row must already be committed when the bell rings.
            stored = await sync_to_async(
                lambda: [m.pk for m in Message.objects.filter(pk=message["message"]["id"])]
            )()
            published.append((message["message"], stored))
        await real_group_send(group, message)

    layer.group_send = watching_group_send
    try:
        ack = await send_message(a, "Le texte stocké", "row-1")
        received = await next_message(b)
    finally:
        layer.group_send = real_group_send
    [(payload, stored)] = published
    assert stored == [ack["id"]]
    row = await sync_to_async(Message.objects.get)(pk=ack["id"])
    assert payload == {
        "id": row.pk, "seq": row.seq, "sender_id": row.sender_id, "client_id": row.client_id, "body": row.body,
        "created_at": row.created_at.isoformat(),
    }
    assert received == {"type": "message", **payload}
    assert (ack["seq"], ack["created_at"]) == (row.seq, row.created_at.isoformat())
    await a.disconnect()
    await b.disconnect()


async def test_resume_after_a_disconnect_replays_exactly_the_missed_messages_in_order(
    conversation, entrepreneur, mentor
):
    a, b = await pair(conversation, entrepreneur, mentor)
    for i in (1, 2):
        await send_message(b, f"avant {i}", f"before-{i}")
        await next_message(a)
    await a.disconnect()  # the phone drops its connection
    for i in (3, 4, 5):
        await send_message(b, f"pendant {i}", f"during-{i}")
    a2, connected, _ = await connect(entrepreneur, conversation.pk, query="after_seq=2")
    assert connected
    frames = await frames_until(a2, "resumed")
    assert frames[0]["type"] == "hello" and frames[0]["last_seq"] == 5
    assert [(f["seq"], f["body"]) for f in frames[1:-1]] == [(3, "pendant 3"), (4, "pendant 4"), (5, "pendant 5")]
    assert frames[-1] == {"type": "resumed", "after_seq": 2, "last_seq": 5}
    # Live delivery continues after the replay, with no doubles.
    await send_message(b, "après", "after-1")
    assert (await next_message(a2))["seq"] == 6
    assert await a2.receive_nothing(timeout=0.3)
    # An in-band resume re-sends what it is asked for.
    await a2.send_json_to({"type": "resume", "after_seq": 4})
    frames = await frames_until(a2, "resumed")
    assert [f["seq"] for f in frames if f["type"] == "message"] == [5, 6]
    await a2.disconnect()
    await b.disconnect()


async def test_a_lost_doorbell_is_recovered_by_the_next_message_and_by_resume(conversation, entrepreneur, mentor):
    """Fault test: the channel layer drops message broadcasts; the database still has them."""
    a, b = await pair(conversation, entrepreneur, mentor)
    layer = get_channel_layer()
    real_group_send = layer.group_send
    dropping = {"on": True}

    async def lossy_group_send(group, message):
        if dropping["on"] and message.get("type") == "chat.message":
            return  # lost, as channels' layers may lose it (over capacity, Redis restarted)
        await real_group_send(group, message)

    layer.group_send = lossy_group_send
    try:
        for i in (1, 2, 3):
            await send_message(a, f"perdu {i}", f"lost-{i}")
        assert await b.receive_nothing(timeout=0.3)  # nothing rang
        # The client resumes after the last number it saw (0): every message comes back, in order.
        await b.send_json_to({"type": "resume", "after_seq": 0})
        frames = await frames_until(b, "resumed")
        assert [f["body"] for f in frames if f["type"] == "message"] == ["perdu 1", "perdu 2", "perdu 3"]
        # A lost doorbell followed by a delivered one: the socket fills the gap from the database.
        await send_message(a, "perdu 4", "lost-4")
        dropping["on"] = False
        await send_message(a, "reçu 5", "ok-5")
        assert [(await next_message(b))["seq"] for _ in range(2)] == [4, 5]
        assert await b.receive_nothing(timeout=0.3)
    finally:
        layer.group_send = real_group_send
    bodies = await sync_to_async(lambda: list(Message.objects.order_by("seq").values_list("body", flat=True)))()
    assert bodies == ["perdu 1", "perdu 2", "perdu 3", "perdu 4", "reçu 5"]
    await a.disconnect()
    await b.disconnect()


async def test_the_heartbeat_delivers_what_lost_doorbells_left_behind_and_closes_an_ended_conversation(
    settings, conversation, entrepreneur, mentor
):
    settings.CHAT_HEARTBEAT_SECONDS = 1
    a, b = await pair(conversation, entrepreneur, mentor)
    layer = get_channel_layer()
    real = layer.group_send

    async def drop(group, message):
        return None  # every doorbell lost

    layer.group_send = drop
    try:
        await sync_to_async(services.message_send)(
            user=entrepreneur, conversation=conversation, client_id="silent", body="silencieux"
        )
        received = await b.receive_json_from(timeout=3)
        assert received["type"] == "message" and received["body"] == "silencieux"
        await sync_to_async(services.conversation_close_for_match)(match=conversation.match)
        assert (await b.receive_output(timeout=4)) == {"type": "websocket.close", "code": CLOSE_CONVERSATION_ENDED}
    finally:
        layer.group_send = real


# --- Read receipts and typing --------------------------------------------------------------------


async def test_reading_and_typing_reach_the_other_member(conversation, entrepreneur, mentor):
    a, b = await pair(conversation, entrepreneur, mentor)
    for i in range(3):
        await send_message(a, f"m{i}", f"u{i}")
    await b.send_json_to({"type": "read", "up_to_seq": 2})
    assert (await frames_until(b, "read"))[-1] == {"type": "read", "user_id": mentor.pk, "up_to_seq": 2}
    assert (await frames_until(a, "read"))[-1] == {"type": "read", "user_id": mentor.pk, "up_to_seq": 2}
    summary = await sync_to_async(selectors.conversation_summary_get_for_user)(
        user=mentor, conversation_id=conversation.pk
    )
    assert summary.unread_count == 1

    await a.send_json_to({"type": "typing"})
    assert (await frames_until(b, "typing"))[-1] == {"type": "typing", "user_id": entrepreneur.pk}
    assert await a.receive_nothing(timeout=0.3)  # typing is not echoed to the one typing
    await a.disconnect()
    await b.disconnect()


# --- Ending and removal --------------------------------------------------------------------------


async def test_ending_the_match_closes_every_socket_and_a_member_reconnecting_is_told_it_ended(
    conversation, entrepreneur, mentor
):
    a, b = await pair(conversation, entrepreneur, mentor)
    await sync_to_async(services.conversation_close_for_match)(match=conversation.match)
    for communicator in (a, b):
        assert (await communicator.receive_output(timeout=3)) == {
            "type": "websocket.close", "code": CLOSE_CONVERSATION_ENDED,
        }
    again, connected, _ = await connect(entrepreneur, conversation.pk)
    assert connected
    assert (await again.receive_output(timeout=3)) == {"type": "websocket.close", "code": CLOSE_CONVERSATION_ENDED}


async def test_a_removed_member_is_disconnected_and_the_other_stays(conversation, entrepreneur, mentor):
    a, b = await pair(conversation, entrepreneur, mentor)
    await sync_to_async(services.conversation_member_remove)(conversation=conversation, user=mentor)
    assert (await b.receive_output(timeout=3)) == {"type": "websocket.close", "code": CLOSE_NOT_MEMBER}
    ack = await send_message(a, "Toujours là", "still")
    assert ack["seq"] == 1
    _, connected, _ = await connect(mentor, conversation.pk)
    assert not connected
    await a.disconnect()


# --- Bad input and rate limit ----------------------------------------------------------------------

HOSTILE_FRAMES = [
    ("ceci n'est pas du JSON", "invalid_json", None),
    ("[1, 2]", "invalid_frame", None),
    ('{"type": "fly"}', "unknown_type", "type"),
    ("{}", "unknown_type", "type"),
    ('{"type": "send", "body": "sans id"}', "invalid", "client_id"),
    ('{"type": "send", "client_id": "c1"}', "invalid", "body"),
    ('{"type": "send", "client_id": "c1", "body": ["liste"]}', "invalid", "body"),
    ('{"type": "send", "client_id": {"a": 1}, "body": "x"}', "invalid", "client_id"),
    (json.dumps({"type": "send", "client_id": "c1", "body": "x" * 4001}), "invalid", "body"),
    ('{"type": "send", "client_id": "c1", "body": "nul\\u0000"}', "invalid", "body"),
    ('{"type": "read", "up_to_seq": "3"}', "invalid", "up_to_seq"),
    ('{"type": "read", "up_to_seq": true}', "invalid", "up_to_seq"),
    ('{"type": "resume", "after_seq": -1}', "invalid", "after_seq"),
    ('{"type": "resume", "after_seq": 1e309}', "invalid", "after_seq"),
    ("[" * 10000, "invalid_json", None),
]


async def test_hostile_frames_get_error_frames_write_nothing_and_leave_the_server_unharmed(conversation, entrepreneur):
    a, connected, _ = await connect(entrepreneur, conversation.pk)
    await hello(a)
    for raw, code, field in HOSTILE_FRAMES:
        await a.send_to(text_data=raw)
        error = await a.receive_json_from(timeout=3)
        assert (error["type"], error["code"], error.get("field")) == ("error", code, field), raw[:60]
        assert error["message"]
    await a.send_to(bytes_data=b"\x00\x01")
    assert (await a.receive_json_from(timeout=3))["code"] == "invalid_frame"
    assert await sync_to_async(Message.objects.count)() == 0
    await a.send_json_to({"type": "ping"})
    assert await a.receive_json_from(timeout=3) == {"type": "pong"}
    assert (await send_message(a, "toujours en service", "alive"))["seq"] == 1
    await next_message(a)  # its own message event
    # A frame over 64 KB is refused and the socket closed with 1009.
    await a.send_to(text_data=json.dumps({"type": "send", "client_id": "big", "body": "x" * 70000}))
    assert (await a.receive_json_from(timeout=3))["code"] == "frame_too_large"
    assert (await a.receive_output(timeout=3)) == {"type": "websocket.close", "code": CLOSE_FRAME_TOO_LARGE}
    assert await sync_to_async(Message.objects.count)() == 1


async def test_flooding_gets_a_rate_limited_error_frame_with_a_delay(settings, conversation, entrepreneur):
    settings.CHAT_RATE_LIMIT_MESSAGES = 3
    settings.CHAT_RATE_LIMIT_WINDOW_SECONDS = 60
    a, connected, _ = await connect(entrepreneur, conversation.pk)
    await hello(a)
    for i in range(3):
        await send_message(a, "flot", f"f{i}")
    await a.send_json_to({"type": "send", "client_id": "f3", "body": "de trop"})
    frames = await frames_until(a, "error")
    assert frames[-1]["code"] == "rate_limited" and frames[-1]["client_id"] == "f3"
    assert 1 <= frames[-1]["retry_after"] <= 60
    assert await sync_to_async(Message.objects.count)() == 3
    await a.disconnect()


# --- Through the cycles app ----------------------------------------------------------------------


async def test_accepting_a_match_opens_its_conversation_and_ending_it_closes_the_sockets(entrepreneur, mentor):
    from chat.models import Conversation
    from cycles.models import MatchStatus
    from cycles.services import match_accept, match_end
    from tests.backend.chat.conftest import active_match

    def pending_match_accepted_by_both():
        match = active_match(entrepreneur, mentor)
        type(match).objects.filter(pk=match.pk).update(status=MatchStatus.PENDING)
        match.refresh_from_db()
        match_accept(actor=entrepreneur, match=match)
        match_accept(actor=mentor, match=match)
        return match, Conversation.objects.get(match=match)

    match, conversation = await sync_to_async(pending_match_accepted_by_both)()
    a, b = await pair(conversation, entrepreneur, mentor)
    await send_message(a, "Au revoir", "bye")
    await sync_to_async(match_end)(match=match, actor=mentor, status=MatchStatus.COMPLETED, reason="")
    for communicator in (a, b):
        frames = []
        while (output := await communicator.receive_output(timeout=3))["type"] == "websocket.send":
            frames.append(json.loads(output["text"]))
        assert output == {"type": "websocket.close", "code": CLOSE_CONVERSATION_ENDED}
        assert {f["seq"] for f in frames if f["type"] == "message"} <= {1}
    assert await sync_to_async(lambda: Conversation.objects.get(pk=conversation.pk).closed_at is not None)()
