"""The whole loop through the API: requests → cycle → run → review → publication → consent →
active match with its conversation."""

from __future__ import annotations

import pytest

from tests.backend.cycles.conftest import immediate_tasks  # noqa: F401  (fixture)
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def ok(response, status=200):
    assert response.status_code == status, (response.status_code, response.content[:500])
    return response.json()


def test_requests_become_active_matches_through_the_api(
    entrepreneur, other_entrepreneur, mentor, company, coordinator, immediate_tasks,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    from tests import factories as f

    f.OfferFactory(company=company.company_profile, capacity=1)
    amina, karim, sophie, nadia = (client_for(u) for u in (entrepreneur, other_entrepreneur, mentor, coordinator))
    # Two entrepreneurs file requests: one for a business model (the mentor's skill), one for a
    # website (the company's offer).
    for client, need in ((amina, "business_model"), (karim, "website")):
        project = ok(client.post("/api/projects/", {"title": "Épicerie solidaire", "stage": "idea",
                                                    "needs": [{"skill": need, "importance": 3}]}, format="json"), 201)
        ok(client.post("/api/requests/", {"project": project["id"]}, format="json"), 201)

    cycle = ok(nadia.post("/api/cycles/", {"territory": "rive-droite", "name": "Avril", "opens_on": "2026-04-01",
                                           "closes_on": "2026-04-30"}, format="json"), 201)
    base = f"/api/cycles/{cycle['id']}"
    ok(nadia.post(f"{base}/open/"))
    with django_capture_on_commit_callbacks(execute=True):
        ok(nadia.post(f"{base}/run/"), 202)
    cycle = ok(nadia.get(f"{base}/"))
    assert (cycle["status"], cycle["run_stage"], cycle["run_progress"]) == ("review", "done", 1.0)
    assert (cycle["request_count"], cycle["matched_count"]) == (2, 2)

    proposals = ok(nadia.get(f"/api/proposals/?cycle={cycle['id']}&ordering=-score"))["results"]
    kinds = {p["request"]: p["provider_kind"] for p in proposals}
    assert sorted(kinds.values()) == ["mentor", "offer"]
    for p in proposals:
        assert sum(p["breakdown"].values()) == pytest.approx(p["score"], abs=1e-3)
    bulk = ok(nadia.post("/api/proposals/bulk/", {"ids": [p["id"] for p in proposals], "decision": "approve"},
                         format="json"))
    assert sorted(bulk["done"]) == sorted(p["id"] for p in proposals) and bulk["failed"] == []
    with django_capture_on_commit_callbacks(execute=True):
        assert ok(nadia.post(f"{base}/publish/"))["status"] == "published"

    # Amina and her mentor each see the match and accept it.
    amina_match = ok(amina.get("/api/matches/"))["results"][0]
    assert amina_match["status"] == "pending" and amina_match["provider_name"] == "Sophie"
    assert ok(sophie.get("/api/matches/"))["results"][0]["id"] == amina_match["id"]
    ok(amina.post(f"/api/matches/{amina_match['id']}/accept/"))
    active = ok(sophie.post(f"/api/matches/{amina_match['id']}/accept/"))
    assert active["status"] == "active" and active["activated_at"]
    # The mentor now sees Amina's request, and the pair's conversation is open.
    assert ok(sophie.get(f"/api/requests/{amina_match['request']}/"))["status"] == "matched"
    from chat.models import Conversation

    assert Conversation.objects.filter(match_id=amina_match["id"], closed_at__isnull=True).exists()
    # Every decision is in the audit trail.
    actions = {e["action"] for e in ok(nadia.get("/api/audit/?page_size=100"))["results"]}
    assert {"cycle.create", "cycle.open", "cycle.run", "cycle.solved", "proposal.approve", "cycle.publish",
            "match.accept", "match.activate"} <= actions
