"""Fixtures for page tests: a logged-in Django test client per persona."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.test import Client

from tests.conftest import skip_or_fail

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


@pytest.fixture
def page_client():
    """``page_client(user)`` → a test client logged in as ``user`` (anonymous for None), with
    CSRF checks on, as a browser would be."""

    def make(user=None, csrf=False):
        client = Client(enforce_csrf_checks=csrf)
        if user is not None:
            client.force_login(user)
        return client

    return make


# --- Browser tests: one Daphne server and one Chromium for the whole session -----------------------


@pytest.fixture(scope="session")
def server():
    from tests.frontend.live import live_server

    if not (Path(CHROMIUM).exists() and os.access(CHROMIUM, os.X_OK)):
        skip_or_fail(f"browser tests need Debian's Chromium at {CHROMIUM}")
    with live_server() as live:
        yield live


@pytest.fixture(scope="session")
def cycle_worker(server):
    """The background worker that solves cycles, on the live server's database (lazily: only
    the tests that run a cycle start it, once)."""
    from tests.frontend.live import worker

    with worker(server) as process:
        yield process


@pytest.fixture(scope="session")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()
