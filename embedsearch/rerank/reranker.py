"""Re-scoring neighbours by how well each fits the places where the query word is used.

For a query word with stored contexts ``s_1..s_n``, the language model gives each context's slot a
vector ``u_s`` (see :mod:`embedsearch.rerank.model`), and a word ``w`` fits the slot by
``log sigmoid(u_s . e_w)``. The fit of a candidate is how much worse it fits, on average over the
slots, than the word that was really there::

    fit(w) = mean_s [ log sigmoid(u_s . e_w) - log sigmoid(u_s . e_own(s)) ]

so 0 means "fits the query word's contexts as well as the query word itself" and the figure is
comparable between query words (some contexts are simply easier to predict than others). The
final score is ``cosine + weight * fit``; the candidates are the index's top ``K`` by cosine, so
reranking reorders them and never brings in others.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import QueryError, StoreError
from .contexts import read_contexts
from .model import PARAMETERS, LMWeights, encode_slots, fit_scores, own_fit_scores
from .training import MANIFEST_FORMAT, MANIFEST_KEY, WEIGHTS_FILE

if TYPE_CHECKING:
    from ..store import StoreFiles


@dataclass(frozen=True)
class Fit:
    """Fit scores of candidates in the contexts of some query rows, and how many contexts there were."""

    scores: np.ndarray
    contexts: int


class Reranker:
    """A store's trained language model with the store's vectors and sampled contexts."""

    def __init__(self, weights: LMWeights, vectors: np.ndarray, files: StoreFiles, window: int,
                 blend_weight: float) -> None:
        self.weights = weights
        self.vectors = vectors
        self.window = window
        self.blend_weight = blend_weight
        self._files = files
        self._slots: dict[tuple[int, ...], np.ndarray] = {}

    @classmethod
    def load(cls, files: StoreFiles) -> Reranker:
        """The reranker saved in a store by ``embedsearch rerank train`` (checked: format, shapes)."""
        manifest = files.meta.get(MANIFEST_KEY)
        if not manifest:
            raise StoreError(f"{files.path} has no reranker; train one with `embedsearch rerank train {files.path} CORPUS_DIR`")
        if manifest.get("format") != MANIFEST_FORMAT or manifest.get("file") != WEIGHTS_FILE:
            raise StoreError(f"{files.path}: reranker format {manifest.get('format')!r} is not supported by this embedsearch")
        if "contexts" not in files.meta:
            raise StoreError(f"{files.path} has no sampled contexts for the reranker to read")
        path = files.directory / WEIGHTS_FILE  # how messages name it; it is read through the checked descriptor
        files.verify_file(WEIGHTS_FILE)  # small, and read whole below anyway: its checksum costs nothing extra
        try:
            with np.load(files.file_path(WEIGHTS_FILE), allow_pickle=False) as arrays:
                weights = LMWeights(*(np.array(arrays[name], dtype=np.float32) for name in PARAMETERS))
        except (OSError, ValueError, KeyError) as exc:
            raise StoreError(f"{path}: not a readable reranker ({exc})") from exc
        hidden, dim = int(manifest["hidden"]), files.dim
        expected = {"forward": (dim + hidden + 1, 4 * hidden), "backward": (dim + hidden + 1, 4 * hidden),
                    "projection": (2 * hidden + 1, dim)}
        for name, shape in expected.items():
            if getattr(weights, name).shape != shape:
                raise StoreError(f"{path}: {name} has shape {getattr(weights, name).shape}, expected {shape}")
        window = int(files.meta["contexts"].get("window", manifest["window"]))
        return cls(weights, files.vectors, files, window, float(manifest.get("blend_weight", 0.0)))

    def slots(self, rows: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """Slot vectors of the stored contexts of ``rows`` (pooled; empty if none are stored) and
        each slot's own fit, that of the word that occurred there."""
        key = tuple(sorted({int(r) for r in rows}))
        if key not in self._slots:
            contexts = read_contexts(self._files.db, key, self.window, vocabulary=self._files.words)
            if len(contexts):
                slots = encode_slots(self.weights, self.vectors, contexts.left, contexts.right)
                own = np.asarray(self.vectors[contexts.words.astype(np.int64)], dtype=np.float32)
                self._slots[key] = (slots, own_fit_scores(slots, own))
            else:
                self._slots[key] = (np.empty((0, self.weights.dim), dtype=np.float32), np.empty(0, dtype=np.float32))
        return self._slots[key]

    def fit(self, rows: Sequence[int], candidates: Sequence[int]) -> Fit:
        """Fit of each candidate row in the contexts of ``rows``, relative to the words that were there."""
        slots, own_fit = self.slots(rows)
        if len(slots) == 0:
            return Fit(np.zeros(len(candidates)), 0)
        vectors = np.asarray(self.vectors[np.asarray(candidates, dtype=np.int64)], dtype=np.float32)
        relative = fit_scores(slots, vectors) - own_fit[:, None]
        return Fit(relative.mean(axis=0).astype(np.float64), len(slots))

    def pair_fit(self, first: int, second: int) -> float:
        """Symmetric fit of two words: each in the other's contexts, averaged (for pair scoring)."""
        parts = [float(f.scores[0]) for f in (self.fit([first], [second]), self.fit([second], [first])) if f.contexts]
        if not parts:
            raise QueryError("neither word has stored contexts to score the pair with")
        return sum(parts) / len(parts)
