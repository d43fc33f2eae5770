from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from accounts.models import Consent, User
from marketplace.models import CoordinatorScope


class CoordinatorScopeInline(admin.TabularInline):
    model = CoordinatorScope
    extra = 0


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ("email",)
    list_display = ("email", "display_name", "role", "is_active", "email_verified", "date_joined")
    list_filter = ("role", "is_active", "is_staff", "email_verified")
    search_fields = ("email", "display_name")
    inlines = [CoordinatorScopeInline]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profil", {"fields": ("display_name", "role", "phone", "preferred_language")}),
        ("Droits", {"fields": ("is_active", "email_verified", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "display_name", "role", "password1", "password2")}),)


@admin.register(Consent)
class ConsentAdmin(admin.ModelAdmin):
    list_display = ("user", "purpose", "granted_at", "withdrawn_at")
    list_filter = ("purpose",)
    search_fields = ("user__email",)
    raw_id_fields = ("user",)
