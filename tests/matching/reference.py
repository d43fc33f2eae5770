"""Independent exact reference: the LP relaxation of bipartite b-matching is integral."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog


def lp_optimum(scores: np.ndarray, capacity: np.ndarray, penalty: np.ndarray | None = None) -> float:
    """Maximum of sum(score + penalty) over assignments (NaN = forbidden), by HiGHS."""
    n, m = scores.shape
    r, c = np.nonzero(~np.isnan(scores))
    if r.size == 0:
        return 0.0
    w = scores[r, c] + (0.0 if penalty is None else penalty[r])
    k = r.shape[0]
    a = sp.csr_matrix(
        (np.ones(2 * k), (np.concatenate([r, n + c]), np.tile(np.arange(k), 2))),
        shape=(n + m, k),
    )
    res = linprog(
        -w,
        A_ub=a,
        b_ub=np.concatenate([np.ones(n), capacity.astype(float)]),
        bounds=(0, 1),
        method="highs",
    )
    assert res.status == 0, res.message
    return float(-res.fun)


def check_feasible(scores: np.ndarray, capacity: np.ndarray, provider: np.ndarray) -> None:
    n, m = scores.shape
    assert provider.shape == (n,)
    assert provider.dtype == np.int64
    got = provider >= 0
    assert np.all(provider[got] < m)
    assert not np.isnan(scores[np.flatnonzero(got), provider[got]]).any(), "forbidden pair used"
    load = np.bincount(provider[got], minlength=m)
    assert np.all(load <= capacity), "capacity exceeded"
