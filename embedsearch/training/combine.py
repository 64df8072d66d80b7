"""Joining two models trained on the same corpus into one store (``TrainConfig.combine``).

Each model's vectors are scaled to unit length and weighted: the main model's by ``sqrt(1 - w)``,
the count model's by ``sqrt(w)``, then put side by side. Every row is then of unit length again,
and the cosine of two words in the store is exactly the weighted mean of their cosines in the two
models::

    cos(a, b) = (1 - w) cos_main(a, b) + w cos_count(a, b)

so the store answers like an ensemble of the two, with no change to the query path. Concatenating
unit vectors is the simplest meta-embedding (Yin & Schütze 2016; Coates & Bollegala 2018); on a
17M-word corpus a predictive and a count model err differently enough for it to pay on every
similarity set (docs/quality.md).
"""
from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np

from ..errors import TrainingError
from ..store.writer import unit_rows
from .results import TrainedVectors

# Where the count model's record travels (TrainedVectors.extra_meta) until it joins the store's "model".
COMBINED_KEY = "combined"


def combine_vectors(main: TrainedVectors, count: TrainedVectors, *, weight: float, label: str,
                    params: dict[str, Any] | None = None) -> TrainedVectors:
    """``main`` with ``count``'s unit vectors joined to its own (see the module), rows in ``main``'s
    order. Both must know the same words: they count the same corpus with the same ``min_count``."""
    if not 0 < weight < 1:
        raise TrainingError(f"the combined model's weight must be in (0, 1), got {weight}")
    row_of = {word: row for row, word in enumerate(count.words)}
    missing = [word for word in main.words if word not in row_of]
    if missing or len(count.words) != len(main.words):
        example = missing[0] if missing else next(w for w in count.words if w not in set(main.words))
        raise TrainingError(f"the {label} model's vocabulary differs from the main model's ({len(count.words):,} "
                            f"words against {len(main.words):,}, e.g. {example!r}); they cannot be combined")
    order = np.fromiter((row_of[word] for word in main.words), dtype=np.int64, count=len(main.words))
    # A word with a zero row in one model (no positive PMI at all) keeps the other's direction: the
    # store normalises its row again.
    joined = np.concatenate([unit_rows(main.vectors)[0] * np.float32(np.sqrt(1.0 - weight)),
                             unit_rows(count.vectors[order])[0] * np.float32(np.sqrt(weight))], axis=1)
    # The epochs stay the main model's; the count model's own record goes with the store's model.
    combined = {"model": label, "backend": count.backend, "weight": weight, "dims": [main.vectors.shape[1], joined.shape[1]],
                "epochs": [asdict(e) for e in count.epochs], **count.extra_meta}
    if params is not None:  # the count model's own settings, as the store records the main model's
        combined["params"] = params
    return TrainedVectors(words=main.words, counts=main.counts, vectors=joined, corpus_words=main.corpus_words,
                          epochs=main.epochs, backend=f"{main.backend} + {count.backend}", arrays=main.arrays,
                          extra_meta={**main.extra_meta, COMBINED_KEY: combined})
