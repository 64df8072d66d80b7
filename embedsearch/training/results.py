"""What a training backend hands back: vectors in vocabulary order, plus per-epoch statistics."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class EpochStats:
    epoch: int
    seconds: float
    words_per_second: float
    loss: float | None


@dataclass(frozen=True)
class TrainedVectors:
    """Words (most frequent first), counts and vectors; ``arrays``/``extra_meta`` go into the store as is."""

    words: list[str]
    counts: np.ndarray
    vectors: np.ndarray
    corpus_words: int
    epochs: list[EpochStats]
    backend: str
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    extra_meta: dict[str, Any] = field(default_factory=dict)
