"""Small hand-made pools: each request / provider is a dict of the fields that matter."""

from __future__ import annotations

from typing import Any

import numpy as np

from matching import Providers, Requests

FR, AR, EN = 1, 2, 4
ALL_WEEK = (1 << 14) - 1
# towns: 0 Lormont, 1 Cenon (about 2 km away), 2 Paris (about 500 km away)
TOWNS = np.array([[44.8790, -0.5217], [44.8578, -0.5317], [48.8566, 2.3522]])


def requests(*rows: dict[str, Any]) -> Requests:
    d: dict[str, Any] = {
        "town": 0,
        "format": 3,
        "languages": FR,
        "availability": ALL_WEEK,
        "priority_tier": 0,
        "waiting_days": 0,
        "sector": 0,
        "stage": 0,
        "kind": 3,
        "user_key": -1,
        "needs": [(0, 3)],
        "prefs": [],
    }
    rs = [{**d, "id": i + 1, **r} for i, r in enumerate(rows)]
    need_counts = [len(r["needs"]) for r in rs]
    pref_counts = [len(r["prefs"]) for r in rs]
    return Requests(
        ids=np.array([r["id"] for r in rs], dtype=np.int64),
        town=np.array([r["town"] for r in rs], dtype=np.int32),
        format=np.array([r["format"] for r in rs], dtype=np.int8),
        languages=np.array([r["languages"] for r in rs], dtype=np.uint64),
        availability=np.array([r["availability"] for r in rs], dtype=np.uint32),
        priority_tier=np.array([r["priority_tier"] for r in rs], dtype=np.int8),
        waiting_days=np.array([r["waiting_days"] for r in rs], dtype=np.int32),
        sector=np.array([r["sector"] for r in rs], dtype=np.int32),
        stage=np.array([r["stage"] for r in rs], dtype=np.int32),
        kind=np.array([r["kind"] for r in rs], dtype=np.int8),
        need_ptr=np.concatenate([[0], np.cumsum(need_counts)]).astype(np.int64),
        need_skill=np.array([s for r in rs for s, _ in r["needs"]], dtype=np.int32),
        need_importance=np.array([i for r in rs for _, i in r["needs"]], dtype=np.int8),
        user_key=np.array([r["user_key"] for r in rs], dtype=np.int64),
        pref_ptr=np.concatenate([[0], np.cumsum(pref_counts)]).astype(np.int64),
        pref_provider_id=np.array([p for r in rs for p in r["prefs"]], dtype=np.int64),
    )


def providers(*rows: dict[str, Any]) -> Providers:
    d: dict[str, Any] = {
        "kind": 1,
        "town": 0,
        "reach": [],
        "format": 3,
        "languages": FR,
        "availability": ALL_WEEK,
        "capacity": 1,
        "sectors": 1,
        "skills": [(0, 3)],
        "accepted_stages": (1 << 64) - 1,
        "user_key": -2,
    }
    ps = [{**d, "id": 100 + i, **p} for i, p in enumerate(rows)]
    return Providers(
        ids=np.array([p["id"] for p in ps], dtype=np.int64),
        kind=np.array([p["kind"] for p in ps], dtype=np.int8),
        town=np.array([p["town"] for p in ps], dtype=np.int32),
        reach_ptr=np.concatenate([[0], np.cumsum([len(p["reach"]) for p in ps])]).astype(np.int64),
        reach_town=np.array([t for p in ps for t in p["reach"]], dtype=np.int32),
        format=np.array([p["format"] for p in ps], dtype=np.int8),
        languages=np.array([p["languages"] for p in ps], dtype=np.uint64),
        availability=np.array([p["availability"] for p in ps], dtype=np.uint32),
        capacity=np.array([p["capacity"] for p in ps], dtype=np.int32),
        sectors=np.array([p["sectors"] for p in ps], dtype=np.uint64),
        skill_ptr=np.concatenate([[0], np.cumsum([len(p["skills"]) for p in ps])]).astype(np.int64),
        skill_id=np.array([s for p in ps for s, _ in p["skills"]], dtype=np.int32),
        skill_level=np.array([lv for p in ps for _, lv in p["skills"]], dtype=np.int8),
        accepted_stages=np.array([p["accepted_stages"] for p in ps], dtype=np.uint64),
        user_key=np.array([p["user_key"] for p in ps], dtype=np.int64),
    )
