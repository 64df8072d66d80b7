"""Re-scoring neighbours by how well each fits the places where the query word is used.

For a query word with stored contexts ``s_1..s_n``, the language model gives each context's slot a
vector ``u_s`` (see :mod:`embedsearch.rerank.model`), and a word ``w`` fits the slot by
``log sigmoid(u_s . e_w)``. The fit of a candidate is how much worse it fits, on average over the
slots, than the word that was really there::

    fit(w) = mean_s [ log sigmoid(u_s . e_w) - log sigmoid(u_s . e_own(s)) ]

so 0 means "fits the query word's contexts as well as the query word itself" and the figure is
comparable between query words (some contexts are simply easier to predict than others). The
final score is ``cosine + weight * fit``; the candidates are the index's top ``K`` by cosine, so
reranking reorders them and never brings in others. ``e`` is the model's own target table when it
learned one (``rerank train --targets learned``), else the store's vectors.

For an analogy ``a : b :: c : ?`` the fit mirrors 3CosAdd: a candidate should fit where ``b`` is
used and where ``c`` is used, and less where ``a`` is used (see :meth:`Reranker.analogy_fit`).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import QueryError, StoreError
from .contexts import read_contexts
from .model import OUTPUT, PARAMETERS, LMWeights, encode_slots, fit_scores, own_fit_scores
from .training import MANIFEST_FORMAT_LEARNED, MANIFEST_FORMATS, MANIFEST_KEY, WEIGHTS_FILE
from .weights import DEFAULT_ANALOGY_WEIGHT

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
                 blend_weight: float, analogy_weight: float = DEFAULT_ANALOGY_WEIGHT) -> None:
        self.weights = weights
        self.vectors = vectors
        self.window = window
        self.blend_weight = blend_weight  # of a neighbour's fit (similar --rerank)
        self.analogy_weight = analogy_weight  # of an analogy candidate's fit (analogy --rerank)
        self._files = files
        self.targets = weights.target_vectors(vectors)
        self._slots: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]] = {}

    @classmethod
    def load(cls, files: StoreFiles) -> Reranker:
        """The reranker saved in a store by ``embedsearch rerank train`` (checked: format, shapes)."""
        manifest = files.meta.get(MANIFEST_KEY)
        if not manifest:
            raise StoreError(f"{files.path} has no reranker; train one with `embedsearch rerank train -s {files.path} CORPUS_DIR`")
        if manifest.get("format") not in MANIFEST_FORMATS or manifest.get("file") != WEIGHTS_FILE:
            raise StoreError(f"{files.path}: reranker format {manifest.get('format')!r} is not supported by this embedsearch")
        if "contexts" not in files.meta:
            raise StoreError(f"{files.path} has no sampled contexts for the reranker to read")
        path = files.directory / WEIGHTS_FILE  # how messages name it; it is read through the checked descriptor
        files.verify_file(WEIGHTS_FILE)  # small, and read whole below anyway: its checksum costs nothing extra
        try:
            learned = manifest["format"] == MANIFEST_FORMAT_LEARNED
            with np.load(files.file_path(WEIGHTS_FILE), allow_pickle=False) as arrays:
                weights = LMWeights(*(np.array(arrays[name], dtype=np.float32) for name in PARAMETERS),
                                    output=np.array(arrays[OUTPUT], dtype=np.float32) if learned else None)
        except (OSError, ValueError, KeyError) as exc:
            raise StoreError(f"{path}: not a readable reranker ({exc})") from exc
        hidden, dim = int(manifest["hidden"]), files.dim
        expected = {"forward": (dim + hidden + 1, 4 * hidden), "backward": (dim + hidden + 1, 4 * hidden),
                    "projection": (2 * hidden + 1, dim)}
        if learned:
            expected[OUTPUT] = (files.words, dim)
        for name, shape in expected.items():
            if getattr(weights, name).shape != shape:
                raise StoreError(f"{path}: {name} has shape {getattr(weights, name).shape}, expected {shape}")
            # The arrays are small (a few MB): checking them on load keeps NaN out of every score.
            if not np.isfinite(getattr(weights, name)).all():
                raise StoreError(f"{path}: {name} holds NaN or infinite values; the reranker is damaged "
                                 f"(train it again with `embedsearch rerank train`)")
        window = int(files.meta["contexts"].get("window", manifest["window"]))
        blend = manifest.get("blend_weight", 0.0)
        analogy = manifest.get("analogy_weight", DEFAULT_ANALOGY_WEIGHT)
        for name, value in (("blend weight", blend), ("analogy weight", analogy)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
                raise StoreError(f"{files.path}: the reranker's {name} {value!r} in the metadata is not a finite number")
        return cls(weights, files.vectors, files, window, float(blend), float(analogy))

    def slots(self, rows: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """Slot vectors of the stored contexts of ``rows`` (pooled; empty if none are stored) and
        each slot's own fit, that of the word that occurred there."""
        key = tuple(sorted({int(r) for r in rows}))
        if key not in self._slots:
            contexts = read_contexts(self._files.db, key, self.window, vocabulary=self._files.words)
            if len(contexts):
                slots = encode_slots(self.weights, self.vectors, contexts.left, contexts.right)
                own = np.asarray(self.targets[contexts.words.astype(np.int64)], dtype=np.float32)
                self._slots[key] = (slots, own_fit_scores(slots, own))
            else:
                self._slots[key] = (np.empty((0, self.weights.dim), dtype=np.float32), np.empty(0, dtype=np.float32))
        return self._slots[key]

    def fit(self, rows: Sequence[int], candidates: Sequence[int]) -> Fit:
        """Fit of each candidate row in the contexts of ``rows``, relative to the words that were there."""
        slots, own_fit = self.slots(rows)
        if len(slots) == 0:
            return Fit(np.zeros(len(candidates)), 0)
        vectors = np.asarray(self.targets[np.asarray(candidates, dtype=np.int64)], dtype=np.float32)
        relative = fit_scores(slots, vectors) - own_fit[:, None]
        return Fit(relative.mean(axis=0).astype(np.float64), len(slots))

    def analogy_fit(self, a: Sequence[int], b: Sequence[int], c: Sequence[int], candidates: Sequence[int]) -> Fit:
        """Fit of candidate answers to ``a : b :: c : ?``, the 3CosAdd of fits: ``fit(x | b) -
        fit(x | a) + fit(x | c)``, each in the stored contexts of those rows. The answer takes
        ``b``'s place where ``b`` is used as ``c`` relates to ``a``: it should fit ``b``'s slots
        (``walking``: "he was _ home"), ``c``'s (``swim``: "went _ in the lake"), and fit ``a``'s
        less than the words that merely resemble ``a`` do (which is where 3CosAdd's typical
        wrong answers come from). A word without stored contexts contributes 0; ``contexts`` counts
        all the slots read (0: nothing to rerank with)."""
        parts = [(self.fit(rows, candidates), sign) for rows, sign in ((b, 1.0), (a, -1.0), (c, 1.0)) if len(rows)]
        scores = sum((sign * fit.scores for fit, sign in parts if fit.contexts), np.zeros(len(candidates)))
        return Fit(np.asarray(scores, dtype=np.float64), sum(fit.contexts for fit, _ in parts))

    def pair_fit(self, first: int, second: int) -> float:
        """Symmetric fit of two words: each in the other's contexts, averaged (for pair scoring)."""
        parts = [float(f.scores[0]) for f in (self.fit([first], [second]), self.fit([second], [first])) if f.contexts]
        if not parts:
            raise QueryError("neither word has stored contexts to score the pair with")
        return sum(parts) / len(parts)
