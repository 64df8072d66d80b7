"""The blend weight of cosine and fit that a user may give (``--rerank-weight``).

Its own module so that the query path checks a user's number without loading the reranker.
"""
from __future__ import annotations

import math

from ..errors import ConfigError

# |rerank weight| above this makes cosine irrelevant: use it as a bound on a user's number.
MAX_RERANK_WEIGHT = 1_000.0
# The weight of the analogy fit (``analogy --rerank``, ``evaluate analogies --rerank``) when the
# user gives none: its own, not the neighbour weight, because the analogy fit sums three fits and
# so spreads about three times as wide. Chosen on a development half of the Google analogies (the
# even-numbered questions; the odd half reports: +1.8 points on the text8 store it was chosen on,
# +2.6 and +2.2 on two later trainings of the default store, where their neighbour weights cost
# 7.0 and 15.2; docs/quality.md). A reranker saved before it existed takes it too.
DEFAULT_ANALOGY_WEIGHT = 0.025


def check_rerank_weight(weight: float) -> float:
    """A user's rerank weight as a float: finite and of magnitude at most :data:`MAX_RERANK_WEIGHT`."""
    try:
        value = float(weight)
    except (TypeError, ValueError):
        raise ConfigError(f"rerank weight must be a number, got {weight!r}") from None
    if not math.isfinite(value) or abs(value) > MAX_RERANK_WEIGHT:
        raise ConfigError(f"rerank weight must be a finite number from -{MAX_RERANK_WEIGHT:g} to {MAX_RERANK_WEIGHT:g}, "
                          f"got {weight!r}")
    return value
