"""The chat against real Daphne processes, driven by the ``websockets`` client: what a phone
sees when the network or the server goes away. The PostgreSQL + Redis run adds the scale-out
proof: two Daphne processes, one database, one Redis."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import urllib.request
from http.cookiejar import CookieJar

import pytest
from django.conf import settings
from django.db import connection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from benchmarks import chat_live

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.slow]


@pytest.fixture
def live_db_url(tmp_path):
    """A database URL the Daphne subprocesses share with this test: the PostgreSQL test database
    itself, or a file copy of the SQLite in-memory test database (already migrated)."""
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        return f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    path = tmp_path / "live.sqlite3"
    connection.ensure_connection()
    target = sqlite3.connect(path)
    connection.connection.backup(target)
    target.close()
    return f"sqlite:///{path}"


@pytest.fixture
def env(live_db_url, tmp_path):
    return chat_live.server_env(live_db_url, getattr(settings, "REDIS_URL", None), CHAT_HEARTBEAT_SECONDS="2")


@pytest.fixture
def servers(tmp_path):
    started = []

    def start(env):
        port = chat_live.free_port()
        proc = chat_live.start_daphne(port, env, log=tmp_path / f"daphne-{port}.log")
        started.append(proc)
        return port, proc

    yield start
    for proc in started:
        chat_live.stop(proc)


def ws_url(port, conversation_id, after_seq=None):
    query = f"?after_seq={after_seq}" if after_seq is not None else ""
    return f"ws://127.0.0.1:{port}/ws/conversations/{conversation_id}/{query}"


def open_socket(port, conversation_id, cookie, after_seq=None, origin=None):
    return ws_connect(
        ws_url(port, conversation_id, after_seq),
        origin=origin or f"http://127.0.0.1:{port}",
        additional_headers={"Cookie": cookie},
        open_timeout=10,
    )


def cookie_of(seeded, member):
    return f"{seeded['session_cookie']}={seeded['pairs'][0][member]['session']}"


class Client:
    """A socket with a background reader: every frame is kept, in arrival order."""

    def __init__(self, ws):
        self.ws = ws
        self.frames: list[dict] = []
        self.reader = asyncio.create_task(self._read())

    async def _read(self):
        try:
            async for raw in self.ws:
                self.frames.append(json.loads(raw))
        except ConnectionClosed:
            pass

    def of(self, kind):
        return [f for f in self.frames if f["type"] == kind]

    @property
    def messages(self):
        return self.of("message")

    async def wait(self, predicate, timeout=10):
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out; frames: {self.frames[-5:]}")
            await asyncio.sleep(0.02)

    async def send(self, body, client_id):
        before = len(self.of("ack"))
        await self.ws.send(json.dumps({"type": "send", "client_id": client_id, "body": body}))
        await self.wait(lambda: len(self.of("ack")) > before)
        ack = self.of("ack")[before]
        assert ack["client_id"] == client_id
        return ack

    async def wait_messages(self, count):
        await self.wait(lambda: len(self.messages) >= count)
        return self.messages

    async def wait_closed(self, timeout=10):
        await asyncio.wait_for(asyncio.shield(self.reader), timeout)


def transcript(env, conversation_id):
    return [(seq, body) for seq, _sender, _cid, body in chat_live.dump(env, [conversation_id])[str(conversation_id)]]


def seqs_and_bodies(frames):
    return [(m["seq"], m["body"]) for m in frames]


async def test_a_real_daphne_process_survives_a_crash_and_loses_no_message(env, servers):
    seeded = await asyncio.to_thread(chat_live.seed, env, 1)
    cid = seeded["pairs"][0]["conversation_id"]
    port, proc = await asyncio.to_thread(servers, env)

    # A foreign Origin and a missing session are refused at the handshake.
    with pytest.raises(InvalidStatus):
        async with open_socket(port, cid, cookie_of(seeded, "a"), origin="https://evil.example"):
            pass
    with pytest.raises(InvalidStatus):
        async with open_socket(port, cid, "sessionid=nope"):
            pass

    async with open_socket(port, cid, cookie_of(seeded, "a")) as wa, open_socket(port, cid, cookie_of(seeded, "b")) as wb:
        a, b = Client(wa), Client(wb)
        await a.wait(lambda: a.of("hello"))
        await b.wait(lambda: b.of("hello"))
        for i in range(3):
            assert (await a.send(f"avant la panne {i}", f"a-{i}"))["seq"] == i + 1
        await b.wait_messages(3)
        await wa.send("pas du JSON")
        await a.wait(lambda: a.of("error"))
        assert a.of("error")[0]["code"] == "invalid_json"
        ack = await a.send("idempotent", "a-0")
        assert ack["duplicate"] is True and ack["seq"] == 1
        # The server crashes: both sockets drop.
        await asyncio.to_thread(chat_live.stop, proc, kill=True)
        await b.wait_closed()
        seen_b = list(b.messages)

    port2, _ = await asyncio.to_thread(servers, env)
    async with open_socket(port2, cid, cookie_of(seeded, "a")) as wa:
        a = Client(wa)
        for i in range(3, 6):
            await a.send(f"après la panne {i}", f"a-{i}")
        async with open_socket(port2, cid, cookie_of(seeded, "b"), after_seq=seen_b[-1]["seq"]) as wb:
            b = Client(wb)
            await b.wait(lambda: b.of("resumed"))
            await a.send("en direct", "a-6")
            await b.wait_messages(4)
            await asyncio.sleep(0.3)  # room for a double to show up
            seen_b += b.messages
    stored = await asyncio.to_thread(transcript, env, cid)
    assert [m["seq"] for m in seen_b] == list(range(1, 8))  # every message once, in order
    assert seqs_and_bodies(seen_b) == stored


@pytest.mark.postgres
@pytest.mark.redis
async def test_two_daphne_processes_share_logins_messages_and_take_over_after_a_crash(env, servers):
    seeded = await asyncio.to_thread(chat_live.seed, env, 1)
    pair = seeded["pairs"][0]
    cid = pair["conversation_id"]
    (port_a, proc_a), (port_b, _) = await asyncio.gather(
        asyncio.to_thread(servers, env), asyncio.to_thread(servers, env)
    )

    # A login made on the first process is valid on the second (sessions are in PostgreSQL).
    def login_then_me() -> tuple[str, dict]:
        jar = CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        body = json.dumps({"email": pair["a"]["email"], "password": seeded["password"]}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port_a}/api/auth/login/", body, {"Content-Type": "application/json"}
        )
        assert opener.open(request, timeout=10).status == 200
        session = next(c.value for c in jar if c.name == seeded["session_cookie"])
        me = urllib.request.Request(
            f"http://127.0.0.1:{port_b}/api/me/", headers={"Cookie": f"{seeded['session_cookie']}={session}"}
        )
        with urllib.request.urlopen(me, timeout=10) as response:
            return session, json.loads(response.read())

    session, me = await asyncio.to_thread(login_then_me)
    assert me["id"] == pair["a"]["user_id"]
    cookie_a = f"{seeded['session_cookie']}={session}"

    async with open_socket(port_a, cid, cookie_a) as wa, open_socket(port_b, cid, cookie_of(seeded, "b")) as wb:
        a, b = Client(wa), Client(wb)
        await a.wait(lambda: a.of("hello"))
        await b.wait(lambda: b.of("hello"))
        # A message from a client on the first process reaches a client on the second, and back.
        await a.send("de A vers B", "a-1")
        assert [m["body"] for m in await b.wait_messages(1)] == ["de A vers B"]
        await b.send("de B vers A", "b-1")
        assert [m["body"] for m in await a.wait_messages(2)] == ["de A vers B", "de B vers A"]

        # The first process dies; its client reconnects to the second and resumes.
        await asyncio.to_thread(chat_live.stop, proc_a, kill=True)
        await a.wait_closed()
        seen_a = list(a.messages)
        for i in range(2, 6):
            await b.send(f"pendant la coupure {i}", f"b-{i}")
        async with open_socket(port_b, cid, cookie_a, after_seq=seen_a[-1]["seq"]) as wa2:
            a2 = Client(wa2)
            await a2.wait(lambda: a2.of("resumed"))
            await b.send("de nouveau en direct", "b-6")
            await a2.send("A est revenu", "a-2")
            await b.wait(lambda: any(m["body"] == "A est revenu" for m in b.messages))
            await a2.wait_messages(6)
            await asyncio.sleep(0.3)  # room for a double to show up
            seen_a += a2.messages
    stored = await asyncio.to_thread(transcript, env, cid)
    assert len(stored) == 8
    assert [m["seq"] for m in seen_a] == list(range(1, 9))  # nothing lost, nothing doubled
    assert seqs_and_bodies(seen_a) == stored
