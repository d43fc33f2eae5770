"""Thin API views of cycles: parse with a serializer, fetch through a ``*_get_for_user`` selector,
write through a service."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request as HttpRequest
from rest_framework.response import Response

from audit.models import AuditEvent
from config.response_cache import ResponseCacheMixin
from cycles import selectors, services
from cycles.api import serializers as s
from cycles.models import CycleStatus, Match, MatchStatus, Proposal, ProposalSource, ProposalStatus
from marketplace import selectors as market
from marketplace.api.views import _rows_list


def _forbid_non_staff(user: Any) -> None:
    if not (selectors._is_admin(user) or selectors._is_coordinator(user)):
        raise PermissionDenied("Réservé à la coordination.")


# --- Cycles ---------------------------------------------------------------------------------------


class CycleFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=CycleStatus.choices)
    territory = filters.CharFilter(field_name="territory__code")

    class Meta:
        model = services.Cycle
        fields = ["status", "territory"]


class CycleViewSet(ResponseCacheMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Matching cycles of the coordinator's territories. ``GET`` a cycle to follow a run: its
    ``run_stage``, ``run_progress`` and ``run_heartbeat_at`` are updated by the worker."""

    serializer_class = s.CycleSerializer
    filterset_class = CycleFilter
    ordering_fields = ["created_at", "opens_on", "closes_on"]
    ordering = ["-created_at", "-id"]

    def get_queryset(self) -> Any:
        return selectors.cycle_list_for_user(self.request.user)

    def get_object(self) -> Any:
        return selectors.cycle_get_for_user(user=self.request.user, cycle_id=self.kwargs["pk"])

    def _out(self, cycle: Any, code: int = status.HTTP_200_OK) -> Response:
        return Response(s.CycleSerializer(cycle).data, status=code)

    @extend_schema(request=s.CycleCreateSerializer, responses={201: s.CycleSerializer})
    def create(self, request: HttpRequest) -> Response:
        _forbid_non_staff(request.user)
        body = s.CycleCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        core = {k: data.pop(k) for k in ("name", "opens_on", "closes_on")}
        cycle = services.cycle_create(actor=request.user, territory=data.pop("territory", None), config=data, **core)
        return self._out(cycle, status.HTTP_201_CREATED)

    @extend_schema(request=s.CycleConfigSerializer, responses=s.CycleSerializer)
    def partial_update(self, request: HttpRequest, pk: str) -> Response:
        body = s.CycleConfigSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        cycle = services.cycle_configure(actor=request.user, cycle=self.get_object(), config=dict(body.validated_data))
        return self._out(cycle)

    @extend_schema(request=None, responses=s.CycleSerializer)
    @action(detail=True, methods=["post"])
    def open(self, request: HttpRequest, pk: str) -> Response:
        return self._out(services.cycle_open(actor=request.user, cycle=self.get_object()))

    @extend_schema(request=s.ReasonSerializer, responses=s.CycleSerializer)
    @action(detail=True, methods=["post"])
    def close(self, request: HttpRequest, pk: str) -> Response:
        body = s.ReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._out(services.cycle_close(actor=request.user, cycle=self.get_object(), **body.validated_data))

    @extend_schema(request=None, responses={202: s.CycleSerializer},
                   description="Queue a run (open cycle) or a re-solve of the rest of the pool, approved "
                               "proposals kept (cycle in review). 409 if a run is already going on.")
    @action(detail=True, methods=["post"])
    def run(self, request: HttpRequest, pk: str) -> Response:
        return self._out(services.cycle_run_start(actor=request.user, cycle=self.get_object()), status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={202: s.CycleSerializer},
                   description="Re-solve the rest of the pool with the approved proposals kept fixed (cycle in review).")
    @action(detail=True, methods=["post"])
    def resolve(self, request: HttpRequest, pk: str) -> Response:
        cycle = self.get_object()
        if cycle.status != CycleStatus.REVIEW:
            raise services.Conflict({"detail": "Seul un cycle en revue peut être recalculé.", "status": cycle.status})
        return self._out(services.cycle_run_start(actor=request.user, cycle=cycle), status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses=s.CycleSerializer)
    @action(detail=True, methods=["post"])
    def publish(self, request: HttpRequest, pk: str) -> Response:
        return self._out(services.cycle_publish(actor=request.user, cycle=self.get_object()))

    @extend_schema(request=s.AssignSerializer, responses={201: s.AssignResultSerializer})
    @action(detail=True, methods=["post"])
    def assign(self, request: HttpRequest, pk: str) -> Response:
        cycle = self.get_object()
        body = s.AssignSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        req = market.request_get_for_user(user=request.user, request_id=data["request"])
        mentor = market.mentor_profile_get_for_user(user=request.user, mentor_id=data["mentor"]) if data.get("mentor") else None
        offer = market.offer_get_for_user(user=request.user, offer_id=data["offer"]) if data.get("offer") else None
        proposal, warnings = services.proposal_assign(
            actor=request.user, cycle=cycle, request=req, mentor=mentor, offer=offer,
            reason=data["reason"], force=data["force"],
        )
        proposal = selectors.proposal_get_for_user(user=request.user, proposal_id=proposal.pk)
        return Response({"proposal": s.ProposalSerializer(proposal).data, "warnings": warnings},
                        status=status.HTTP_201_CREATED)

    @extend_schema(responses=s.UnmatchedSerializer(many=True), parameters=[
        OpenApiParameter("reason", str, description="the engine's reason code, e.g. no_common_language"),
        OpenApiParameter("town", str, description="INSEE code of the entrepreneur's town"),
    ])
    @action(detail=True, methods=["get"], filterset_class=None, ordering_fields=["id", "reason"])
    def unmatched(self, request: HttpRequest, pk: str) -> Response:
        qs = selectors.unmatched_list_for_cycle(self.get_object())
        reason = request.query_params.get("reason")
        if reason:
            qs = qs.filter(reason=reason)
        town = request.query_params.get("town")
        if town:
            qs = qs.filter(town__insee_code=town)
        page = self.paginate_queryset(qs.order_by("id"))
        return self.get_paginated_response(s.UnmatchedSerializer(page, many=True).data)


