"""Input and configuration types of the matching engine.

Everything here is plain NumPy arrays in frozen dataclasses: the Django adapter builds them from
the database, the engine never sees a model instance.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import numpy.typing as npt

FORMAT_IN_PERSON = 1
FORMAT_REMOTE = 2
FORMAT_EITHER = 3

KIND_MENTOR = 1
KIND_SPONSORSHIP = 2
KIND_EITHER = 3

I8 = npt.NDArray[np.int8]
I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
U32 = npt.NDArray[np.uint32]
U64 = npt.NDArray[np.uint64]
F64 = npt.NDArray[np.float64]

CRITERIA: tuple[str, ...] = ("skills", "sector", "distance", "availability", "preference")


class UnmatchedReason(enum.StrEnum):
    """Why a request got no proposal, from the most basic cause to the least."""

    NO_PROVIDER_OF_KIND = "no_provider_of_kind"
    """No provider of the requested kind (mentor / sponsorship) accepts the project's stage."""
    NO_COMMON_LANGUAGE = "no_common_language"
    """No provider of the right kind speaks one of the request's languages."""
    NOT_REACHABLE = "not_reachable"
    """Providers share a language, but none offers a compatible format: the in-person ones do
    not reach the request's town and none can meet remotely."""
    EXCLUDED = "excluded"
    """Every otherwise compatible provider was excluded (declined or rejected earlier, or the
    same person)."""
    NO_CAPACITY = "no_capacity"
    """Every compatible provider has no free place in this cycle."""
    BELOW_MIN_SCORE = "below_min_score"
    """Compatible providers with free places exist, but every pair scores under the cycle's
    minimum score."""
    PROVIDERS_FULL = "providers_full"
    """Compatible providers exist, but their places went to other requests: giving one to this
    request would lower the total score of the cycle (including the priority bonuses)."""


def _arr(value: Any, dtype: Any, name: str, ndim: int = 1) -> Any:
    a = np.ascontiguousarray(value)
    if a.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-dimensional array, got shape {a.shape}")
    if a.size and not np.can_cast(a.dtype, dtype, casting="same_kind"):
        raise ValueError(f"{name}: expected {np.dtype(dtype).name}, got {a.dtype.name}")
    if a.size and np.issubdtype(np.dtype(dtype), np.integer):
        info = np.iinfo(dtype)
        if np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.bool_):
            lo, hi = int(a.min()), int(a.max())
        else:
            raise ValueError(f"{name}: expected integers, got {a.dtype.name}")
        if lo < info.min or hi > info.max:
            raise ValueError(f"{name}: values out of range for {np.dtype(dtype).name}")
    out = a.astype(dtype, copy=False)
    out = np.ascontiguousarray(out)
    out.setflags(write=False)
    return out


def _check_csr(ptr: I64, n: int, nnz: int, name: str) -> None:
    if ptr.shape != (n + 1,):
        raise ValueError(f"{name}: expected length {n + 1}, got {ptr.shape[0]}")
    if ptr[0] != 0 or ptr[-1] != nnz or np.any(np.diff(ptr) < 0):
        raise ValueError(f"{name}: must start at 0, be non-decreasing and end at {nnz}")


def _check_len(n: int, cls: str, **arrays: np.ndarray[Any, Any]) -> None:
    for name, a in arrays.items():
        if a.shape[0] != n:
            raise ValueError(f"{cls}.{name}: expected length {n}, got {a.shape[0]}")


def _check_values(a: np.ndarray[Any, Any], allowed: tuple[int, ...], name: str) -> None:
    if a.size and not np.isin(a, allowed).all():
        raise ValueError(f"{name}: values must be in {allowed}")


