"""/healthz and /readyz in this process (the fault tests with real servers are in
test_readiness_faults.py)."""

from __future__ import annotations

import socket

import pytest

from config import health

pytestmark = pytest.mark.django_db


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_healthz_answers_without_touching_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_readyz_is_ready_on_a_migrated_database(client, settings):
    settings.REDIS_URL = None
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "migrations": "ok"}}


def test_readyz_is_unready_and_names_redis_when_redis_does_not_answer(client, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port()}/0"
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["redis"]
    assert body["checks"]["redis"] == "unreachable"
    assert body["checks"]["database"] == "ok"


def test_the_health_endpoints_only_answer_get(client):
    assert client.post("/healthz").status_code == 405
    assert client.post("/readyz").status_code == 405


# Serialized: the flush after a live server would otherwise drop the reference data (territories,
# skills) that the transactional tests run after this one need.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_docker_probe_is_healthy_only_on_a_200(live_server):
    assert health.main(["--url", f"{live_server.url}/healthz"]) == 0
    assert health.main(["--url", f"{live_server.url}/no-such-page-for-probes"]) == 1
    assert health.main(["--url", f"http://127.0.0.1:{closed_port()}/healthz"]) == 1


def test_the_worker_probe_fails_when_the_database_is_unreachable(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"postgres://nobody@127.0.0.1:{closed_port()}/none")
    assert health.main(["--database"]) == 1
    monkeypatch.delenv("DATABASE_URL")
    monkeypatch.delenv("DATABASE_URL_FILE", raising=False)
    assert health.main(["--database"]) == 1
