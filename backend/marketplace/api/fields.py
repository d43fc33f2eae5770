from __future__ import annotations

from rest_framework import serializers

from marketplace.models import Language, ProjectStage, Sector, Skill, Town


def code_field(model: type, many: bool = False, **kwargs: object) -> serializers.SlugRelatedField:
    return serializers.SlugRelatedField(slug_field="code", queryset=model.objects.all(), many=many, **kwargs)


def skill_field() -> serializers.SlugRelatedField:
    return code_field(Skill)


def language_field(**kwargs: object) -> serializers.SlugRelatedField:
    return code_field(Language, many=True, **kwargs)


def stage_field(**kwargs: object) -> serializers.SlugRelatedField:
    return code_field(ProjectStage, **kwargs)


def sector_field(**kwargs: object) -> serializers.SlugRelatedField:
    return code_field(Sector, **kwargs)


def town_field(many: bool = False, **kwargs: object) -> serializers.SlugRelatedField:
    return serializers.SlugRelatedField(
        slug_field="insee_code", queryset=Town.objects.all(), many=many, **kwargs
    )


class AvailabilityField(serializers.IntegerField):
    """14 half-days of the week as a bitmask (bit 0 = Monday morning)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(min_value=0, max_value=(1 << 14) - 1, **kwargs)
