"""Chat fixtures: active matches between personas, with their conversation open, and a helper to
open a WebSocket through the real ASGI application (Origin check and session auth included)."""

from __future__ import annotations

import pytest
from channels.testing import WebsocketCommunicator
from django.test import override_settings

from chat.services import conversation_open_for_match
from cycles.models import Match, MatchStatus
from tests.factories import OfferFactory, ProjectFactory, request_for

ORIGIN = (b"origin", b"http://testserver")


def active_match(entrepreneur, provider) -> Match:
    """An active match of ``entrepreneur`` with a mentor or a company (as the cycles app would
    leave it after both consents), created directly."""
    from marketplace.models import CompanyProfile, MentorProfile

    request = request_for(ProjectFactory(owner=entrepreneur))
    mentor = MentorProfile.objects.filter(user=provider).first()
    offer = None
    if mentor is None:
        offer = OfferFactory(company=CompanyProfile.objects.get(user=provider))
    return Match.objects.create(
        request=request, entrepreneur=entrepreneur, provider_user=provider, mentor=mentor, offer=offer,
        territory=request.territory, status=MatchStatus.ACTIVE,
    )


def open_conversation(entrepreneur, provider):
    return conversation_open_for_match(match=active_match(entrepreneur, provider))


@pytest.fixture
def conversation(entrepreneur, mentor):
    """The conversation of Amina (entrepreneur) and Sophie (mentor)."""
    return open_conversation(entrepreneur, mentor)


@pytest.fixture(autouse=True)
def _in_memory_layer_and_mail(settings):
    # Consumer tests run in one process: the in-memory layer, isolated per test, unless the
    # test asks for Redis itself. E-mails go to the locmem outbox.
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture(autouse=True)
def _short_lived_thread_connections():
    """Consumers reach the database from worker threads; with persistent connections those threads
    would keep sessions open on the test database and block its removal at the end of the run."""
    from django.db import connections

    settings_dict = connections["default"].settings_dict
    previous = settings_dict["CONN_MAX_AGE"]
    settings_dict["CONN_MAX_AGE"] = 0
    yield
    settings_dict["CONN_MAX_AGE"] = previous
    _close_connections_of_the_chat_threads()
    from chat import pg

    pg.close_all()  # the event loop's own connections (the socket's send on PostgreSQL)


def _close_connections_of_the_chat_threads() -> None:
    """Run ``close_all`` once on every thread of the consumers' database pool (a barrier keeps
    each call on its own thread), so no session outlives the test."""
    import threading

    from django.db import connections

    from chat.consumers import _DB_EXECUTOR

    workers = _DB_EXECUTOR._max_workers
    barrier = threading.Barrier(workers)

    def close() -> None:
        try:
            barrier.wait(timeout=5)
        except threading.BrokenBarrierError:
            pass
        connections.close_all()

    for future in [_DB_EXECUTOR.submit(close) for _ in range(workers)]:
        future.result(timeout=10)


def session_cookie_for(user) -> bytes:
    """A real session for ``user`` (what the login view creates), as a Cookie header value."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}".encode()


async def connect(user, conversation_id, *, origin: bytes | None = b"http://testserver", query: str = ""):
    """Open a socket through config.asgi (Origin validator + AuthMiddlewareStack) as ``user``."""
    from channels.db import database_sync_to_async as sync_to_async

    from config.asgi import application

    headers = []
    if origin is not None:
        headers.append((b"origin", origin))
    if user is not None:
        headers.append((b"cookie", await sync_to_async(session_cookie_for)(user)))
    path = f"/ws/conversations/{conversation_id}/" + (f"?{query}" if query else "")
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await communicator.connect(timeout=5)
    return communicator, connected, code


__all__ = ["ORIGIN", "active_match", "open_conversation", "connect", "session_cookie_for", "override_settings"]