# --- Proposals ------------------------------------------------------------------------------------


class ProposalFilter(filters.FilterSet):
    cycle = filters.NumberFilter(field_name="cycle_id")
    status = filters.ChoiceFilter(choices=ProposalStatus.choices)
    source = filters.ChoiceFilter(choices=ProposalSource.choices)
    town = filters.CharFilter(field_name="town__insee_code")
    provider_kind = filters.ChoiceFilter(choices=[("mentor", "mentor"), ("offer", "offer")], method="by_kind")
    min_score = filters.NumberFilter(field_name="score", lookup_expr="gte")
    max_score = filters.NumberFilter(field_name="score", lookup_expr="lte")
    min_points_skills = filters.NumberFilter(field_name="points_skills", lookup_expr="gte")
    min_points_sector = filters.NumberFilter(field_name="points_sector", lookup_expr="gte")
    min_points_distance = filters.NumberFilter(field_name="points_distance", lookup_expr="gte")
    min_points_availability = filters.NumberFilter(field_name="points_availability", lookup_expr="gte")
    has_warnings = filters.BooleanFilter(method="by_warnings")

    class Meta:
        model = Proposal
        fields = ["cycle", "status", "source", "town", "request", "mentor", "offer"]

    def by_kind(self, qs: Any, name: str, value: str) -> Any:
        return qs.filter(mentor__isnull=value != "mentor") if value else qs

    def by_warnings(self, qs: Any, name: str, value: bool | None) -> Any:
        if value is None:
            return qs
        return qs.exclude(warnings=[]) if value else qs.filter(warnings=[])


PROPOSAL_ORDERING = ["score", "points_skills", "points_sector", "points_distance", "points_availability",
                     "points_preference", "town__name", "created_at", "id"]


