"""Writes of the chat: open and close conversations with their match, send, read, report,
remove a member, presence of open sockets.

Contract with the cycles app: ``conversation_open_for_match`` is called inside the transaction
that makes a match active, ``conversation_close_for_match`` inside the one that ends it. Every
broadcast and e-mail is sent after the commit, never inside the transaction."""

from __future__ import annotations

import logging
import math
import random
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef, Q, Subquery
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from psycopg import errors as psycopg_errors

from accounts.models import Role, User
from audit.services import audit_record
from chat import pg
from chat.conf import chat_setting
from chat.dbthreads import DB_EXECUTOR
from chat.events import MessagePayload, broadcast_on_commit, message_payload
from chat.models import (
    CLIENT_ID_MAX_CHARS,
    ChatSocket,
    Conversation,
    ConversationMember,
    Message,
    MessageReport,
)
from marketplace.selectors import user_can_coordinate

logger = logging.getLogger(__name__)

CLIENT_ID_RE = re.compile(rf"^[A-Za-z0-9._:-]{{1,{CLIENT_ID_MAX_CHARS}}}$")
REPORT_REASON_MAX_CHARS = 1000


class ConversationClosed(Exception):
    """The conversation is read-only (its match ended)."""

    message = _("Cette conversation est terminée : elle ne peut plus recevoir de messages.")


class RateLimited(Exception):
    """Too many messages; ``retry_after`` is in whole seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after

    message = _("Vous envoyez trop de messages. Réessayez dans quelques secondes.")


@dataclass(frozen=True)
class SendResult:
    message: Message
    created: bool  # False when the client id had already been used: the first row is returned


# --- Conversations and members ------------------------------------------------------------------


def conversation_open_for_match(*, match: Any) -> Conversation:
    """Open the match's conversation with its two members; idempotent. Called inside the
    transaction that makes ``match`` active (so both commit or neither does)."""
    with transaction.atomic():
        conversation = Conversation.objects.filter(match=match).first()
        if conversation is None:
            try:
                # Savepoint: a concurrent opener may win the one-to-one; then we read its row.
                with transaction.atomic():
                    conversation = Conversation.objects.create(match=match, territory_id=match.territory_id)
            except IntegrityError:
                conversation = Conversation.objects.get(match=match)
        for user_id in {match.entrepreneur_id, match.provider_user_id}:
            ConversationMember.objects.get_or_create(conversation=conversation, user_id=user_id)
        return conversation


def conversation_close_for_match(*, match: Any) -> None:
    """Make the match's conversation read-only; after commit, every open socket of it is closed
    with the "conversation ended" code. Called inside the transaction that ends ``match``;
    a match that never had a conversation (declined, expired) is a no-op."""
    with transaction.atomic():
        # Lock: a send that already holds the row finishes first and its message stays; a send
        # that comes after sees the conversation closed.
        conversation = Conversation.objects.select_for_update().filter(match=match).first()
        if conversation is None or conversation.closed_at is not None:
            return
        conversation.closed_at = timezone.now()
        conversation.save(update_fields=["closed_at"])
        broadcast_on_commit(conversation.pk, {"type": "chat.closed"})


def conversation_member_remove(*, conversation: Conversation, user: User, actor: Any = None) -> None:
    """Remove ``user`` from ``conversation`` (moderation, GDPR erasure): they lose access at once
    and, after commit, their open sockets on it are closed with the "not a member" code."""
    with transaction.atomic():
        updated = ConversationMember.objects.filter(
            conversation=conversation, user=user, removed_at__isnull=True
        ).update(removed_at=timezone.now())
        ChatSocket.objects.filter(conversation=conversation, user=user).delete()
        if updated:
            audit_record(
                actor=actor, action="chat.member.remove", target=conversation,
                territory_id=conversation.territory_id, data={"user_id": user.pk},
            )
            broadcast_on_commit(conversation.pk, {"type": "chat.member_removed", "user_id": user.pk})


def chat_user_erase(*, user: User, redact_bodies: bool = True) -> int:
    """GDPR erasure of ``user``'s chat data: removed from every conversation (sockets closed),
    their messages anonymised (sender cleared) and, by default, their text replaced by nothing.
    Returns the number of messages anonymised. Call before deleting or anonymising the account."""
    with transaction.atomic():
        for membership in ConversationMember.objects.filter(user=user, removed_at__isnull=True).select_related(
            "conversation"
        ):
            conversation_member_remove(conversation=membership.conversation, user=user, actor=None)
        changes: dict[str, Any] = {"sender": None}
        if redact_bodies:
            changes.update(body="", redacted_at=timezone.now())
        count = Message.objects.filter(sender=user).update(**changes)
        MessageReport.objects.filter(reporter=user).update(reporter=None)
        return count


def chat_user_export(*, user: User) -> dict[str, Any]:
    """GDPR access and portability: the user's conversations and the messages they sent."""
    memberships = ConversationMember.objects.filter(user=user).select_related("conversation")
    return {
        "conversations": [
            {
                "conversation_id": m.conversation_id,
                "match_id": m.conversation.match_id,
                "joined_at": m.joined_at.isoformat(),
                "removed_at": m.removed_at.isoformat() if m.removed_at else None,
                "last_read_seq": m.last_read_seq,
            }
            for m in memberships
        ],
        "messages_sent": [
            {"conversation_id": m.conversation_id, "seq": m.seq, "body": m.body, "created_at": m.created_at.isoformat()}
            for m in Message.objects.filter(sender=user).order_by("conversation_id", "seq")
        ],
        "reports_filed": [
            {"message_id": r.message_id, "reason": r.reason, "created_at": r.created_at.isoformat()}
            for r in MessageReport.objects.filter(reporter=user)
        ],
    }


