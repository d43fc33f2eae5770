"""/readyz under real faults: the production servers (gunicorn for HTTP, Daphne for WebSockets,
started with the commands of config/processes.py) against a private PostgreSQL cluster and a
private Redis that the test stops and starts. Never the shared services.

It needs no test database, so it runs once per CI run, in the PostgreSQL+Redis pass, where the
server binaries are known to be installed (in the embedded-default pass it is skipped, not lost).
"""

from __future__ import annotations

import json
import time

import pytest

from config.processes import web_http_command, web_ws_command
from tests.backend.ops.private_services import (
    PrivatePostgres,
    PrivateRedis,
    Server,
    app_env,
    free_port,
    migrate,
)

# Runs in the PostgreSQL+Redis pass: it migrates a private cluster of its own (about 25 s).
pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]


class Stack:
    def __init__(self, tmp_dir) -> None:
        self.postgres = PrivatePostgres()
        self.redis = PrivateRedis()
        self.servers: list[Server] = []
        self.postgres.start()
        self.redis.start()
        self.env = app_env(database_url=self.postgres.url, redis_url=self.redis.url)
        port = free_port()
        self.http = self._serve(web_http_command(bind="127.0.0.1", port=port), port, tmp_dir / "gunicorn.log")
        port = free_port()
        self.ws = self._serve(web_ws_command(bind="127.0.0.1", port=port), port, tmp_dir / "daphne.log")
        # What an orchestrator sees between the start of a new release and its migration.
        self.before_migrate = {name: self.readyz(server) for name, server in self.by_name().items()}
        self.probe_before_migrate = self.http.probe()
        migrate(self.env)

    def _serve(self, command, port, log) -> Server:
        server = Server(command, port=port, env=self.env, log=log)
        self.servers.append(server)
        return server

    def by_name(self) -> dict[str, Server]:
        return {"gunicorn": self.http, "daphne": self.ws}

    @staticmethod
    def readyz(server: Server) -> tuple[int, dict]:
        status, body = server.get("/readyz")
        return status, json.loads(body) if body else {}

    def wait_for(self, status: int, *, timeout: float = 20.0) -> dict[str, tuple[int, dict]]:
        """Poll every server's /readyz until each answers ``status`` (bounded)."""
        deadline = time.monotonic() + timeout
        while True:
            seen = {name: self.readyz(server) for name, server in self.by_name().items()}
            if all(code == status for code, _ in seen.values()) or time.monotonic() > deadline:
                return seen
            time.sleep(0.2)

    def close(self) -> None:
        for server in self.servers:
            server.stop()
        self.redis.stop()
        self.postgres.destroy()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    built = Stack(tmp_path_factory.mktemp("servers"))
    yield built
    built.close()


def test_a_new_release_is_unready_until_its_migrations_are_applied(stack):
    for name, (status, body) in stack.before_migrate.items():
        assert status == 503, name
        assert body["failed"] == ["migrations"], name
        assert body["checks"]["migrations"] == "pending", name
    assert stack.probe_before_migrate == 1

    for name, (status, body) in stack.wait_for(200).items():
        assert status == 200, (name, body)
        assert body["checks"] == {"database": "ok", "migrations": "ok", "redis": "ok"}
    assert stack.http.probe() == 0 and stack.ws.probe() == 0


def test_readyz_turns_unready_when_redis_stops_and_ready_when_it_comes_back(stack):
    assert all(code == 200 for code, _ in stack.wait_for(200).values())
    stack.redis.stop()
    try:
        for name, (status, body) in stack.wait_for(503).items():
            assert status == 503, name
            assert body["failed"] == ["redis"], name
            assert body["checks"]["database"] == "ok"
        assert stack.http.probe() == 1
        assert stack.http.get("/healthz")[0] == 200  # alive, only not ready
    finally:
        stack.redis.start()

    for name, (status, body) in stack.wait_for(200).items():
        assert status == 200, (name, body)
    assert stack.http.probe() == 0


def test_readyz_turns_unready_when_postgresql_stops_and_ready_when_it_comes_back(stack):
    assert all(code == 200 for code, _ in stack.wait_for(200).values())
    stack.postgres.stop()
    try:
        for name, (status, body) in stack.wait_for(503).items():
            assert status == 503, name
            assert body["failed"] == ["database"], name
            assert body["checks"]["redis"] == "ok"
        assert stack.ws.probe() == 1
        assert stack.ws.get("/healthz")[0] == 200
    finally:
        stack.postgres.start()

    # The servers' persistent connections died with the cluster: they must reconnect by
    # themselves, not keep reporting the old failure.
    for name, (status, body) in stack.wait_for(200).items():
        assert status == 200, (name, body)
    assert stack.ws.probe() == 0


def test_the_scheduler_runs_each_housekeeping_job_then_stops_at_once_on_term(stack, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from config.processes import BACKEND_DIR, scheduler_command
    from tests.backend.ops.private_services import wait_until

    assert all(code == 200 for code, _ in stack.wait_for(200).values())  # migrated
    env = dict(stack.env, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))
    log = tmp_path / "scheduler.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(scheduler_command(interval=600), cwd=BACKEND_DIR, env=env,
                                   stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: "sent=" in log.read_text(), timeout=60, what="one round of jobs")
        output = log.read_text()
        assert "match(es) expired" in output
        assert "proposal_reminders=" in output
        assert "Traceback" not in output, output
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0  # sleeping between rounds, it stops without delay
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
