from django.contrib import admin

from audit.models import AuditEvent


class ReadOnlyAdmin(admin.ModelAdmin):
    """For records written by the code only (decisions, trails): administrators read them."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "actor_label", "action", "target_type", "target_id", "reason_code", "ip")
    list_filter = ("action", "target_type")
    search_fields = ("actor_label", "action", "reason")
    date_hierarchy = "at"

    def has_delete_permission(self, request, obj=None):
        return False