# --- Messages -------------------------------------------------------------------------------------


def _clean_client_id(client_id: Any) -> str:
    if not isinstance(client_id, str) or not CLIENT_ID_RE.match(client_id):
        raise ValidationError(
            {"client_id": _("Identifiant client requis : 1 à 64 caractères parmi A-Z a-z 0-9 . _ : -")}
        )
    return client_id


def _clean_body(body: Any) -> str:
    if not isinstance(body, str):
        raise ValidationError({"body": _("Le message doit être du texte.")})
    if not body.strip():
        raise ValidationError({"body": _("Le message est vide.")})
    limit = chat_setting("CHAT_MESSAGE_MAX_CHARS")
    if len(body) > limit:
        raise ValidationError({"body": _("Le message dépasse %(limit)s caractères.") % {"limit": limit}})
    if "\x00" in body:
        # PostgreSQL cannot store NUL; refusing here keeps it a clear 400 instead of a 500.
        raise ValidationError({"body": _("Le message contient un caractère interdit.")})
    return body


def _rate_window() -> tuple[int, int]:
    return chat_setting("CHAT_RATE_LIMIT_MESSAGES"), chat_setting("CHAT_RATE_LIMIT_WINDOW_SECONDS")


def _retry_after(oldest: Any, now: Any, window: int) -> int:
    """Seconds until the oldest of the last ``limit`` messages leaves the window."""
    return max(1, math.ceil((oldest + timedelta(seconds=window) - now).total_seconds()))


def message_send(
    *, user: User, conversation: Conversation, client_id: Any, body: Any, broadcast: bool = True
) -> SendResult:
    """Store a message and ring the conversation after commit. Called with a conversation
    fetched through ``conversation_get_for_user``. A resend with the same ``client_id`` returns
    the first row (``created=False``) and writes nothing. Raises ``ValidationError`` (by field),
    ``ConversationClosed``, ``RateLimited``, or ``PermissionDenied`` if the sender was removed.

    Rate limit: at most CHAT_RATE_LIMIT_MESSAGES new messages per sender in any window of
    CHAT_RATE_LIMIT_WINDOW_SECONDS (socket and REST together, every process: it counts the
    sender's stored messages, in the same statement as the insert). Resends and refused sends do
    not count. Sends of one user that run at the very same instant do not see each other, so the
    limit can be passed by the number of such sends in flight (a handful), never by more.

    ``broadcast=False`` is for a caller that publishes the new message itself once this returns
    (the socket consumer, from its event loop; it calls outside any transaction, so the message is
    committed when this returns)."""
    client_id = _clean_client_id(client_id)
    body = _clean_body(body)
    store = _message_store_one_statement if connection.vendor == "postgresql" else _message_store
    try:
        result = store(user=user, conversation=conversation, client_id=client_id, body=body, broadcast=broadcast)
    except IntegrityError:
        # A resend raced its original: the checking query's snapshot predates the original's
        # commit, so the unique (conversation, sender, client_id) constraint caught it (and
        # nothing of this attempt was kept). Once more: the original is now visible and returned.
        result = store(user=user, conversation=conversation, client_id=client_id, body=body, broadcast=broadcast)
    if result.created:
        conversation.last_seq = result.message.seq
        conversation.last_message_at = result.message.created_at
    return result


