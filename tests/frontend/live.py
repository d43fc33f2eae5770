"""A real server for browser tests: Daphne (HTTP + WebSockets) in a subprocess, on a free port,
over a database of its own (a SQLite file, or a fresh PostgreSQL database when the suite runs on
PostgreSQL), migrated by ``manage.py migrate``. Torn down and dropped at the end."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BACKEND = REPO / "backend"
PYTHON = sys.executable
DAPHNE = str(Path(sys.executable).with_name("daphne"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    env: dict[str, str]

    def manage(self, *args: str, stdin: str | None = None) -> str:
        """Run a management command against the server's database."""
        done = subprocess.run(
            [PYTHON, str(BACKEND / "manage.py"), *args], env=self.env, input=stdin, capture_output=True,
            text=True, timeout=120, check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def shell(self, code: str) -> str:
        return self.manage("shell", "-c", code)


@contextmanager
def worker(server: LiveServer) -> Iterator[subprocess.Popen[bytes]]:
    """``manage.py db_worker`` beside the server, on its database: the production path of a
    cycle's run (the job row written with the state change, picked up by the worker). Started
    only by the tests that run a cycle."""
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(
        [PYTHON, str(BACKEND / "manage.py"), "db_worker", "--no-reload", "--no-startup-delay", "--interval", "0.3"],
        env=server.env, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        time.sleep(0.2)
        if process.poll() is not None:
            log.seek(0)
            raise RuntimeError("db_worker did not start:\n" + log.read().decode(errors="replace")[-4000:])
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@contextmanager
def _database(base_env: dict[str, str]) -> Iterator[str]:
    url = base_env.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        import psycopg

        name = f"sociallab_browser_{uuid.uuid4().hex[:8]}"
        admin_url = url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            yield url.rsplit("/", 1)[0] + "/" + name
        finally:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        with tempfile.TemporaryDirectory(prefix="sociallab-browser-") as tmp:
            yield f"sqlite:///{tmp}/browser.sqlite3"


@contextmanager
def live_server() -> Iterator[LiveServer]:
    base_env = dict(os.environ)
    with _database(base_env) as database_url:
        port = free_port()
        env = {
            **base_env,
            "DATABASE_URL": database_url,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "SOCIALLAB_MODE": "development",
            "DEBUG": "true",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": f"{BACKEND}{os.pathsep}{REPO}",
            # The login throttle is tested elsewhere; the story logs in several times from one IP.
            "THROTTLE_LOGIN": "1000/min",
        }
        server = LiveServer(url=f"http://127.0.0.1:{port}", env=env)
        server.manage("migrate", "--noinput")
        server.manage("compile_translations")
        log = tempfile.TemporaryFile()
        process = subprocess.Popen(
            [DAPHNE, "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
            cwd=BACKEND, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    with urllib.request.urlopen(server.url + "/", timeout=2) as response:
                        if response.status == 200:
                            break
                except OSError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError("Daphne did not start:\n" + log.read().decode(errors="replace")[-4000:])
                time.sleep(0.2)
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
            log.close()
