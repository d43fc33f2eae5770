"""Candidate pairs: every allowed pair for small pools, a pruned graph for large ones.

Pruned graph: each request keeps its best K providers and each provider its best K' requests.
A dense but bounded computation finds them: requests are processed in blocks of rows; for a
block, an approximate score for every provider comes from one float32 matrix product
``X[block] @ Y`` (the skills, sector and availability criteria and, as large negative terms,
the kind, stage, language and format constraints are linear in request and provider features),
plus a per-town vector (distance criterion and in-person reach). Thresholds found from group
maxima select a few survivors per row and per column; the survivors are then scored exactly
(float64, ``scoring.score_pairs``) and the exact top K / K' are kept. Memory is
O(block x providers + candidates).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .model import F64, FORMAT_IN_PERSON, I64, KIND_SPONSORSHIP
from .scoring import OK, Prepared, popcount32, proximity, score_pairs

BIG = np.float32(1.0e4)  # penalty of a violated constraint in the approximate score
SLACK = 1.0e-3  # approximate scores are within 1e-4 of the exact ones; keep a margin
PAD = np.float32(-1.0e9)  # score of the padding columns
BLOCK_ELEMENTS = 4_000_000  # rows per block = this / providers (bounded memory)


@dataclass(frozen=True)
class Candidates:
    """Candidate pairs sorted by (request, provider) index, with exact scores and criteria."""

    ri: I64
    pj: I64
    score: F64
    crit: F64
    exact: bool


def _exact_filter(p: Prepared, ri: I64, pj: I64) -> tuple[I64, I64, F64, F64]:
    s, crit, code = score_pairs(p, ri, pj)
    ok = code == OK
    return ri[ok], pj[ok], s[ok], crit[ok]


def _top_per_group(
    group: I64, other: I64, score: F64, k: int
) -> npt.NDArray[np.bool_]:
    """Mask of the k best entries of each group, by (score desc, other asc)."""
    order = np.lexsort((other, -score, group))
    g = group[order]
    start = np.searchsorted(g, g, side="left")
    rank = np.arange(order.shape[0]) - start
    keep = np.zeros(order.shape[0], dtype=bool)
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


def _distance_points(p: Prepared, town: int) -> F64:
    """Distance points of every provider for a request in ``town``."""
    t_all = np.arange(p.town_coords.shape[0], dtype=np.int64)
    prox_town = proximity(p, np.full(t_all.shape[0], town, dtype=np.int64), t_all)
    out: F64 = (100.0 * p.weights[2]) * prox_town[p.providers.town]
    return out


def _reach_penalty(
    p: Prepared, town: int, fmt: int, reach_by_town: tuple[I64, I64]
) -> npt.NDArray[np.bool_]:
    """Providers that could only meet a request of this town and format in person, and do not
    reach its town."""
    q = p.providers
    if not fmt & FORMAT_IN_PERSON:
        return np.zeros(q.m, dtype=bool)
    ptr, prov = reach_by_town
    reach = q.town == town
    reach[prov[ptr[town] : ptr[town + 1]]] = True
    out: npt.NDArray[np.bool_] = ((fmt & q.format) == FORMAT_IN_PERSON) & ~reach
    return out


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
    # canonical processing order: by town, then format, then index
    order = np.lexsort((np.arange(n), r.format, r.town)).astype(np.int64)
    pos_of = np.empty(n, dtype=np.int64)
    pos_of[order] = np.arange(n, dtype=np.int64)
    x, y = _features(p, order)
    # sparse adjustments (position * m + provider): self-matches and exclusions, preferences
    uk_r = np.flatnonzero(r.user_key >= 0)  # type: ignore[operator]
    uk_p = np.flatnonzero(q.user_key >= 0)  # type: ignore[operator]
    ban_keys = [pos_of[p.excluded_key // m] * m + p.excluded_key % m]
    if uk_r.size and uk_p.size:
        po = uk_p[np.argsort(q.user_key[uk_p], kind="stable")]  # type: ignore[index]
        sk = q.user_key[po]  # type: ignore[index]
        lo = np.searchsorted(sk, r.user_key[uk_r], side="left")  # type: ignore[index]
        hi = np.searchsorted(sk, r.user_key[uk_r], side="right")  # type: ignore[index]
        cnt = hi - lo
        rr = np.repeat(uk_r, cnt)
        off = np.arange(rr.shape[0]) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        pp = po[np.repeat(lo, cnt) + off]
        ban_keys.append(pos_of[rr] * m + pp)
    ban = np.unique(np.concatenate(ban_keys))
    pref = np.sort(pos_of[p.pref_key // m] * m + p.pref_key % m)
    w_pref = np.float32(100.0 * p.weights[4])
    # in-person reach by town (CSR)
    rk = p.reach_key
    n_towns = p.town_coords.shape[0]
    r_town = rk % n_towns
    o = np.argsort(r_town, kind="stable")
    reach_prov = (rk // n_towns)[o]
    reach_ptr = np.concatenate([[0], np.cumsum(np.bincount(r_town, minlength=n_towns))])
    reach_by_town = (reach_ptr.astype(np.int64), reach_prov.astype(np.int64))
    # row groups for the top-K threshold
    n_groups = max(1, min(m, 4 * k_row + 32))
    gsize = -(-m // n_groups)
    m_pad = gsize * n_groups
    # padding columns score PAD through one more feature (ones in X)
    y = np.concatenate([y, np.zeros((y.shape[0], m_pad - m), dtype=np.float32)], axis=1)
    pad_row = np.zeros((1, m_pad), dtype=np.float32)
    pad_row[0, m:] = PAD
    y = np.ascontiguousarray(np.concatenate([y, pad_row], axis=0))
    x = np.ascontiguousarray(np.concatenate([x, np.ones((n, 1), dtype=np.float32)], axis=1))
    block = int(max(1, min(n, BLOCK_ELEMENTS // m_pad)))
    min_thr = np.float32(cfg.min_score - SLACK)
    towns_sorted = r.town[order].astype(np.int64)
    fmts_sorted = r.format[order].astype(np.int64)
    row_hits: list[I64] = []
    col_buf_r: list[I64] = []
    col_buf_p: list[I64] = []
    col_buf_s: list[npt.NDArray[np.float32]] = []
    col_thr = np.full(m_pad, -np.inf, dtype=np.float32)
    col_thr[m:] = np.inf
    buffered = 0
    col_kept: tuple[I64, I64, npt.NDArray[np.float32]] = (
        empty_i,
        empty_i,
        np.zeros(0, dtype=np.float32),
    )
    cur_key: tuple[int, int] = (-1, -1)
    cur_town = -1
    cur_dist = np.zeros(m, dtype=np.float64)
    cur_vec = np.zeros(m_pad, dtype=np.float32)
    out = np.empty((block, m_pad), dtype=np.float32)

    def consolidate() -> None:
        nonlocal col_kept, buffered
        rr = np.concatenate([col_kept[0], *col_buf_r])
        pp = np.concatenate([col_kept[1], *col_buf_p])
        ss = np.concatenate([col_kept[2], *col_buf_s])
        col_buf_r.clear()
        col_buf_p.clear()
        col_buf_s.clear()
        buffered = 0
        # keep, per provider, its k best by approximate score plus every near-tie
        order_c = np.lexsort((rr, -ss, pp))
        rr, pp, ss = rr[order_c], pp[order_c], ss[order_c]
        start = np.searchsorted(pp, pp, side="left")
        rank = np.arange(pp.shape[0]) - start
        kth = np.full(m_pad, -np.inf, dtype=np.float32)
        at_k = rank == k_col - 1
        kth[pp[at_k]] = ss[at_k]
        keep = ss >= kth[pp] - SLACK
        col_kept = (rr[keep], pp[keep], ss[keep])
        np.maximum(col_thr, kth - np.float32(SLACK), out=col_thr)

    for b0 in range(0, n, block):
        b1 = min(n, b0 + block)
        s = out[: b1 - b0]
        np.matmul(x[b0:b1], y, out=s)
        # per (town, format) run: distance points and reach penalty
        tt, ff = towns_sorted[b0:b1], fmts_sorted[b0:b1]
        change = np.flatnonzero((tt[1:] != tt[:-1]) | (ff[1:] != ff[:-1])) + 1
        run_starts = np.concatenate([[0], change]).tolist()
        run_ends = np.concatenate([change, [b1 - b0]]).tolist()
        for a, e in zip(run_starts, run_ends, strict=True):
            run_key = (int(tt[a]), int(ff[a]))
            if run_key != cur_key:
                if run_key[0] != cur_town:
                    cur_town = run_key[0]
                    cur_dist = _distance_points(p, cur_town)
                cur_vec[:m] = cur_dist
                cur_vec[:m][_reach_penalty(p, run_key[0], run_key[1], reach_by_town)] -= BIG
                cur_key = run_key
            s[a:e] += cur_vec
        # sparse adjustments in this block
        lo_k, hi_k = b0 * m, b1 * m
        bl = ban[np.searchsorted(ban, lo_k) : np.searchsorted(ban, hi_k)]
        s[bl // m - b0, bl % m] = -BIG
        pl = pref[np.searchsorted(pref, lo_k) : np.searchsorted(pref, hi_k)]
        s[pl // m - b0, pl % m] += w_pref
        if exact:
            rows_b, cols_b = np.nonzero(s >= min_thr)
            row_hits.append((rows_b + b0) * m + cols_b)
        else:
            gmax = s.reshape(b1 - b0, n_groups, gsize).max(axis=2)
            kk = min(k_row, n_groups)
            thr = np.partition(gmax, n_groups - kk, axis=1)[:, n_groups - kk]
            thr = np.maximum(thr - np.float32(SLACK), min_thr)
            # only the groups whose maximum reaches the threshold can hold hits
            rr, gg = np.nonzero(gmax >= thr[:, None])
            sub_s = s.reshape(b1 - b0, n_groups, gsize)[rr, gg]
            li, off = np.nonzero(sub_s >= thr[rr][:, None])
            rows_b = rr[li]
            cols_b = gg[li] * gsize + off
            if rows_b.shape[0]:
                # many exact ties could make a row huge: keep its best 4K + 64 approximate
                cnt = np.bincount(rows_b, minlength=b1 - b0)
                if cnt.max() > 4 * k_row + 64:
                    approx = s[rows_b, cols_b].astype(np.float64)
                    keep = _top_per_group(rows_b, cols_b, approx, 4 * k_row + 64)
                    rows_b, cols_b = rows_b[keep], cols_b[keep]
            row_hits.append((rows_b + b0) * m + cols_b)
            if k_col > 0:
                cthr = np.maximum(col_thr, min_thr)
                csel = np.flatnonzero(s.max(axis=0) >= cthr)
                sub_c = s[:, csel]
                if b1 - b0 >= k_col and csel.size:
                    # this block's k'-th best of each column: entries below it (minus the
                    # slack) in this or a later block cannot be in the column's top k'
                    kth_b = np.partition(sub_c, b1 - b0 - k_col, axis=0)[b1 - b0 - k_col]
                    col_thr[csel] = np.maximum(col_thr[csel], kth_b - np.float32(SLACK))
                    cthr = np.maximum(col_thr, min_thr)
                cr, ci = np.nonzero(sub_c >= cthr[csel][None, :])
                cc = csel[ci]
                if cr.shape[0]:
                    col_buf_r.append(cr + b0)
                    col_buf_p.append(cc.astype(np.int64))
                    col_buf_s.append(s[cr, cc])
                    buffered += cr.shape[0]
                if buffered > max(2 * m * k_col, 1_000_000):
                    consolidate()
        if progress is not None:
            progress(b1 / n)
    keys = np.concatenate(row_hits) if row_hits else empty_i
    if exact:
        pos, pj = keys // m, keys % m
        ri = order[pos]
        ri, pj, sc, crit = _exact_filter(p, ri, pj)
    else:
        pos, pj = keys // m, keys % m
        ri = order[pos]
        ri, pj, sc, crit = _exact_filter(p, ri, pj)
        keep = _top_per_group(ri, pj, sc, k_row)
        ri, pj, sc, crit = ri[keep], pj[keep], sc[keep], crit[keep]
        if k_col > 0:
            consolidate()
            cri, cpj = order[col_kept[0]], col_kept[1]
            cri, cpj, csc, ccrit = _exact_filter(p, cri, cpj)
            keep = _top_per_group(cpj, cri, csc, k_col)
            ri = np.concatenate([ri, cri[keep]])
            pj = np.concatenate([pj, cpj[keep]])
            sc = np.concatenate([sc, csc[keep]])
            crit = np.concatenate([crit, ccrit[keep]])
    key = ri * m + pj
    key_u, first = np.unique(key, return_index=True)
    return Candidates(
        ri=ri[first], pj=pj[first], score=sc[first], crit=crit[first], exact=exact
    )