def _message_store(
    *, user: User, conversation: Conversation, client_id: str, body: str, broadcast: bool
) -> SendResult:
    """The portable store (SQLite): a transaction that locks the conversation row."""
    with transaction.atomic():
        now = timezone.now()
        # Lock the conversation row: concurrent sends number their messages one after the other
        # (no two with the same seq, no gap), and a close or a removal cannot slip between the
        # checks and the insert. The same query checks membership, looks for a resend and
        # whether someone must be e-mailed.
        locked = (
            Conversation.objects.select_for_update(of=("self",))
            .filter(pk=conversation.pk, members__user=user, members__removed_at__isnull=True)
            .annotate(
                notify_due=Exists(_members_to_notify(conversation_id=conversation.pk, sender=user, now=now)),
                resent_id=Subquery(
                    Message.objects.filter(conversation_id=OuterRef("pk"), sender=user, client_id=client_id).values(
                        "pk"
                    )[:1]
                ),
            )
            .only("pk", "closed_at", "last_seq")
            .order_by()[:1]
        )
        locked = next(iter(locked), None)
        if locked is None:
            raise PermissionDenied(gettext("Vous ne faites plus partie de cette conversation."))
        # A resend (same client id) returns the first row. Checked before "closed": a message
        # stored just before the end is still acknowledged to a client that resends it.
        if locked.resent_id is not None:
            return SendResult(Message.objects.get(pk=locked.resent_id), False)
        limit, window = _rate_window()
        recent = list(
            Message.objects.filter(sender=user, created_at__gt=now - timedelta(seconds=window))
            .order_by("-created_at")
            .values_list("created_at", flat=True)[:limit]
        )
        if len(recent) >= limit:
            raise RateLimited(_retry_after(recent[-1], now, window))
        if locked.closed_at is not None:
            raise ConversationClosed()
        message = Message.objects.create(
            conversation_id=locked.pk, seq=locked.last_seq + 1, sender=user, client_id=client_id, body=body,
            created_at=now,
        )
        Conversation.objects.filter(pk=locked.pk).update(last_seq=message.seq, last_message_at=now)
        if broadcast:
            broadcast_on_commit(locked.pk, {"type": "chat.message", "message": message_payload(message)})
        if locked.notify_due:  # folded into the locking query: no extra round trip when all are online
            _notify_offline_members(conversation_id=locked.pk, sender=user, now=now)
    return SendResult(message, True)