@dataclass(frozen=True)
class Requests:
    """Open requests of a cycle; row i is request i. Arrays are converted and made read-only.

    Needs are a CSR list: the needs of request i are ``need_skill[need_ptr[i]:need_ptr[i+1]]``
    with ``need_importance`` 1 (nice to have) to 3 (essential). Preferences (stated wishes for
    particular providers, by provider id) are an optional CSR list ``pref_ptr``/``pref_provider_id``.
    ``user_key`` is the person behind the request (-1 if unknown), used to forbid self-matching.
    """

    ids: I64
    town: I32
    format: I8
    languages: U64
    availability: U32
    priority_tier: I8
    waiting_days: I32
    sector: I32
    stage: I32
    kind: I8
    need_ptr: I64
    need_skill: I32
    need_importance: I8
    user_key: I64 | None = None
    pref_ptr: I64 | None = None
    pref_provider_id: I64 | None = None

    def __post_init__(self) -> None:
        s = object.__setattr__
        spec = {
            "ids": np.int64,
            "town": np.int32,
            "format": np.int8,
            "languages": np.uint64,
            "availability": np.uint32,
            "priority_tier": np.int8,
            "waiting_days": np.int32,
            "sector": np.int32,
            "stage": np.int32,
            "kind": np.int8,
            "need_ptr": np.int64,
            "need_skill": np.int32,
            "need_importance": np.int8,
        }
        for name, dt in spec.items():
            s(self, name, _arr(getattr(self, name), dt, f"Requests.{name}"))
        n = self.ids.shape[0]
        s(
            self,
            "user_key",
            _arr(
                np.full(n, -1, np.int64) if self.user_key is None else self.user_key,
                np.int64,
                "Requests.user_key",
            ),
        )
        if (self.pref_ptr is None) != (self.pref_provider_id is None):
            raise ValueError("Requests.pref_ptr: give both pref_ptr and pref_provider_id or none")
        s(
            self,
            "pref_ptr",
            _arr(
                np.zeros(n + 1, np.int64) if self.pref_ptr is None else self.pref_ptr,
                np.int64,
                "Requests.pref_ptr",
            ),
        )
        s(
            self,
            "pref_provider_id",
            _arr(
                np.zeros(0, np.int64) if self.pref_provider_id is None else self.pref_provider_id,
                np.int64,
                "Requests.pref_provider_id",
            ),
        )
        _check_len(
            n,
            "Requests",
            town=self.town,
            format=self.format,
            languages=self.languages,
            availability=self.availability,
            priority_tier=self.priority_tier,
            waiting_days=self.waiting_days,
            sector=self.sector,
            stage=self.stage,
            kind=self.kind,
            user_key=self.user_key_array,
        )
        if np.unique(self.ids).shape[0] != n:
            raise ValueError("Requests.ids: ids must be unique")
        _check_csr(self.need_ptr, n, self.need_skill.shape[0], "Requests.need_ptr")
        if self.need_importance.shape != self.need_skill.shape:
            raise ValueError("Requests.need_importance: must have the length of need_skill")
        _check_values(self.need_importance, (1, 2, 3), "Requests.need_importance")
        if self.need_skill.size and self.need_skill.min() < 0:
            raise ValueError("Requests.need_skill: skill ids must be >= 0")
        _check_values(self.format, (1, 2, 3), "Requests.format")
        _check_values(self.kind, (1, 2, 3), "Requests.kind")
        _check_values(self.priority_tier, (0, 1, 2), "Requests.priority_tier")
        if n and (self.stage.min() < 0 or self.stage.max() > 63):
            raise ValueError("Requests.stage: stage index must be in 0..63")
        if n and self.waiting_days.min() < 0:
            raise ValueError("Requests.waiting_days: must be >= 0")
        if n and self.town.min() < 0:
            raise ValueError("Requests.town: town index must be >= 0")
        if n and (self.sector.min() < -1 or self.sector.max() > 63):
            raise ValueError("Requests.sector: -1 (unknown) or a sector index 0..63")
        assert self.pref_ptr is not None and self.pref_provider_id is not None
        _check_csr(self.pref_ptr, n, self.pref_provider_id.shape[0], "Requests.pref_ptr")

    @property
    def n(self) -> int:
        return int(self.ids.shape[0])

    @property
    def user_key_array(self) -> I64:
        """``user_key`` (always set after construction; -1 where unknown)."""
        assert self.user_key is not None
        return self.user_key

    @property
    def pref_ptr_array(self) -> I64:
        assert self.pref_ptr is not None
        return self.pref_ptr

    @property
    def pref_provider_id_array(self) -> I64:
        assert self.pref_provider_id is not None
        return self.pref_provider_id


