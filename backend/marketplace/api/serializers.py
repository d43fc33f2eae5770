from __future__ import annotations

from typing import Any

from rest_framework import serializers

from accounts.models import SELF_REGISTERING_ROLES, Consent, ConsentPurpose, User
from marketplace.api.fields import (
    AvailabilityField,
    language_field,
    sector_field,
    skill_field,
    stage_field,
    town_field,
)
from marketplace.models import (
    AgeBand,
    CompanyProfile,
    EntrepreneurProfile,
    Format,
    Gender,
    Language,
    MentorProfile,
    MentorSkill,
    Neighbourhood,
    Offer,
    OfferSkill,
    Project,
    ProjectStage,
    Request,
    RequestKind,
    RequestNeed,
    Sector,
    Skill,
    Territory,
    Town,
)
from marketplace.services import MAX_NEEDS, MAX_SKILLS

# --- Reference data -------------------------------------------------------------------------------


class LabelledSerializer(serializers.Serializer):
    code = serializers.CharField(read_only=True)
    label_fr = serializers.CharField(read_only=True)
    label_en = serializers.CharField(read_only=True)


class SkillSerializer(LabelledSerializer):
    group = serializers.CharField(source="group.code", read_only=True)
    group_label_fr = serializers.CharField(source="group.label_fr", read_only=True)
    group_label_en = serializers.CharField(source="group.label_en", read_only=True)


class StageSerializer(LabelledSerializer):
    position = serializers.IntegerField(read_only=True)


class TerritorySerializer(serializers.ModelSerializer):
    class Meta:
        model = Territory
        fields = ["id", "code", "name"]


class NeighbourhoodSerializer(serializers.ModelSerializer):
    class Meta:
        model = Neighbourhood
        fields = ["id", "name", "qpv_code"]


class TownSerializer(serializers.ModelSerializer):
    territory = serializers.CharField(source="territory.code", read_only=True)
    neighbourhoods = NeighbourhoodSerializer(many=True, read_only=True)

    class Meta:
        model = Town
        fields = ["insee_code", "name", "territory", "latitude", "longitude", "neighbourhoods"]


REFERENCE_SERIALIZERS: dict[str, type[serializers.BaseSerializer]] = {
    "territories": TerritorySerializer,
    "towns": TownSerializer,
    "skills": SkillSerializer,
    "sectors": LabelledSerializer,
    "languages": LabelledSerializer,
    "stages": StageSerializer,
}

# --- Accounts -------------------------------------------------------------------------------------


class RegisterSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(write_only=True, max_length=128, style={"input_type": "password"})
    display_name = serializers.CharField(max_length=80)
    role = serializers.ChoiceField(choices=[(r.value, r.label) for r in SELF_REGISTERING_ROLES])


class LoginSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(write_only=True, max_length=128)


class PasswordChangeSerializer(serializers.Serializer):
    old_password = serializers.CharField(write_only=True, max_length=128)
    new_password = serializers.CharField(write_only=True, max_length=128)


class PasswordResetSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)


class PasswordResetConfirmSerializer(serializers.Serializer):
    uid = serializers.CharField(max_length=64)
    token = serializers.CharField(max_length=128)
    new_password = serializers.CharField(write_only=True, max_length=128)


class UserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email", "display_name", "role", "phone", "preferred_language", "date_joined"]
        read_only_fields = ["id", "email", "role", "date_joined"]


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(read_only=True)


class ConsentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Consent
        fields = ["id", "purpose", "granted_at", "withdrawn_at"]
        read_only_fields = ["id", "granted_at", "withdrawn_at"]


class ConsentPurposeSerializer(serializers.Serializer):
    purpose = serializers.ChoiceField(choices=ConsentPurpose.choices)


# --- Needs and skills -----------------------------------------------------------------------------


class NeedSerializer(serializers.Serializer):
    skill = skill_field()
    importance = serializers.IntegerField(min_value=1, max_value=3)


class SkillLevelSerializer(serializers.Serializer):
    skill = skill_field()
    level = serializers.IntegerField(min_value=1, max_value=3)


def _needs_field(required: bool = True) -> NeedSerializer:
    return NeedSerializer(many=True, required=required, max_length=MAX_NEEDS)


