from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from audit.models import AuditEvent
from cycles.models import (
    CONFIG_RANGES,
    Cycle,
    DeclineReason,
    Match,
    MatchStatus,
    Proposal,
    RejectReason,
    UnmatchedRequest,
)
from marketplace.models import Territory

INTEGER_CONFIG = ("candidates_per_request", "response_days")


def config_fields(required: bool = False) -> dict[str, serializers.Field]:
    out: dict[str, serializers.Field] = {}
    for name, (lo, hi) in CONFIG_RANGES.items():
        cls = serializers.IntegerField if name in INTEGER_CONFIG else serializers.FloatField
        out[name] = cls(min_value=lo, max_value=hi, required=required)
    return out


class CycleSerializer(serializers.ModelSerializer):
    # null for an administrator's national cycle (all territories).
    territory = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)

    class Meta:
        model = Cycle
        fields = [
            "id", "territory", "name", "opens_on", "closes_on", "status", *CONFIG_RANGES,
            "run_stage", "run_progress", "run_heartbeat_at", "run_started_at", "run_finished_at", "run_error",
            "run_count", "input_hash", "request_count", "provider_count", "objective", "matched_count",
            "run_seconds", "run_timings", "created_at", "published_at", "closed_at",
        ]
        read_only_fields = fields


class CycleCreateSerializer(serializers.Serializer):
    territory = serializers.SlugRelatedField(
        slug_field="code", queryset=Territory.objects.all(), allow_null=True, required=False,
        help_text="Territory code; null or absent for a national cycle (administrators only).",
    )
    name = serializers.CharField(max_length=120)
    opens_on = serializers.DateField()
    closes_on = serializers.DateField()

    def get_fields(self) -> dict[str, serializers.Field]:
        return {**super().get_fields(), **config_fields()}


class CycleConfigSerializer(serializers.Serializer):
    def get_fields(self) -> dict[str, serializers.Field]:
        return config_fields()


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class ProposalSerializer(serializers.ModelSerializer):
    provider_kind = serializers.CharField(read_only=True)
    provider_name = serializers.SerializerMethodField()
    town = serializers.CharField(source="town.insee_code", read_only=True)
    town_name = serializers.CharField(source="town.name", read_only=True)
    breakdown = serializers.DictField(child=serializers.FloatField(), read_only=True)
    warnings = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = Proposal
        fields = [
            "id", "cycle", "request", "provider_kind", "mentor", "offer", "provider_user", "provider_name",
            "town", "town_name", "status", "source", "score", "breakdown", "warnings", "decided_by",
            "decided_at", "reason_code", "reason", "match", "created_at",
        ]
        read_only_fields = fields

    def get_provider_name(self, obj: Proposal) -> str:
        if obj.mentor_id:
            return obj.mentor.user.display_name
        return f"{obj.offer.company.name} — {obj.offer.title}"


#: What ``proposal_rows_data`` reads, for ``queryset.values(*PROPOSAL_ROW_VALUES)``.
PROPOSAL_ROW_VALUES = (
    "id", "cycle_id", "request_id", "mentor_id", "offer_id", "provider_user_id", "mentor__user__display_name",
    "offer__company__name", "offer__title", "town__insee_code", "town__name", "status", "source", "score",
    "points_skills", "points_sector", "points_distance", "points_availability", "points_preference", "warnings",
    "decided_by_id", "decided_at", "reason_code", "reason", "match_id", "created_at",
)
_PROPOSAL_FIELDS = ProposalSerializer().fields


