"""Chat load benchmark: N concurrent pairs against one or two Daphne processes, PostgreSQL and
Redis, compared with a minimal consumer that stores nothing, in the same run.

    .venv/bin/python benchmarks/chat.py --pairs 100 --rates 300 --duration 20

Measures, per configuration: messages sent, acknowledged, persisted (counted in PostgreSQL) and
delivered to the other member; delivered per second; delivery latency p50/p99/max (send to the
peer's receipt, one clock: the generator); lost (acknowledged, never delivered to the peer) and
doubled (one sequence number, or one client id for the minimal consumer, delivered twice to one
socket). Bounded: every run stops after --duration seconds plus a drain of at most --drain seconds;
everything listens on 127.0.0.1 and is stopped by pid at the end. Results: benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from websockets.asyncio.client import connect as ws_connect  # noqa: E402

from benchmarks import chat_live  # noqa: E402

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/sociallab_bench_chat"
DEFAULT_REDIS = "redis://127.0.0.1:6379/4"


@dataclass
class Stats:
    sent: int = 0
    acked: int = 0
    delivered: int = 0
    doubled: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    handshake_failures: int = 0
    latencies: list[float] = field(default_factory=list)
    ack_latencies: list[float] = field(default_factory=list)  # send -> own ack (chat only)
    loop_lags: list[float] = field(default_factory=list)  # the generator's own event-loop lag
    send_times: dict[tuple[int, str], float] = field(default_factory=dict)
    acked_ids: set[tuple[int, str]] = field(default_factory=set)
    delivered_ids: set[tuple[int, str]] = field(default_factory=set)


class Socket:
    def __init__(self, stats: Stats, conversation_id: int, user_id: int, minimal: bool) -> None:
        self.stats = stats
        self.cid = conversation_id
        self.user_id = user_id
        self.minimal = minimal
        self.seen: set[Any] = set()
        self.ws: Any = None
        self.ready = asyncio.Event()

    async def run(self, url: str, origin: str, cookie: str | None, stop: asyncio.Event) -> None:
        headers = {"Cookie": cookie} if cookie else {}
        try:
            self.ws = await ws_connect(url, origin=origin, additional_headers=headers, open_timeout=30,
                                       max_queue=None, ping_interval=None)
        except Exception:  # noqa: BLE001 - counted, reported
            self.stats.handshake_failures += 1
            self.ready.set()
            return
        try:
            async for raw in self.ws:
                self.on_frame(json.loads(raw))
        except Exception:  # noqa: BLE001 - closed at the end of the run
            pass

    def on_frame(self, frame: dict[str, Any]) -> None:
        kind = frame["type"]
        stats = self.stats
        if kind == "hello":
            self.ready.set()
        elif kind == "ack":
            stats.acked += 1
            ident = (self.cid, frame["client_id"])
            stats.acked_ids.add(ident)
            sent_at = stats.send_times.get(ident)
            if sent_at is not None and not frame.get("duplicate"):
                stats.ack_latencies.append(time.perf_counter() - sent_at)
        elif kind == "message":
            key = frame["client_id"] if self.minimal else frame["seq"]
            if key in self.seen:
                stats.doubled += 1
                return
            self.seen.add(key)
            if frame["sender_id"] != self.user_id:
                ident = (self.cid, frame["client_id"])
                stats.delivered += 1
                stats.delivered_ids.add(ident)
                sent_at = stats.send_times.get(ident)
                if sent_at is not None:
                    stats.latencies.append(time.perf_counter() - sent_at)
        elif kind == "error":
            stats.errors[frame["code"]] = stats.errors.get(frame["code"], 0) + 1

    async def send(self, client_id: str) -> None:
        if self.ws is None:
            return
        self.stats.send_times[(self.cid, client_id)] = time.perf_counter()
        self.stats.sent += 1
        if self.minimal:
            self.stats.acked += 1  # no acknowledgement in the minimal consumer: sent counts
            self.stats.acked_ids.add((self.cid, client_id))
        try:
            await self.ws.send(json.dumps({"type": "send", "client_id": client_id, "body": f"bench {client_id}"}))
        except Exception:  # noqa: BLE001
            self.stats.errors["send_failed"] = self.stats.errors.get("send_failed", 0) + 1


async def drive(ports: list[int], seeded: dict[str, Any], *, rate: float, duration: float, drain: float,
                minimal: bool, run_tag: str, on_ready: Any = None) -> Stats:
    stats = Stats()
    stop = asyncio.Event()
    sockets: list[tuple[Socket, asyncio.Task[None]]] = []
    cookie_name = seeded["session_cookie"]
    for i, pair in enumerate(seeded["pairs"]):
        for j, side in enumerate(("a", "b")):
            port = ports[(i + j) % len(ports)]  # with two servers, every pair spans both
            member = pair[side]
            query = f"?u={member['user_id']}" if minimal else ""
            url = f"ws://127.0.0.1:{port}/ws/conversations/{pair['conversation_id']}/{query}"
            sock = Socket(stats, pair["conversation_id"], member["user_id"], minimal)
            cookie = None if minimal else f"{cookie_name}={member['session']}"
            task = asyncio.create_task(sock.run(url, f"http://127.0.0.1:{port}", cookie, stop))
            sockets.append((sock, task))
        if i % 10 == 9:
            await asyncio.sleep(0.05)  # open in small batches, like users arriving
    await asyncio.wait_for(asyncio.gather(*(s.ready.wait() for s, _ in sockets)), 60)
    live = [s for s, _ in sockets if s.ws is not None]
    if on_ready is not None:
        on_ready()
    per_socket = rate / max(1, len(live))
    start = time.perf_counter()

    async def sender(sock: Socket, index: int) -> None:
        k = 0
        t = start + random.random() / per_socket  # spread the first sends
        while t < start + duration:
            await asyncio.sleep(max(0.0, t - time.perf_counter()))
            await sock.send(f"{run_tag}-{index}-{k}")
            k += 1
            t += 1.0 / per_socket

    async def lag_probe() -> None:
        # How late the generator's own loop wakes up: its lag is in every latency it measures.
        while time.perf_counter() < start + duration:
            before = time.perf_counter()
            await asyncio.sleep(0.005)
            stats.loop_lags.append(time.perf_counter() - before - 0.005)

    cpu_start = time.process_time()
    await asyncio.gather(lag_probe(), *(sender(s, n) for n, s in enumerate(live)))
    stats.generator_cpu = time.process_time() - cpu_start  # type: ignore[attr-defined]
    # Drain: wait until every acknowledged message reached its peer, or the drain time is over.
    deadline = time.perf_counter() + drain
    while time.perf_counter() < deadline and not stats.acked_ids <= stats.delivered_ids:
        await asyncio.sleep(0.1)
    if not minimal:  # acknowledgements still in flight
        while time.perf_counter() < deadline and stats.acked < stats.sent - sum(stats.errors.values()):
            await asyncio.sleep(0.1)
    stats.elapsed = time.perf_counter() - start  # type: ignore[attr-defined]
    for sock, task in sockets:
        if sock.ws is not None:
            await sock.ws.close()
        task.cancel()
    return stats


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument("--rates", default="300", help="offered messages/s, comma-separated")
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--drain", type=float, default=20)
    parser.add_argument("--servers", default="1,2", help="Daphne process counts to run, e.g. 1,2")
    parser.add_argument("--layer", default="pubsub", choices=["pubsub", "core"])
    parser.add_argument("--no-minimal", action="store_true", help="skip the minimal-consumer baseline")
    parser.add_argument("--database-url", default=DEFAULT_DB)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS)
    parser.add_argument("--logs", default="/tmp/chat-bench-logs")
    parser.add_argument("--profile", metavar="DIR", help="run the chat's Daphne under yappi, profiles in DIR "
                        "(yappi importable through PYTHONPATH; see benchmarks/chat_profile.py)")
    args = parser.parse_args()
    assert args.duration <= 120 and args.pairs <= 500, "bounded benchmark: at most 120 s and 500 pairs"

    logs = Path(args.logs)
    logs.mkdir(parents=True, exist_ok=True)
    env = chat_live.server_env(
        args.database_url, args.redis_url, DEBUG="0", CHANNEL_LAYER=args.layer, CHANNEL_LAYER_PREFIX="bench",
        CHAT_RATE_LIMIT_MESSAGES="1000", **({"CHAT_PROFILE_ON_SIGNAL": "1"} if args.profile else {}),
    )
    ensure_database(args.database_url)
    chat_live.manage(["migrate", "--noinput", "-v0"], env, timeout=900)
    print(f"seeding {args.pairs} pairs…", file=sys.stderr)
    seeded = chat_live.seed(env, args.pairs)
    conversation_ids = [p["conversation_id"] for p in seeded["pairs"]]

    rows = []
    configs = [("chat", int(n)) for n in args.servers.split(",")]
    if not args.no_minimal:
        configs.append(("minimal", 1))
    for rate in [float(r) for r in args.rates.split(",")]:
        for kind, count in configs:
            minimal = kind == "minimal"
            procs = []
            try:
                ports = [chat_live.free_port() for _ in range(count)]
                for port in ports:
                    procs.append(chat_live.start_daphne(
                        port, env, app="benchmarks.chat_minimal_asgi:application" if minimal else "config.asgi:application",
                        log=logs / f"daphne-{kind}-{port}.log",
                        profile=Path(args.profile) / f"{kind}-{count}-{int(rate)}-{port}.prof"
                        if args.profile and not minimal else None,
                    ))
                tag = f"r{int(rate)}{kind[0]}{count}x{random.randrange(10**6)}"
                load_before = os.getloadavg()[0]
                cpu_before = sum(process_cpu_seconds(p.pid) for p in procs)
                profiling = args.profile and not minimal
                stats = asyncio.run(drive(
                    ports, seeded, rate=rate, duration=args.duration, drain=args.drain, minimal=minimal, run_tag=tag,
                    # the profile covers the steady state: from the moment every socket is open
                    on_ready=(lambda ps=procs: [os.kill(p.pid, signal.SIGUSR1) for p in ps]) if profiling else None,
                ))
                server_cpu = sum(process_cpu_seconds(p.pid) for p in procs) - cpu_before
            finally:
                for proc in procs:
                    chat_live.stop(proc)
            if minimal:
                persisted, stored = None, stats.acked_ids
            else:
                stored = {(int(c), row[2]) for c, rows in chat_live.dump(env, conversation_ids).items()
                          for row in rows if row[2].startswith(tag + "-")}
                persisted = len(stored)
            # lost: acknowledged but not in the database (must never happen), or stored but never
            # delivered to the other member before the end of the drain.
            lost_acked = len(stats.acked_ids - stored)
            undelivered = len(stored - stats.delivered_ids)
            rows.append({
                "consumer": kind, "servers": count, "layer": args.layer, "sockets": 2 * args.pairs,
                "offered_per_s": rate, "sent": stats.sent, "acked": stats.acked, "persisted": persisted,
                "delivered": stats.delivered, "delivered_per_s": round(stats.delivered / args.duration, 1),
                "persisted_per_s": round(persisted / args.duration, 1) if persisted is not None else None,
                "p50_ms": round(percentile(stats.latencies, 0.50) * 1000, 1),
                "p99_ms": round(percentile(stats.latencies, 0.99) * 1000, 1),
                "max_ms": round(max(stats.latencies, default=float("nan")) * 1000, 1),
                "ack_p50_ms": round(percentile(stats.ack_latencies, 0.50) * 1000, 1),
                "ack_p99_ms": round(percentile(stats.ack_latencies, 0.99) * 1000, 1),
                "generator_loop_lag_p99_ms": round(percentile(stats.loop_lags, 0.99) * 1000, 1),
                # CPU of this generator process while sending (one core at most: one thread).
                "generator_cpu_share": round(stats.generator_cpu / args.duration, 2),  # type: ignore[attr-defined]
                "lost": lost_acked + undelivered, "acked_not_stored": lost_acked, "undelivered": undelivered,
                "doubled": stats.doubled, "load_avg_1m": round(load_before, 1), "errors": stats.errors,
                "handshake_failures": stats.handshake_failures,
                # CPU of the Daphne processes (all threads) per message sent: less noisy than
                # latency on a shared machine, where other work competes for the two cores.
                "server_cpu_ms_per_msg": round(1000 * server_cpu / max(1, stats.sent), 2),
            })
            print(json.dumps(rows[-1]), file=sys.stderr)
    print_table(rows)


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (every thread), from /proc (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ensure_database(url: str) -> None:
    if not url.startswith("postgres"):
        return
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def print_table(rows: list[dict[str, Any]]) -> None:
    print("| consumer | Daphne | layer | sockets | offered/s | sent | acked | persisted | delivered/s | p50 ms | p99 ms | max ms | lost | doubled | errors | Daphne CPU ms/msg | load |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        errors = ", ".join(f"{k}: {v}" for k, v in r["errors"].items()) or "0"
        if r["handshake_failures"]:
            errors += f", handshakes refused: {r['handshake_failures']}"
        print(f"| {r['consumer']} | {r['servers']} | {r['layer']} | {r['sockets']} | {r['offered_per_s']:g} | {r['sent']} "
              f"| {r['acked']} | {r['persisted'] if r['persisted'] is not None else 'n/a'} | {r['delivered_per_s']} "
              f"| {r['p50_ms']} | {r['p99_ms']} | {r['max_ms']} | {r['lost']} | {r['doubled']} | {errors} | {r['server_cpu_ms_per_msg']} | {r['load_avg_1m']} |")
    chat = [r for r in rows if r["consumer"] == "chat" and r["servers"] == 1]
    base = [r for r in rows if r["consumer"] == "minimal"]
    for c, b in zip(chat, base, strict=False):
        if b["delivered_per_s"] and b["p99_ms"]:
            print(f"\nAt {c['offered_per_s']:g}/s offered, 1 process: chat/minimal delivered ratio "
                  f"{c['delivered_per_s'] / b['delivered_per_s']:.2f}, p99 ratio {c['p99_ms'] / b['p99_ms']:.1f}×")


if __name__ == "__main__":
    main()
