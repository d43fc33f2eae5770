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
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import BooleanField, Exists, ExpressionWrapper, Model, OuterRef, Q, QuerySet
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
    town_pk, lat, lon = fetch(Town.objects.values_list("pk", "latitude", "longitude"), "iff")
    (sector_pk,) = fetch(Sector.objects.values_list("pk"), "i")
    return Reference(town_pk=town_pk, town_coords=np.stack([lat, lon], axis=1).reshape(-1, 2), sector_pk=sector_pk)


# --- Reading columns ------------------------------------------------------------------------------

# Kinds of the columns ``fetch`` reads: "i" an integer, "b" a boolean (0 or 1), "f" a float, "t"
# a datetime as microseconds since 1970-01-01 UTC; all read as int64 or float64, NULL as 0.
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def fetch(qs: QuerySet[Any], kinds: str, *, packed: bool | None = None) -> list[np.ndarray]:
    """The columns of the ``values_list`` query ``qs`` as NumPy arrays, rows sorted by the
    columns in order (so a leading key column sorts them).

    On PostgreSQL the server packs the whole result into one ``bytea`` (each value an 8-byte
    big-endian ``int8send``/``float8send``, concatenated by ``string_agg`` in the sort order),
    sent in binary and read in place by NumPy: one Python object per query, none per row or
    value. (``COPY ... TO STDOUT`` was tried first: psycopg reads its stream one row per call,
    about 6 µs a row in Python.) Elsewhere (SQLite) the rows are read the ordinary way. The query
    itself is the ORM's in both cases (``packed`` forces one way, for tests)."""
    if packed is None:
        packed = connection.vendor == "postgresql"
    if packed:
        return _fetch_packed(qs, kinds)
    rows = list(qs)
    out = []
    for i, kind in enumerate(kinds):
        if kind == "t":
            micro = dt.timedelta(microseconds=1)
            out.append(np.fromiter((0 if r[i] is None else (r[i] - _EPOCH) // micro for r in rows), np.int64, len(rows)))
        else:
            dtype, conv = (np.float64, float) if kind == "f" else (np.int64, int)
            out.append(np.fromiter((0 if r[i] is None else conv(r[i]) for r in rows), dtype, len(rows)))
    if rows:
        order = np.lexsort(tuple(reversed(out)))
        out = [c[order] for c in out]
    return out


_PACK = {
    "i": "int8send(COALESCE(({c})::int8, 0))",
    # A boolean does not cast to int8 directly: through int4.
    "b": "int8send(COALESCE(({c})::int4, 0)::int8)",
    "f": "float8send(COALESCE(({c})::float8, 0))",
    "t": "int8send(COALESCE((EXTRACT(EPOCH FROM {c}) * 1000000)::int8, 0))",
}


def _fetch_packed(qs: QuerySet[Any], kinds: str) -> list[np.ndarray]:
    import psycopg

    try:
        sql, params = qs.order_by().query.sql_with_params()
    except EmptyResultSet:  # a query Django knows to be empty (``pk__in=[]``, ``none()``)
        return [np.zeros(0, np.float64 if kind == "f" else np.int64) for kind in kinds]
    names = [f"c{i}" for i in range(len(kinds))]
    row = " || ".join(_PACK[kind].format(c=name) for kind, name in zip(kinds, names, strict=True))
    statement = (
        f"SELECT string_agg({row}, ''::bytea ORDER BY {', '.join(names)}) "
        f"FROM ({sql}) AS q({', '.join(names)})"
    )
    started = time.perf_counter()
    connection.ensure_connection()
    # A plain (server-side binding) psycopg cursor on Django's connection (same session and
    # transaction): Django's client-side binding cursors cannot receive binary results.
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(statement, params, binary=True)
        record = cursor.fetchone()
    if connection.queries_logged:  # seen by CaptureQueriesContext and the debug toolbar like any query
        connection.queries_log.append({"sql": f"{statement} -- params {params!r}",
                                       "time": f"{time.perf_counter() - started:.3f}"})
    data = b"" if record is None or record[0] is None else record[0]
    dtype = np.dtype([(f"v{i}", ">f8" if kind == "f" else ">i8") for i, kind in enumerate(kinds)])
    if len(data) % dtype.itemsize:
        raise ValueError(f"packed result of {len(data)} bytes is not made of {dtype.itemsize}-byte rows")
    rows = np.frombuffer(data, dtype=dtype)
    return [rows[f"v{i}"].astype(np.float64 if kind == "f" else np.int64) for i, kind in enumerate(kinds)]


# --- Helpers --------------------------------------------------------------------------------------


def _csr(ids: np.ndarray, owner: np.ndarray, *values: np.ndarray) -> tuple[np.ndarray, ...]:
    """CSR pointer over ``ids`` (sorted) for rows owned by ``owner``, rows sorted by owner
    (stable, so rows sorted by (owner, x) keep their order inside each owner)."""
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


def _owned(ids: np.ndarray, owner: np.ndarray, *values: np.ndarray) -> tuple[np.ndarray, ...]:
    """The rows whose owner is in ``ids`` (sorted): side rows read for a superset of the pool."""
    keep = np.isin(owner, ids)
    return (owner[keep], *[v[keep] for v in values])


def _flag(q: Q) -> ExpressionWrapper:
    return ExpressionWrapper(q, output_field=BooleanField())


# --- Requests -------------------------------------------------------------------------------------


def pool_requests(cycle: Cycle) -> QuerySet[Request]:
    """Open requests of the cycle's territory that hold no place yet (no approved proposal, no
    live match) and whose entrepreneur has a profile."""
    qs = open_requests(cycle)
    qs = qs.filter(entrepreneur__entrepreneur_profile__isnull=False)
    return qs.exclude(
        Exists(Proposal.objects.filter(request=OuterRef("pk"), status=ProposalStatus.APPROVED))
    ).exclude(Exists(Match.objects.filter(request=OuterRef("pk"), status__in=LIVE_MATCH_STATUSES)))


def open_requests(cycle: Cycle) -> QuerySet[Request]:
    """Every open request of the cycle's territory: a superset of its pool that the database
    finds without the pool's anti-joins, to read the pool's needs, languages and history by."""
    qs = Request.objects.filter(status=RequestStatus.OPEN)
    if cycle.territory_id is not None:
        qs = qs.filter(territory_id=cycle.territory_id)
    return qs


@dataclass(frozen=True)
class RequestSide:
    """Per request (in the order of ``ids``): what the write-back needs."""

    ids: np.ndarray
    territory: np.ndarray
    town_pk: np.ndarray
    user: np.ndarray


def load_requests(
    qs: QuerySet[Request], ref: Reference, *, now: dt.datetime, scope: QuerySet[Request] | None = None
) -> tuple[Any, RequestSide]:
    """The engine's requests for the pool ``qs``; needs, languages and consents are read for the
    requests of ``scope`` (a superset of ``qs`` that is cheaper to select; ``qs`` by default)
    and kept for the pool's requests only."""
    from matching import Requests

    p = "entrepreneur__entrepreneur_profile__"
    (ids, kind, fmt, created, user, territory, town_pk, availability, sector_pk, stage,
     age, woman, qpv, job_seeker) = fetch(
        qs.values_list(
            "pk", "kind", "format", "created_at", "entrepreneur_id", "territory_id",
            f"{p}town_id", f"{p}availability", "project__sector_id", "project__stage__position",
            _flag(Q(**{f"{p}age_band__in": [AgeBand.UNDER_26, AgeBand.OVER_50]})),
            _flag(Q(**{f"{p}gender": Gender.WOMAN})), f"{p}qpv_resident", f"{p}job_seeker",
        ),
        "iiitiiiiiibbbb",
    )
    sub = (qs if scope is None else scope).values("pk")
    need_owner, need_skill, need_imp = _owned(ids, *fetch(
        RequestNeed.objects.filter(request__in=sub).values_list("request_id", "skill_id", "importance"), "iii"))
    need_ptr, need_skill, need_imp = _csr(ids, need_owner, need_skill, need_imp)
    lang_owner, lang_bit = _owned(ids, *fetch(
        Request.languages.through.objects.filter(request__in=sub).values_list("request_id", "language__bit"), "ii"))
    # Priority publics count only while the entrepreneur's consent to use that data is live. With
    # a ``scope``, every live consent is read (one index, at most one row per person) and matched
    # here: a join with the requests is planned badly (quadratic) on stale statistics.
    consents = Consent.objects.filter(purpose=ConsentPurpose.PRIORITY_DATA, withdrawn_at__isnull=True)
    if scope is None:
        consents = consents.filter(user_id__in=qs.values("entrepreneur_id"))
    (consenting,) = fetch(consents.values_list("user_id"), "i")
    criteria = (age != 0).astype(np.int8) + (woman != 0) + (qpv != 0) + (job_seeker != 0)
    tier = np.where(np.isin(user, consenting), np.minimum(criteria, 2), 0).astype(np.int8)
    # Whole days waited (a day is 86,400,000,000 microseconds; a request from the future waited 0).
    now_us = (now - _EPOCH) // dt.timedelta(microseconds=1)
    waiting = np.maximum(now_us - created, 0) // 86_400_000_000
    requests = Requests(
        ids=ids,
        town=ref.town_index(town_pk),
        format=fmt.astype(np.int8),
        languages=_mask(ids, lang_owner, lang_bit),
        availability=availability.astype(np.uint32),
        priority_tier=tier,
        waiting_days=waiting.astype(np.int32),
        sector=ref.sector_index(sector_pk),
        stage=stage.astype(np.int32),
        kind=kind.astype(np.int8),
        need_ptr=need_ptr,
        need_skill=need_skill.astype(np.int32),
        need_importance=need_imp.astype(np.int8),
        user_key=user,
    )
    side = RequestSide(ids=ids, territory=territory, town_pk=town_pk, user=user)
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
    (a,) = fetch(Match.objects.filter(**{f"{field_name}__in": sub}, status__in=LIVE_MATCH_STATUSES)
                 .values_list(f"{field_name}_id"), "i")
    (b,) = fetch(Proposal.objects.filter(**{f"{field_name}__in": sub}, status=ProposalStatus.APPROVED)
                 .values_list(f"{field_name}_id"), "i")
    return np.unique(np.concatenate([a, b]), return_counts=True)


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

    m_pk, m_user, m_town, m_format, m_avail, m_capacity, m_paused = fetch(mentors.values_list(
        "pk", "user_id", "town_id", "format", "availability", "capacity", "paused"), "iiiiiib")
    o_pk, o_user, o_town, o_format, o_avail, o_capacity, o_live = fetch(offers.values_list(
        "pk", "company__user_id", "town_id", "format", "availability", "capacity",
        _flag(Q(active=True, starts_on__lte=today, ends_on__gte=today))), "iiiiiib")
    m_sub, o_sub = mentors.values("pk"), offers.values("pk")
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
    m_cap = np.where(m_paused != 0, 0, m_capacity)
    o_cap = np.where(o_live != 0, o_capacity, 0)
    capacity = cat(m_cap, o_cap)
    for is_offer, name, sub in ((False, "mentor", m_sub), (True, "offer", o_sub)):
        held_pk, held_n = _holds(name, sub)
        pos = np.searchsorted(keys, owner_keys(is_offer, held_pk))
        np.subtract.at(capacity, pos, held_n)
    capacity = np.maximum(capacity, 0)

    # Skills, languages, sectors, reach, accepted stages (offers).
    ms = fetch(MentorSkill.objects.filter(mentor__in=m_sub).values_list("mentor_id", "skill_id", "level"), "iii")
    os_ = fetch(OfferSkill.objects.filter(offer__in=o_sub).values_list("offer_id", "skill_id", "level"), "iii")
    sk_owner = np.concatenate([owner_keys(False, ms[0]), owner_keys(True, os_[0])])
    sk_id, sk_level = np.concatenate([ms[1], os_[1]]), np.concatenate([ms[2], os_[2]])
    so = np.lexsort((sk_id, sk_owner))
    skill_ptr, skill_id, skill_level = _csr(keys, sk_owner[so], sk_id[so], sk_level[so])

    def m2m(model: Any, owner_field: str, value: str, sub: QuerySet[Any], is_offer: bool):
        o, v = fetch(model.objects.filter(**{f"{owner_field}__in": sub}).values_list(f"{owner_field}_id", value), "ii")
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

    user = cat(m_user, o_user)
    providers = Providers(
        ids=keys,
        kind=np.where(kind_is_offer, KIND_OFFER, KIND_MENTOR).astype(np.int8),
        town=ref.town_index(cat(m_town, o_town)),
        reach_ptr=reach_ptr,
        reach_town=reach_town.astype(np.int32),
        format=cat(m_format, o_format).astype(np.int8),
        languages=_mask(keys, lang_o, lang_b),
        availability=cat(m_avail, o_avail).astype(np.uint32),
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


def excluded_pairs(requests_qs: QuerySet[Request], *, pool_ids: np.ndarray | None = None) -> np.ndarray:
    """(request_id, provider key) of every pair rejected by a coordinator or declined / expired,
    for the requests of ``requests_qs`` (only those of ``pool_ids``, sorted, when given)."""
    sub = requests_qs.values("pk")
    columns = ("request_id", "mentor_id", "offer_id")
    a = fetch(Proposal.objects.filter(request__in=sub, status=ProposalStatus.REJECTED).values_list(*columns), "iii")
    b = fetch(Match.objects.filter(request__in=sub, status__in=EXCLUDING_MATCH_STATUSES).values_list(*columns), "iii")
    request, mentor, offer = (np.concatenate([x, y]) for x, y in zip(a, b, strict=True))
    if pool_ids is not None:
        request, mentor, offer = _owned(pool_ids, request, mentor, offer)
    out = np.stack([request, np.where(mentor != 0, 2 * mentor, 2 * offer + 1)], axis=1).reshape(-1, 2)
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
    scope = open_requests(cycle)
    requests, rside = load_requests(pool_requests(cycle), ref, now=now, scope=scope)
    providers, pside = load_providers(pool_mentors(cycle), pool_offers(cycle, today), ref, today=today)
    config = cycle_config(cycle, excluded_pairs(scope, pool_ids=rside.ids))
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


@dataclass(frozen=True)
class Rows:
    """Rows of one model to insert, by column: ``columns`` maps a field's ``attname`` to a list
    (or 1-d array) of ``n`` values, or to one value shared by every row. Fields left out take
    their model default, exactly as an unsaved instance would (``cycles.services`` writes them
    with PostgreSQL ``COPY`` or, elsewhere, ``bulk_create`` of ``objects()``)."""

    model: type[Model]
    n: int
    columns: dict[str, Any]

    def column(self, attname: str) -> list[Any]:
        """The ``n`` values of one given column, as plain Python values."""
        value = self.columns[attname]
        if isinstance(value, np.ndarray):
            return value.tolist()  # type: ignore[no-any-return]
        if isinstance(value, list):
            return value
        return [value] * self.n

    def objects(self) -> list[Any]:
        """Unsaved model instances of the rows (what ``bulk_create`` takes)."""
        names = list(self.columns)
        values = [self.column(name) for name in names]
        return [self.model(**dict(zip(names, row, strict=True))) for row in zip(*values, strict=True)]


def _rounded(values: np.ndarray) -> list[float]:
    # Python's round (correctly rounded), as the score breakdown has always been stored.
    return [round(v, 6) for v in values.tolist()]


def rows_from_result(cycle: Cycle, problem: Problem, result: Any) -> tuple[Rows, Rows]:
    """The proposals (with their breakdown) and unmatched requests of ``result``, by column."""
    from cycles.models import UnmatchedRequest

    rs, ps = problem.request_side, problem.provider_side
    req_ids = np.asarray(result.request_ids, dtype=np.int64)
    prov_ids = np.asarray(result.provider_ids, dtype=np.int64)
    scores = np.asarray(result.scores, dtype=np.float64)
    n = req_ids.shape[0]
    names = [str(c) for c in getattr(result, "criteria", CRITERIA_FIELDS)]
    breakdown = np.asarray(result.breakdown, dtype=np.float64).reshape(n, len(names))
    ri = np.searchsorted(rs.ids, req_ids)
    pj = np.searchsorted(ps.ids, prov_ids)
    is_mentor = (ps.kind[pj] == KIND_MENTOR).tolist()
    provider_pk = ps.pk[pj].tolist()
    proposals = Rows(Proposal, n, {
        "cycle_id": cycle.pk,
        "request_id": req_ids,
        "mentor_id": [pk if m else None for pk, m in zip(provider_pk, is_mentor, strict=True)],
        "offer_id": [None if m else pk for pk, m in zip(provider_pk, is_mentor, strict=True)],
        "provider_user_id": ps.user[pj].astype(np.int64),
        "territory_id": rs.territory[ri].astype(np.int64),
        "town_id": rs.town_pk[ri].astype(np.int64),
        "score": np.clip(scores, 0.0, 100.0),
        "created_at": timezone.now(),
        **{CRITERIA_FIELDS[name]: _rounded(breakdown[:, j]) for j, name in enumerate(names)
           if name in CRITERIA_FIELDS},
    })
    un_ids = np.asarray(result.unmatched_request_ids, dtype=np.int64)
    ui = np.searchsorted(rs.ids, un_ids)
    unmatched = Rows(UnmatchedRequest, un_ids.shape[0], {
        "cycle_id": cycle.pk,
        "request_id": un_ids,
        "territory_id": rs.territory[ui].astype(np.int64),
        "town_id": rs.town_pk[ui].astype(np.int64),
        "reason": [reason_code(r)[:30] for r in result.unmatched_reasons],
    })
    return proposals, unmatched


def proposals_from_result(cycle: Cycle, problem: Problem, result: Any) -> tuple[list[Proposal], list[Any]]:
    """Unsaved proposals (with their breakdown) and unmatched rows for ``result``."""
    proposals, unmatched = rows_from_result(cycle, problem, result)
    return proposals.objects(), unmatched.objects()


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