def _skills_field() -> SkillLevelSerializer:
    return SkillLevelSerializer(many=True, min_length=1, max_length=MAX_SKILLS)


class NeedReadSerializer(serializers.Serializer):
    skill = serializers.CharField(source="skill.code")
    importance = serializers.IntegerField()


class SkillLevelReadSerializer(serializers.Serializer):
    skill = serializers.CharField(source="skill.code")
    level = serializers.IntegerField()


#: One reader of each nested kind, shared by every row: a serializer made per row (``many=True``)
#: deep-copies its fields each time, a third of a list's serialisation on the national data set.
_NEED_READER = NeedReadSerializer()
_SKILL_LEVEL_READER = SkillLevelReadSerializer()


def _read_all(reader: serializers.Serializer, items: Any) -> list[dict[str, Any]]:
    return [reader.to_representation(item) for item in items]


def _codes(field: str) -> serializers.SlugRelatedField:
    return serializers.SlugRelatedField(source=field, slug_field="code", many=True, read_only=True)


# --- Profiles -------------------------------------------------------------------------------------


class EntrepreneurProfileSerializer(serializers.ModelSerializer):
    display_name = serializers.CharField(source="user.display_name", read_only=True)
    town = town_field()
    neighbourhood = serializers.PrimaryKeyRelatedField(
        queryset=Neighbourhood.objects.all(), allow_null=True, required=False
    )
    languages = language_field(allow_empty=False)
    preferred_format = serializers.ChoiceField(choices=Format.choices, default=Format.EITHER)
    availability = AvailabilityField(required=False)
    age_band = serializers.ChoiceField(choices=AgeBand.choices, required=False, allow_blank=True)
    gender = serializers.ChoiceField(choices=Gender.choices, required=False, allow_blank=True)
    qpv_resident = serializers.BooleanField(required=False, allow_null=True)
    job_seeker = serializers.BooleanField(required=False, allow_null=True)

    class Meta:
        model = EntrepreneurProfile
        fields = [
            "id", "user", "display_name", "town", "neighbourhood", "languages", "preferred_format",
            "availability", "age_band", "gender", "qpv_resident", "job_seeker",
        ]
        read_only_fields = ["id", "user"]


class MentorProfileSerializer(serializers.ModelSerializer):
    display_name = serializers.CharField(source="user.display_name", read_only=True)
    town = town_field()
    reachable_towns = town_field(many=True, required=False)
    languages = language_field(allow_empty=False)
    sectors = serializers.SlugRelatedField(
        slug_field="code", queryset=Sector.objects.all(), many=True, required=False
    )
    skills = _skills_field()
    format = serializers.ChoiceField(choices=Format.choices, default=Format.EITHER)
    availability = AvailabilityField(required=False)
    capacity = serializers.IntegerField(min_value=0, max_value=10, default=1)
    bio = serializers.CharField(max_length=4000, allow_blank=True, required=False, default="")
    employer = serializers.PrimaryKeyRelatedField(
        queryset=CompanyProfile.objects.all(), allow_null=True, required=False
    )

    class Meta:
        model = MentorProfile
        fields = [
            "id", "user", "display_name", "bio", "town", "reachable_towns", "format", "languages",
            "sectors", "skills", "availability", "capacity", "paused", "employer",
        ]
        read_only_fields = ["id", "user"]

    def to_representation(self, instance: MentorProfile) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["skills"] = _read_all(_SKILL_LEVEL_READER, instance.skills.all())
        return data