@dataclass(frozen=True)
class Providers:
    """Providers of a cycle (a mentor, kind 1, or a company's sponsorship offer, kind 2).

    ``sectors`` is a uint64 bitmask of sector indices 0..63. Skills are a CSR list with levels
    1..3. ``reach_ptr``/``reach_town`` list the towns a provider can reach in person besides its
    own. ``accepted_stages`` is a bitmask of project stages, only read for company offers.
    ``capacity`` is the number of free places in this cycle.
    """

    ids: I64
    kind: I8
    town: I32
    reach_ptr: I64
    reach_town: I32
    format: I8
    languages: U64
    availability: U32
    capacity: I32
    sectors: U64
    skill_ptr: I64
    skill_id: I32
    skill_level: I8
    accepted_stages: U64
    user_key: I64 | None = None

    def __post_init__(self) -> None:
        s = object.__setattr__
        spec = {
            "ids": np.int64,
            "kind": np.int8,
            "town": np.int32,
            "reach_ptr": np.int64,
            "reach_town": np.int32,
            "format": np.int8,
            "languages": np.uint64,
            "availability": np.uint32,
            "capacity": np.int32,
            "sectors": np.uint64,
            "skill_ptr": np.int64,
            "skill_id": np.int32,
            "skill_level": np.int8,
            "accepted_stages": np.uint64,
        }
        for name, dt in spec.items():
            s(self, name, _arr(getattr(self, name), dt, f"Providers.{name}"))
        m = self.ids.shape[0]
        s(
            self,
            "user_key",
            _arr(
                np.full(m, -1, np.int64) if self.user_key is None else self.user_key,
                np.int64,
                "Providers.user_key",
            ),
        )
        _check_len(
            m,
            "Providers",
            kind=self.kind,
            town=self.town,
            format=self.format,
            languages=self.languages,
            availability=self.availability,
            capacity=self.capacity,
            sectors=self.sectors,
            accepted_stages=self.accepted_stages,
            user_key=self.user_key_array,
        )
        if np.unique(self.ids).shape[0] != m:
            raise ValueError("Providers.ids: ids must be unique")
        _check_csr(self.reach_ptr, m, self.reach_town.shape[0], "Providers.reach_ptr")
        _check_csr(self.skill_ptr, m, self.skill_id.shape[0], "Providers.skill_ptr")
        if self.skill_level.shape != self.skill_id.shape:
            raise ValueError("Providers.skill_level: must have the length of skill_id")
        _check_values(self.skill_level, (1, 2, 3), "Providers.skill_level")
        if self.skill_id.size and self.skill_id.min() < 0:
            raise ValueError("Providers.skill_id: skill ids must be >= 0")
        _check_values(self.kind, (1, 2), "Providers.kind")
        _check_values(self.format, (1, 2, 3), "Providers.format")
        if m and self.capacity.min() < 0:
            raise ValueError("Providers.capacity: must be >= 0")
        if m and self.town.min() < 0:
            raise ValueError("Providers.town: town index must be >= 0")
        if self.reach_town.size and self.reach_town.min() < 0:
            raise ValueError("Providers.reach_town: town index must be >= 0")

    @property
    def m(self) -> int:
        return int(self.ids.shape[0])

    @property
    def user_key_array(self) -> I64:
        """``user_key`` (always set after construction; -1 where unknown)."""
        assert self.user_key is not None
        return self.user_key


@dataclass(frozen=True)
class Weights:
    """Relative weights of the score criteria; normalised to sum 1 (``normalised()``).

    Defaults: skills 0.55, sector 0.10, distance 0.15, availability 0.15, preference 0.05.
    """

    skills: float = 0.55
    sector: float = 0.10
    distance: float = 0.15
    availability: float = 0.15
    preference: float = 0.05

    def __post_init__(self) -> None:
        total = 0.0
        for f in fields(self):
            v = getattr(self, f.name)
            if not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
                raise ValueError(f"Weights.{f.name}: must be a finite number >= 0, got {v!r}")
            total += float(v)
        if total <= 0:
            raise ValueError("Weights: the weights must not all be zero")

    def as_array(self) -> F64:
        """Normalised weights in the order of ``CRITERIA``."""
        w = np.array([float(getattr(self, c)) for c in CRITERIA], dtype=np.float64)
        out: F64 = w / float(w.sum())
        return out


