"""``/api/entrepreneurs/`` builds its list from ``.values()`` rows (``entrepreneur_rows_data``); its
items must be exactly what ``EntrepreneurProfileSerializer`` gives: same keys in the same order,
same values and types, the same JSON bytes. Profiles with one and several languages, with and
without a neighbourhood, every format, optional answers given or not (null, false, blank)."""

from __future__ import annotations

import pytest
from rest_framework.renderers import JSONRenderer

from marketplace import selectors
from marketplace.api.serializers import (
    ENTREPRENEUR_ROW_VALUES,
    EntrepreneurProfileSerializer,
    entrepreneur_rows_data,
)
from marketplace.models import AgeBand, EntrepreneurProfile, Format, Gender, Language, Neighbourhood
from tests.conftest import client_for
from tests.factories import EntrepreneurProfileFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def varied_entrepreneurs():
    languages = list(Language.objects.order_by("-code")[:3])  # given in reverse: the output sorts them
    neighbourhood = Neighbourhood.objects.filter(town__insee_code="33249").first()
    made = []
    for i, (fmt, age, gender, qpv, job) in enumerate([
        (Format.EITHER, "", "", None, None),
        (Format.REMOTE, AgeBand.UNDER_26, Gender.WOMAN, True, False),
        (Format.IN_PERSON, AgeBand.OVER_50, Gender.OTHER, False, True),
    ]):
        profile = EntrepreneurProfileFactory(user__display_name=f"Porteuse « {i} » <b>\"é\"", languages=languages[: i + 1])
        EntrepreneurProfile.objects.filter(pk=profile.pk).update(
            preferred_format=fmt, age_band=age, gender=gender, qpv_resident=qpv, job_seeker=job,
            availability=(1 << (3 * i)) - 1, neighbourhood=neighbourhood if i == 1 else None)
        made.append(profile)
    return made


def _old(user) -> list:
    qs = selectors.entrepreneur_profile_list_for_user(user).order_by("-created_at", "-id")
    return EntrepreneurProfileSerializer(qs, many=True).data


def _new(user) -> list:
    qs = selectors.entrepreneur_profile_list_for_user(user).prefetch_related(None).order_by("-created_at", "-id")
    return entrepreneur_rows_data(list(qs.values(*ENTREPRENEUR_ROW_VALUES)))


def test_the_rows_give_the_serializers_items_byte_for_byte(varied_entrepreneurs, coordinator, administrator):
    for user in (coordinator, administrator):
        old, new = _old(user), _new(user)
        assert len(old) == 3
        assert [list(item) for item in new] == [list(item) for item in old]
        assert new == old
        assert JSONRenderer().render(new) == JSONRenderer().render(old)
    assert any(item["neighbourhood"] for item in old) and any(len(item["languages"]) == 3 for item in old)


def test_the_api_list_answers_the_serializers_items(varied_entrepreneurs, coordinator):
    response = client_for(coordinator).get("/api/entrepreneurs/?page_size=2")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3 and body["next"]
    assert JSONRenderer().render(body["results"]) == JSONRenderer().render(_old(coordinator)[:2])
    filtered = client_for(coordinator).get(f"/api/entrepreneurs/?preferred_format={Format.REMOTE}").json()["results"]
    assert [item["id"] for item in filtered] == [varied_entrepreneurs[1].pk]


def test_the_rows_follow_what_each_user_may_see(varied_entrepreneurs, outside_coordinator, mentor):
    assert client_for(outside_coordinator).get("/api/entrepreneurs/").json()["results"] == []
    assert client_for(mentor).get("/api/entrepreneurs/").json()["results"] == []
