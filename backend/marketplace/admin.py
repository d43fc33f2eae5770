from django.contrib import admin

from audit import admin_hooks
from marketplace import models as m


class LabelledAdmin(admin.ModelAdmin):
    list_display = ("code", "label_fr", "label_en")
    search_fields = ("code", "label_fr", "label_en")


@admin.register(m.Territory)
class TerritoryAdmin(admin.ModelAdmin):
    list_display = ("code", "name")
    search_fields = ("code", "name", "towns__name")

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        admin_hooks.record_territory_saved(request=request, territory=obj, created=not change,
                                           changed=list(form.changed_data) if change else [])


class NeighbourhoodInline(admin.TabularInline):
    model = m.Neighbourhood
    extra = 0


@admin.register(m.Town)
class TownAdmin(admin.ModelAdmin):
    list_display = ("insee_code", "name", "territory", "latitude", "longitude")
    list_filter = ("territory",)
    search_fields = ("insee_code", "name")
    inlines = [NeighbourhoodInline]

    def save_model(self, request, obj, form, change):
        # A town moved to another territory changes which coordinators see its people: audited.
        before = m.Town.objects.filter(pk=obj.pk).values_list("territory_id", flat=True).first() if change else None
        super().save_model(request, obj, form, change)
        admin_hooks.record_town_saved(request=request, town=obj, before_territory_id=before, created=not change)


@admin.register(m.Neighbourhood)
class NeighbourhoodAdmin(admin.ModelAdmin):
    list_display = ("name", "town", "qpv_code")
    list_filter = ("town",)
    search_fields = ("name", "qpv_code")


@admin.register(m.SkillGroup)
class SkillGroupAdmin(LabelledAdmin):
    list_display = ("code", "label_fr", "label_en", "position")
    search_fields = ("code", "label_fr", "label_en", "skills__label_fr")


@admin.register(m.Skill)
class SkillAdmin(LabelledAdmin):
    list_display = ("code", "label_fr", "label_en", "group")
    list_filter = ("group",)


admin.site.register(m.Sector, LabelledAdmin)


@admin.register(m.Language)
class LanguageAdmin(LabelledAdmin):
    list_display = ("code", "label_fr", "label_en", "bit")


@admin.register(m.ProjectStage)
class ProjectStageAdmin(LabelledAdmin):
    list_display = ("code", "label_fr", "label_en", "position")


@admin.register(m.EntrepreneurProfile)
class EntrepreneurProfileAdmin(admin.ModelAdmin):
    list_display = ("user", "town", "neighbourhood", "preferred_format", "created_at")
    list_filter = ("town", "preferred_format")
    search_fields = ("user__email", "user__display_name")
    raw_id_fields = ("user",)


class MentorSkillInline(admin.TabularInline):
    model = m.MentorSkill
    extra = 0


@admin.register(m.MentorProfile)
class MentorProfileAdmin(admin.ModelAdmin):
    list_display = ("user", "town", "format", "capacity", "paused")
    list_filter = ("town", "format", "paused")
    search_fields = ("user__email", "user__display_name")
    raw_id_fields = ("user", "employer")
    inlines = [MentorSkillInline]


@admin.register(m.CompanyProfile)
class CompanyProfileAdmin(admin.ModelAdmin):
    list_display = ("name", "siret", "town", "contact_name")
    list_filter = ("town",)
    search_fields = ("name", "siret", "user__email")
    raw_id_fields = ("user",)


@admin.register(m.CoordinatorScope)
class CoordinatorScopeAdmin(admin.ModelAdmin):
    list_display = ("user", "territory")
    list_filter = ("territory",)
    search_fields = ("user__email",)
    raw_id_fields = ("user",)

    # Which territories a coordinator works for decides what they see: every change is audited.

    def save_model(self, request, obj, form, change):
        users = {obj.user_id}
        if change:
            users.add(m.CoordinatorScope.objects.filter(pk=obj.pk).values_list("user_id", flat=True).first())
        before = {user_id: admin_hooks.scopes_snapshot(user_id) for user_id in users}
        super().save_model(request, obj, form, change)
        for user_id, scopes in before.items():
            admin_hooks.record_scopes_change(request=request, user_id=user_id, before=scopes)

    def delete_model(self, request, obj):
        before = admin_hooks.scopes_snapshot(obj.user_id)
        super().delete_model(request, obj)
        admin_hooks.record_scopes_change(request=request, user_id=obj.user_id, before=before)

    def delete_queryset(self, request, queryset):
        user_ids = set(queryset.values_list("user_id", flat=True))
        before = {user_id: admin_hooks.scopes_snapshot(user_id) for user_id in user_ids}
        super().delete_queryset(request, queryset)
        for user_id, scopes in before.items():
            admin_hooks.record_scopes_change(request=request, user_id=user_id, before=scopes)


class OfferSkillInline(admin.TabularInline):
    model = m.OfferSkill
    extra = 0


@admin.register(m.Offer)
class OfferAdmin(admin.ModelAdmin):
    list_display = ("title", "company", "capacity", "hours_budget", "starts_on", "ends_on", "active")
    list_filter = ("active", "format")
    search_fields = ("title", "company__name")
    inlines = [OfferSkillInline]


class ProjectNeedInline(admin.TabularInline):
    model = m.ProjectNeed
    extra = 0


@admin.register(m.Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("title", "owner", "stage", "sector", "created_at")
    list_filter = ("stage", "sector")
    search_fields = ("title", "owner__email")
    raw_id_fields = ("owner",)
    inlines = [ProjectNeedInline]


class RequestNeedInline(admin.TabularInline):
    model = m.RequestNeed
    extra = 0


@admin.register(m.Request)
class RequestAdmin(admin.ModelAdmin):
    list_display = ("id", "project", "entrepreneur", "territory", "kind", "status", "created_at")
    list_filter = ("status", "kind", "territory")
    search_fields = ("project__title", "entrepreneur__email")
    raw_id_fields = ("project", "entrepreneur")
    inlines = [RequestNeedInline]
