"""Thin views: parse with a serializer, fetch through a ``*_get_for_user`` selector, write through
a service. The socket is the main path; these are the history, the list and the fallback."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import Throttled
from rest_framework.request import Request as HttpRequest
from rest_framework.response import Response
from rest_framework.views import APIView

from chat import selectors, services
from chat.api import serializers as s
from chat.models import Conversation, ConversationMember
from marketplace.api.errors import Conflict


def _with_members(qs: QuerySet[Conversation]) -> QuerySet[Conversation]:
    return qs.prefetch_related(
        Prefetch("members", queryset=ConversationMember.objects.select_related("user").order_by("id"))
    )


class ConversationListView(generics.ListAPIView):
    """My conversations, most recent first, with my unread count and the last message."""

    serializer_class = s.ConversationSerializer

    def get_queryset(self) -> QuerySet[Conversation]:
        if getattr(self, "swagger_fake_view", False):  # schema generation, no user
            return Conversation.objects.none()
        return _with_members(selectors.conversation_summaries_for_user(self.request.user))

    def list(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        rows = list(page) if page is not None else list(self.get_queryset())
        context = {**self.get_serializer_context(), "last_messages": selectors.last_messages_by_conversation(rows)}
        data = s.ConversationSerializer(rows, many=True, context=context).data
        return self.get_paginated_response(data) if page is not None else Response(data)


class ConversationDetailView(APIView):
    @extend_schema(responses=s.ConversationSerializer)
    def get(self, request: HttpRequest, conversation_id: int) -> Response:
        conversation = selectors.conversation_get_for_user(user=request.user, conversation_id=conversation_id)
        summary = _with_members(selectors.conversation_summaries_for_user(request.user)).get(pk=conversation.pk)
        context = {"request": request, "last_messages": selectors.last_messages_by_conversation([summary])}
        return Response(s.ConversationSerializer(summary, context=context).data)


class ConversationMessagesView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("before", int, description="Messages with a sequence number below this one."),
            OpenApiParameter("after", int, description="Messages with a sequence number above this one."),
            OpenApiParameter("limit", int, description="1 to 200, default 50."),
        ],
        responses=s.HistorySerializer,
        summary="History, oldest first, cut by sequence number",
    )
    def get(self, request: HttpRequest, conversation_id: int) -> Response:
        conversation = selectors.conversation_get_for_user(user=request.user, conversation_id=conversation_id)
        query = s.HistoryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        messages, has_more = selectors.message_page(
            conversation=conversation,
            before=query.validated_data.get("before"),
            after=query.validated_data.get("after"),
            limit=query.validated_data["limit"],
        )
        return Response({"results": s.MessageSerializer(messages, many=True).data, "has_more": has_more})

    @extend_schema(
        request=s.SendSerializer,
        responses={
            201: s.MessageSerializer,
            200: OpenApiResponse(s.MessageSerializer, description="Resend of a known client_id: the first message."),
            409: OpenApiResponse(description="The conversation has ended."),
            429: OpenApiResponse(description="Rate limit; see Retry-After."),
        },
        summary="Send a message (fallback to the WebSocket)",
    )
    def post(self, request: HttpRequest, conversation_id: int) -> Response:
        conversation = selectors.conversation_get_for_user(user=request.user, conversation_id=conversation_id)
        data = s.SendSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            result = services.message_send(user=request.user, conversation=conversation, **data.validated_data)
        except services.ConversationClosed as exc:
            raise Conflict(str(exc.message)) from None
        except services.RateLimited as exc:
            raise Throttled(wait=exc.retry_after, detail=str(exc.message)) from None
        return Response(
            s.MessageSerializer(result.message).data,
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )


class ConversationReadView(APIView):
    @extend_schema(request=s.ReadSerializer, responses=s.ReadResultSerializer, summary="Mark read up to a sequence number")
    def post(self, request: HttpRequest, conversation_id: int) -> Response:
        conversation = selectors.conversation_get_for_user(user=request.user, conversation_id=conversation_id)
        data = s.ReadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        position = services.conversation_mark_read(
            user=request.user, conversation=conversation, up_to_seq=data.validated_data["up_to_seq"]
        )
        summary = selectors.conversation_summary_get_for_user(user=request.user, conversation_id=conversation.pk)
        return Response({"read_up_to_seq": position, "unread_count": summary.unread_count})


class MessageReportView(APIView):
    @extend_schema(
        request=s.ReportCreateSerializer,
        responses={201: s.ReportSerializer, 200: s.ReportSerializer},
        summary="Report a message to the coordinators",
    )
    def post(self, request: HttpRequest, message_id: int) -> Response:
        message = selectors.message_get_for_user(user=request.user, message_id=message_id)
        data = s.ReportCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        report, created = services.message_report(user=request.user, message=message, reason=data.validated_data["reason"])
        report = selectors.report_get_for_user(user=request.user, report_id=report.pk)
        return Response(s.ReportSerializer(report).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class ReportListView(generics.ListAPIView):
    """Coordinators: reported messages of their territories (only those messages). Members: the
    reports they filed."""

    serializer_class = s.ReportSerializer

    def get_queryset(self) -> QuerySet[Any]:
        return selectors.report_list_for_user(self.request.user)


class ReportResolveView(APIView):
    @extend_schema(request=s.ResolveSerializer, responses=s.ReportSerializer, summary="Close a report (coordinators)")
    def post(self, request: HttpRequest, report_id: int) -> Response:
        report = selectors.report_get_for_user(user=request.user, report_id=report_id)
        data = s.ResolveSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.report_resolve(user=request.user, report=report, note=data.validated_data["note"])
        report = selectors.report_get_for_user(user=request.user, report_id=report.pk)
        return Response(s.ReportSerializer(report).data)
