"""Reads on a user's behalf. Members see their conversations; nobody else does, coordinators and
administrators included. Coordinators see reported messages of their territory, and only those.

Objects a user may not see are reported as missing (404), so ids leak nothing."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404

from accounts.models import Role
from chat.models import Conversation, ConversationMember, Message, MessageReport
from marketplace.selectors import coordinator_territory_ids

_MAX_ID = 2**63 - 1


def _as_id(value: Any, what: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise Http404(f"{what} not found") from None
    if not 0 < number <= _MAX_ID:
        raise Http404(f"{what} not found")
    return number


def conversation_list_for_user(user: Any) -> QuerySet[Conversation]:
    """Conversations where ``user`` is a current member (removed members lose access)."""
    if not getattr(user, "is_authenticated", False):
        return Conversation.objects.none()
    return Conversation.objects.filter(members__user=user, members__removed_at__isnull=True)


def conversation_get_for_user(*, user: Any, conversation_id: Any) -> Conversation:
    pk = _as_id(conversation_id, "conversation")
    try:
        return conversation_list_for_user(user).get(pk=pk)
    except Conversation.DoesNotExist:
        raise Http404("conversation not found") from None


def conversation_summaries_for_user(user: Any) -> QuerySet[Conversation]:
    """The member's conversations with their read position and unread count, for list pages.

    Unread counts only the other members' messages after the member's read position."""
    if not getattr(user, "is_authenticated", False):
        return Conversation.objects.none()
    my_read = ConversationMember.objects.filter(conversation=OuterRef("pk"), user=user).values("last_read_seq")[:1]
    unread = (
        Message.objects.filter(conversation=OuterRef("pk"), seq__gt=OuterRef("my_read_seq"))
        .exclude(sender=user)
        .order_by()
        .values("conversation")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        conversation_list_for_user(user)
        .annotate(my_read_seq=Subquery(my_read, output_field=IntegerField()))
        .annotate(unread_count=Coalesce(Subquery(unread, output_field=IntegerField()), 0))
        .select_related("match")
        .order_by("-last_message_at", "-id")
    )


def conversation_summary_get_for_user(*, user: Any, conversation_id: Any) -> Conversation:
    pk = _as_id(conversation_id, "conversation")
    try:
        return conversation_summaries_for_user(user).get(pk=pk)
    except Conversation.DoesNotExist:
        raise Http404("conversation not found") from None


def last_messages_by_conversation(conversations: list[Conversation]) -> dict[int, Message]:
    """The last message of each conversation in one query (for a page of summaries)."""
    wanted = Q(pk__in=[])
    for conversation in conversations:
        if conversation.last_seq:
            wanted |= Q(conversation_id=conversation.pk, seq=conversation.last_seq)
    return {m.conversation_id: m for m in Message.objects.filter(wanted)}


def message_get_for_user(*, user: Any, message_id: Any) -> Message:
    pk = _as_id(message_id, "message")
    try:
        return Message.objects.select_related("conversation").get(
            pk=pk, conversation__in=conversation_list_for_user(user)
        )
    except Message.DoesNotExist:
        raise Http404("message not found") from None


def message_page(
    *, conversation: Conversation, before: int | None = None, after: int | None = None, limit: int = 50
) -> tuple[list[Message], bool]:
    """A page of history in ascending order, cut by sequence number. Called with a conversation
    fetched through ``conversation_get_for_user``. Returns (messages, has_more): with ``after``,
    whether newer messages exist; otherwise whether older ones do."""
    qs = Message.objects.filter(conversation=conversation)
    if after is not None:
        rows = list(qs.filter(seq__gt=after).order_by("seq")[: limit + 1])
        return rows[:limit], len(rows) > limit
    if before is not None:
        qs = qs.filter(seq__lt=before)
    rows = list(qs.order_by("-seq")[: limit + 1])
    has_more = len(rows) > limit
    return list(reversed(rows[:limit])), has_more


def messages_after(*, conversation_id: int, after_seq: int, limit: int) -> list[Message]:
    """Messages after ``after_seq`` in order (replay on resume). Called for a socket whose
    membership was checked at connect and is re-checked by its heartbeat."""
    return list(Message.objects.filter(conversation_id=conversation_id, seq__gt=after_seq).order_by("seq")[:limit])


def report_list_for_user(user: Any) -> QuerySet[MessageReport]:
    """Administrators: every report; coordinators: reports of their territories; members: the
    reports they filed. The reported message comes with it; the rest of the conversation never."""
    qs = MessageReport.objects.select_related("message__sender", "message__conversation", "reporter", "resolved_by")
    if not getattr(user, "is_authenticated", False):
        return qs.none()
    if user.is_superuser or user.role == Role.ADMINISTRATOR:
        return qs
    if user.role == Role.COORDINATOR:
        return qs.filter(message__conversation__territory_id__in=coordinator_territory_ids(user))
    return qs.filter(reporter=user)


def report_get_for_user(*, user: Any, report_id: Any) -> MessageReport:
    pk = _as_id(report_id, "report")
    try:
        return report_list_for_user(user).get(pk=pk)
    except MessageReport.DoesNotExist:
        raise Http404("report not found") from None
