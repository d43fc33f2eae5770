from django.contrib import admin

from followup.models import Feedback, Meeting, Nudge, OfferHours, OutboxMessage, Outcome


@admin.register(Meeting)
class MeetingAdmin(admin.ModelAdmin):
    list_display = ("match", "date", "duration_minutes", "format", "logged_by")
    list_filter = ("format",)
    search_fields = ("note", "logged_by__email")
    raw_id_fields = ("match", "offer", "logged_by")
    date_hierarchy = "date"


@admin.register(OfferHours)
class OfferHoursAdmin(admin.ModelAdmin):
    list_display = ("offer", "budget_minutes", "delivered_minutes", "updated_at")
    list_filter = ("offer__active",)
    search_fields = ("offer__title", "offer__company__name")
    raw_id_fields = ("offer",)


@admin.register(Feedback)
class FeedbackAdmin(admin.ModelAdmin):
    list_display = ("match", "side", "phase", "rating", "created_at")
    list_filter = ("side", "phase", "rating")
    search_fields = ("comment", "author__email")
    raw_id_fields = ("match", "author")


@admin.register(Outcome)
class OutcomeAdmin(admin.ModelAdmin):
    list_display = ("match", "status", "siret", "jobs_created", "reported_at")
    list_filter = ("status",)
    search_fields = ("siret",)
    raw_id_fields = ("match", "reported_by")


@admin.register(Nudge)
class NudgeAdmin(admin.ModelAdmin):
    list_display = ("match", "coordinator", "created_at")
    list_filter = ("created_at",)
    search_fields = ("message", "coordinator__email")
    raw_id_fields = ("match", "coordinator")


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    list_display = ("key", "kind", "recipient", "status", "attempts", "next_attempt_at", "sent_at")
    list_filter = ("status", "kind")
    search_fields = ("key", "recipient__email", "subject")
    raw_id_fields = ("recipient", "match")
