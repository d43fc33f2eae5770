from django.contrib import admin

from marketplace import models as m


class LabelledAdmin(admin.ModelAdmin):
    list_display = ("code", "label_fr", "label_en")
    search_fields = ("code", "label_fr", "label_en")


@admin.register(m.Territory)
class TerritoryAdmin(admin.ModelAdmin):
    list_display = ("code", "name")
    search_fields = ("code", "name")


class NeighbourhoodInline(admin.TabularInline):
    model = m.Neighbourhood
    extra = 0


@admin.register(m.Town)
class TownAdmin(admin.ModelAdmin):
    list_display = ("insee_code", "name", "territory", "latitude", "longitude")
    list_filter = ("territory",)
    search_fields = ("insee_code", "name")
    inlines = [NeighbourhoodInline]


@admin.register(m.Neighbourhood)
class NeighbourhoodAdmin(admin.ModelAdmin):
    list_display = ("name", "town", "qpv_code")
    list_filter = ("town",)
    search_fields = ("name", "qpv_code")


@admin.register(m.SkillGroup)
class SkillGroupAdmin(LabelledAdmin):
    list_display = ("code", "label_fr", "label_en", "position")


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