class CompanyProfileSerializer(serializers.ModelSerializer):
    town = town_field()
    siret = serializers.CharField(min_length=14, max_length=14)
    description = serializers.CharField(max_length=4000, allow_blank=True, required=False, default="")

    class Meta:
        model = CompanyProfile
        fields = [
            "id", "user", "name", "siret", "description", "contact_name", "contact_email",
            "contact_phone", "town",
        ]
        read_only_fields = ["id", "user"]
        # SIRET uniqueness is checked by the service with a clear message.
        validators: list[Any] = []

    def validate_siret(self, value: str) -> str:
        from django.core.exceptions import ValidationError as DjangoValidationError

        from marketplace.validators import validate_siret

        try:
            validate_siret(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc
        return value


# --- Projects and requests ------------------------------------------------------------------------


class ProjectSerializer(serializers.ModelSerializer):
    sector = sector_field(allow_null=True, required=False)
    stage = stage_field()
    needs = _needs_field()
    description = serializers.CharField(max_length=4000, allow_blank=True, required=False, default="")

    class Meta:
        model = Project
        fields = ["id", "owner", "title", "description", "sector", "stage", "needs", "created_at", "updated_at"]
        read_only_fields = ["id", "owner", "created_at", "updated_at"]

    def to_representation(self, instance: Project) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["needs"] = _read_all(_NEED_READER, instance.needs.all())
        return data


class RequestSerializer(serializers.ModelSerializer):
    project = serializers.IntegerField(source="project_id")
    project_title = serializers.CharField(source="project.title", read_only=True)
    territory = serializers.CharField(source="territory.code", read_only=True)
    kind = serializers.ChoiceField(choices=RequestKind.choices, default=RequestKind.EITHER)
    format = serializers.ChoiceField(choices=Format.choices, required=False)
    languages = language_field(required=False, allow_empty=False)
    needs = _needs_field(required=False)
    notes = serializers.CharField(max_length=2000, allow_blank=True, required=False, default="")

    class Meta:
        model = Request
        fields = [
            "id", "project", "project_title", "entrepreneur", "territory", "kind", "format", "languages",
            "needs", "notes", "status", "created_at", "status_changed_at",
        ]
        read_only_fields = ["id", "entrepreneur", "status", "created_at", "status_changed_at"]

    def to_representation(self, instance: Request) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["needs"] = _read_all(_NEED_READER, instance.needs.all())
        return data


# The request list from ``.values()`` rows (RequestViewSet.list): the same items as
# RequestSerializer, without building a Request, its project, territory, needs and languages as
# model instances nor running the serializer's machinery per row. Scalar fields go through the
# serializer's own fields (same choices, same datetime format); tests/backend/perf compares both.
REQUEST_ROW_VALUES = ("id", "project_id", "project__title", "entrepreneur_id", "territory__code", "kind", "format",
                      "notes", "status", "created_at", "status_changed_at")
_REQUEST_FIELDS = RequestSerializer().fields


def _scalar(name: str, value: Any) -> Any:
    return None if value is None else _REQUEST_FIELDS[name].to_representation(value)


def request_rows_data(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``RequestSerializer(requests, many=True).data`` for ``rows`` of
    ``queryset.values(*REQUEST_ROW_VALUES)``, in two more queries (languages, needs)."""
    ids = [row["id"] for row in rows]
    languages: dict[int, list[str]] = {i: [] for i in ids}
    needs: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    if ids:
        through = Request.languages.through
        for request_id, code in (through.objects.filter(request_id__in=ids)
                                 .order_by("language__code").values_list("request_id", "language__code")):
            languages[request_id].append(code)
        for request_id, skill, importance in (RequestNeed.objects.filter(request_id__in=ids).order_by("id")
                                              .values_list("request_id", "skill__code", "importance")):
            needs[request_id].append({"skill": skill, "importance": importance})
    return [
        {
            "id": row["id"],
            "project": _scalar("project", row["project_id"]),
            "project_title": _scalar("project_title", row["project__title"]),
            "entrepreneur": row["entrepreneur_id"],
            "territory": _scalar("territory", row["territory__code"]),
            "kind": _scalar("kind", row["kind"]),
            "format": _scalar("format", row["format"]),
            "languages": languages[row["id"]],
            "needs": needs[row["id"]],
            "notes": _scalar("notes", row["notes"]),
            "status": _scalar("status", row["status"]),
            "created_at": _scalar("created_at", row["created_at"]),
            "status_changed_at": _scalar("status_changed_at", row["status_changed_at"]),
        }
        for row in rows
    ]


# The mentor list likewise (MentorViewSet.list): MentorProfileSerializer's items from rows.
MENTOR_ROW_VALUES = ("id", "user_id", "user__display_name", "bio", "town__insee_code", "format", "availability",
                     "capacity", "paused", "employer_id")
_MENTOR_FIELDS = MentorProfileSerializer().fields


def _mentor_scalar(name: str, value: Any) -> Any:
    return None if value is None else _MENTOR_FIELDS[name].to_representation(value)


def _codes_by_owner(through: Any, owner: str, target: str, ids: list[int], order: tuple[str, ...]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {i: [] for i in ids}
    for owner_id, code in (through.objects.filter(**{f"{owner}_id__in": ids}).order_by(*order)
                           .values_list(f"{owner}_id", target)):
        out[owner_id].append(code)
    return out


def mentor_rows_data(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``MentorProfileSerializer(mentors, many=True).data`` for ``rows`` of
    ``queryset.values(*MENTOR_ROW_VALUES)``, in four more queries (towns, languages, sectors, skills)."""
    ids = [row["id"] for row in rows]
    skills: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    if ids:
        towns = _codes_by_owner(MentorProfile.reachable_towns.through, "mentorprofile", "town__insee_code", ids,
                                ("town__name", "town_id"))
        languages = _codes_by_owner(MentorProfile.languages.through, "mentorprofile", "language__code", ids,
                                    ("language__code",))
        sectors = _codes_by_owner(MentorProfile.sectors.through, "mentorprofile", "sector__code", ids,
                                  ("sector__code",))
        for mentor_id, skill, level in (MentorSkill.objects.filter(mentor_id__in=ids).order_by("id")
                                        .values_list("mentor_id", "skill__code", "level")):
            skills[mentor_id].append({"skill": skill, "level": level})
    else:
        towns = languages = sectors = {}
    return [
        {
            "id": row["id"],
            "user": row["user_id"],
            "display_name": _mentor_scalar("display_name", row["user__display_name"]),
            "bio": _mentor_scalar("bio", row["bio"]),
            "town": row["town__insee_code"],
            "reachable_towns": towns[row["id"]],
            "format": _mentor_scalar("format", row["format"]),
            "languages": languages[row["id"]],
            "sectors": sectors[row["id"]],
            "skills": skills[row["id"]],
            "availability": _mentor_scalar("availability", row["availability"]),
            "capacity": _mentor_scalar("capacity", row["capacity"]),
            "paused": _mentor_scalar("paused", row["paused"]),
            "employer": row["employer_id"],
        }
        for row in rows
    ]


ENTREPRENEUR_ROW_VALUES = ("id", "user_id", "user__display_name", "town__insee_code", "neighbourhood_id",
                           "preferred_format", "availability", "age_band", "gender", "qpv_resident", "job_seeker")
_ENTREPRENEUR_FIELDS = EntrepreneurProfileSerializer().fields


def entrepreneur_rows_data(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``EntrepreneurProfileSerializer(profiles, many=True).data`` for ``rows`` of
    ``queryset.values(*ENTREPRENEUR_ROW_VALUES)``, in one more query (languages)."""
    fields = _ENTREPRENEUR_FIELDS

    def scalar(name: str, value: Any) -> Any:
        return None if value is None else fields[name].to_representation(value)

    ids = [row["id"] for row in rows]
    languages = (_codes_by_owner(EntrepreneurProfile.languages.through, "entrepreneurprofile", "language__code", ids,
                                 ("language__code",)) if ids else {})
    return [
        {
            "id": row["id"],
            "user": row["user_id"],
            "display_name": scalar("display_name", row["user__display_name"]),
            "town": row["town__insee_code"],
            "neighbourhood": row["neighbourhood_id"],
            "languages": languages[row["id"]],
            "preferred_format": scalar("preferred_format", row["preferred_format"]),
            "availability": scalar("availability", row["availability"]),
            "age_band": scalar("age_band", row["age_band"]),
            "gender": scalar("gender", row["gender"]),
            "qpv_resident": scalar("qpv_resident", row["qpv_resident"]),
            "job_seeker": scalar("job_seeker", row["job_seeker"]),
        }
        for row in rows
    ]


class WithdrawSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, allow_blank=True, required=False, default="")


# --- Offers ---------------------------------------------------------------------------------------


class OfferSerializer(serializers.ModelSerializer):
    company_name = serializers.CharField(source="company.name", read_only=True)
    town = town_field(required=False)
    reachable_towns = town_field(many=True, required=False)
    languages = language_field(allow_empty=False)
    sectors = serializers.SlugRelatedField(
        slug_field="code", queryset=Sector.objects.all(), many=True, required=False
    )
    accepted_stages = serializers.SlugRelatedField(
        slug_field="code", queryset=ProjectStage.objects.all(), many=True, allow_empty=False
    )
    skills = _skills_field()
    format = serializers.ChoiceField(choices=Format.choices, default=Format.EITHER)
    availability = AvailabilityField(required=False)
    capacity = serializers.IntegerField(min_value=1, max_value=500)
    hours_budget = serializers.IntegerField(min_value=1, max_value=100_000)
    description = serializers.CharField(max_length=4000, allow_blank=True, required=False, default="")

    class Meta:
        model = Offer
        fields = [
            "id", "company", "company_name", "title", "description", "format", "town", "reachable_towns",
            "languages", "sectors", "skills", "availability", "capacity", "hours_budget",
            "accepted_stages", "starts_on", "ends_on", "active", "created_at",
        ]
        read_only_fields = ["id", "company", "created_at"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("starts_on") and attrs.get("ends_on") and attrs["ends_on"] < attrs["starts_on"]:
            raise serializers.ValidationError({"ends_on": "La fin doit suivre le début."})
        return attrs

    def to_representation(self, instance: Offer) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["skills"] = _read_all(_SKILL_LEVEL_READER, instance.skills.all())
        return data


OFFER_ROW_VALUES = ("id", "company_id", "company__name", "title", "description", "format", "town__insee_code",
                    "availability", "capacity", "hours_budget", "starts_on", "ends_on", "active", "created_at")
_OFFER_FIELDS = OfferSerializer().fields


def offer_rows_data(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``OfferSerializer(offers, many=True).data`` for ``rows`` of ``queryset.values(*OFFER_ROW_VALUES)``,
    in five more queries (towns, languages, sectors, stages, skills) without model instances."""
    fields = _OFFER_FIELDS

    def scalar(name: str, value: Any) -> Any:
        return None if value is None else fields[name].to_representation(value)

    ids = [row["id"] for row in rows]
    skills: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    if ids:
        towns = _codes_by_owner(Offer.reachable_towns.through, "offer", "town__insee_code", ids, ("town__name", "town_id"))
        languages = _codes_by_owner(Offer.languages.through, "offer", "language__code", ids, ("language__code",))
        sectors = _codes_by_owner(Offer.sectors.through, "offer", "sector__code", ids, ("sector__code",))
        stages = _codes_by_owner(Offer.accepted_stages.through, "offer", "projectstage__code", ids,
                                 ("projectstage__position", "projectstage_id"))
        for offer_id, skill, level in (OfferSkill.objects.filter(offer_id__in=ids).order_by("id")
                                       .values_list("offer_id", "skill__code", "level")):
            skills[offer_id].append({"skill": skill, "level": level})
    else:
        towns = languages = sectors = stages = {}
    return [
        {
            "id": row["id"],
            "company": row["company_id"],
            "company_name": scalar("company_name", row["company__name"]),
            "title": scalar("title", row["title"]),
            "description": scalar("description", row["description"]),
            "format": scalar("format", row["format"]),
            "town": row["town__insee_code"],
            "reachable_towns": towns[row["id"]],
            "languages": languages[row["id"]],
            "sectors": sectors[row["id"]],
            "skills": skills[row["id"]],
            "availability": scalar("availability", row["availability"]),
            "capacity": scalar("capacity", row["capacity"]),
            "hours_budget": scalar("hours_budget", row["hours_budget"]),
            "accepted_stages": stages[row["id"]],
            "starts_on": scalar("starts_on", row["starts_on"]),
            "ends_on": scalar("ends_on", row["ends_on"]),
            "active": scalar("active", row["active"]),
            "created_at": scalar("created_at", row["created_at"]),
        }
        for row in rows
    ]


__all__ = [
    "Language", "Skill", "ConsentPurposeSerializer", "ConsentSerializer", "OfferSerializer",
    "RequestSerializer", "ProjectSerializer", "MentorProfileSerializer", "CompanyProfileSerializer",
    "EntrepreneurProfileSerializer", "UserSerializer", "RegisterSerializer", "LoginSerializer",
]