# One statement, one round trip, one commit (PostgreSQL, autocommit). The UPDATE allocates the
# number: it takes the conversation row's lock, so concurrent sends of one conversation are
# numbered one after the other, and it only happens for a current member, on an open
# conversation, for a client id not used yet, under the sender's rate limit (fewer than ``limit``
# of their messages since ``window_start``); the INSERT runs only if the UPDATE did. Under READ
# COMMITTED, an UPDATE that waited for the lock re-reads the row itself (a close committed
# meanwhile is seen) but the member / resend checks keep the statement's snapshot: a resend racing
# its original fails on the unique (conversation, sender, client_id) constraint and the whole
# statement is undone (no number used); ``message_send`` then runs it again and gets the original.
# The last column says whether another member should be e-mailed (no live socket, not e-mailed in
# the quiet period), so that check costs no round trip either.
_SEND_SQL = """
WITH member AS (
    SELECT 1 FROM {member} WHERE conversation_id = %(c)s AND user_id = %(u)s AND removed_at IS NULL
), prior AS (
    SELECT id, seq, body, created_at, redacted_at FROM {message}
    WHERE conversation_id = %(c)s AND sender_id = %(u)s AND client_id = %(cid)s
), recent AS (
    SELECT created_at FROM {message} WHERE sender_id = %(u)s AND created_at > %(window_start)s
    ORDER BY created_at DESC LIMIT %(limit)s
), rate AS (
    SELECT count(*) < %(limit)s AS allowed, min(created_at) AS oldest FROM recent
), numbered AS (
    UPDATE {conversation} SET last_seq = last_seq + 1, last_message_at = %(now)s
    WHERE id = %(c)s AND closed_at IS NULL AND EXISTS (SELECT 1 FROM member) AND NOT EXISTS (SELECT 1 FROM prior)
      AND (SELECT allowed FROM rate)
    RETURNING last_seq
), stored AS (
    INSERT INTO {message} (conversation_id, seq, sender_id, client_id, body, created_at)
    SELECT %(c)s, last_seq, %(u)s, %(cid)s, %(body)s, %(now)s FROM numbered
    RETURNING id, seq
)
SELECT
    stored.id, stored.seq,
    EXISTS (SELECT 1 FROM member),
    prior.id, prior.seq, prior.body, prior.created_at, prior.redacted_at,
    rate.allowed, rate.oldest,
    stored.id IS NOT NULL AND EXISTS (
        SELECT 1 FROM {member} m
        WHERE m.conversation_id = %(c)s AND m.removed_at IS NULL AND m.user_id <> %(u)s
          AND (m.last_notified_at IS NULL OR m.last_notified_at < %(quiet_since)s)
          AND NOT EXISTS (
              SELECT 1 FROM {socket} s
              WHERE s.conversation_id = %(c)s AND s.user_id = m.user_id AND s.seen_at >= %(fresh)s
          )
    )
FROM rate
LEFT JOIN stored ON TRUE
LEFT JOIN prior ON TRUE
"""


def _send_sql() -> str:
    return _SEND_SQL.format(
        member=ConversationMember._meta.db_table, message=Message._meta.db_table,
        conversation=Conversation._meta.db_table, socket=ChatSocket._meta.db_table,
    )


_SEND_SQL_TEXT: str | None = None


def _send_sql_text() -> str:
    global _SEND_SQL_TEXT
    if _SEND_SQL_TEXT is None:
        _SEND_SQL_TEXT = _send_sql()
    return _SEND_SQL_TEXT


def _send_params(*, user_id: int, conversation_id: int, client_id: str, body: str, now: Any) -> dict[str, Any]:
    limit, window = _rate_window()
    return {
        "c": conversation_id, "u": user_id, "cid": client_id, "body": body, "now": now,
        "limit": limit, "window_start": now - timedelta(seconds=window),
        "fresh": now - timedelta(seconds=chat_setting("CHAT_PRESENCE_TTL_SECONDS")),
        "quiet_since": now - timedelta(seconds=chat_setting("CHAT_NOTIFY_EVERY_SECONDS")),
    }


@dataclass(frozen=True)
class StoredRow:
    """What ``_SEND_SQL`` stored or found, without a model instance (the socket's hot path)."""

    id: int
    seq: int
    sender_id: int
    client_id: str
    body: str
    created_at: Any
    redacted_at: Any
    created: bool  # False: a resend, this is the first row
    notify_due: bool  # another member has no live socket and was not e-mailed lately

    def payload(self) -> MessagePayload:
        return {
            "id": self.id, "seq": self.seq, "sender_id": self.sender_id, "client_id": self.client_id,
            "body": self.body, "created_at": self.created_at.isoformat(),
        }


