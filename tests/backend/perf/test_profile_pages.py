"""A provider's own home page lists the skills of the profile: its query count must not grow with
them (it read each skill's row apart: 7 skills, 7 more queries)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from marketplace.models import Skill
from tests.factories import MentorProfileFactory

pytestmark = pytest.mark.django_db


def _page(user) -> tuple[int, bytes]:
    client = Client()
    client.force_login(user)
    client.get("/parrainage/")  # warm: caches of the session and the user
    with CaptureQueriesContext(connection) as ctx:
        response = client.get("/parrainage/")
    assert response.status_code == 200
    return len(ctx.captured_queries), response.content


def test_the_mentor_home_costs_the_same_queries_whatever_the_skills():
    codes = list(Skill.objects.order_by("code").values_list("code", flat=True)[:7])
    few = MentorProfileFactory(user__email="few@example.org", skills=[(codes[0], 2)])
    many = MentorProfileFactory(user__email="many@example.org", skills=[(code, 1 + i % 3) for i, code in enumerate(codes)])
    few_queries, _ = _page(few.user)
    many_queries, body = _page(many.user)
    assert many_queries == few_queries
    for skill in Skill.objects.filter(code__in=codes):
        assert skill.label.encode() in body or skill.label.replace("'", "&#x27;").encode() in body
