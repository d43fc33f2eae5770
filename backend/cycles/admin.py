"""Cycles in the admin, for administrators. Decisions are taken through the coordinator pages and
the API (which record who, when and why), so the admin only reads proposals and matches."""

from django.contrib import admin

from audit.admin import ReadOnlyAdmin
from cycles.models import Cycle, Match, Proposal, UnmatchedRequest


@admin.register(Cycle)
class CycleAdmin(admin.ModelAdmin):
    list_display = ("name", "territory", "status", "opens_on", "closes_on", "matched_count", "run_seconds")
    list_filter = ("status", "territory")
    search_fields = ("name",)
    date_hierarchy = "created_at"
    readonly_fields = (
        "status", "run_token", "run_task_id", "run_from_status", "run_stage", "run_progress",
        "run_heartbeat_at", "run_started_at", "run_finished_at", "run_error", "run_count", "input_hash",
        "request_count", "provider_count", "objective", "matched_count", "run_seconds", "run_timings",
        "published_at", "closed_at", "created_by",
    )


@admin.register(Proposal)
class ProposalAdmin(ReadOnlyAdmin):
    list_display = ("id", "cycle", "request", "mentor", "offer", "score", "status", "source", "decided_at")
    list_filter = ("status", "source", "territory")
    search_fields = ("request__project__title", "provider_user__email", "reason")
    raw_id_fields = ("request", "mentor", "offer", "provider_user", "decided_by", "match")


@admin.register(UnmatchedRequest)
class UnmatchedRequestAdmin(ReadOnlyAdmin):
    list_display = ("cycle", "request", "reason", "town")
    list_filter = ("reason", "territory")
    search_fields = ("request__project__title",)
    raw_id_fields = ("request",)


@admin.register(Match)
class MatchAdmin(ReadOnlyAdmin):
    list_display = ("id", "request", "entrepreneur", "provider_user", "status", "created_at", "activated_at", "ended_at")
    list_filter = ("status", "territory")
    search_fields = ("entrepreneur__email", "provider_user__email", "request__project__title")
    raw_id_fields = ("request", "entrepreneur", "provider_user", "mentor", "offer", "ended_by")
