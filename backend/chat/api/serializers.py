"""Shapes of the conversations API (docs/api.md, "Conversations")."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from chat.models import CLIENT_ID_MAX_CHARS, MESSAGE_MAX_CHARS, Conversation, Message, MessageReport


class MessageSerializer(serializers.ModelSerializer):
    redacted = serializers.SerializerMethodField()

    class Meta:
        model = Message
        fields = ["id", "seq", "sender_id", "client_id", "body", "created_at", "redacted"]
        read_only_fields = fields

    def get_redacted(self, obj: Message) -> bool:
        return obj.redacted_at is not None


class MemberSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="user_id")
    display_name = serializers.CharField(source="user.display_name")
    removed = serializers.SerializerMethodField()

    def get_removed(self, obj: Any) -> bool:
        return obj.removed_at is not None


class ConversationSerializer(serializers.ModelSerializer):
    match_id = serializers.IntegerField(read_only=True)
    is_open = serializers.BooleanField(read_only=True)
    read_up_to_seq = serializers.IntegerField(source="my_read_seq", read_only=True)
    unread_count = serializers.IntegerField(read_only=True)
    members = serializers.SerializerMethodField()
    last_message = serializers.SerializerMethodField()

    class Meta:
        model = Conversation
        fields = [
            "id", "match_id", "is_open", "created_at", "closed_at", "last_seq", "last_message_at",
            "read_up_to_seq", "unread_count", "members", "last_message",
        ]
        read_only_fields = fields

    def get_members(self, obj: Conversation) -> list[dict[str, Any]]:
        return MemberSerializer(obj.members.all(), many=True).data  # prefetched by the view

    def get_last_message(self, obj: Conversation) -> dict[str, Any] | None:
        last = self.context.get("last_messages", {}).get(obj.pk)
        return MessageSerializer(last).data if last is not None else None


class HistoryQuerySerializer(serializers.Serializer):
    before = serializers.IntegerField(required=False, min_value=0, max_value=2**31 - 1)
    after = serializers.IntegerField(required=False, min_value=0, max_value=2**31 - 1)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=200, default=50)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("before") is not None and attrs.get("after") is not None:
            raise serializers.ValidationError({"after": "Utilisez before ou after, pas les deux."})
        return attrs


class HistorySerializer(serializers.Serializer):
    results = MessageSerializer(many=True)
    has_more = serializers.BooleanField()


class SendSerializer(serializers.Serializer):
    client_id = serializers.CharField(max_length=CLIENT_ID_MAX_CHARS)
    body = serializers.CharField(max_length=MESSAGE_MAX_CHARS, trim_whitespace=False)


class ReadSerializer(serializers.Serializer):
    up_to_seq = serializers.IntegerField(min_value=0, max_value=2**31 - 1)


class ReadResultSerializer(serializers.Serializer):
    read_up_to_seq = serializers.IntegerField()
    unread_count = serializers.IntegerField()


class ReportCreateSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=1000)


class ResolveSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")


class ReportedMessageSerializer(serializers.Serializer):
    """The reported message and nothing else of the conversation."""

    id = serializers.IntegerField()
    seq = serializers.IntegerField()
    body = serializers.CharField()
    created_at = serializers.DateTimeField()
    sender_id = serializers.IntegerField(allow_null=True)
    sender_name = serializers.SerializerMethodField()

    def get_sender_name(self, obj: Message) -> str | None:
        return obj.sender.display_name if obj.sender is not None else None


class ReportSerializer(serializers.ModelSerializer):
    message = ReportedMessageSerializer(read_only=True)
    conversation_id = serializers.IntegerField(source="message.conversation_id", read_only=True)
    territory_id = serializers.IntegerField(source="message.conversation.territory_id", read_only=True)
    reporter_name = serializers.SerializerMethodField()
    resolved_by_name = serializers.SerializerMethodField()

    class Meta:
        model = MessageReport
        fields = [
            "id", "reason", "created_at", "message", "conversation_id", "territory_id", "reporter_name",
            "resolved_at", "resolved_by_name", "resolution_note",
        ]
        read_only_fields = fields

    def get_reporter_name(self, obj: MessageReport) -> str | None:
        return obj.reporter.display_name if obj.reporter is not None else None

    def get_resolved_by_name(self, obj: MessageReport) -> str | None:
        return obj.resolved_by.display_name if obj.resolved_by is not None else None
