"""Fixtures for page tests: a logged-in Django test client per persona."""

from __future__ import annotations

import pytest
from django.test import Client

# The live server and the browser are session fixtures of tests/conftest.py, shared with the
# security tests: one Daphne and one Playwright for the whole run (two sync Playwright
# instances cannot live in one thread).
from tests.conftest import ARGS, CHROMIUM  # noqa: F401  (imported from here by the browser tests)


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