class ProposalViewSet(ResponseCacheMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Proposals of the coordinator's cycles (filter ``cycle=``), sortable by score, by criterion
    (``ordering=-points_skills``) or town; approve or reject one by one or in bulk."""

    serializer_class = s.ProposalSerializer
    filterset_class = ProposalFilter
    ordering_fields = PROPOSAL_ORDERING
    ordering = ["-score", "id"]

    def get_queryset(self) -> Any:
        return selectors.proposal_list_for_user(self.request.user)

    def get_object(self) -> Any:
        if self.action == "retrieve":
            # Only the relations the serializer reads (the selector's seven joins took 1.1 ms to plan).
            qs = self.get_queryset().select_related(None).select_related("town", "mentor__user", "offer__company")
            return selectors._get(qs, self.kwargs["pk"], "proposal")
        return selectors.proposal_get_for_user(user=self.request.user, proposal_id=self.kwargs["pk"])

    def list(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Response:
        """The same items as ``ProposalSerializer``, built from ``.values()`` rows
        (``serializers.proposal_rows_data``): no model instances for the row and its seven
        joined relations."""
        return _rows_list(self, s.PROPOSAL_ROW_VALUES, s.proposal_rows_data)

    def _decided(self, proposal: Proposal) -> Response:
        return Response(s.ProposalSerializer(
            selectors.proposal_get_for_decision(user=self.request.user, proposal_id=proposal.pk)).data)

    @extend_schema(request=s.ApproveSerializer, responses=s.ProposalSerializer,
                   description="Idempotent; 409 with the numbers when the provider has no place left.")
    @action(detail=True, methods=["post"])
    def approve(self, request: HttpRequest, pk: str) -> Response:
        body = s.ApproveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        proposal = selectors.proposal_get_for_decision(user=request.user, proposal_id=pk)
        return self._decided(services.proposal_approve(actor=request.user, proposal=proposal, **body.validated_data))

    @extend_schema(request=s.RejectSerializer, responses=s.ProposalSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request: HttpRequest, pk: str) -> Response:
        body = s.RejectSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        proposal = selectors.proposal_get_for_decision(user=request.user, proposal_id=pk)
        return self._decided(services.proposal_reject(actor=request.user, proposal=proposal, **body.validated_data))

    @extend_schema(request=s.BulkDecisionSerializer, responses=s.BulkResultSerializer)
    @action(detail=False, methods=["post"])
    def bulk(self, request: HttpRequest) -> Response:
        _forbid_non_staff(request.user)
        body = s.BulkDecisionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        found, failed = [], []
        for pk in dict.fromkeys(data["ids"]):
            try:
                found.append(selectors.proposal_get_for_decision(user=request.user, proposal_id=pk))
            except Http404:
                failed.append({"id": pk, "detail": "not found"})
        outcome = services.proposals_decide_bulk(actor=request.user, proposals=found, decision=data["decision"],
                                                 reason_code=data["reason_code"], reason=data["reason"])
        return Response({"done": outcome.done, "failed": failed + outcome.failed})


# --- Matches --------------------------------------------------------------------------------------


class MatchFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=MatchStatus.choices)
    cycle = filters.NumberFilter(field_name="cycle_id")

    class Meta:
        model = Match
        fields = ["status", "cycle"]


class MatchViewSet(ResponseCacheMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The caller's matches (both parties), or those of the coordinator's territories."""

    serializer_class = s.MatchSerializer
    filterset_class = MatchFilter
    ordering_fields = ["created_at", "respond_by", "status"]
    ordering = ["-created_at", "-id"]

    def get_queryset(self) -> Any:
        qs = selectors.match_list_for_user(self.request.user)
        if self.action == "list":
            # The serializer reads names and codes of these; of the mentor and the offer only the
            # ids, which are the match's own columns (two wide joins less per list).
            qs = qs.select_related(None).select_related("request__project", "entrepreneur", "provider_user",
                                                        "territory")
        return qs

    def get_object(self) -> Any:
        return selectors.match_get_for_user(user=self.request.user, match_id=self.kwargs["pk"])

    def _out(self, match: Match) -> Response:
        return Response(s.MatchSerializer(self.get_object() if match is None else
                                          selectors.match_get_for_user(user=self.request.user, match_id=match.pk)).data)

    @extend_schema(request=None, responses=s.MatchSerializer)
    @action(detail=True, methods=["post"])
    def accept(self, request: HttpRequest, pk: str) -> Response:
        return self._out(services.match_accept(actor=request.user, match=self.get_object()))

    @extend_schema(request=s.DeclineSerializer, responses=s.MatchSerializer)
    @action(detail=True, methods=["post"])
    def decline(self, request: HttpRequest, pk: str) -> Response:
        body = s.DeclineSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._out(services.match_decline(actor=request.user, match=self.get_object(), **body.validated_data))

    @extend_schema(request=s.EndSerializer, responses=s.MatchSerializer)
    @action(detail=True, methods=["post"])
    def end(self, request: HttpRequest, pk: str) -> Response:
        body = s.EndSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._out(services.match_end(actor=request.user, match=self.get_object(), **body.validated_data))


# --- Audit ----------------------------------------------------------------------------------------


class AuditFilter(filters.FilterSet):
    action = filters.CharFilter()
    action_prefix = filters.CharFilter(field_name="action", lookup_expr="startswith")
    target_type = filters.CharFilter()
    target_id = filters.NumberFilter()
    territory_id = filters.NumberFilter()
    since = filters.IsoDateTimeFilter(field_name="at", lookup_expr="gte")

    class Meta:
        model = AuditEvent
        fields = ["action", "target_type", "target_id", "territory_id"]


class AuditViewSet(ResponseCacheMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Who decided what, when and why, in the coordinator's territories (everything for
    administrators)."""

    serializer_class = s.AuditEventSerializer
    filterset_class = AuditFilter
    ordering_fields = ["at", "id"]
    ordering = ["-at", "-id"]

    def get_queryset(self) -> Any:
        if not getattr(self, "swagger_fake_view", False):
            _forbid_non_staff(self.request.user)
        return selectors.audit_list_for_user(self.request.user)
