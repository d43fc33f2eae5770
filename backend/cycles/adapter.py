"""The one adapter between the database and the ``matching`` engine.

It builds ``matching.Requests`` / ``matching.Providers`` / ``matching.CycleConfig`` from the
database in bulk (a fixed number of ``values_list`` queries, whatever the pool size, then NumPy),
and maps the engine's result back to model rows. ``matching`` never sees Django.

Provider ids given to the engine encode the kind: ``2 * MentorProfile.pk`` for a mentor,
``2 * Offer.pk + 1`` for a company offer (see ``provider_key`` / ``provider_from_key``).

Towns are passed as indices into ``town_coords`` (all towns ordered by pk); sectors as their
rank among all sectors ordered by pk (the engine's sector masks hold 64 bits); stages as
``ProjectStage.position``; languages as ``Language.bit``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from accounts.models import Consent, ConsentPurpose
from cycles.models import LIVE_MATCH_STATUSES, Cycle, Match, MatchStatus, Proposal, ProposalStatus
from marketplace.models import (
    AgeBand,
    Gender,
    MentorProfile,
    MentorSkill,
    Offer,
    OfferSkill,
    Request,
    RequestNeed,
    RequestStatus,
    Sector,
    Town,
)

KIND_MENTOR = 1
KIND_OFFER = 2
# Pairs that may never be proposed again: a coordinator rejected them, or a party declined or let
# the deadline pass.
EXCLUDING_MATCH_STATUSES = (MatchStatus.DECLINED, MatchStatus.EXPIRED)


def provider_key(kind: int, pk: int) -> int:
    return 2 * int(pk) + (1 if kind == KIND_OFFER else 0)


def provider_from_key(key: int) -> tuple[int, int]:
    """(kind, pk) of an engine provider id."""
    key = int(key)
    return (KIND_OFFER, key // 2) if key % 2 else (KIND_MENTOR, key // 2)


def _keys(kind_is_offer: np.ndarray, pks: np.ndarray) -> np.ndarray:
    return 2 * pks.astype(np.int64) + kind_is_offer.astype(np.int64)


# --- Reference indices ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    town_pk: np.ndarray  # sorted town pks; index = position
    town_coords: np.ndarray  # (T, 2)
    sector_pk: np.ndarray  # sorted sector pks; index = rank (only the first 64 are usable)

    def town_index(self, pks: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.town_pk, np.asarray(pks, dtype=np.int64)).astype(np.int32)

    def sector_index(self, pks: np.ndarray) -> np.ndarray:
        """Rank of each sector pk, -1 for none (NaN / 0) or beyond the 64 a mask can hold."""
        a = np.asarray(pks, dtype=np.int64)
        idx = np.searchsorted(self.sector_pk, a)
        ok = (a > 0) & (idx < min(self.sector_pk.shape[0], 64))
        ok[ok] &= self.sector_pk[idx[ok]] == a[ok]
        return np.where(ok, idx, -1).astype(np.int32)


def load_reference() -> Reference:
    towns = list(Town.objects.order_by("pk").values_list("pk", "latitude", "longitude"))
    town_pk = np.array([t[0] for t in towns], dtype=np.int64)
    coords = np.array([[t[1], t[2]] for t in towns], dtype=np.float64).reshape(-1, 2)
    sector_pk = np.array(list(Sector.objects.order_by("pk").values_list("pk", flat=True)), dtype=np.int64)
    return Reference(town_pk=town_pk, town_coords=coords, sector_pk=sector_pk)


# --- Helpers --------------------------------------------------------------------------------------


def _column(rows: list[tuple[Any, ...]], i: int, dtype: Any, none: Any = 0) -> np.ndarray:
    return np.fromiter((none if r[i] is None else r[i] for r in rows), dtype=dtype, count=len(rows))


def _csr(ids: np.ndarray, owner: np.ndarray, *values: np.ndarray) -> tuple[np.ndarray, ...]:
    """CSR pointer over ``ids`` (sorted) for rows owned by ``owner``, rows sorted by owner
    (stable, so a query ordered by (owner, x) keeps its order inside each owner)."""
    pos = np.searchsorted(ids, owner)
    order = np.argsort(pos, kind="stable")
    counts = np.bincount(pos, minlength=ids.shape[0]) if pos.size else np.zeros(ids.shape[0], np.int64)
    ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return (ptr, *[v[order] for v in values])


def _mask(ids: np.ndarray, owner: np.ndarray, bits: np.ndarray) -> np.ndarray:
    out = np.zeros(ids.shape[0], dtype=np.uint64)
    if owner.size:
        ok = (bits >= 0) & (bits < 64)
        pos = np.searchsorted(ids, owner[ok])
        np.bitwise_or.at(out, pos, np.left_shift(np.uint64(1), bits[ok].astype(np.uint64)))
    return out


def _pairs(rows: list[tuple[Any, ...]]) -> tuple[np.ndarray, np.ndarray]:
    a = np.array(rows, dtype=np.int64).reshape(-1, 2)
    return a[:, 0], a[:, 1]


# --- Requests -------------------------------------------------------------------------------------


def pool_requests(cycle: Cycle) -> QuerySet[Request]:
    """Open requests of the cycle's territory that hold no place yet (no approved proposal, no
    live match) and whose entrepreneur has a profile."""
    qs = Request.objects.filter(status=RequestStatus.OPEN, entrepreneur__entrepreneur_profile__isnull=False)
    if cycle.territory_id is not None:
        qs = qs.filter(territory_id=cycle.territory_id)
    return qs.exclude(
        Exists(Proposal.objects.filter(request=OuterRef("pk"), status=ProposalStatus.APPROVED))
    ).exclude(Exists(Match.objects.filter(request=OuterRef("pk"), status__in=LIVE_MATCH_STATUSES)))


@dataclass(frozen=True)
class RequestSide:
    """Per request (in the order of ``ids``): what the write-back needs."""

    ids: np.ndarray
    territory: np.ndarray
    town_pk: np.ndarray
    user: np.ndarray


def load_requests(qs: QuerySet[Request], ref: Reference, *, now: dt.datetime) -> tuple[Any, RequestSide]:
    from matching import Requests

    p = "entrepreneur__entrepreneur_profile__"
    rows = list(
        qs.order_by("pk").values_list(
            "pk", "kind", "format", "created_at", "entrepreneur_id", "territory_id",
            f"{p}town_id", f"{p}availability", "project__sector_id", "project__stage__position",
            f"{p}age_band", f"{p}gender", f"{p}qpv_resident", f"{p}job_seeker",
        )
    )
    ids = _column(rows, 0, np.int64)
    n = ids.shape[0]
    sub = qs.values("pk")
    need_rows = list(
        RequestNeed.objects.filter(request__in=sub).order_by("request_id", "skill_id")
        .values_list("request_id", "skill_id", "importance")
    )
    need = np.array(need_rows, dtype=np.int64).reshape(-1, 3)
    need_ptr, need_skill, need_imp = _csr(ids, need[:, 0], need[:, 1], need[:, 2])
    lang_owner, lang_bit = _pairs(
        list(Request.languages.through.objects.filter(request__in=sub).values_list("request_id", "language__bit"))
    )
    user = _column(rows, 4, np.int64)
    # Priority publics count only while the entrepreneur's consent to use that data is live.
    consenting = np.array(
        list(
            Consent.objects.filter(
                purpose=ConsentPurpose.PRIORITY_DATA, withdrawn_at__isnull=True,
                user_id__in=qs.values("entrepreneur_id"),
            ).values_list("user_id", flat=True)
        ),
        dtype=np.int64,
    )
    criteria = (
        np.fromiter((r[10] in (AgeBand.UNDER_26, AgeBand.OVER_50) for r in rows), bool, n).astype(np.int8)
        + np.fromiter((r[11] == Gender.WOMAN for r in rows), bool, n)
        + np.fromiter((bool(r[12]) for r in rows), bool, n)
        + np.fromiter((bool(r[13]) for r in rows), bool, n)
    )
    tier = np.where(np.isin(user, consenting), np.minimum(criteria, 2), 0).astype(np.int8)
    now_ts = now.timestamp()
    waiting = np.fromiter((max(0.0, now_ts - r[3].timestamp()) // 86400 for r in rows), np.float64, n)
    town_pk = _column(rows, 6, np.int64)
    requests = Requests(
        ids=ids,
        town=ref.town_index(town_pk),
        format=_column(rows, 2, np.int8),
        languages=_mask(ids, lang_owner, lang_bit),
        availability=_column(rows, 7, np.uint32),
        priority_tier=tier,
        waiting_days=waiting.astype(np.int32),
        sector=ref.sector_index(_column(rows, 8, np.int64)),
        stage=_column(rows, 9, np.int32),
        kind=_column(rows, 1, np.int8),
        need_ptr=need_ptr,
        need_skill=need_skill.astype(np.int32),
        need_importance=need_imp.astype(np.int8),
        user_key=user,
    )
    side = RequestSide(ids=ids, territory=_column(rows, 5, np.int64), town_pk=town_pk, user=user)
    return requests, side


# --- Providers ------------------------------------------------------------------------------------


def pool_mentors(cycle: Cycle) -> QuerySet[MentorProfile]:
    """Mentors of the territory: living in it or reaching one of its towns."""
    qs = MentorProfile.objects.all()
    if cycle.territory_id is not None:
        reach = MentorProfile.reachable_towns.through.objects.filter(town__territory_id=cycle.territory_id)
        qs = qs.filter(Q(town__territory_id=cycle.territory_id) | Q(pk__in=reach.values("mentorprofile_id")))
    return qs


def pool_offers(cycle: Cycle, today: dt.date) -> QuerySet[Offer]:
    """Active offers not over yet of companies of the territory (or reaching one of its towns)."""
    qs = Offer.objects.filter(active=True, ends_on__gte=today)
    if cycle.territory_id is not None:
        reach = Offer.reachable_towns.through.objects.filter(town__territory_id=cycle.territory_id)
        qs = qs.filter(Q(town__territory_id=cycle.territory_id) | Q(pk__in=reach.values("offer_id")))
    return qs


def _holds(field_name: str, sub: QuerySet[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Places held per provider pk: live matches plus approved proposals not yet published."""
    a = list(Match.objects.filter(**{f"{field_name}__in": sub}, status__in=LIVE_MATCH_STATUSES)
             .values_list(f"{field_name}_id", flat=True))
    b = list(Proposal.objects.filter(**{f"{field_name}__in": sub}, status=ProposalStatus.APPROVED)
             .values_list(f"{field_name}_id", flat=True))
    owners = np.array(a + b, dtype=np.int64)
    return np.unique(owners, return_counts=True)


