"""Conversations in the admin. Message texts are private to the pair: the admin shows their
metadata only; reported messages (the only ones staff may read) are in MessageReport."""

from django.contrib import admin

from audit.admin import ReadOnlyAdmin
from chat.models import ChatSocket, Conversation, ConversationMember, Message, MessageReport


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyAdmin):
    list_display = ("id", "match", "territory", "created_at", "closed_at", "last_seq", "last_message_at")
    list_filter = ("territory",)
    search_fields = ("match__entrepreneur__email", "match__provider_user__email")
    raw_id_fields = ("match",)


@admin.register(ConversationMember)
class ConversationMemberAdmin(ReadOnlyAdmin):
    list_display = ("conversation", "user", "joined_at", "removed_at", "last_read_seq")
    list_filter = ("conversation__territory",)
    search_fields = ("user__email",)
    raw_id_fields = ("conversation", "user")


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = ("conversation", "seq", "sender", "created_at", "redacted_at")
    list_filter = ("conversation__territory",)
    search_fields = ("sender__email",)
    fields = ("conversation", "seq", "sender", "client_id", "created_at", "redacted_at")  # never the body
    raw_id_fields = ("conversation", "sender")


@admin.register(ChatSocket)
class ChatSocketAdmin(ReadOnlyAdmin):
    list_display = ("conversation", "user", "connected_at", "seen_at")
    list_filter = ("conversation__territory",)
    search_fields = ("user__email", "channel_name")


@admin.register(MessageReport)
class MessageReportAdmin(admin.ModelAdmin):
    list_display = ("message", "reporter", "created_at", "resolved_at", "resolved_by")
    list_filter = ("resolved_at",)
    search_fields = ("reason", "reporter__email")
    raw_id_fields = ("message", "reporter", "resolved_by")