def proposal_rows_data(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``ProposalSerializer(proposals, many=True).data`` for ``rows`` of
    ``queryset.values(*PROPOSAL_ROW_VALUES)``: the same items (keys, order, values and types),
    without a model instance per row and per joined relation (the review list of a national
    cycle is the coordinators' hottest read)."""
    fields = _PROPOSAL_FIELDS

    def scalar(name: str, value: Any) -> Any:
        return None if value is None else fields[name].to_representation(value)

    out = []
    for row in rows:
        mentor = row["mentor_id"]
        out.append({
            "id": row["id"],
            "cycle": row["cycle_id"],
            "request": row["request_id"],
            "provider_kind": "mentor" if mentor else "offer",
            "mentor": mentor,
            "offer": row["offer_id"],
            "provider_user": row["provider_user_id"],
            "provider_name": (row["mentor__user__display_name"] if mentor
                              else f"{row['offer__company__name']} — {row['offer__title']}"),
            "town": scalar("town", row["town__insee_code"]),
            "town_name": scalar("town_name", row["town__name"]),
            "status": scalar("status", row["status"]),
            "source": scalar("source", row["source"]),
            "score": scalar("score", row["score"]),
            "breakdown": fields["breakdown"].to_representation({
                "skills": row["points_skills"],
                "sector": row["points_sector"],
                "distance": row["points_distance"],
                "availability": row["points_availability"],
                "preference": row["points_preference"],
            }),
            "warnings": scalar("warnings", row["warnings"]),
            "decided_by": row["decided_by_id"],
            "decided_at": scalar("decided_at", row["decided_at"]),
            "reason_code": scalar("reason_code", row["reason_code"]),
            "reason": scalar("reason", row["reason"]),
            "match": row["match_id"],
            "created_at": scalar("created_at", row["created_at"]),
        })
    return out


class ApproveSerializer(serializers.Serializer):
    reason_code = serializers.CharField(max_length=30, required=False, allow_blank=True, default="")
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class RejectSerializer(serializers.Serializer):
    reason_code = serializers.ChoiceField(choices=RejectReason.choices)
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class BulkDecisionSerializer(serializers.Serializer):
    ids = serializers.ListField(child=serializers.IntegerField(min_value=1), min_length=1, max_length=500)
    decision = serializers.ChoiceField(choices=[("approve", "approve"), ("reject", "reject")])
    reason_code = serializers.CharField(max_length=30, required=False, allow_blank=True, default="")
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["decision"] == "reject" and attrs["reason_code"] not in RejectReason.values:
            raise serializers.ValidationError({"reason_code": "Indiquez un motif de rejet valide."})
        return attrs


class BulkFailureSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    detail = serializers.CharField()


class BulkResultSerializer(serializers.Serializer):
    done = serializers.ListField(child=serializers.IntegerField())
    failed = BulkFailureSerializer(many=True)


class AssignSerializer(serializers.Serializer):
    request = serializers.IntegerField(min_value=1)
    mentor = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    offer = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    force = serializers.BooleanField(required=False, default=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if bool(attrs.get("mentor")) == bool(attrs.get("offer")):
            raise serializers.ValidationError({"mentor": "Choisissez un parrain (mentor) ou une offre (offer)."})
        return attrs


class AssignResultSerializer(serializers.Serializer):
    proposal = ProposalSerializer()
    warnings = serializers.ListField(child=serializers.CharField())


class UnmatchedSerializer(serializers.ModelSerializer):
    town = serializers.CharField(source="town.insee_code", read_only=True)
    town_name = serializers.CharField(source="town.name", read_only=True)

    class Meta:
        model = UnmatchedRequest
        fields = ["id", "request", "town", "town_name", "reason"]
        read_only_fields = fields


class MatchSerializer(serializers.ModelSerializer):
    provider_kind = serializers.CharField(read_only=True)
    entrepreneur_name = serializers.CharField(source="entrepreneur.display_name", read_only=True)
    provider_name = serializers.CharField(source="provider_user.display_name", read_only=True)
    territory = serializers.CharField(source="territory.code", read_only=True)
    project_title = serializers.CharField(source="request.project.title", read_only=True)

    class Meta:
        model = Match
        fields = [
            "id", "request", "project_title", "cycle", "territory", "status", "entrepreneur", "entrepreneur_name",
            "provider_user", "provider_name", "provider_kind", "mentor", "offer", "score", "respond_by",
            "entrepreneur_accepted_at", "provider_accepted_at", "created_at", "activated_at", "ended_at",
            "end_reason_code", "end_reason",
        ]
        read_only_fields = fields


class DeclineSerializer(serializers.Serializer):
    reason_code = serializers.ChoiceField(choices=DeclineReason.choices)
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class EndSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=[(MatchStatus.COMPLETED.value, MatchStatus.COMPLETED.label),
                                              (MatchStatus.ENDED_EARLY.value, MatchStatus.ENDED_EARLY.label)])
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class AuditEventSerializer(serializers.ModelSerializer):
    data = serializers.SerializerMethodField()

    class Meta:
        model = AuditEvent
        fields = ["id", "at", "actor", "actor_label", "action", "target_type", "target_id", "territory_id",
                  "reason_code", "reason", "data"]
        read_only_fields = fields

    @extend_schema_field(serializers.DictField())
    def get_data(self, obj: AuditEvent) -> dict[str, Any]:
        return obj.data
