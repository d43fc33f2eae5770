"""Social LAB matching engine: scoring, candidate pruning, exact assignment, explanations.

Pure NumPy/SciPy; knows nothing of Django. See docs/matching.md.
"""

from __future__ import annotations

from .cycle import CycleResult, solve_cycle
from .explain import Diagnostics
from .model import (
    CRITERIA,
    FORMAT_EITHER,
    FORMAT_IN_PERSON,
    FORMAT_REMOTE,
    KIND_EITHER,
    KIND_MENTOR,
    KIND_SPONSORSHIP,
    CycleConfig,
    Providers,
    Requests,
    UnmatchedReason,
    Weights,
)
from .scoring import PairScore, score_pair
from .solver import Assignment, assign

__all__ = [
    "CRITERIA",
    "FORMAT_EITHER",
    "FORMAT_IN_PERSON",
    "FORMAT_REMOTE",
    "KIND_EITHER",
    "KIND_MENTOR",
    "KIND_SPONSORSHIP",
    "Assignment",
    "CycleConfig",
    "CycleResult",
    "Diagnostics",
    "PairScore",
    "Providers",
    "Requests",
    "UnmatchedReason",
    "Weights",
    "assign",
    "score_pair",
    "solve_cycle",
]
