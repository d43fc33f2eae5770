"""Scoring: the published formula, hard constraints, validation of weights and configuration."""

from __future__ import annotations

import math

import numpy as np
import pytest

from matching import CRITERIA, CycleConfig, Weights, score_pair

from .pools import AR, EN, FR, TOWNS, providers, requests


def _score(req: dict, prov: dict, config: CycleConfig | None = None):  # type: ignore[no-untyped-def]
    return score_pair(requests(req), providers(prov), 1, 100, town_coords=TOWNS, config=config)


def test_a_perfect_pair_scores_everything_but_the_preference() -> None:
    ps = _score({}, {})
    assert ps.allowed and ps.constraint == ""
    assert ps.score == pytest.approx(95.0)
    assert ps.breakdown == pytest.approx(
        {"skills": 55.0, "sector": 10.0, "distance": 15.0, "availability": 15.0, "preference": 0.0}
    )
    assert tuple(ps.breakdown) == CRITERIA


def test_the_score_follows_the_published_formula() -> None:
    req = {
        "needs": [(0, 3), (1, 1), (2, 2)],
        "sector": 4,
        "town": 0,
        "availability": 0b1111,
        "prefs": [100],
    }
    prov = {
        "skills": [(0, 2), (2, 3), (9, 1)],
        "sectors": 1 << 4,
        "town": 1,
        "availability": 0b0011_0011,
    }
    ps = _score(req, prov)
    skills = (3 * 2 / 3 + 1 * 0 + 2 * 3 / 3) / 6
    km = 2 * 6371.0088 * math.asin(
        math.sqrt(
            math.sin(math.radians(TOWNS[1, 0] - TOWNS[0, 0]) / 2) ** 2
            + math.cos(math.radians(TOWNS[0, 0]))
            * math.cos(math.radians(TOWNS[1, 0]))
            * math.sin(math.radians(TOWNS[1, 1] - TOWNS[0, 1]) / 2) ** 2
        )
    )
    distance = 2 ** (-km / 20.0)
    expected = 100 * (0.55 * skills + 0.10 * 1 + 0.15 * distance + 0.15 * 2 / 4 + 0.05 * 1)
    assert ps.score == pytest.approx(expected, abs=1e-6)
    assert sum(ps.breakdown.values()) == pytest.approx(ps.score, abs=1e-5)
    assert ps.breakdown["skills"] == pytest.approx(55 * skills)


def test_unknown_sector_and_unstated_availability_count_half() -> None:
    ps = _score({"sector": -1, "availability": 0}, {})
    assert ps.breakdown["sector"] == pytest.approx(5.0)
    assert ps.breakdown["availability"] == pytest.approx(7.5)


def test_distance_halves_every_twenty_kilometres_by_default() -> None:
    far = _score({"town": 0}, {"town": 2})
    assert far.breakdown["distance"] < 0.01
    config = CycleConfig(distance_half_km=1000.0)
    assert _score({"town": 0}, {"town": 2}, config).breakdown["distance"] > 10.0


@pytest.mark.parametrize(
    ("req", "prov", "constraint"),
    [
        ({"languages": AR}, {"languages": FR | EN}, "no_common_language"),
        ({"format": 1, "town": 0}, {"format": 1, "town": 2}, "format_or_reach"),
        ({"format": 2}, {"format": 1}, "format_or_reach"),
        ({"format": 3, "town": 0}, {"format": 1, "town": 2}, "format_or_reach"),
        ({"kind": 1}, {"kind": 2}, "kind_or_stage"),
        ({"kind": 2}, {"kind": 1}, "kind_or_stage"),
        ({"kind": 2, "stage": 3}, {"kind": 2, "accepted_stages": 0b0111}, "kind_or_stage"),
        ({"user_key": 7}, {"user_key": 7}, "excluded_or_self"),
        ({"needs": [(5, 3)], "sector": 9}, {"town": 2, "format": 2}, "below_min_score"),
    ],
)
def test_hard_constraints_remove_the_pair(req: dict, prov: dict, constraint: str) -> None:
    ps = _score(req, prov)
    assert not ps.allowed
    assert ps.constraint == constraint


@pytest.mark.parametrize(
    ("req", "prov"),
    [
        ({"languages": AR | FR}, {"languages": AR}),
        ({"format": 1, "town": 2}, {"format": 1, "town": 0, "reach": [2]}),
        ({"format": 3, "town": 2}, {"format": 3, "town": 0}),  # they meet remotely
        ({"kind": 2, "stage": 2}, {"kind": 2, "accepted_stages": 0b0100}),
        ({"kind": 1, "stage": 5}, {"kind": 1, "accepted_stages": 0}),  # mentors take every stage
    ],
)
def test_compatible_pairs_are_allowed(req: dict, prov: dict) -> None:
    assert _score(req, prov).allowed


def test_excluded_pairs_are_removed() -> None:
    config = CycleConfig(excluded_pairs=np.array([[1, 100]]))
    assert _score({}, {}, config).constraint == "excluded_or_self"


def test_weights_are_normalised_and_validated() -> None:
    w = Weights(skills=2, sector=0, distance=0, availability=0, preference=0)
    assert w.as_array().tolist() == [1.0, 0.0, 0.0, 0.0, 0.0]
    assert _score({}, {}, CycleConfig(weights=w)).score == pytest.approx(100.0)
    with pytest.raises(ValueError, match="Weights.sector"):
        Weights(sector=-0.1)
    with pytest.raises(ValueError, match="Weights"):
        Weights(0, 0, 0, 0, 0)
    with pytest.raises(ValueError, match="Weights.distance"):
        Weights(distance=float("nan"))


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"min_score": 101}, "min_score"),
        ({"min_score": -1}, "min_score"),
        ({"candidates_per_request": 0}, "candidates_per_request"),
        ({"candidates_per_provider": -1}, "candidates_per_provider"),
        ({"exact_threshold": -5}, "exact_threshold"),
        ({"priority_bonus": (1.0,)}, "priority_bonus"),
        ({"waiting_bonus_per_30_days": -1}, "waiting_bonus_per_30_days"),
        ({"excluded_pairs": np.array([1, 2, 3])}, "excluded_pairs"),
        ({"blocking_margin": float("inf")}, "blocking_margin"),
        ({"weights": {"skills": 1}}, "weights"),
    ],
)
def test_config_validation_names_the_parameter(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        CycleConfig(**kwargs)


def test_inputs_are_validated() -> None:
    with pytest.raises(ValueError, match="Requests.format"):
        requests({"format": 4})
    with pytest.raises(ValueError, match="Requests.ids"):
        requests({"id": 1}, {"id": 1})
    with pytest.raises(ValueError, match="Providers.capacity"):
        providers({"capacity": -1})
    with pytest.raises(ValueError, match="Requests.need_importance"):
        requests({"needs": [(0, 4)]})
    with pytest.raises(ValueError, match="town_coords"):
        score_pair(requests({}), providers({}), 1, 100, town_coords=np.zeros((1, 3)))
    with pytest.raises(ValueError, match="Requests.town"):
        score_pair(requests({"town": 5}), providers({}), 1, 100, town_coords=TOWNS)
    with pytest.raises(ValueError, match="request_id"):
        score_pair(requests({}), providers({}), 99, 100, town_coords=TOWNS)


def test_input_arrays_are_read_only() -> None:
    r = requests({})
    with pytest.raises(ValueError):
        r.town[0] = 3
