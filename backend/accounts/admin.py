import datetime as dt
import json

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse
from django.utils import timezone

from accounts.gdpr import user_erase, user_export
from accounts.models import Consent, User
from audit import admin_hooks
from marketplace.models import CoordinatorScope


class CoordinatorScopeInline(admin.TabularInline):
    model = CoordinatorScope
    extra = 0


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ("email",)
    list_display = ("email", "display_name", "role", "is_active", "email_verified", "date_joined", "erased_at")
    list_filter = ("role", "is_active", "is_staff", "email_verified")
    search_fields = ("email", "display_name")
    inlines = [CoordinatorScopeInline]
    readonly_fields = ("erased_at",)
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profil", {"fields": ("display_name", "role", "phone", "preferred_language")}),
        ("Droits", {"fields": ("is_active", "email_verified", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined", "erased_at")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "display_name", "role", "password1", "password2")}),)
    actions = ["export_data", "erase_data"]

    # Audit hooks: roles, rights and territories changed here are recorded (who, what, when, from
    # where). The admin runs each save in one transaction, so a change and its record commit together.

    def save_model(self, request, obj, form, change):
        before = admin_hooks.user_rights_snapshot(obj.pk) if change else None
        super().save_model(request, obj, form, change)
        admin_hooks.record_user_saved(request=request, user=obj, before=before)

    def save_related(self, request, form, formsets, change):
        user = form.instance
        permissions_before = admin_hooks.permissions_snapshot(user) if change else {"groups": [], "permissions": []}
        scopes_before = admin_hooks.scopes_snapshot(user.pk) if change else set()
        super().save_related(request, form, formsets, change)
        admin_hooks.record_permissions_change(request=request, user=user, before=permissions_before)
        admin_hooks.record_scopes_change(request=request, user_id=user.pk, before=scopes_before)

    def delete_model(self, request, obj):
        admin_hooks.record_deleted(request=request, action="account.delete", obj=obj, data={"role": obj.role})
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            admin_hooks.record_deleted(request=request, action="account.delete", obj=obj, data={"role": obj.role})
        super().delete_queryset(request, queryset)

    @admin.action(description="Exporter les données (RGPD, JSON)")
    def export_data(self, request, queryset):
        exports = [user_export(user=user, actor=request.user, request=request) for user in queryset]
        stamp = timezone.now().astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        response = HttpResponse(json.dumps(exports, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2),
                                content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="sociallab-export-{stamp}.json"'
        return response

    @admin.action(description="Effacer les comptes (RGPD, définitif)")
    def erase_data(self, request, queryset):
        count = 0
        for user in queryset.filter(erased_at__isnull=True):
            if user.pk == request.user.pk:
                messages.error(request, "Vous ne pouvez pas effacer votre propre compte d'ici.")
                continue
            user_erase(user=user, actor=request.user, request=request)
            count += 1
        messages.success(request, f"{count} compte(s) effacé(s).")


@admin.register(Consent)
class ConsentAdmin(admin.ModelAdmin):
    list_display = ("user", "purpose", "granted_at", "withdrawn_at")
    list_filter = ("purpose",)
    search_fields = ("user__email",)
    raw_id_fields = ("user",)
