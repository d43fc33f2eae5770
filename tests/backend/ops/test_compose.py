"""The deployment files: Docker's engine does not run here, so they are checked as data.

The compose file must run exactly the commands of backend/config/processes.py (the ones the
scale-out test and the benchmarks start), every long-running service must have a health check,
every image must be pinned to a version, and no secret may sit in the file itself.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml

from config import processes

REPO = Path(__file__).resolve().parents[3]
APP_SERVICES = {"migrate", "web-http", "web-ws", "worker", "scheduler"}
PINNED = re.compile(r"^[a-z0-9./-]+:\d+\.\d+(\.\d+)?(-[a-z0-9.]+)?$")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def dockerfile() -> str:
    return (REPO / "Dockerfile").read_text()


def test_the_compose_file_has_the_database_the_layer_the_web_processes_the_workers_and_the_proxy(compose):
    assert set(compose["services"]) == {"postgres", "redis", "migrate", "web-http", "web-ws", "worker", "scheduler", "proxy"}


@pytest.mark.parametrize(
    ("service", "command"),
    [
        ("web-http", processes.WEB_HTTP_COMMAND),
        ("web-ws", processes.WEB_WS_COMMAND),
        ("worker", processes.WORKER_COMMAND),
        ("migrate", processes.MIGRATE_COMMAND),
        ("scheduler", processes.SCHEDULER_COMMAND),
    ],
)
def test_each_process_runs_exactly_the_command_of_processes_py(compose, service, command):
    assert compose["services"][service]["command"] == command


@pytest.mark.parametrize(
    ("service", "probe"),
    [
        ("web-http", processes.HEALTHCHECK_WEB_HTTP),
        ("web-ws", processes.HEALTHCHECK_WEB_WS),
        ("worker", processes.HEALTHCHECK_WORKER),
        ("scheduler", processes.HEALTHCHECK_SCHEDULER),
    ],
)
def test_each_process_is_probed_by_the_health_command_of_processes_py(compose, service, probe):
    assert compose["services"][service]["healthcheck"]["test"] == ["CMD", *probe]


def test_the_image_starts_the_http_server_by_default(dockerfile):
    cmd = next(line for line in dockerfile.splitlines() if line.startswith("CMD "))
    assert json.loads(cmd.removeprefix("CMD ")) == processes.WEB_HTTP_COMMAND


def test_the_probes_hit_the_ports_the_servers_listen_on():
    assert f"{processes.HTTP_PORT}/readyz" in processes.HEALTHCHECK_WEB_HTTP[-1]
    assert f"{processes.WS_PORT}/readyz" in processes.HEALTHCHECK_WEB_WS[-1]
    assert f"0.0.0.0:{processes.HTTP_PORT}" in processes.WEB_HTTP_COMMAND
    assert str(processes.WS_PORT) in processes.WEB_WS_COMMAND


def test_every_long_running_service_has_a_health_check(compose):
    for name, service in compose["services"].items():
        check = service.get("healthcheck")
        assert check, f"{name} has no health check"
        if name == "migrate":
            continue
        assert not check.get("disable"), f"{name} disables its health check"
        assert check["test"][0] in {"CMD", "CMD-SHELL"} and len(check["test"]) > 1, name
        assert check.get("interval") and check.get("timeout") and check.get("retries"), name


def test_the_one_shot_migration_is_awaited_to_completion_by_every_process_of_the_app(compose):
    services = compose["services"]
    assert services["migrate"]["restart"] == "no"
    assert services["migrate"]["healthcheck"] == {"disable": True}
    for name in APP_SERVICES - {"migrate"}:
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}, name
    assert services["migrate"]["depends_on"]["postgres"] == {"condition": "service_healthy"}


def test_the_proxy_waits_for_healthy_web_processes(compose):
    depends = compose["services"]["proxy"]["depends_on"]
    assert depends == {"web-http": {"condition": "service_healthy"}, "web-ws": {"condition": "service_healthy"}}


def test_every_image_is_pinned_to_a_version(compose, dockerfile):
    for name, service in compose["services"].items():
        image = service["image"]
        assert PINNED.match(image), f"{name}: {image} is not pinned to a version"
        assert not image.endswith(":latest")
    base = next(line.split()[1] for line in dockerfile.splitlines() if line.startswith("FROM "))
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-bookworm)?", base), base


def test_our_image_is_tagged_with_the_project_version(compose):
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    for name in APP_SERVICES:
        assert compose["services"][name]["image"] == f"sociallab-matching:{version}"
        assert compose["services"][name]["build"] == "."


def test_the_app_runs_in_production_mode_with_secrets_from_files(compose):
    for name in APP_SERVICES:
        service = compose["services"][name]
        env = service["environment"]
        assert env["SOCIALLAB_MODE"] == "production"
        assert env["SECRET_KEY_FILE"] == "/run/secrets/secret_key"
        assert env["DATABASE_URL_FILE"] == "/run/secrets/database_url"
        assert "SECRET_KEY" not in env and "DATABASE_URL" not in env
        assert env["REDIS_URL"].startswith("redis://redis:")
        assert set(service["secrets"]) == {"secret_key", "database_url"}
    assert compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    assert all(set(secret) == {"file"} for secret in compose["secrets"].values())


def test_no_secret_is_written_in_the_compose_file(compose):
    sensitive = re.compile(r"(SECRET|PASSWORD|TOKEN|KEY)$")
    for name, service in compose["services"].items():
        for key in service.get("environment") or {}:
            if sensitive.search(key):
                pytest.fail(f"{name} sets {key} in the file; use {key}_FILE and a secret")


def test_the_database_keeps_its_data_on_a_volume(compose):
    assert "pgdata:/var/lib/postgresql/data" in compose["services"]["postgres"]["volumes"]
    assert "pgdata" in compose["volumes"]


def test_the_image_runs_as_a_user_without_privileges(dockerfile):
    users = [line.split()[1] for line in dockerfile.splitlines() if line.startswith("USER ")]
    assert users and users[-1] not in {"root", "0"}


def test_the_image_ships_compiled_translations_and_hashed_static_files(dockerfile):
    assert "manage.py compile_translations" in dockerfile
    assert "manage.py collectstatic --noinput" in dockerfile
    assert "SOCIALLAB_MODE=production" in dockerfile  # the manifest storage is the production one


def test_the_build_context_leaves_out_the_virtualenv_the_databases_and_the_secrets():
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {".git", ".venv", "var", "secrets", "sociallab.env"} <= set(ignored)


def test_the_proxy_sends_websockets_to_daphne_and_the_rest_to_gunicorn(compose):
    caddyfile = (REPO / "deploy" / "Caddyfile").read_text()
    proxy = compose["services"]["proxy"]
    assert "./deploy/Caddyfile:/etc/caddy/Caddyfile:ro" in proxy["volumes"]
    ws_block = caddyfile[caddyfile.index("handle /ws/*"):]
    ws_block = ws_block[: ws_block.index("}")]
    assert f"web-ws:{processes.WS_PORT}" in ws_block
    rest = caddyfile[caddyfile.index("handle {"):]
    assert f"web-http:{processes.HTTP_PORT}" in rest
    # Slow clients must not hold a sync gunicorn worker: the proxy buffers their bodies.
    assert "request_buffers" in rest
    assert {"80:80", "443:443"} <= set(proxy["ports"])


def test_the_scheduler_runs_every_periodic_job_of_processes_py():
    script = processes.SCHEDULER_COMMAND[-1]
    for job in processes.PERIODIC_COMMANDS:
        assert " ".join(job) in script