def _empty_pairs() -> I64:
    return np.zeros((0, 2), dtype=np.int64)


@dataclass(frozen=True)
class CycleConfig:
    """Parameters of one matching cycle. Invalid values raise ``ValueError`` naming the field.

    - ``min_score``: pairs scoring under it are forbidden (0..100).
    - ``priority_bonus``: extra value, in score points, of matching a request of tier 1 and 2
      (``(bonus_tier1, bonus_tier2)``); it is the cost of leaving such a request unmatched.
    - ``waiting_bonus_per_30_days`` and ``waiting_bonus_cap``: extra value per 30 days of
      waiting, capped.
    - ``candidates_per_request`` (K) and ``candidates_per_provider`` (K'): size of the pruned
      candidate graph; ``exact_threshold``: when requests x providers is at most this, every
      allowed pair is kept and the solution is the exact optimum of the whole pool.
    - ``excluded_pairs``: (k, 2) array of (request_id, provider_id) that must not be proposed.
    - ``blocking_margin``: points both sides must gain for a blocking pair to be reported.
    - ``distance_half_km``: the distance at which the distance criterion is worth half.
    """

    weights: Weights = field(default_factory=Weights)
    min_score: float = 20.0
    priority_bonus: tuple[float, float] = (10.0, 20.0)
    waiting_bonus_per_30_days: float = 1.0
    waiting_bonus_cap: float = 12.0
    candidates_per_request: int = 20
    candidates_per_provider: int = 10
    exact_threshold: int = 4_000_000
    excluded_pairs: I64 = field(default_factory=_empty_pairs)
    blocking_margin: float = 5.0
    distance_half_km: float = 20.0
    max_blocking_pairs: int = 1000

    def __post_init__(self) -> None:
        if not isinstance(self.weights, Weights):
            raise ValueError("CycleConfig.weights: must be a Weights instance")

        def num(name: str, lo: float, hi: float = math.inf) -> None:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise ValueError(f"CycleConfig.{name}: must be a finite number, got {v!r}")
            if not lo <= v <= hi:
                raise ValueError(f"CycleConfig.{name}: must be in [{lo}, {hi}], got {v!r}")

        def integer(name: str, lo: int) -> None:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < lo:
                raise ValueError(f"CycleConfig.{name}: must be an integer >= {lo}, got {v!r}")

        num("min_score", 0.0, 100.0)
        num("waiting_bonus_per_30_days", 0.0, 1000.0)
        num("waiting_bonus_cap", 0.0, 1000.0)
        num("blocking_margin", 0.0, 100.0)
        num("distance_half_km", 1e-3, 1e5)
        integer("candidates_per_request", 1)
        integer("candidates_per_provider", 0)
        integer("exact_threshold", 0)
        integer("max_blocking_pairs", 0)
        pb = self.priority_bonus
        if (
            not isinstance(pb, tuple | list)
            or len(pb) != 2
            or not all(isinstance(v, int | float) and math.isfinite(v) and 0 <= v <= 1000 for v in pb)
        ):
            raise ValueError("CycleConfig.priority_bonus: must be two numbers in [0, 1000]")
        object.__setattr__(self, "priority_bonus", (float(pb[0]), float(pb[1])))
        ex = np.asarray(self.excluded_pairs)
        if ex.size == 0:
            ex = _empty_pairs()
        if ex.ndim != 2 or ex.shape[1] != 2 or not np.issubdtype(ex.dtype, np.integer):
            raise ValueError("CycleConfig.excluded_pairs: must be an integer array of shape (k, 2)")
        ex = np.ascontiguousarray(ex, dtype=np.int64)
        ex.setflags(write=False)
        object.__setattr__(self, "excluded_pairs", ex)

    def unmatched_penalty(self, requests: Requests) -> F64:
        """Value, in score points, of matching each request (what leaving it unmatched costs)."""
        bonus = np.array([0.0, self.priority_bonus[0], self.priority_bonus[1]])
        tier = bonus[requests.priority_tier.astype(np.int64)]
        wait = np.minimum(
            requests.waiting_days.astype(np.float64) / 30.0 * self.waiting_bonus_per_30_days,
            self.waiting_bonus_cap,
        )
        out: F64 = np.add(tier, wait, dtype=np.float64)
        return out