def _send_outcome(row: Any, *, user_id: int, client_id: str, body: str, now: Any) -> StoredRow:
    """Interpret ``_SEND_SQL``'s row: the stored (or first) message, or the refusal raised."""
    (new_id, new_seq, is_member, old_id, old_seq, old_body, old_created_at, old_redacted_at, allowed, oldest,
     notify_due) = row
    if not is_member:
        raise PermissionDenied(gettext("Vous ne faites plus partie de cette conversation."))
    if old_id is not None:  # a resend: the first row, even if the conversation has ended since
        return StoredRow(old_id, old_seq, user_id, client_id, old_body, old_created_at, old_redacted_at, False, False)
    if not allowed:
        raise RateLimited(_retry_after(oldest, now, chat_setting("CHAT_RATE_LIMIT_WINDOW_SECONDS")))
    if new_id is None:  # a member, no resend, nothing numbered: the conversation is closed
        raise ConversationClosed()
    return StoredRow(new_id, new_seq, user_id, client_id, body, now, None, True, bool(notify_due))


def _message_store_one_statement(
    *, user: User, conversation: Conversation, client_id: str, body: str, broadcast: bool
) -> SendResult:
    """The PostgreSQL store: ``_SEND_SQL`` in one round trip. Outside a transaction (the socket
    path) it commits by itself; inside one (a request, a test) it runs in a savepoint so that a
    unique violation can be retried."""
    now = timezone.now()
    params = _send_params(user_id=user.pk, conversation_id=conversation.pk, client_id=client_id, body=body, now=now)
    if connection.in_atomic_block:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_send_sql(), params)
            row = cursor.fetchone()
    else:
        with connection.cursor() as cursor:
            cursor.execute(_send_sql(), params)
            row = cursor.fetchone()
    stored = _send_outcome(row, user_id=user.pk, client_id=client_id, body=body, now=now)
    message = _message_row(stored.id, conversation.pk, stored.seq, user.pk, client_id, stored.body,
                           stored.created_at, stored.redacted_at)
    if not stored.created:
        return SendResult(message, False)
    if broadcast:
        broadcast_on_commit(conversation.pk, {"type": "chat.message", "message": message_payload(message)})
    if stored.notify_due:  # rare: someone is offline and was not e-mailed lately
        with transaction.atomic():
            _notify_offline_members(conversation_id=conversation.pk, sender=user, now=now)
    return SendResult(message, True)


async def message_send_async(*, user: User, conversation_id: int, client_id: Any, body: Any) -> StoredRow:
    """``message_send`` for the socket consumer on PostgreSQL, awaited on the event loop: the same
    statement (``_SEND_SQL``), the same checks, refusals and resend retry, run on one of the loop's
    own autocommit connections (``chat.pg``). Committed when it returns; the caller acknowledges,
    then publishes the row itself. The rare offline-member e-mail runs on the database threads."""
    client_id = _clean_client_id(client_id)
    body = _clean_body(body)
    sql = _send_sql_text()
    for attempt in (1, 2):
        now = timezone.now()
        params = _send_params(user_id=user.pk, conversation_id=conversation_id, client_id=client_id, body=body, now=now)
        try:
            row = await pg.pool().fetchone(sql, params)
        except psycopg_errors.IntegrityError:
            if attempt == 2:
                raise
            continue  # a resend raced its original (see message_send): once more returns the original
        stored = _send_outcome(row, user_id=user.pk, client_id=client_id, body=body, now=now)
        if stored.notify_due:
            # Rare (someone offline, not e-mailed lately): the claim and the after-commit e-mail
            # through Django, on a database thread.
            await database_sync_to_async(_notify_after_send, thread_sensitive=False, executor=DB_EXECUTOR)(
                conversation_id, user, now
            )
        return stored
    raise AssertionError("unreachable")


def _notify_after_send(conversation_id: int, sender: User, now: Any) -> None:
    with transaction.atomic():
        _notify_offline_members(conversation_id=conversation_id, sender=sender, now=now)


def _message_row(pk: int, conversation_id: int, seq: int, sender_id: int, client_id: str, body: str,
                 created_at: Any, redacted_at: Any) -> Message:
    message = Message(
        pk=pk, conversation_id=conversation_id, seq=seq, sender_id=sender_id, client_id=client_id, body=body,
        created_at=created_at, redacted_at=redacted_at,
    )
    message._state.adding = False
    message._state.db = connection.alias
    return message


