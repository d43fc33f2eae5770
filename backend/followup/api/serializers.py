from __future__ import annotations

from rest_framework import serializers

from followup.models import (
    FEEDBACK_COMMENT_MAX_CHARS,
    MEETING_MAX_MINUTES,
    MEETING_NOTE_MAX_CHARS,
    NUDGE_MESSAGE_MAX_CHARS,
    OUTCOME_MAX_JOBS,
    Feedback,
    FeedbackPhase,
    Meeting,
    MeetingFormat,
    Nudge,
    Outcome,
    OutcomeStatus,
)

# Ids are bounded so that a huge number is a 400 on the field, never an overflow in the database.
MAX_ID = 2**63 - 1


# --- Meetings -------------------------------------------------------------------------------------


class MeetingSerializer(serializers.ModelSerializer):
    logged_by = serializers.CharField(source="logged_by.display_name", read_only=True, default=None)

    class Meta:
        model = Meeting
        fields = ["id", "match", "offer", "date", "duration_minutes", "format", "note", "logged_by", "created_at"]
        read_only_fields = fields


class MeetingCreateSerializer(serializers.Serializer):
    match = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    date = serializers.DateField()
    duration_minutes = serializers.IntegerField(min_value=1, max_value=MEETING_MAX_MINUTES)
    format = serializers.ChoiceField(choices=MeetingFormat.choices)
    note = serializers.CharField(max_length=MEETING_NOTE_MAX_CHARS, required=False, allow_blank=True, default="")


class OfferHoursSerializer(serializers.Serializer):
    offer = serializers.IntegerField(source="offer_id")
    budget_hours = serializers.IntegerField()
    budget_minutes = serializers.IntegerField()
    delivered_minutes = serializers.IntegerField()
    remaining_minutes = serializers.IntegerField()


# --- Feedback and outcomes ------------------------------------------------------------------------


class FeedbackSerializer(serializers.ModelSerializer):
    class Meta:
        model = Feedback
        fields = ["id", "match", "side", "phase", "rating", "comment", "created_at"]
        read_only_fields = fields


class FeedbackCreateSerializer(serializers.Serializer):
    match = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    phase = serializers.ChoiceField(choices=FeedbackPhase.choices)
    rating = serializers.IntegerField(min_value=1, max_value=5)
    comment = serializers.CharField(max_length=FEEDBACK_COMMENT_MAX_CHARS, required=False, allow_blank=True, default="")


class OutcomeSerializer(serializers.ModelSerializer):
    class Meta:
        model = Outcome
        fields = ["id", "match", "status", "siret", "jobs_created", "reported_at", "updated_at"]
        read_only_fields = fields


class OutcomeReportSerializer(serializers.Serializer):
    match = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    status = serializers.ChoiceField(choices=OutcomeStatus.choices)
    siret = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")
    jobs_created = serializers.IntegerField(min_value=0, max_value=OUTCOME_MAX_JOBS, required=False, default=0)


# --- Nudges and stalled pairs ---------------------------------------------------------------------


class NudgeSerializer(serializers.ModelSerializer):
    coordinator = serializers.CharField(source="coordinator.display_name", read_only=True, default=None)

    class Meta:
        model = Nudge
        fields = ["id", "match", "coordinator", "message", "created_at"]
        read_only_fields = fields


class NudgeCreateSerializer(serializers.Serializer):
    message = serializers.CharField(max_length=NUDGE_MESSAGE_MAX_CHARS, required=False, allow_blank=True, default="")


class StalledMatchSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    territory = serializers.CharField(source="territory.code")
    entrepreneur = serializers.CharField(source="entrepreneur.display_name")
    provider = serializers.CharField(source="provider_user.display_name")
    provider_kind = serializers.CharField()
    activated_at = serializers.DateTimeField(allow_null=True)
    last_message_at = serializers.DateTimeField(allow_null=True)
    last_meeting_at = serializers.DateTimeField(allow_null=True)
    last_activity_at = serializers.DateTimeField()
    idle_days = serializers.SerializerMethodField()
    last_nudge_at = serializers.DateTimeField(allow_null=True)

    def get_idle_days(self, obj: object) -> int:
        now = self.context["now"]
        return int((now - obj.last_activity_at).days)  # type: ignore[attr-defined]


# --- Reports --------------------------------------------------------------------------------------


class ImpactReportQuerySerializer(serializers.Serializer):
    territory = serializers.SlugField(required=False, help_text="Territory code; default: all of yours.")
    cycle = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    date_from = serializers.DateField(required=False, help_text="Requests filed on or after this date.")
    date_to = serializers.DateField(required=False, help_text="Requests filed on or before this date.")


class ImpactExportQuerySerializer(ImpactReportQuerySerializer):
    as_ = serializers.ChoiceField(choices=[("csv", "CSV"), ("json", "JSON")], default="csv")

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["as"] = fields.pop("as_")
        return fields


class _Rated(serializers.Serializer):
    requests = serializers.IntegerField(allow_null=True)
    matched = serializers.IntegerField(allow_null=True)
    match_rate = serializers.FloatField(allow_null=True)


class _Town(_Rated):
    town = serializers.CharField(help_text="INSEE code")
    name = serializers.CharField()


class _Group(_Rated):
    group = serializers.ChoiceField(choices=[(g, g) for g in (
        "woman", "under_26", "over_50", "qpv_resident", "job_seeker", "no_criterion", "undisclosed")])


class _Hours(serializers.Serializer):
    company_id = serializers.IntegerField()
    company = serializers.CharField()
    hours = serializers.FloatField()
    meetings = serializers.IntegerField()
    beneficiaries = serializers.IntegerField(allow_null=True)


class _Satisfaction(serializers.Serializer):
    count = serializers.IntegerField(allow_null=True)
    average = serializers.FloatField(allow_null=True)
    distribution = serializers.DictField(child=serializers.IntegerField(allow_null=True))


class ImpactReportSerializer(serializers.Serializer):
    """Every count below ``suppression_threshold`` is null (suppressed)."""

    scope = serializers.DictField()
    suppression_threshold = serializers.IntegerField()
    requests = serializers.IntegerField(allow_null=True)
    matched_requests = serializers.IntegerField(allow_null=True)
    match_rate = serializers.FloatField(allow_null=True)
    median_waiting_days = serializers.FloatField(allow_null=True)
    matches_by_status = serializers.DictField(child=serializers.IntegerField(allow_null=True))
    by_town = _Town(many=True)
    by_priority_public = _Group(many=True)
    sponsorship_hours = _Hours(many=True)
    sponsorship_hours_total = serializers.FloatField()
    satisfaction = serializers.DictField(child=_Satisfaction())
    outcomes = serializers.DictField(child=serializers.IntegerField(allow_null=True))
    generated_at = serializers.DateTimeField()
