"""Helpers to run the chat against real processes: Daphne servers, seeding pairs, dumping the
database. Used by benchmarks/chat.py and by the real-server tests (tests/backend/chat/).

Every process listens on 127.0.0.1 only and is stopped by its own pid."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BACKEND = REPO / "backend"
PYTHON = sys.executable
DAPHNE = str(Path(PYTHON).with_name("daphne"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(database_url: str, redis_url: str | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_SETTINGS"))}
    env.pop("REDIS_URL", None)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=database_url,
        PYTHONPATH=f"{BACKEND}{os.pathsep}{REPO}",
        LOG_LEVEL=env.get("CHAT_SERVER_LOG_LEVEL", "WARNING"),
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update(extra)
    return env


def start_daphne(port: int, env: dict[str, str], *, app: str = "config.asgi:application", timeout: float = 30,
                 log: Path | None = None, profile: Path | None = None) -> subprocess.Popen[bytes]:
    """Start one Daphne process on 127.0.0.1:``port`` and wait until it accepts connections
    (under yappi, writing ``profile`` when stopped, if given: benchmarks/chat_profile.py)."""
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        ([PYTHON, str(REPO / "benchmarks" / "chat_profile.py"), str(profile)] if profile else [DAPHNE])
        + ["-b", "127.0.0.1", "-p", str(port), app], cwd=BACKEND, env=env, stdout=out, stderr=out,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"daphne on port {port} exited with {proc.returncode} (log: {log})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.1)
    stop(proc)
    raise RuntimeError(f"daphne on port {port} did not start within {timeout}s (log: {log})")


def stop(proc: subprocess.Popen[bytes], *, kill: bool = False) -> None:
    """Stop one process we started (by its pid): SIGKILL to simulate a crash, else SIGTERM."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def manage(args: list[str], env: dict[str, str], timeout: float = 300) -> str:
    done = subprocess.run(
        [PYTHON, str(BACKEND / "manage.py"), *args], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=timeout,
    )
    if done.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def seed(env: dict[str, str], pairs: int, timeout: float = 600) -> dict[str, Any]:
    """Create ``pairs`` active matches with open conversations and a session per member."""
    return _helper(["seed", "--pairs", str(pairs)], env, timeout)


def dump(env: dict[str, str], conversation_ids: list[int], timeout: float = 120) -> dict[str, list[list[Any]]]:
    """Every stored message of these conversations: {conversation_id: [[seq, sender_id, client_id, body]]}."""
    return _helper(["dump", "--conversations", ",".join(map(str, conversation_ids))], env, timeout)


def _helper(args: list[str], env: dict[str, str], timeout: float) -> Any:
    done = subprocess.run(
        [PYTHON, str(REPO / "benchmarks" / "chat_seed.py"), *args], cwd=REPO, env=env, capture_output=True,
        text=True, timeout=timeout,
    )
    if done.returncode:
        raise RuntimeError(f"chat_seed {args[0]} failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])
