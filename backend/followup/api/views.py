"""Thin API views of the follow-up: parse with a serializer, fetch through a ``*_get_for_user``
selector, write through a service, read reports from ``followup.reports``."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpResponse
from django.utils import timezone
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request as HttpRequest
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services import audit_record
from cycles.selectors import match_get_for_user
from followup import reports, selectors, services
from followup.api import serializers as s
from followup.models import Feedback, FeedbackPhase, Meeting, Nudge, Outcome, OutcomeStatus, Side
from marketplace.selectors import offer_get_for_user


def _forbid_non_staff(user: Any) -> None:
    if not (selectors.is_admin(user) or selectors.is_coordinator(user)):
        raise PermissionDenied("Réservé à la coordination.")


def _match(request: HttpRequest, match_id: int) -> Any:
    return match_get_for_user(user=request.user, match_id=match_id)


# --- Meetings -------------------------------------------------------------------------------------


class MeetingFilter(filters.FilterSet):
    match = filters.NumberFilter(field_name="match_id")
    offer = filters.NumberFilter(field_name="offer_id")
    date_from = filters.DateFilter(field_name="date", lookup_expr="gte")
    date_to = filters.DateFilter(field_name="date", lookup_expr="lte")

    class Meta:
        model = Meeting
        fields = ["match", "offer"]


class MeetingViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """Meetings of the caller's matches (either party), or of the coordinator's territories.
    Either party logs one; for a company's sponsorship its duration counts against the offer's
    hour budget (409 beyond it)."""

    serializer_class = s.MeetingSerializer
    filterset_class = MeetingFilter
    ordering_fields = ["date", "created_at"]
    ordering = ["-date", "-id"]

    def get_queryset(self) -> Any:
        return selectors.meeting_list_for_user(self.request.user)

    def get_object(self) -> Any:
        return selectors.meeting_get_for_user(user=self.request.user, meeting_id=self.kwargs["pk"])

    @extend_schema(request=s.MeetingCreateSerializer, responses={201: s.MeetingSerializer})
    def create(self, request: HttpRequest) -> Response:
        body = s.MeetingCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        meeting = services.meeting_log(actor=request.user, match=_match(request, data.pop("match")), **data)
        return Response(s.MeetingSerializer(meeting).data, status=status.HTTP_201_CREATED)

    def destroy(self, request: HttpRequest, pk: str) -> Response:
        services.meeting_delete(actor=request.user, meeting=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class OfferHoursView(APIView):
    """Hours budget of a sponsorship offer, delivered and remaining (whoever may see the offer)."""

    @extend_schema(responses=s.OfferHoursSerializer)
    def get(self, request: HttpRequest, offer_id: int) -> Response:
        offer = offer_get_for_user(user=request.user, offer_id=offer_id)
        return Response(s.OfferHoursSerializer(selectors.offer_hours_summary(offer)).data)


# --- Feedback and outcomes ------------------------------------------------------------------------


class FeedbackFilter(filters.FilterSet):
    match = filters.NumberFilter(field_name="match_id")
    side = filters.ChoiceFilter(choices=Side.choices)
    phase = filters.ChoiceFilter(choices=FeedbackPhase.choices)

    class Meta:
        model = Feedback
        fields = ["match", "side", "phase"]


class FeedbackViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Ratings (1 to 5) of matches: one per side at midway (optional, while active) and at the
    end (once ended)."""

    serializer_class = s.FeedbackSerializer
    filterset_class = FeedbackFilter
    ordering_fields = ["created_at", "rating"]
    ordering = ["-created_at", "-id"]

    def get_queryset(self) -> Any:
        return selectors.feedback_list_for_user(self.request.user)

    def get_object(self) -> Any:
        return selectors.feedback_get_for_user(user=self.request.user, feedback_id=self.kwargs["pk"])

    @extend_schema(request=s.FeedbackCreateSerializer, responses={201: s.FeedbackSerializer})
    def create(self, request: HttpRequest) -> Response:
        body = s.FeedbackCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        feedback = services.feedback_give(actor=request.user, match=_match(request, data.pop("match")), **data)
        return Response(s.FeedbackSerializer(feedback).data, status=status.HTTP_201_CREATED)


class OutcomeFilter(filters.FilterSet):
    match = filters.NumberFilter(field_name="match_id")
    status = filters.ChoiceFilter(choices=OutcomeStatus.choices)

    class Meta:
        model = Outcome
        fields = ["match", "status"]


class OutcomeViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """What became of the projects. ``POST`` (entrepreneur of the match) reports or updates it."""

    serializer_class = s.OutcomeSerializer
    filterset_class = OutcomeFilter
    ordering_fields = ["updated_at"]
    ordering = ["-updated_at", "-id"]

    def get_queryset(self) -> Any:
        return selectors.outcome_list_for_user(self.request.user)

    def get_object(self) -> Any:
        return selectors.outcome_get_for_user(user=self.request.user, outcome_id=self.kwargs["pk"])

    @extend_schema(request=s.OutcomeReportSerializer, responses={200: s.OutcomeSerializer})
    def create(self, request: HttpRequest) -> Response:
        body = s.OutcomeReportSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        outcome = services.outcome_report(actor=request.user, match=_match(request, data.pop("match")), **data)
        return Response(s.OutcomeSerializer(outcome).data)


# --- Stalled pairs and nudges ---------------------------------------------------------------------


class StalledViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Active pairs of the coordinator's territories with no message and no meeting for
    FOLLOWUP_STALLED_DAYS days, the longest idle first (coordinators and administrators)."""

    serializer_class = s.StalledMatchSerializer
    ordering = None

    def get_queryset(self) -> Any:
        if not getattr(self, "swagger_fake_view", False):
            _forbid_non_staff(self.request.user)
        return selectors.stalled_list_for_user(self.request.user)

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "now": timezone.now()}

    def filter_queryset(self, queryset: Any) -> Any:
        return queryset  # the order (longest idle first) is the point of the list


class NudgeFilter(filters.FilterSet):
    match = filters.NumberFilter(field_name="match_id")

    class Meta:
        model = Nudge
        fields = ["match"]


class NudgeViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Coordinators' nudges of pairs (visible to the pair and the territory's coordinators)."""

    serializer_class = s.NudgeSerializer
    filterset_class = NudgeFilter
    ordering_fields = ["created_at"]
    ordering = ["-created_at", "-id"]

    def get_queryset(self) -> Any:
        return selectors.nudge_list_for_user(self.request.user)

    def get_object(self) -> Any:
        return selectors.nudge_get_for_user(user=self.request.user, nudge_id=self.kwargs["pk"])


class MatchNudgeView(APIView):
    """A coordinator of the territory nudges an active pair: both are e-mailed (through the
    outbox); at most once per pair in FOLLOWUP_NUDGE_MIN_INTERVAL_HOURS (409)."""

    @extend_schema(request=s.NudgeCreateSerializer, responses={201: s.NudgeSerializer})
    def post(self, request: HttpRequest, match_id: int) -> Response:
        body = s.NudgeCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        nudge = services.match_nudge(actor=request.user, match=_match(request, match_id), request=request,
                                     **body.validated_data)
        return Response(s.NudgeSerializer(nudge).data, status=status.HTTP_201_CREATED)


# --- Reports --------------------------------------------------------------------------------------

REPORT_PARAMETERS = [
    OpenApiParameter("territory", str, description="Territory code (default: all of yours)"),
    OpenApiParameter("cycle", int, description="A cycle id: its pool of requests and its matches"),
    OpenApiParameter("date_from", OpenApiTypes.DATE, description="Requests filed on or after"),
    OpenApiParameter("date_to", OpenApiTypes.DATE, description="Requests filed on or before"),
]


def _scope(request: HttpRequest, query: dict[str, Any]) -> reports.ReportScope:
    return reports.report_scope_for_user(
        user=request.user, territory=query.get("territory"), cycle_id=query.get("cycle"),
        date_from=query.get("date_from"), date_to=query.get("date_to"),
    )


class ReportView(APIView):
    """Impact figures of a scope (cycle, period, territory) for coordinators of the territory
    and administrators; counts under 5 are null (suppressed)."""

    @extend_schema(parameters=REPORT_PARAMETERS, responses=s.ImpactReportSerializer)
    def get(self, request: HttpRequest) -> Response:
        _forbid_non_staff(request.user)
        query = s.ImpactReportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(reports.report_build(_scope(request, query.validated_data)).as_dict())


class ReportExportView(APIView):
    """The same report as a file to download, CSV (suppressed counts read "< 5") or JSON;
    every export is recorded in the audit trail."""

    @extend_schema(
        parameters=[*REPORT_PARAMETERS, OpenApiParameter("as", str, enum=["csv", "json"], description="File format")],
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR), (200, "application/json"): s.ImpactReportSerializer},
    )
    def get(self, request: HttpRequest) -> HttpResponse:
        _forbid_non_staff(request.user)
        query = s.ImpactExportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        scope = _scope(request, query.validated_data)
        report = reports.report_build(scope)
        kind = query.validated_data["as"]
        audit_record(
            actor=request.user, action="report.export",
            territory_id=scope.territory_ids[0] if scope.territory_ids and len(scope.territory_ids) == 1 else None,
            data={"format": kind, **report.scope}, request=request,
        )
        stamp = timezone.localdate().isoformat()
        if kind == "csv":
            response = HttpResponse(reports.report_csv(report), content_type="text/csv; charset=utf-8")
        else:
            response = HttpResponse(json.dumps(report.as_dict(), ensure_ascii=False, indent=2),
                                    content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="sociallab-rapport-{stamp}.{kind}"'
        return response