def _members_to_notify(*, conversation_id: int, sender: User, now: Any) -> Any:
    """Other members with no live socket who were not e-mailed in the last quarter of an hour."""
    fresh = now - timedelta(seconds=chat_setting("CHAT_PRESENCE_TTL_SECONDS"))
    quiet_since = now - timedelta(seconds=chat_setting("CHAT_NOTIFY_EVERY_SECONDS"))
    live_socket = ChatSocket.objects.filter(
        conversation_id=conversation_id, user_id=OuterRef("user_id"), seen_at__gte=fresh
    )
    return (
        ConversationMember.objects.filter(conversation_id=conversation_id, removed_at__isnull=True)
        .exclude(user=sender)
        .filter(Q(last_notified_at__isnull=True) | Q(last_notified_at__lt=quiet_since))
        .exclude(Exists(live_socket))
    )


def _notify_offline_members(*, conversation_id: int, sender: User, now: Any) -> None:
    """Schedule an e-mail (after commit, without the text) to each other member with no live
    socket, at most one per member and conversation per CHAT_NOTIFY_EVERY_SECONDS."""
    quiet_since = now - timedelta(seconds=chat_setting("CHAT_NOTIFY_EVERY_SECONDS"))
    candidates = list(
        _members_to_notify(conversation_id=conversation_id, sender=sender, now=now).values_list("pk", "user_id")
    )
    for member_pk, user_id in candidates:
        # Conditional update: of two concurrent sends, only one claims the e-mail.
        claimed = ConversationMember.objects.filter(pk=member_pk).filter(
            Q(last_notified_at__isnull=True) | Q(last_notified_at__lt=quiet_since)
        ).update(last_notified_at=now)
        if claimed:
            sender_name = sender.display_name
            transaction.on_commit(
                lambda uid=user_id, name=sender_name: _send_notification(
                    user_id=uid, conversation_id=conversation_id, sender_name=name
                ),
                robust=True,
            )


def _send_notification(*, user_id: int, conversation_id: int, sender_name: str) -> None:
    recipient = User.objects.filter(pk=user_id, is_active=True).first()
    if recipient is None or not recipient.email:
        return
    link = f"{settings.SITE_URL.rstrip('/')}/conversations/{conversation_id}/"
    with translation.override(recipient.preferred_language or "fr"):
        subject = gettext("Nouveau message de %(name)s") % {"name": sender_name}
        text = gettext(
            "Bonjour,\n\n%(name)s vous a écrit sur Social LAB. Pour lire le message et répondre :\n%(link)s\n\n"
            "Vous recevez au plus un e-mail par conversation tous les quarts d'heure."
        ) % {"name": sender_name, "link": link}
    try:
        send_mail(subject, text, None, [recipient.email])
    except Exception:  # noqa: BLE001 - the message is stored; a failed e-mail must not undo it
        logger.warning("chat notification e-mail to user %s failed", user_id, exc_info=True)


def conversation_mark_read(*, user: User, conversation: Conversation, up_to_seq: Any) -> int:
    """Move the member's read position forward to ``up_to_seq`` (never backward, never past the
    last message) and tell the other sockets after commit. Returns the new position."""
    if isinstance(up_to_seq, bool) or not isinstance(up_to_seq, int) or up_to_seq < 0:
        raise ValidationError({"up_to_seq": _("Un numéro de message (entier positif) est attendu.")})
    with transaction.atomic():
        member = (
            ConversationMember.objects.select_for_update()
            .filter(conversation=conversation, user=user, removed_at__isnull=True)
            .first()
        )
        if member is None:
            raise PermissionDenied(gettext("Vous ne faites plus partie de cette conversation."))
        last_seq = Conversation.objects.values_list("last_seq", flat=True).get(pk=conversation.pk)
        target = min(up_to_seq, last_seq)
        if target > member.last_read_seq:
            member.last_read_seq = target
            member.save(update_fields=["last_read_seq"])
            broadcast_on_commit(
                conversation.pk, {"type": "chat.read", "user_id": user.pk, "up_to_seq": target}
            )
        return member.last_read_seq


# --- Reports --------------------------------------------------------------------------------------