@dataclass(frozen=True)
class ProviderSide:
    """Per provider (in the order of ``ids``)."""

    ids: np.ndarray  # engine keys
    kind: np.ndarray  # 1 mentor, 2 offer
    pk: np.ndarray  # MentorProfile.pk or Offer.pk
    user: np.ndarray  # the provider's user (the mentor, the company's account)
    free: np.ndarray


def load_providers(
    mentors: QuerySet[MentorProfile], offers: QuerySet[Offer], ref: Reference, *, today: dt.date
) -> tuple[Any, ProviderSide]:
    from matching import Providers

    m_rows = list(mentors.order_by("pk").values_list(
        "pk", "user_id", "town_id", "format", "availability", "capacity", "paused"))
    o_rows = list(offers.order_by("pk").values_list(
        "pk", "company__user_id", "town_id", "format", "availability", "capacity", "starts_on", "ends_on", "active"))
    m_sub, o_sub = mentors.values("pk"), offers.values("pk")
    m_pk, o_pk = _column(m_rows, 0, np.int64), _column(o_rows, 0, np.int64)
    nm, no = m_pk.shape[0], o_pk.shape[0]
    kind_is_offer = np.concatenate([np.zeros(nm, bool), np.ones(no, bool)])
    pks = np.concatenate([m_pk, o_pk])
    keys = _keys(kind_is_offer, pks)
    # Keys of mentors (even) and offers (odd) interleave; every CSR below is built on sorted keys.
    order = np.argsort(keys, kind="stable")
    keys, pks, kind_is_offer = keys[order], pks[order], kind_is_offer[order]

    def cat(mcol: np.ndarray, ocol: np.ndarray) -> np.ndarray:
        return np.concatenate([mcol, ocol])[order]

    def owner_keys(is_offer: bool, owner_pk: np.ndarray) -> np.ndarray:
        return 2 * owner_pk + (1 if is_offer else 0)

    # Capacity: total places now, minus places held.
    m_cap = np.where(_column(m_rows, 6, bool), 0, _column(m_rows, 5, np.int64))
    o_live = np.fromiter((r[8] and r[6] <= today <= r[7] for r in o_rows), bool, no)
    o_cap = np.where(o_live, _column(o_rows, 5, np.int64), 0)
    capacity = cat(m_cap, o_cap)
    for is_offer, name, sub in ((False, "mentor", m_sub), (True, "offer", o_sub)):
        held_pk, held_n = _holds(name, sub)
        pos = np.searchsorted(keys, owner_keys(is_offer, held_pk))
        np.subtract.at(capacity, pos, held_n)
    capacity = np.maximum(capacity, 0)

    # Skills, languages, sectors, reach, accepted stages (offers).
    ms = np.array(list(MentorSkill.objects.filter(mentor__in=m_sub).values_list("mentor_id", "skill_id", "level")),
                  dtype=np.int64).reshape(-1, 3)
    os_ = np.array(list(OfferSkill.objects.filter(offer__in=o_sub).values_list("offer_id", "skill_id", "level")),
                   dtype=np.int64).reshape(-1, 3)
    sk_owner = np.concatenate([owner_keys(False, ms[:, 0]), owner_keys(True, os_[:, 0])])
    sk = np.concatenate([ms[:, 1:], os_[:, 1:]])
    so = np.lexsort((sk[:, 0], sk_owner))
    skill_ptr, skill_id, skill_level = _csr(keys, sk_owner[so], sk[so, 0], sk[so, 1])

    def m2m(model: Any, owner_field: str, value: str, sub: QuerySet[Any], is_offer: bool):
        o, v = _pairs(list(model.objects.filter(**{f"{owner_field}__in": sub}).values_list(f"{owner_field}_id", value)))
        return owner_keys(is_offer, o), v

    def both(attr: str, value: str) -> tuple[np.ndarray, np.ndarray]:
        mo, mv = m2m(getattr(MentorProfile, attr).through, "mentorprofile", value, m_sub, False)
        oo, ov = m2m(getattr(Offer, attr).through, "offer", value, o_sub, True)
        return np.concatenate([mo, oo]), np.concatenate([mv, ov])

    lang_o, lang_b = both("languages", "language__bit")
    sec_o, sec_pk = both("sectors", "sector_id")
    reach_o, reach_pk = both("reachable_towns", "town_id")
    ro = np.lexsort((reach_pk, reach_o))
    reach_ptr, reach_town = _csr(keys, reach_o[ro], ref.town_index(reach_pk[ro]))
    st_o, st_pos = m2m(Offer.accepted_stages.through, "offer", "projectstage__position", o_sub, True)
    accepted = _mask(keys, st_o, st_pos)
    accepted[~kind_is_offer] = np.uint64(0xFFFFFFFFFFFFFFFF)  # mentors take every stage

    user = cat(_column(m_rows, 1, np.int64), _column(o_rows, 1, np.int64))
    providers = Providers(
        ids=keys,
        kind=np.where(kind_is_offer, KIND_OFFER, KIND_MENTOR).astype(np.int8),
        town=ref.town_index(cat(_column(m_rows, 2, np.int64), _column(o_rows, 2, np.int64))),
        reach_ptr=reach_ptr,
        reach_town=reach_town.astype(np.int32),
        format=cat(_column(m_rows, 3, np.int8), _column(o_rows, 3, np.int8)),
        languages=_mask(keys, lang_o, lang_b),
        availability=cat(_column(m_rows, 4, np.uint32), _column(o_rows, 4, np.uint32)),
        capacity=capacity.astype(np.int32),
        sectors=_mask(keys, sec_o, ref.sector_index(sec_pk)),
        skill_ptr=skill_ptr,
        skill_id=skill_id.astype(np.int32),
        skill_level=skill_level.astype(np.int8),
        accepted_stages=accepted,
        user_key=user,
    )
    side = ProviderSide(
        ids=keys, kind=np.where(kind_is_offer, KIND_OFFER, KIND_MENTOR), pk=pks, user=user, free=capacity
    )
    return providers, side


