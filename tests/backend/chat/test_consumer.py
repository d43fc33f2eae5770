"""The conversation socket, driven through the real ASGI application (Origin validator, session
auth, routing) with Channels' WebsocketCommunicator and the in-memory layer."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

from chat import services
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


async def test_an_anonymous_socket_is_refused_before_accept(conversation):
    communicator, connected, _ = await connect(None, conversation.pk)
    assert not connected


async def test_a_socket_from_a_foreign_origin_is_refused_before_accept(conversation, entrepreneur):
    communicator, connected, _ = await connect(entrepreneur, conversation.pk, origin=b"https://evil.example")
    assert not connected


async def test_a_socket_without_origin_is_refused(conversation, entrepreneur):
    communicator, connected, _ = await connect(entrepreneur, conversation.pk, origin=None)
    assert not connected


@pytest.fixture(params=["other_entrepreneur", "other_mentor", "coordinator", "administrator"])
def outsider(request):
    return request.getfixturevalue(request.param)


async def test_someone_who_is_not_a_member_is_refused_before_accept(conversation, outsider):
    communicator, connected, _ = await connect(outsider, conversation.pk)
    assert not connected


async def test_an_unknown_conversation_is_refused_like_a_foreign_one(entrepreneur, conversation):
    communicator, connected, _ = await connect(entrepreneur, conversation.pk + 1000)
    assert not connected


async def test_a_member_of_an_ended_conversation_is_told_it_ended(conversation, entrepreneur):
    await sync_to_async(services.conversation_close_for_match)(match=conversation.match)
    communicator, connected, _ = await connect(entrepreneur, conversation.pk)
    assert connected
    assert (await communicator.receive_output(timeout=3)) == {"type": "websocket.close", "code": CLOSE_CONVERSATION_ENDED}


# --- Sending and receiving -----------------------------------------------------------------------


async def test_a_message_is_acknowledged_with_its_number_and_reaches_the_other_member(conversation, entrepreneur, mentor):
    a, b = await pair(conversation, entrepreneur, mentor)
    ack = await send_message(a, "Bonjour Sophie", "m-1")
    assert ack["seq"] == 1 and ack["duplicate"] is False and ack["client_id"] == "m-1"
    received = await next_message(b)
    assert received == {
        "type": "message", "id": ack["id"], "seq": 1, "sender_id": entrepreneur.pk, "client_id": "m-1",
        "body": "Bonjour Sophie", "created_at": ack["created_at"],
    }
    stored = await sync_to_async(Message.objects.get)(pk=ack["id"])
    assert stored.body == "Bonjour Sophie"
    await a.disconnect()
    await b.disconnect()


async def test_the_same_client_id_sent_three_times_makes_one_row_and_one_event(conversation, entrepreneur, mentor):
    a, b = await pair(conversation, entrepreneur, mentor)
    acks = [await send_message(a, "Une fois", "same") for _ in range(3)]
    assert {ack["id"] for ack in acks} == {acks[0]["id"]}
    assert [ack["duplicate"] for ack in acks] == [False, True, True]
    assert (await next_message(b))["seq"] == 1
    assert await b.receive_nothing(timeout=0.3)
    assert await sync_to_async(Message.objects.count)() == 1
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
    await a2.disconnect()
    await b.disconnect()


async def test_an_in_band_resume_frame_replays_from_the_given_number(conversation, entrepreneur, mentor):
    a, b = await pair(conversation, entrepreneur, mentor)
    for i in range(3):
        await send_message(a, f"m{i}", f"r{i}")
    await a.send_json_to({"type": "resume", "after_seq": 1})
    frames = await frames_until(a, "resumed")
    assert [f["seq"] for f in frames if f["type"] == "message" and f["seq"] > 1][-2:] == [2, 3]
    assert frames[-1]["last_seq"] == 3
    await a.disconnect()
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


async def test_the_heartbeat_delivers_what_a_lost_doorbell_left_behind(settings, conversation, entrepreneur, mentor):
    settings.CHAT_HEARTBEAT_SECONDS = 1
    a, b = await pair(conversation, entrepreneur, mentor)
    # Written by another process whose broadcast never arrived.
    await sync_to_async(lambda: [Message.objects.create(
        conversation=conversation, seq=1, sender=entrepreneur, client_id="silent", body="silencieux"
    ), type(conversation).objects.filter(pk=conversation.pk).update(last_seq=1)])()
    received = await b.receive_json_from(timeout=3)
    assert received["type"] == "message" and received["body"] == "silencieux"
    await a.disconnect()
    await b.disconnect()


# --- Read receipts and typing --------------------------------------------------------------------


async def test_reading_tells_the_other_member_and_moves_the_unread_count(conversation, entrepreneur, mentor):
    a, b = await pair(conversation, entrepreneur, mentor)
    for i in range(3):
        await send_message(a, f"m{i}", f"u{i}")
    await b.send_json_to({"type": "read", "up_to_seq": 2})
    own = await frames_until(b, "read")
    assert own[-1] == {"type": "read", "user_id": mentor.pk, "up_to_seq": 2}
    other = await frames_until(a, "read")
    assert other[-1] == {"type": "read", "user_id": mentor.pk, "up_to_seq": 2}
    summary = await sync_to_async(
        lambda: __import__("chat.selectors", fromlist=["x"]).conversation_summary_get_for_user(
            user=mentor, conversation_id=conversation.pk
        )
    )()
    assert summary.unread_count == 1
    await a.disconnect()
    await b.disconnect()


async def test_typing_reaches_the_other_member_only(conversation, entrepreneur, mentor):
    a, b = await pair(conversation, entrepreneur, mentor)
    await a.send_json_to({"type": "typing"})
    assert await b.receive_json_from(timeout=3) == {"type": "typing", "user_id": entrepreneur.pk}
    assert await a.receive_nothing(timeout=0.3)
    await a.disconnect()
    await b.disconnect()


# --- Ending and removal --------------------------------------------------------------------------


async def test_ending_the_match_closes_every_open_socket_with_the_ended_code(conversation, entrepreneur, mentor):
    a, b = await pair(conversation, entrepreneur, mentor)
    await sync_to_async(services.conversation_close_for_match)(match=conversation.match)
    for communicator in (a, b):
        assert (await communicator.receive_output(timeout=3)) == {
            "type": "websocket.close", "code": CLOSE_CONVERSATION_ENDED,
        }


async def test_a_removed_member_is_disconnected_and_the_other_stays(conversation, entrepreneur, mentor):
    a, b = await pair(conversation, entrepreneur, mentor)
    await sync_to_async(services.conversation_member_remove)(conversation=conversation, user=mentor)
    assert (await b.receive_output(timeout=3)) == {"type": "websocket.close", "code": CLOSE_NOT_MEMBER}
    ack = await send_message(a, "Toujours là", "still")
    assert ack["seq"] == 1
    await a.disconnect()


async def test_a_lost_end_doorbell_still_closes_the_socket_at_the_next_heartbeat(settings, conversation, entrepreneur):
    settings.CHAT_HEARTBEAT_SECONDS = 1
    a, connected, _ = await connect(entrepreneur, conversation.pk)
    await hello(a)
    layer = get_channel_layer()
    real = layer.group_send

    async def drop(group, message):
        return None

    layer.group_send = drop
    try:
        await sync_to_async(services.conversation_close_for_match)(match=conversation.match)
    finally:
        layer.group_send = real
    assert (await a.receive_output(timeout=4)) == {"type": "websocket.close", "code": CLOSE_CONVERSATION_ENDED}


# --- Bad input and rate limit ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "code", "field"),
    [
        ("ceci n'est pas du JSON", "invalid_json", None),
        ("[1, 2]", "invalid_frame", None),
        ('{"type": "fly"}', "unknown_type", "type"),
        ("{}", "unknown_type", "type"),
        ('{"type": "send", "body": "sans id"}', "invalid", "client_id"),
        ('{"type": "send", "client_id": "c1"}', "invalid", "body"),
        ('{"type": "send", "client_id": "c1", "body": ["liste"]}', "invalid", "body"),
        ('{"type": "send", "client_id": {"a": 1}, "body": "x"}', "invalid", "client_id"),
        (json.dumps({"type": "send", "client_id": "c1", "body": "x" * 4001}), "invalid", "body"),
        ('{"type": "read", "up_to_seq": "3"}', "invalid", "up_to_seq"),
        ('{"type": "read", "up_to_seq": true}', "invalid", "up_to_seq"),
        ('{"type": "resume", "after_seq": -1}', "invalid", "after_seq"),
        ('{"type": "resume", "after_seq": 1e309}', "invalid", "after_seq"),
        ("[" * 100000, "frame_too_large", None),
    ],
)
async def test_a_hostile_frame_gets_an_error_frame_and_writes_nothing(conversation, entrepreneur, raw, code, field):
    a, connected, _ = await connect(entrepreneur, conversation.pk)
    await hello(a)
    await a.send_to(text_data=raw)
    error = await a.receive_json_from(timeout=3)
    assert error["type"] == "error" and error["code"] == code and error["message"]
    assert error.get("field") == field
    assert await sync_to_async(Message.objects.count)() == 0
    if code == "frame_too_large":
        assert (await a.receive_output(timeout=3)) == {"type": "websocket.close", "code": CLOSE_FRAME_TOO_LARGE}
        return
    assert (await send_message(a, "toujours en service", "alive"))["seq"] == 1  # the server is unharmed
    await a.disconnect()


async def test_a_binary_frame_is_refused(conversation, entrepreneur):
    a, connected, _ = await connect(entrepreneur, conversation.pk)
    await hello(a)
    await a.send_to(bytes_data=b"\x00\x01")
    assert (await a.receive_json_from(timeout=3))["code"] == "invalid_frame"
    await a.disconnect()


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


async def test_ping_gets_pong(conversation, entrepreneur):
    a, connected, _ = await connect(entrepreneur, conversation.pk)
    await hello(a)
    await a.send_json_to({"type": "ping"})
    assert await a.receive_json_from(timeout=3) == {"type": "pong"}
    await a.disconnect()


async def test_many_concurrent_sends_get_distinct_gapless_numbers(conversation, entrepreneur, mentor):
    a, b = await pair(conversation, entrepreneur, mentor)
    for i in range(10):
        await a.send_json_to({"type": "send", "client_id": f"a{i}", "body": "a"})
        await b.send_json_to({"type": "send", "client_id": f"b{i}", "body": "b"})
    seqs = await sync_to_async(lambda: sorted(Message.objects.values_list("seq", flat=True)))()
    for _ in range(50):
        if len(seqs) == 20:
            break
        await asyncio.sleep(0.1)
        seqs = await sync_to_async(lambda: sorted(Message.objects.values_list("seq", flat=True)))()
    assert seqs == list(range(1, 21))
    await a.disconnect()
    await b.disconnect()