def message_report(*, user: User, message: Message, reason: Any) -> tuple[MessageReport, bool]:
    """Report ``message`` to the coordinators of its territory. Called with a message fetched
    through ``message_get_for_user``. One report per message and reporter: a second returns the
    first (``created=False``). The audit log records the report, never the message text."""
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationError({"reason": _("Indiquez la raison du signalement.")})
    if len(reason) > REPORT_REASON_MAX_CHARS or "\x00" in reason:
        raise ValidationError({"reason": _("La raison doit faire au plus 1000 caractères, en texte simple.")})
    if message.sender_id == user.pk:
        raise ValidationError({"message": _("Vous ne pouvez pas signaler votre propre message.")})
    with transaction.atomic():
        existing = MessageReport.objects.filter(message=message, reporter=user).first()
        if existing is not None:
            return existing, False
        try:
            with transaction.atomic():
                report = MessageReport.objects.create(message=message, reporter=user, reason=reason.strip())
        except IntegrityError:  # the same report sent twice at once
            return MessageReport.objects.get(message=message, reporter=user), False
        audit_record(
            actor=user, action="chat.message.report", target=report,
            territory_id=message.conversation.territory_id, data={"message_id": message.pk},
        )
        return report, True


def report_resolve(*, user: User, report: MessageReport, note: Any = "") -> MessageReport:
    """Close a report. Only a coordinator of the conversation's territory (or an administrator);
    called with a report fetched through ``report_get_for_user``."""
    territory_id = report.message.conversation.territory_id
    if user.role not in (Role.COORDINATOR, Role.ADMINISTRATOR) and not user.is_superuser:
        raise PermissionDenied(gettext("Seule la coordination traite les signalements."))
    if not user_can_coordinate(user, territory_id):
        raise PermissionDenied(gettext("Ce signalement n'est pas dans votre territoire."))
    if not isinstance(note, str) or len(note) > REPORT_REASON_MAX_CHARS or "\x00" in note:
        raise ValidationError({"note": _("La note doit faire au plus 1000 caractères, en texte simple.")})
    with transaction.atomic():
        locked = MessageReport.objects.select_for_update().get(pk=report.pk)
        if locked.resolved_at is None:
            locked.resolved_at = timezone.now()
            locked.resolved_by = user
            locked.resolution_note = note
            locked.save(update_fields=["resolved_at", "resolved_by", "resolution_note"])
            audit_record(actor=user, action="chat.report.resolve", target=locked, territory_id=territory_id)
        return locked


# --- Open sockets (presence) ----------------------------------------------------------------------


def chat_socket_open(*, channel_name: str, conversation_id: int, user_id: int) -> None:
    now = timezone.now()
    ChatSocket.objects.update_or_create(
        channel_name=channel_name,
        defaults={"conversation_id": conversation_id, "user_id": user_id, "seen_at": now, "connected_at": now},
    )


def chat_socket_touch(*, channel_name: str, conversation_id: int, user_id: int) -> tuple[str, int]:
    """Heartbeat of one socket: refresh its presence and say whether it may stay open:
    ("ok", last_seq), ("ended", 0) or ("removed", 0). Two queries in the common case; now and
    then it also sweeps the conversation's stale rows, left by processes that died without
    running disconnect()."""
    now = timezone.now()
    row = (
        Conversation.objects.filter(pk=conversation_id)
        .annotate(
            is_member=Exists(
                ConversationMember.objects.filter(
                    conversation_id=conversation_id, user_id=user_id, removed_at__isnull=True
                )
            )
        )
        .values_list("closed_at", "last_seq", "is_member")
        .first()
    )
    if row is None or not row[2] or row[0] is not None:
        ChatSocket.objects.filter(channel_name=channel_name).delete()
        return ("ended" if row is not None and row[2] else "removed"), 0
    if not ChatSocket.objects.filter(channel_name=channel_name).update(seen_at=now):
        chat_socket_open(channel_name=channel_name, conversation_id=conversation_id, user_id=user_id)
    if random.random() < 0.1:  # sweeping on every beat would double the heartbeat's cost
        stale = now - timedelta(seconds=chat_setting("CHAT_PRESENCE_TTL_SECONDS"))
        ChatSocket.objects.filter(conversation_id=conversation_id, seen_at__lt=stale).delete()
    return "ok", row[1]


def chat_socket_close(*, channel_name: str) -> None:
    ChatSocket.objects.filter(channel_name=channel_name).delete()