# --- Configuration --------------------------------------------------------------------------------


def excluded_pairs(requests_qs: QuerySet[Request]) -> np.ndarray:
    """(request_id, provider key) of every pair rejected by a coordinator or declined / expired."""
    sub = requests_qs.values("pk")
    rows = list(
        Proposal.objects.filter(request__in=sub, status=ProposalStatus.REJECTED)
        .values_list("request_id", "mentor_id", "offer_id")
    ) + list(
        Match.objects.filter(request__in=sub, status__in=EXCLUDING_MATCH_STATUSES)
        .values_list("request_id", "mentor_id", "offer_id")
    )
    out = np.array(
        [(r, provider_key(KIND_MENTOR, m) if m else provider_key(KIND_OFFER, o)) for r, m, o in rows],
        dtype=np.int64,
    ).reshape(-1, 2)
    return np.unique(out, axis=0) if out.shape[0] else out


def cycle_config(cycle: Cycle, excluded: np.ndarray | None = None) -> Any:
    from matching import CycleConfig, Weights

    return CycleConfig(
        weights=Weights(**cycle.weights()),
        min_score=float(cycle.min_score),
        priority_bonus=(float(cycle.priority_bonus_tier1), float(cycle.priority_bonus_tier2)),
        waiting_bonus_per_30_days=float(cycle.waiting_bonus_per_30_days),
        waiting_bonus_cap=float(cycle.waiting_bonus_cap),
        candidates_per_request=int(cycle.candidates_per_request),
        excluded_pairs=excluded if excluded is not None else np.zeros((0, 2), np.int64),
    )


