"""Candidate pairs: every allowed pair for small pools, a pruned graph for large ones.

Pruned graph: each request keeps its best K providers and each provider its best K' requests
(exact scores, ties by index). The pairs are split by how they can meet, so that pairs that can
never be allowed are never computed:

- remotely (both sides accept remote): one job per requested kind (mentor, sponsorship,
  either) against the providers of a compatible kind with free places. Requests are processed
  in blocks of rows, sorted by town; for a block, an approximate score for every provider of
  the job comes from one float32 matrix product ``X[block] @ Y`` (the skills, sector and
  availability criteria and, as large negative terms, the kind, stage and language
  constraints are linear in request and provider features), plus a per-town distance vector.
  Thresholds from group maxima (rows) and running k'-th bests (columns) select a few survivors;
- only in person (a request or provider that does not accept remote): per town, the requests
  of the town against the providers in it or reaching it, one small product each.

The survivors of every job are scored exactly (float64, ``scoring.score_pairs``) and the exact
top K / K' are kept: a job keeps a superset of the top K / K' of its own pairs, and the jobs
cover every allowed pair once. Memory is O(block x providers + candidates).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .model import F64, FORMAT_IN_PERSON, FORMAT_REMOTE, I64, KIND_SPONSORSHIP
from .scoring import EARTH_RADIUS_KM, OK, SCORE_DECIMALS, Prepared, popcount32, score_pairs

BIG = np.float32(1.0e4)  # penalty of a violated constraint in the approximate score
SLACK = 1.0e-3  # approximate scores are within 1e-4 of the exact ones; keep a margin
PAD = np.float32(-1.0e9)  # score of the padding columns
BLOCK_ELEMENTS = 4_000_000  # rows per block = this / providers (bounded memory)
EXACT_CHUNK = 500_000  # pairs scored exactly at a time (bounded memory)


@dataclass(frozen=True)
class Candidates:
    """Candidate pairs sorted by (request, provider) index, with exact scores and criteria."""

    ri: I64
    pj: I64
    score: F64
    crit: F64
    exact: bool


def _exact_filter(p: Prepared, ri: I64, pj: I64) -> tuple[I64, I64, F64, F64]:
    """Exact scores and criteria of the allowed pairs among (ri, pj), in chunks (memory)."""
    out_r: list[I64] = []
    out_p: list[I64] = []
    out_s: list[F64] = []
    out_c: list[F64] = []
    for a in range(0, max(ri.shape[0], 1), EXACT_CHUNK):
        r_, p_ = ri[a : a + EXACT_CHUNK], pj[a : a + EXACT_CHUNK]
        s, crit, code = score_pairs(p, r_, p_)
        ok = code == OK
        out_r.append(r_[ok])
        out_p.append(p_[ok])
        out_s.append(s[ok])
        out_c.append(crit[ok])
    return (
        np.concatenate(out_r),
        np.concatenate(out_p),
        np.concatenate(out_s),
        np.concatenate(out_c),
    )


def unique_sorted(keys: I64) -> I64:
    """Sorted distinct values (a sort: far faster than ``np.unique``'s hashing here)."""
    s = np.sort(keys)
    if s.shape[0] == 0:
        return s
    keep = np.empty(s.shape[0], dtype=bool)
    keep[0] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    out: I64 = s[keep]
    return out


def _top_per_group(
    group: I64, other: I64, score: F64, k: int
) -> npt.NDArray[np.bool_]:
    """Mask of the k best entries of each group, by (score desc, other asc)."""
    size = group.shape[0]
    if size == 0:
        return np.zeros(0, dtype=bool)
    # scores are on the 1e-6 grid in [0, 100]: one int64 sort key when it fits in 63 bits
    s_int = np.rint(score * 10**SCORE_DECIMALS).astype(np.int64)
    b_other = max(1, int(other.max()).bit_length())
    b_score = 27  # 100 * 10**6 < 2**27
    b_group = max(1, int(group.max()).bit_length())
    exact_grid = bool(np.all(np.abs(s_int - score * 10**SCORE_DECIMALS) < 1e-3)) and bool(
        (s_int >= 0).all() and (s_int < 2**b_score).all()
    )
    if exact_grid and b_other + b_score + b_group <= 63:
        key = (group << (b_score + b_other)) | (((2**b_score - 1) - s_int) << b_other) | other
        order = np.argsort(key)
    else:
        order = np.lexsort((other, -score, group))
    g = group[order]
    start = np.searchsorted(g, g, side="left")
    rank = np.arange(size) - start
    keep = np.zeros(size, dtype=bool)
    keep[order[rank < k]] = True
    return keep


def _features(p: Prepared, order: I64) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Request features X (n x F, rows in ``order``) and provider features Y (F x m)."""
    r, q = p.requests, p.providers
    n, m = p.n, p.m
    w = 100.0 * p.weights  # points per criterion
    cols_x: list[npt.NDArray[np.float32]] = []
    rows_y: list[npt.NDArray[np.float32]] = []
    # skills
    xs = np.zeros((n, p.n_skills), dtype=np.float64)
    np.add.at(xs, (p.need_row, p.need_skill.astype(np.int64)), p.need_weight * w[0] / 3.0)
    cols_x.append(xs.astype(np.float32))
    rows_y.append(p.level.T.astype(np.float32))
    # sector
    n_sec = min(64, max(int(r.sector.max()) + 1, int(q.sectors.max()).bit_length()))
    if n_sec:
        xsec = np.zeros((n, n_sec), dtype=np.float32)
        known = np.flatnonzero(r.sector >= 0)
        xsec[known, r.sector[known]] = w[1]
        bits = ((q.sectors[None, :] >> np.arange(n_sec, dtype=np.uint64)[:, None]) & np.uint64(1))
        cols_x.append(xsec)
        rows_y.append(bits.astype(np.float32))
    # availability
    pc = popcount32(r.availability)
    a_set = r.availability != 0
    n_bits = 32
    rb = ((r.availability[:, None] >> np.arange(n_bits, dtype=np.uint32)[None, :]) & 1).astype(
        np.float64
    )
    xa = np.where(a_set[:, None], rb * w[3] / np.maximum(pc, 1)[:, None], 0.0)
    qb = ((q.availability[None, :] >> np.arange(n_bits, dtype=np.uint32)[:, None]) & 1)
    used = (rb.any(axis=0)) & (qb.any(axis=1))
    cols_x.append(xa[:, used].astype(np.float32))
    rows_y.append(qb[used].astype(np.float32))
    cols_x.append((np.where(a_set, 0.5 * w[3], 0.0)[:, None]).astype(np.float32))
    rows_y.append((q.availability == 0).astype(np.float32)[None, :])
    # constant part: unknown sector, unset availability; providers without capacity are banned
    const = np.where(r.sector < 0, 0.5 * w[1], 0.0) + np.where(a_set, 0.0, 0.5 * w[3])
    cols_x.append(const[:, None].astype(np.float32))
    rows_y.append(np.ones((1, m), dtype=np.float32))
    cols_x.append(np.ones((n, 1), dtype=np.float32))
    rows_y.append(np.where(q.capacity > 0, 0.0, -BIG).astype(np.float32)[None, :])

    # constraints as one-hot request features x (-BIG where the provider is incompatible)
    def onehot(values: npt.NDArray[np.int64], table: F64) -> None:
        uniq, inv = np.unique(values, return_inverse=True)
        x = np.zeros((n, uniq.shape[0]), dtype=np.float32)
        x[np.arange(n), inv] = 1.0
        cols_x.append(x)
        rows_y.append(np.asarray(table[uniq], dtype=np.float32))

    kinds = np.array([0, 1, 2, 3])
    kind_tab = np.where((kinds[:, None] & q.kind[None, :].astype(np.int64)) != 0, 0.0, -BIG)
    onehot(r.kind.astype(np.int64), kind_tab)
    stages = np.unique(r.stage.astype(np.int64))
    acc = (q.accepted_stages[None, :] >> stages.astype(np.uint64)[:, None]) & np.uint64(1)
    st_tab_u = np.where((q.kind[None, :] != KIND_SPONSORSHIP) | (acc == 1), 0.0, -BIG)
    st_tab = np.zeros((int(stages.max()) + 1 if stages.size else 1, m))
    st_tab[stages] = st_tab_u
    onehot(r.stage.astype(np.int64), st_tab)
    langs, linv = np.unique(r.languages, return_inverse=True)
    lang_tab = np.where((langs[:, None] & q.languages[None, :]) != 0, 0.0, -BIG)
    xl = np.zeros((n, langs.shape[0]), dtype=np.float32)
    xl[np.arange(n), linv] = 1.0
    cols_x.append(xl)
    rows_y.append(lang_tab.astype(np.float32))
    fmts = np.array([0, 1, 2, 3])
    fmt_tab = np.where((fmts[:, None] & q.format[None, :].astype(np.int64)) != 0, 0.0, -BIG)
    onehot(r.format.astype(np.int64), fmt_tab)
    x = np.ascontiguousarray(np.concatenate(cols_x, axis=1)[order])
    y = np.ascontiguousarray(np.concatenate(rows_y, axis=0).astype(np.float32))
    return x, y


def _town_points(p: Prepared, town: int) -> npt.NDArray[np.float32]:
    """Distance points (float32, for the approximate score) from ``town`` to every town."""
    dot = p.town_xyz @ p.town_xyz[town]
    d = (2.0 * EARTH_RADIUS_KM) * np.arcsin(np.sqrt(np.clip((1.0 - dot) / 2.0, 0.0, 1.0)))
    prox = np.exp2(-d / p.config.distance_half_km)
    prox[town] = 1.0
    out: npt.NDArray[np.float32] = ((100.0 * p.weights[2]) * prox).astype(np.float32)
    return out


def _pairs_of_keys(keys: I64, m: int) -> tuple[I64, I64]:
    return keys // m, keys % m


def self_pairs(p: Prepared) -> tuple[I64, I64]:
    """(request, provider) pairs of the same person (user_key >= 0 on both sides)."""
    r, q = p.requests, p.providers
    ruk, quk = r.user_key_array, q.user_key_array
    uk_r = np.flatnonzero(ruk >= 0)
    uk_p = np.flatnonzero(quk >= 0)
    empty = np.zeros(0, dtype=np.int64)
    if not (uk_r.size and uk_p.size):
        return empty, empty
    po = uk_p[np.argsort(quk[uk_p], kind="stable")]
    sk = quk[po]
    lo = np.searchsorted(sk, ruk[uk_r], side="left")
    hi = np.searchsorted(sk, ruk[uk_r], side="right")
    cnt = hi - lo
    rr = np.repeat(uk_r, cnt)
    off = np.arange(rr.shape[0]) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    pp = po[np.repeat(lo, cnt) + off]
    return rr.astype(np.int64), pp.astype(np.int64)


@dataclass(frozen=True)
class _Adjust:
    """Sparse adjustments of the approximate score: banned pairs (excluded or self) and
    preferred pairs, as (request, provider) index arrays."""

    ban_ri: I64
    ban_pj: I64
    pref_ri: I64
    pref_pj: I64
    w_pref: np.float32


def _job_keys(
    ri: I64, pj: I64, rowpos: I64, colpos: I64, n_cols: int
) -> I64:
    """Sorted keys row_position * n_cols + column_position of the pairs inside a job."""
    rp, cp = rowpos[ri], colpos[pj]
    inside = (rp >= 0) & (cp >= 0)
    out: I64 = np.sort(rp[inside] * n_cols + cp[inside])
    return out


def _scan_dense(
    p: Prepared,
    x: npt.NDArray[np.float32],
    y: npt.NDArray[np.float32],
    rows: I64,
    cols: I64,
    adj: _Adjust,
    *,
    exact: bool,
    progress: Callable[[int], None],
) -> tuple[I64, I64]:
    """Candidate pairs of ``rows`` (requests, sorted by town) x ``cols`` (providers), every
    pair of which meets (remotely, or in person in the same town): dense float32 scan in
    blocks of rows.

    Exact mode: every pair whose approximate score reaches the minimum. Otherwise a superset
    of each row's exact top K and each column's exact top K' inside this job."""
    cfg = p.config
    nr, nc = rows.shape[0], cols.shape[0]
    empty = np.zeros(0, dtype=np.int64)
    if nr == 0 or nc == 0:
        progress(nr)
        return empty, empty
    k_row, k_col = cfg.candidates_per_request, cfg.candidates_per_provider
    rowpos = np.full(p.n, -1, dtype=np.int64)
    rowpos[rows] = np.arange(nr, dtype=np.int64)
    colpos = np.full(p.m, -1, dtype=np.int64)
    colpos[cols] = np.arange(nc, dtype=np.int64)
    ban = _job_keys(adj.ban_ri, adj.ban_pj, rowpos, colpos, nc)
    pref = _job_keys(adj.pref_ri, adj.pref_pj, rowpos, colpos, nc)
    # row groups for the top-K threshold; padding columns score PAD
    n_groups = max(1, min(nc, 4 * k_row + 32))
    gsize = -(-nc // n_groups)
    nc_pad = gsize * n_groups
    # only the features that can be non-zero on both sides of this job (e.g. the kind, format
    # and capacity terms vanish when every pair of the job is compatible on them)
    y_c = y[:, cols]
    x_r = x[rows]
    feats = np.flatnonzero(x_r.any(axis=0) & y_c.any(axis=1))
    x_job = np.ascontiguousarray(x_r[:, feats])
    yj = np.zeros((feats.shape[0], nc_pad), dtype=np.float32)
    yj[:, :nc] = y_c[feats]
    del x_r, y_c
    col_town = p.providers.town[cols].astype(np.int64)
    block = int(max(1, min(nr, BLOCK_ELEMENTS // nc_pad)))
    min_thr = np.float32(cfg.min_score - SLACK)
    towns = p.requests.town[rows].astype(np.int64)
    out_r: list[I64] = []
    out_c: list[I64] = []
    col_buf_r: list[I64] = []
    col_buf_p: list[I64] = []
    col_buf_s: list[npt.NDArray[np.float32]] = []
    col_thr = np.full(nc_pad, -np.inf, dtype=np.float32)
    col_thr[nc:] = np.inf
    col_top = np.full((max(k_col, 1), nc_pad), -np.inf, dtype=np.float32)
    buffered = 0
    col_kept: tuple[I64, I64, npt.NDArray[np.float32]] = (
        empty,
        empty,
        np.zeros(0, dtype=np.float32),
    )
    cur_town = -1
    cur_vec = np.full(nc_pad, PAD, dtype=np.float32)
    out = np.empty((block, nc_pad), dtype=np.float32)

    def consolidate() -> None:
        nonlocal col_kept, buffered
        rr = np.concatenate([col_kept[0], *col_buf_r])
        pp = np.concatenate([col_kept[1], *col_buf_p])
        ss = np.concatenate([col_kept[2], *col_buf_s])
        col_buf_r.clear()
        col_buf_p.clear()
        col_buf_s.clear()
        buffered = 0
        # keep, per column, its k' best by approximate score plus every near-tie (order by
        # column, then score descending: approximate scores lie in [min_score - SLACK, 101])
        order_c = np.argsort(pp * 1024.0 + (512.0 - ss.astype(np.float64)))
        rr, pp, ss = rr[order_c], pp[order_c], ss[order_c]
        start = np.searchsorted(pp, pp, side="left")
        rank = np.arange(pp.shape[0]) - start
        kth = np.full(nc_pad, -np.inf, dtype=np.float32)
        at_k = rank == k_col - 1
        kth[pp[at_k]] = ss[at_k]
        keep = ss >= kth[pp] - SLACK
        col_kept = (rr[keep], pp[keep], ss[keep])
        np.maximum(col_thr, kth - np.float32(SLACK), out=col_thr)

    for b0 in range(0, nr, block):
        b1 = min(nr, b0 + block)
        bn = b1 - b0
        s = out[:bn]
        np.matmul(x_job[b0:b1], yj, out=s)
        # distance points: one vector per run of requests of the same town
        tt = towns[b0:b1]
        change = np.flatnonzero(tt[1:] != tt[:-1]) + 1
        run_starts = np.concatenate([[0], change]).tolist()
        run_ends = np.concatenate([change, [bn]]).tolist()
        for a, e in zip(run_starts, run_ends, strict=True):
            town = int(tt[a])
            if town != cur_town:
                cur_town = town
                cur_vec[:nc] = _town_points(p, town)[col_town]
            s[a:e] += cur_vec
        # sparse adjustments in this block
        lo_k, hi_k = b0 * nc, b1 * nc
        bl = ban[np.searchsorted(ban, lo_k) : np.searchsorted(ban, hi_k)]
        s[bl // nc - b0, bl % nc] = -BIG
        pl = pref[np.searchsorted(pref, lo_k) : np.searchsorted(pref, hi_k)]
        s[pl // nc - b0, pl % nc] += adj.w_pref
        if exact:
            rows_b, cols_b = np.nonzero(s >= min_thr)
            out_r.append(rows[rows_b + b0])
            out_c.append(cols[cols_b])
            progress(bn)
            continue
        gmax = s.reshape(bn, n_groups, gsize).max(axis=2)
        kk = min(k_row, n_groups)
        thr = np.partition(gmax, n_groups - kk, axis=1)[:, n_groups - kk]
        thr = np.maximum(thr - np.float32(SLACK), min_thr)
        # only the groups whose maximum reaches the threshold can hold hits
        rr, gg = np.nonzero(gmax >= thr[:, None])
        sub_s = s.reshape(bn, n_groups, gsize)[rr, gg]
        li, off = np.nonzero(sub_s >= thr[rr][:, None])
        rows_b = rr[li]
        cols_b = gg[li] * gsize + off
        if rows_b.shape[0]:
            cnt = np.bincount(rows_b, minlength=bn)
            big = cnt > 4 * k_row + 64
            if big.any():
                # many near-ties: settle these rows now with exact scores (bounded memory,
                # exact tie-break)
                sel = big[rows_b]
                g_ri, g_pj = rows[rows_b[sel] + b0], cols[cols_b[sel]]
                g_ri, g_pj, g_sc, _ = _exact_filter(p, g_ri, g_pj)
                keep = _top_per_group(g_ri, g_pj, g_sc, k_row)
                out_r.append(g_ri[keep])
                out_c.append(g_pj[keep])
                rows_b, cols_b = rows_b[~sel], cols_b[~sel]
            # keep, per row, its k best approximate entries plus every near-tie: the exact
            # top k lies within SLACK of the approximate k-th best (fewer pairs to score)
            vals = s[rows_b, cols_b].astype(np.float64)
            o = np.argsort(rows_b * 1024.0 + (512.0 - vals))
            rs = rows_b[o]
            rank = np.arange(rs.shape[0]) - np.searchsorted(rs, rs)
            kth_r = np.full(bn, -np.inf)
            at_k = rank == k_row - 1
            kth_r[rs[at_k]] = vals[o][at_k]
            keep_r = vals >= kth_r[rows_b] - SLACK
            rows_b, cols_b = rows_b[keep_r], cols_b[keep_r]
        out_r.append(rows[rows_b + b0])
        out_c.append(cols[cols_b])
        if k_col > 0:
            cthr = np.maximum(col_thr, min_thr)
            csel = np.flatnonzero(s.max(axis=0) >= cthr)
            sub_c = s[:, csel]
            if csel.size:
                # running k' best approximate values of each column (this block's merged in):
                # an entry below the k'-th of them minus the slack, in this or a later
                # block, cannot be in the column's top k'
                part = np.partition(sub_c, bn - k_col, axis=0)[bn - k_col :] if bn > k_col else sub_c
                merged = np.concatenate([col_top[:, csel], part], axis=0)
                h = merged.shape[0]
                top = np.partition(merged, h - k_col, axis=0)[h - k_col :]
                col_top[:, csel] = top
                col_thr[csel] = np.maximum(col_thr[csel], top.min(axis=0) - np.float32(SLACK))
                cthr = np.maximum(col_thr, min_thr)
            cr, ci = np.nonzero(sub_c >= cthr[csel][None, :])
            cc = csel[ci]
            if cr.shape[0]:
                col_buf_r.append(cr + b0)
                col_buf_p.append(cc.astype(np.int64))
                col_buf_s.append(s[cr, cc])
                buffered += cr.shape[0]
            if buffered > max(2 * nc * k_col, 1_000_000):
                consolidate()
        progress(bn)
    if not exact and k_col > 0:
        consolidate()
        out_r.append(rows[col_kept[0]])
        out_c.append(cols[col_kept[1]])
    return np.concatenate(out_r), np.concatenate(out_c)


def _scan_in_person(
    p: Prepared,
    x: npt.NDArray[np.float32],
    y: npt.NDArray[np.float32],
    adj: _Adjust,
    *,
    exact: bool,
) -> tuple[I64, I64]:
    """Candidate pairs that can only meet in person: a request of format in-person with a
    provider that meets in person, or a request of either format with an in-person-only
    provider; the provider must be in the request's town or reach it. One small dense product
    per town (requests of the town x providers reaching it)."""
    r, q = p.requests, p.providers
    cfg = p.config
    n, m = p.n, p.m
    n_towns = p.town_coords.shape[0]
    empty = np.zeros(0, dtype=np.int64)
    k_row, k_col = cfg.candidates_per_request, cfg.candidates_per_provider
    min_thr = np.float32(cfg.min_score - SLACK)
    p_ok = (q.capacity > 0) & ((q.format & FORMAT_IN_PERSON) != 0)
    own = np.flatnonzero(p_ok)
    reach_p = p.reach_key // n_towns
    reach_t = p.reach_key % n_towns
    sel = p_ok[reach_p]
    keys = unique_sorted(
        np.concatenate([q.town[own].astype(np.int64) * m + own, reach_t[sel] * m + reach_p[sel]])
    )
    p_town, p_idx = keys // m, keys % m
    p_ptr = np.searchsorted(p_town, np.arange(n_towns + 1))
    r_ok = np.flatnonzero((r.format & FORMAT_IN_PERSON) != 0)
    r_idx = r_ok[np.argsort(r.town[r_ok], kind="stable")]
    r_town = r.town[r_idx].astype(np.int64)
    r_ptr = np.searchsorted(r_town, np.arange(n_towns + 1))
    # sparse adjustments grouped by the request's town
    def by_town(ri: I64, pj: I64) -> tuple[I64, I64, I64]:
        o = np.argsort(r.town[ri], kind="stable")
        ptr = np.searchsorted(r.town[ri][o], np.arange(n_towns + 1))
        return ri[o], pj[o], ptr

    b_ri, b_pj, b_ptr = by_town(adj.ban_ri, adj.ban_pj)
    f_ri, f_pj, f_ptr = by_town(adj.pref_ri, adj.pref_pj)
    rowpos = np.full(n, -1, dtype=np.int64)
    colpos = np.full(m, -1, dtype=np.int64)
    out_r: list[I64] = []
    out_c: list[I64] = []
    towns = np.flatnonzero((np.diff(r_ptr) > 0) & (np.diff(p_ptr) > 0))

    def ignore(k: int) -> None:
        pass

    for t in towns.tolist():
        rows = r_idx[r_ptr[t] : r_ptr[t + 1]]
        cols = p_idx[p_ptr[t] : p_ptr[t + 1]]
        nr, nc = rows.shape[0], cols.shape[0]
        if nr * nc > BLOCK_ELEMENTS:
            # a large town: the blocked scan, in two jobs without the either x either pairs
            r_in = r.format[rows] == FORMAT_IN_PERSON
            c_in = q.format[cols] == FORMAT_IN_PERSON
            for rr_, cc_ in ((rows[r_in], cols), (rows[~r_in], cols[c_in])):
                pr, pc = _scan_dense(p, x, y, rr_, cc_, adj, exact=exact, progress=ignore)
                out_r.append(pr)
                out_c.append(pc)
            continue
        s = x[rows] @ y[:, cols]
        s += _town_points(p, t)[q.town[cols]][None, :]
        # a request of either format meets providers of either format remotely (other job)
        r_either = np.flatnonzero(r.format[rows] != FORMAT_IN_PERSON)
        c_either = np.flatnonzero(q.format[cols] != FORMAT_IN_PERSON)
        if r_either.size and c_either.size:
            s[np.ix_(r_either, c_either)] = -BIG
        rowpos[rows] = np.arange(nr)
        colpos[cols] = np.arange(nc)
        for ai, aj, ptr, ban in ((b_ri, b_pj, b_ptr, True), (f_ri, f_pj, f_ptr, False)):
            lo, hi = ptr[t], ptr[t + 1]
            if lo == hi:
                continue
            rp, cp = rowpos[ai[lo:hi]], colpos[aj[lo:hi]]
            inside = (rp >= 0) & (cp >= 0)
            if ban:
                s[rp[inside], cp[inside]] = -BIG
            else:
                s[rp[inside], cp[inside]] += adj.w_pref
        rowpos[rows] = -1
        colpos[cols] = -1
        keep = s >= min_thr
        if not exact:
            near = np.zeros_like(keep)
            if nc > k_row:
                kth = np.partition(s, nc - k_row, axis=1)[:, nc - k_row]
                near |= s >= (kth - np.float32(SLACK))[:, None]
            else:
                near[:] = True
            if k_col > 0 and nr > k_col:
                kth_c = np.partition(s, nr - k_col, axis=0)[nr - k_col]
                near |= s >= (kth_c - np.float32(SLACK))[None, :]
            elif k_col > 0:
                near[:] = True
            keep &= near
        rb, cb = np.nonzero(keep)
        out_r.append(rows[rb])
        out_c.append(cols[cb])
    if not out_r:
        return empty, empty
    return np.concatenate(out_r), np.concatenate(out_c)


def generate(
    p: Prepared,
    *,
    exact: bool,
    progress: Callable[[float], None] | None = None,
) -> Candidates:
    """Candidate pairs of the pool (all allowed pairs when ``exact``)."""
    r, q = p.requests, p.providers
    n, m = p.n, p.m
    cfg = p.config
    empty_i = np.zeros(0, dtype=np.int64)
    if n == 0 or m == 0:
        return Candidates(empty_i, empty_i, np.zeros(0), np.zeros((0, 5)), exact)
    k_row, k_col = cfg.candidates_per_request, cfg.candidates_per_provider
    x, y = _features(p, np.arange(n, dtype=np.int64))
    ex_ri, ex_pj = _pairs_of_keys(p.excluded_key, m)
    s_ri, s_pj = self_pairs(p)
    pr_ri, pr_pj = _pairs_of_keys(p.pref_key, m)
    adj = _Adjust(
        ban_ri=np.concatenate([ex_ri, s_ri]),
        ban_pj=np.concatenate([ex_pj, s_pj]),
        pref_ri=pr_ri,
        pref_pj=pr_pj,
        w_pref=np.float32(100.0 * p.weights[4]),
    )
    done = 0
    r_remote = (r.format & FORMAT_REMOTE) != 0
    total = int(r_remote.sum()) + 1

    def step(k: int) -> None:
        nonlocal done
        done += k
        if progress is not None:
            progress(min(1.0, done / total))

    parts_r: list[I64] = []
    parts_c: list[I64] = []
    # pairs that meet remotely: both sides accept remote; one job per requested kind, against
    # the providers of a compatible kind only
    p_remote = (q.capacity > 0) & ((q.format & FORMAT_REMOTE) != 0)
    by_town = np.lexsort((np.arange(n), r.town))
    for kind in (1, 2, 3):
        rows = by_town[(r_remote & (r.kind == kind))[by_town]].astype(np.int64)
        cols = np.flatnonzero(p_remote & ((q.kind & kind) != 0)).astype(np.int64)
        pr, pc = _scan_dense(p, x, y, rows, cols, adj, exact=exact, progress=step)
        parts_r.append(pr)
        parts_c.append(pc)
    # pairs that can only meet in person
    pr, pc = _scan_in_person(p, x, y, adj, exact=exact)
    parts_r.append(pr)
    parts_c.append(pc)
    key = unique_sorted(np.concatenate(parts_r) * m + np.concatenate(parts_c))
    ri, pj, sc, crit = _exact_filter(p, key // m, key % m)
    if not exact:
        keep = _top_per_group(ri, pj, sc, k_row)
        if k_col > 0:
            keep |= _top_per_group(pj, ri, sc, k_col)
        ri, pj, sc, crit = ri[keep], pj[keep], sc[keep], crit[keep]
    step(1)
    return Candidates(ri=ri, pj=pj, score=sc, crit=crit, exact=exact)
