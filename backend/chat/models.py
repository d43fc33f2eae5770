"""Conversations of matched pairs, their messages, read positions, open sockets and reports.

The database is the truth: a message exists once it is committed with its per-conversation
sequence number; the channel layer only rings the bell afterwards."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Length
from django.db.models.lookups import LessThanOrEqual
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

MESSAGE_MAX_CHARS = 4000
CLIENT_ID_MAX_CHARS = 64


class Conversation(models.Model):
    """One per match, opened when the match becomes active, read-only once ``closed_at`` is set.

    ``last_seq`` is the sequence number of the last message; it is only changed with this row
    locked (``select_for_update``), which serialises the numbering of concurrent sends."""

    match = models.OneToOneField("cycles.Match", on_delete=models.CASCADE, related_name="conversation")
    # Denormalised from the match so that coordinators' report scope is one index.
    territory = models.ForeignKey("marketplace.Territory", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)
    last_seq = models.PositiveIntegerField(default=0)
    last_message_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_message_at", "-id"]
        verbose_name = _("conversation")

    def __str__(self) -> str:
        return f"Conversation {self.pk}"

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


class ConversationMember(models.Model):
    """A member's place in a conversation: read position and e-mail throttle.

    Removal (GDPR erasure, moderation) sets ``removed_at`` rather than deleting the row, so the
    history keeps its shape and the removal is visible to the other member."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_memberships")
    joined_at = models.DateTimeField(default=timezone.now)
    removed_at = models.DateTimeField(null=True, blank=True)
    last_read_seq = models.PositiveIntegerField(default=0)
    last_notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "user"], name="chat_one_membership_per_user"),
        ]
        indexes = [models.Index(fields=["user", "removed_at"])]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.conversation_id}"


class Message(models.Model):
    """A plain-text message. ``seq`` orders a conversation's messages without gaps; ``client_id``
    is chosen by the sending client so that a resend returns the first row instead of a second."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    seq = models.PositiveIntegerField()
    # Nullable so that erasing an account anonymises its messages instead of deleting history.
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    client_id = models.CharField(max_length=CLIENT_ID_MAX_CHARS)
    body = models.TextField(max_length=MESSAGE_MAX_CHARS, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    redacted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["conversation", "seq"]
        # The send rate limit counts a sender's recent messages (chat.services).
        indexes = [models.Index(fields=["sender", "created_at"], name="chat_message_sender_time")]
        constraints = [
            # Last line behind the row lock that numbers messages.
            models.UniqueConstraint(fields=["conversation", "seq"], name="chat_message_seq_unique"),
            # Last line behind the resend check: one row per client id and sender.
            models.UniqueConstraint(
                fields=["conversation", "sender", "client_id"], name="chat_message_client_id_unique"
            ),
            models.CheckConstraint(
                condition=LessThanOrEqual(Length("body"), MESSAGE_MAX_CHARS), name="chat_message_body_max"
            ),
            models.CheckConstraint(condition=Q(seq__gte=1), name="chat_message_seq_positive"),
        ]

    def __str__(self) -> str:
        return f"Message {self.conversation_id}#{self.seq}"



class ChatSocket(models.Model):
    """One open WebSocket, refreshed by its heartbeat. A member is online while one of their rows
    is fresher than the presence TTL; a row whose ``disconnect()`` never ran simply goes stale."""

    channel_name = models.CharField(max_length=200, unique=True)
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    connected_at = models.DateTimeField(default=timezone.now)
    seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["conversation", "user", "seen_at"])]

    def __str__(self) -> str:
        return f"Socket of {self.user_id} in {self.conversation_id}"


class MessageReport(models.Model):
    """A member's report of a message to the coordinators of the conversation's territory."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="reports")
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.TextField(max_length=1000)
    created_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolution_note = models.TextField(max_length=1000, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["message", "reporter"],
                condition=Q(reporter__isnull=False),
                name="chat_one_report_per_message_and_reporter",
            )
        ]

    def __str__(self) -> str:
        return f"Report {self.pk} on message {self.message_id}"