# --- The whole problem ----------------------------------------------------------------------------


@dataclass
class Problem:
    requests: Any
    providers: Any
    config: Any
    town_coords: np.ndarray
    request_side: RequestSide
    provider_side: ProviderSide
    timings: dict[str, float] = field(default_factory=dict)


def load_problem(cycle: Cycle, *, now: dt.datetime | None = None) -> Problem:
    """Everything the engine needs for ``cycle``, from a fixed number of queries."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    ref = load_reference()
    req_qs = pool_requests(cycle)
    requests, rside = load_requests(req_qs, ref, now=now)
    providers, pside = load_providers(pool_mentors(cycle), pool_offers(cycle, today), ref, today=today)
    config = cycle_config(cycle, excluded_pairs(req_qs))
    return Problem(requests, providers, config, ref.town_coords, rside, pside)


def solve(problem: Problem, *, progress: Callable[..., None] | None = None) -> Any:
    from matching import solve_cycle

    return solve_cycle(
        problem.requests, problem.providers, problem.config, town_coords=problem.town_coords, progress=progress
    )


# --- Back to rows ---------------------------------------------------------------------------------

CRITERIA_FIELDS = {
    "skills": "points_skills",
    "sector": "points_sector",
    "distance": "points_distance",
    "availability": "points_availability",
    "preference": "points_preference",
}


def reason_code(reason: Any) -> str:
    return str(getattr(reason, "value", reason))


def proposals_from_result(cycle: Cycle, problem: Problem, result: Any) -> tuple[list[Proposal], list[Any]]:
    """Unsaved proposals (with their breakdown) and unmatched rows for ``result``."""
    from cycles.models import UnmatchedRequest

    rs, ps = problem.request_side, problem.provider_side
    req_ids = np.asarray(result.request_ids, dtype=np.int64)
    prov_ids = np.asarray(result.provider_ids, dtype=np.int64)
    scores = np.asarray(result.scores, dtype=np.float64)
    names = [str(c) for c in getattr(result, "criteria", CRITERIA_FIELDS)]
    breakdown = np.asarray(result.breakdown, dtype=np.float64).reshape(req_ids.shape[0], len(names))
    columns = [(j, CRITERIA_FIELDS[name]) for j, name in enumerate(names) if name in CRITERIA_FIELDS]
    ri = np.searchsorted(rs.ids, req_ids)
    pj = np.searchsorted(ps.ids, prov_ids)
    now = timezone.now()
    proposals = []
    for k in range(req_ids.shape[0]):
        i, j = int(ri[k]), int(pj[k])
        is_mentor = int(ps.kind[j]) == KIND_MENTOR
        points = {f: round(float(breakdown[k, c]), 6) for c, f in columns}
        proposals.append(
            Proposal(
                cycle_id=cycle.pk,
                request_id=int(req_ids[k]),
                mentor_id=int(ps.pk[j]) if is_mentor else None,
                offer_id=None if is_mentor else int(ps.pk[j]),
                provider_user_id=int(ps.user[j]),
                territory_id=int(rs.territory[i]),
                town_id=int(rs.town_pk[i]),
                score=min(max(float(scores[k]), 0.0), 100.0),
                created_at=now,
                **points,
            )
        )
    un_ids = np.asarray(result.unmatched_request_ids, dtype=np.int64)
    ui = np.searchsorted(rs.ids, un_ids)
    unmatched = [
        UnmatchedRequest(
            cycle_id=cycle.pk,
            request_id=int(un_ids[k]),
            territory_id=int(rs.territory[ui[k]]),
            town_id=int(rs.town_pk[ui[k]]),
            reason=reason_code(result.unmatched_reasons[k])[:30],
        )
        for k in range(un_ids.shape[0])
    ]
    return proposals, unmatched


# --- One pair (manual assignment) -----------------------------------------------------------------


@dataclass(frozen=True)
class PairCheck:
    score: float
    breakdown: dict[str, float]
    warnings: list[str]


def score_one(cycle: Cycle, request: Request, *, mentor: MentorProfile | None, offer: Offer | None) -> PairCheck:
    """Score and violated hard constraints of one pair, with the cycle's configuration (capacity
    is checked by the caller, under the provider's row lock)."""
    from matching import score_pair

    now = timezone.now()
    ref = load_reference()
    req_qs = Request.objects.filter(pk=request.pk)
    requests, _ = load_requests(req_qs, ref, now=now)
    if requests.n == 0:
        return PairCheck(0.0, {}, ["no_profile"])
    m_qs = MentorProfile.objects.filter(pk=mentor.pk if mentor else -1)
    o_qs = Offer.objects.filter(pk=offer.pk if offer else -1)
    providers, _ = load_providers(m_qs, o_qs, ref, today=timezone.localdate(now))
    key = provider_key(KIND_MENTOR, mentor.pk) if mentor else provider_key(KIND_OFFER, offer.pk)  # type: ignore[union-attr]
    result = score_pair(
        requests, providers, int(request.pk), key, town_coords=ref.town_coords,
        config=cycle_config(cycle, excluded_pairs(req_qs)),
    )
    warnings = [] if result.allowed else [result.constraint]
    return PairCheck(float(result.score), {k: round(v, 6) for k, v in result.breakdown.items()}, warnings)
