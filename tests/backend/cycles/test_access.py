"""Who sees what: every read endpoint of cycles against every persona and anonymous."""

from __future__ import annotations

import pytest

from cycles.models import CycleStatus, Match
from tests import factories as f
from tests.backend.cycles.conftest import make_cycle, make_proposal, open_request
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

PERSONAS = ["anonymous", "entrepreneur", "other_entrepreneur", "mentor", "company", "coordinator",
            "outside_coordinator", "administrator"]
STAFF = {"coordinator": 200, "administrator": 200}


def expect(default: int, **codes: int) -> dict[str, int]:
    return {p: codes.get(p, default) for p in PERSONAS} | {"anonymous": codes.get("anonymous", 403)}


MATRIX = {
    "cycle list": ("/api/cycles/", expect(200)),
    "cycle detail": ("/api/cycles/{cycle}/", expect(404, **STAFF)),
    "cycle unmatched": ("/api/cycles/{cycle}/unmatched/", expect(404, **STAFF)),
    "proposal detail (undecided)": ("/api/proposals/{proposal}/", expect(404, **STAFF)),
    "match detail": ("/api/matches/{match}/", expect(404, entrepreneur=200, mentor=200, **STAFF)),
    "audit": ("/api/audit/", expect(403, **STAFF, outside_coordinator=200)),
}


@pytest.fixture
def world(request):
    users = {p: request.getfixturevalue(p) for p in PERSONAS if p != "anonymous"}
    cycle = make_cycle(status=CycleStatus.REVIEW)
    proposal = make_proposal(cycle, open_request(user=users["other_entrepreneur"]), mentor=f.MentorProfileFactory())
    req = open_request(user=users["entrepreneur"])
    mentor = users["mentor"].mentor_profile
    match = Match.objects.create(request=req, entrepreneur=users["entrepreneur"], provider_user=mentor.user,
                                 mentor=mentor, territory_id=req.territory_id, slot=1)
    return users, {"cycle": cycle.pk, "proposal": proposal.pk, "match": match.pk}


@pytest.mark.parametrize("endpoint", sorted(MATRIX))
def test_read_access(world, endpoint):
    users, ids = world
    path, expected = MATRIX[endpoint]
    seen = {p: client_for(users.get(p)).get(path.format(**ids)).status_code for p in PERSONAS}
    assert seen == expected


def test_lists_show_only_what_each_may_see(world):
    users, ids = world
    assert client_for(users["outside_coordinator"]).get("/api/cycles/").json()["count"] == 0
    assert client_for(users["coordinator"]).get("/api/cycles/").json()["count"] == 1
    assert client_for(users["other_entrepreneur"]).get("/api/proposals/").json()["count"] == 0
    assert client_for(users["company"]).get("/api/matches/").json()["count"] == 0
    assert [m["id"] for m in client_for(users["mentor"]).get("/api/matches/").json()["results"]] == [ids["match"]]
