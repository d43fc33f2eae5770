"""Reminders go through a durable outbox: each written once (unique key per match, kind and
step), each sent once, a failure retried with a backoff, nothing sent inside a transaction.
The clock is frozen (time_machine)."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from cycles.models import MatchStatus
from followup.models import OutboxMessage, OutboxStatus
from followup.services import (
    outbox_backoff_seconds,
    outbox_deliver_due,
    outbox_enqueue,
    reminders_enqueue_due,
)
from tests.backend.followup.conftest import FlakyBackend, make_match

pytestmark = pytest.mark.django_db

START = dt.datetime(2026, 5, 4, 8, 0, tzinfo=dt.UTC)


def at(days: float):
    return time_machine.travel(START + dt.timedelta(days=days), tick=False)


@pytest.fixture
def proposal(entrepreneur, mentor):
    """A pending match published at START, to answer within 20 days; the mentor has accepted."""
    return make_match(entrepreneur, mentor, status=MatchStatus.PENDING, created_at=START,
                      respond_by=START + dt.timedelta(days=20), provider_accepted_at=START)


def keys():
    return sorted(OutboxMessage.objects.values_list("key", flat=True))


# --- Reminders -------------------------------------------------------------------------------------


def test_a_silent_party_is_reminded_after_3_7_and_14_days_each_once(proposal, entrepreneur):
    with at(2.9):
        assert reminders_enqueue_due().proposal_reminders == 0
    with at(3):
        assert reminders_enqueue_due().proposal_reminders == 1
        assert reminders_enqueue_due().proposal_reminders == 0  # a rerun writes nothing
    with at(6):
        assert reminders_enqueue_due().proposal_reminders == 0
    with at(7.5):
        assert reminders_enqueue_due().proposal_reminders == 1
    with at(14):
        reminders_enqueue_due()
        reminders_enqueue_due()
    prefix = f"proposal_reminder:{proposal.pk}"
    assert keys() == [f"{prefix}:14:entrepreneur", f"{prefix}:3:entrepreneur", f"{prefix}:7:entrepreneur"]
    assert set(OutboxMessage.objects.values_list("recipient", flat=True)) == {entrepreneur.pk}


def test_a_late_run_sends_only_the_latest_step_due(proposal):
    with at(8):
        assert reminders_enqueue_due().proposal_reminders == 1
    assert keys() == [f"proposal_reminder:{proposal.pk}:7:entrepreneur"]


def test_no_reminder_once_answered_or_past_the_deadline(proposal):
    proposal.entrepreneur_accepted_at = START + dt.timedelta(days=1)
    proposal.status = MatchStatus.ACTIVE
    proposal.save()
    with at(3):
        assert reminders_enqueue_due().proposal_reminders == 0
    proposal.status, proposal.entrepreneur_accepted_at = MatchStatus.PENDING, None
    proposal.respond_by = START + dt.timedelta(days=5)
    proposal.save()
    with at(7):
        assert reminders_enqueue_due().proposal_reminders == 0


def test_a_stalled_pair_is_reminded_once_per_idle_period(settings, entrepreneur, mentor):
    from chat.services import conversation_open_for_match, message_send

    settings.FOLLOWUP_STALLED_DAYS = 21
    with at(0):
        pair = make_match(entrepreneur, mentor, activated_at=timezone.now())
    conversation = conversation_open_for_match(match=pair)
    with at(21.5):
        assert reminders_enqueue_due().stalled_reminders == 2  # both parties
        assert reminders_enqueue_due().stalled_reminders == 0
    with at(22):
        message_send(user=mentor, conversation=conversation, client_id="relance", body="Désolée, on reprend ?")
    with at(40):
        assert reminders_enqueue_due().stalled_reminders == 0
    with at(43.5):
        assert reminders_enqueue_due().stalled_reminders == 2  # silent again: a new idle period
    assert OutboxMessage.objects.filter(kind="stalled_reminder").count() == 4


def test_the_reminders_command_is_idempotent(proposal, capsys):
    with at(3):
        call_command("followup_reminders")
        call_command("followup_reminders")
    assert "proposal_reminders=0" in capsys.readouterr().out.strip().splitlines()[-1]
    assert len(keys()) == 1


# --- Delivery --------------------------------------------------------------------------------------


def enqueue(user, key="k-1"):
    """A message written at START (the event's time)."""
    with time_machine.travel(START, tick=False), transaction.atomic():
        return outbox_enqueue(key=key, kind="nudge", recipient=user, subject="Sujet", body="Texte")


def test_a_key_is_written_once(entrepreneur):
    assert enqueue(entrepreneur) is not None
    assert enqueue(entrepreneur) is None
    assert OutboxMessage.objects.count() == 1


def test_a_success_is_never_sent_again(entrepreneur):
    enqueue(entrepreneur)
    with at(0):
        assert outbox_deliver_due().sent == 1
    with at(1):
        assert outbox_deliver_due().sent == 0
    call_command("send_outbox")
    assert [m.to for m in mail.outbox] == [[entrepreneur.email]]
    message = OutboxMessage.objects.get()
    assert (message.status, message.attempts, message.sent_at) == (OutboxStatus.SENT, 1, START)


def test_a_failure_is_retried_after_its_backoff_then_sent_once(settings, entrepreneur):
    settings.OUTBOX_BACKOFF_BASE_SECONDS = 60
    enqueue(entrepreneur)
    FlakyBackend.failures = 2
    with at(0):
        report = outbox_deliver_due()
        assert (report.sent, report.failed) == (0, 1)
        assert report.next_retry_at == START + dt.timedelta(seconds=60)
    message = OutboxMessage.objects.get()
    assert (message.status, message.attempts) == (OutboxStatus.PENDING, 1)
    assert "SMTP server unreachable" in message.last_error
    with time_machine.travel(START + dt.timedelta(seconds=59), tick=False):
        assert outbox_deliver_due().failed == 0  # not due yet
    with time_machine.travel(START + dt.timedelta(seconds=60), tick=False):
        assert outbox_deliver_due().failed == 1  # second failure: the wait doubles
    assert OutboxMessage.objects.get().next_attempt_at == START + dt.timedelta(seconds=180)
    with time_machine.travel(START + dt.timedelta(seconds=180), tick=False):
        assert outbox_deliver_due().sent == 1
    with time_machine.travel(START + dt.timedelta(days=3), tick=False):
        assert outbox_deliver_due().sent == 0
    assert len(mail.outbox) == 1
    assert OutboxMessage.objects.get().attempts == 3


def test_a_message_is_given_up_after_the_maximum_attempts(settings, entrepreneur):
    settings.OUTBOX_MAX_ATTEMPTS = 2
    enqueue(entrepreneur)
    FlakyBackend.failures = 10
    with at(0):
        outbox_deliver_due()
    with at(1):
        assert outbox_deliver_due().dead == 1
    with at(30):
        assert outbox_deliver_due().sent == 0
    assert OutboxMessage.objects.get().status == OutboxStatus.DEAD and mail.outbox == []


def test_the_backoff_doubles_and_is_capped(settings):
    settings.OUTBOX_BACKOFF_BASE_SECONDS, settings.OUTBOX_BACKOFF_MAX_SECONDS = 60, 600
    assert [outbox_backoff_seconds(n) for n in (1, 2, 3, 4, 5, 10)] == [60, 120, 240, 480, 600, 600]


def test_a_claim_whose_worker_died_is_taken_again_after_its_lease(settings, entrepreneur):
    settings.OUTBOX_LEASE_SECONDS = 300
    message = enqueue(entrepreneur)
    with at(0):
        OutboxMessage.objects.filter(pk=message.pk).update(
            status=OutboxStatus.SENDING, claimed_until=timezone.now() + dt.timedelta(seconds=300), attempts=1)
        assert outbox_deliver_due().sent == 0  # another worker holds it
    with time_machine.travel(START + dt.timedelta(seconds=301), tick=False):
        assert outbox_deliver_due().sent == 1
    assert len(mail.outbox) == 1


def test_an_inactive_recipient_gets_nothing(entrepreneur):
    enqueue(entrepreneur)
    entrepreneur.is_active = False
    entrepreneur.save()
    assert outbox_deliver_due().dead == 1 and mail.outbox == []


def test_reminders_reach_the_mailbox_through_the_task(proposal, settings, django_capture_on_commit_callbacks):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    with at(3), django_capture_on_commit_callbacks(execute=True):
        reminders_enqueue_due()
    assert len(mail.outbox) == 1
    assert "attend votre réponse" in mail.outbox[0].body and mail.outbox[0].to == [proposal.entrepreneur.email]
    assert OutboxMessage.objects.get().status == OutboxStatus.SENT


def test_the_delivery_job_is_queued_durably_after_the_commit(proposal, django_capture_on_commit_callbacks):
    from django_tasks_db.models import DBTaskResult

    with at(3), django_capture_on_commit_callbacks(execute=True):
        reminders_enqueue_due()
    assert DBTaskResult.objects.filter(task_path="followup.tasks.outbox_deliver_task").count() == 1
    assert mail.outbox == []  # the worker sends, not the request


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_nothing_is_sent_from_inside_a_transaction(entrepreneur):
    enqueue(entrepreneur)
    with pytest.raises(RuntimeError), transaction.atomic():
        outbox_deliver_due()
    assert mail.outbox == [] and OutboxMessage.objects.get().status == OutboxStatus.PENDING
    assert outbox_deliver_due().sent == 1
