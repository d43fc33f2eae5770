"""Fixtures for page tests: a logged-in Django test client per persona."""

from __future__ import annotations

import pytest
from django.test import Client


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
