"""``/api/offers/`` builds its list from ``.values()`` rows (``offer_rows_data``); its items must be
exactly what ``OfferSerializer`` gives: same keys in the same order, same values and types, the
same JSON bytes. Offers with several reachable towns, languages, sectors, stages and skills, or
none, active or not, dates with and without microseconds."""

from __future__ import annotations

import datetime as dt

import pytest
from rest_framework.renderers import JSONRenderer

from marketplace import selectors
from marketplace.api.serializers import OFFER_ROW_VALUES, OfferSerializer, offer_rows_data
from marketplace.models import Language, Offer, ProjectStage, Sector, Skill, Town
from tests.conftest import client_for
from tests.factories import OfferFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def varied_offers(company):
    profile = company.company_profile
    languages = list(Language.objects.order_by("-code")[:3])  # given in reverse: the output sorts them
    stages = list(ProjectStage.objects.order_by("-position"))
    towns = list(Town.objects.order_by("-name")[:3])
    sectors = list(Sector.objects.order_by("-code")[:3])
    skills = list(Skill.objects.order_by("-code").values_list("code", flat=True)[:4])
    made = []
    for i in range(3):
        offer = OfferFactory(company=profile, title=f"Atelier « {i} » <b>\"é\"", description="" if i else "Aide\n<i>",
                             languages=languages[: i + 1], accepted_stages=stages[: i + 1],
                             skills=[(code, 1 + (i + k) % 3) for k, code in enumerate(skills[i:i + 2])])
        offer.reachable_towns.set(towns[:i])
        offer.sectors.set(sectors[: 2 * i])
        Offer.objects.filter(pk=offer.pk).update(
            active=i != 1, availability=(1 << (4 * i)) - 1,
            created_at=dt.datetime(2026, 3, 1 + i, 8, 30, 15, 654321 * (i % 2), tzinfo=dt.UTC))
        made.append(offer)
    return made


def _old(user) -> list:
    return OfferSerializer(selectors.offer_list_for_user(user).order_by("-created_at", "-id"), many=True).data


def _new(user) -> list:
    qs = selectors.offer_list_for_user(user).prefetch_related(None).order_by("-created_at", "-id")
    return offer_rows_data(list(qs.values(*OFFER_ROW_VALUES)))


def test_the_rows_give_the_serializers_items_byte_for_byte(varied_offers, company, coordinator, administrator):
    for user in (company, coordinator, administrator):
        old, new = _old(user), _new(user)
        assert len(old) == 3
        assert [list(item) for item in new] == [list(item) for item in old]
        assert new == old
        assert JSONRenderer().render(new) == JSONRenderer().render(old)
    assert any(len(item["reachable_towns"]) == 2 for item in old)


def test_the_api_list_answers_the_serializers_items(varied_offers, company):
    api = client_for(company)
    body = api.get("/api/offers/?page_size=2").json()
    assert body["count"] == 3 and body["next"]
    assert JSONRenderer().render(body["results"]) == JSONRenderer().render(_old(company)[:2])
    # A filter through a join (distinct rows): the offers having that skill, once each.
    skill = varied_offers[1].skills.order_by("id").first().skill.code
    having = sorted(o.pk for o in varied_offers if o.skills.filter(skill__code=skill).exists())
    assert sorted(item["id"] for item in api.get(f"/api/offers/?skill={skill}").json()["results"]) == having
    assert [item["id"] for item in api.get("/api/offers/?active=false").json()["results"]] == [varied_offers[1].pk]


def test_the_rows_follow_what_each_user_may_see(varied_offers, other_company, entrepreneur):
    assert client_for(other_company).get("/api/offers/").json()["results"] == []
    assert client_for(entrepreneur).get("/api/offers/").json()["results"] == []
