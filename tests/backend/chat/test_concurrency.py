"""Concurrent sends on PostgreSQL, with real threads and connections: the row lock numbers
messages without gaps or duplicates, and a resend racing its original makes no second row."""

from __future__ import annotations

import threading

import pytest
from django.db import connections

from chat.models import Message
from chat.services import message_send

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.postgres]


def run_together(calls):
    barrier = threading.Barrier(len(calls))
    results, errors = [None] * len(calls), []

    def worker(i, call):
        try:
            barrier.wait(timeout=10)
            results[i] = call()
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    return results


def test_both_members_sending_at_once_get_gapless_distinct_numbers(settings, conversation, entrepreneur, mentor):
    settings.CHAT_RATE_LIMIT_MESSAGES = 1000
    calls = [
        (lambda u=user, i=i: message_send(user=u, conversation=conversation, client_id=f"{u.pk}-{i}", body="x"))
        for i in range(6)
        for user in (entrepreneur, mentor)
    ]
    run_together(calls)
    assert sorted(Message.objects.values_list("seq", flat=True)) == list(range(1, 13))


def test_the_same_message_resent_three_times_at_once_is_stored_once(conversation, entrepreneur):
    results = run_together(
        [lambda: message_send(user=entrepreneur, conversation=conversation, client_id="retry", body="x")] * 3
    )
    assert len({r.message.pk for r in results}) == 1
    assert sorted(r.created for r in results) == [False, False, True]
    assert Message.objects.count() == 1
