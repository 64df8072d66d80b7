"""The gensim-shaped face of a store: ``store["king"]``, ``most_similar(positive=, negative=, topn=)``,
``most_similar_cosmul``, ``similar_by_vector``, ``similar_by_word`` and ``to_keyedvectors()``.

These are thin adapters over the query engine (:class:`embedsearch.query.Store` inherits them), so
code written against gensim's ``KeyedVectors`` runs on a store and gets the same numbers: the same
unit vectors, the same means, the same 3CosMul formula. Like gensim they return lists of
``(word, score)`` tuples; the engine's own methods (``similar``, ``analogy``) return dataclasses.
Two differences: vectors are the store's unit vectors (a store keeps only those, so
``store["king"]`` is ``KeyedVectors.get_vector("king", norm=True)``), and every method also takes
``among=`` (answers only from that list of words), which gensim lacks (gensim issues 481, 1229, 2535).
Words are looked up as stored: gensim's methods do not run a text pipeline, so neither do these.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from .errors import ConfigError, UnknownWordError

if TYPE_CHECKING:
    from .query import Neighbor

# gensim's most_similar_cosmul adds this to the denominator
_COSMUL_EPSILON = 1e-6

WordOrVector = Union[str, np.ndarray]

__all__ = ["KeyedVectorsAPI"]


class KeyedVectorsAPI:
    """gensim ``KeyedVectors`` methods for :class:`~embedsearch.query.Store` (a mixin)."""

    # provided by Store
    vectors: np.ndarray
    if TYPE_CHECKING:
        def word_id(self, word: str) -> int: ...
        def rows_for(self, words: Sequence[str]) -> dict[str, int]: ...
        def vocabulary(self) -> list[str]: ...
        def counts(self) -> np.ndarray: ...
        def suggest(self, word: str, limit: int = 5) -> list[str]: ...
        def words_of(self, ids: Iterable[int]) -> list[str]: ...
        def among_rows(self, among: Iterable[str] | None) -> np.ndarray | None: ...
        def _search(self, query: np.ndarray, k: int, exclude: set[int], *, composed: bool = False,
                    among: Iterable[str] | None = None) -> list[Neighbor]: ...
        def _top_of_scores(self, scores: np.ndarray, k: int, exclude: set[int], rows: np.ndarray) -> list[Neighbor]: ...
        @property
        def subwords(self) -> Any: ...
        def placed(self, vector: np.ndarray) -> np.ndarray: ...
        @property
        def dim(self) -> int: ...
        def __len__(self) -> int: ...

    # --- vectors -----------------------------------------------------------------------------

    def __getitem__(self, key: str | Sequence[str]) -> np.ndarray:
        """The unit vector of a word (FastText stores: any word, from subwords), or ``[n, dim]`` for a list."""
        if isinstance(key, str):
            return self.get_vector(key)
        return np.stack([self.get_vector(word) for word in key]) if len(key) else np.zeros((0, self.dim), np.float32)

    def get_vector(self, key: str, norm: bool = True) -> np.ndarray:
        """gensim's ``get_vector``. A store keeps unit vectors only, so ``norm=False`` gives the same."""
        del norm
        row = self.rows_for([key]).get(key)
        if row is not None:
            return np.array(self.vectors[row], dtype=np.float32)
        if self.subwords is not None:
            vector = self.subwords.vector(key)
            length = float(np.linalg.norm(vector))
            if length > 0:
                return self.placed(vector)
        raise UnknownWordError(key, self.suggest(key))

    @property
    def index_to_key(self) -> list[str]:
        """Vocabulary in row order (gensim's ``index_to_key``)."""
        return self.vocabulary()

    @property
    def key_to_index(self) -> dict[str, int]:
        """word → row (gensim's ``key_to_index``); built on first use."""
        return {word: row for row, word in enumerate(self.vocabulary())}

    @property
    def vector_size(self) -> int:
        return self.dim

    # --- neighbours --------------------------------------------------------------------------

    def _terms(self, words: WordOrVector | Sequence[WordOrVector] | None) -> list[WordOrVector]:
        if words is None:
            return []
        if isinstance(words, (str, np.ndarray)):
            return [words]
        return list(words)

    def _weighted(self, positive: Any, negative: Any) -> tuple[list[tuple[np.ndarray, float]], set[int]]:
        """(vector, weight) of every term and the rows of the words among them (left out of answers).

        As in gensim: a term is a word (its unit vector), a vector (used as given) or a
        ``(word or vector, weight)`` pair; positive terms weigh 1 and negative ones -1 by default."""
        terms = [(t, 1.0) for t in self._terms(positive)] + [(t, -1.0) for t in self._terms(negative)]
        if not terms:
            raise ConfigError("cannot compute similarity with no input: give positive and/or negative words")
        weighted: list[tuple[np.ndarray, float]] = []
        exclude: set[int] = set()
        for term, weight in terms:
            if isinstance(term, tuple):
                term, weight = term[0], float(term[1]) if len(term) == 2 else weight
            if isinstance(term, str):
                weighted.append((self.get_vector(term), weight))
                row = self.rows_for([term]).get(term)
                if row is not None:
                    exclude.add(row)
            else:
                vector = np.asarray(term, dtype=np.float32)
                if vector.shape != (self.dim,):
                    raise ConfigError(f"a query vector must have shape ({self.dim},), got {vector.shape}")
                weighted.append((vector, weight))
        return weighted, exclude

    def _candidates(self, restrict_vocab: int | None, among: Iterable[str] | None) -> np.ndarray | None:
        rows = self.among_rows(among)
        if restrict_vocab is not None:
            if not isinstance(restrict_vocab, int) or restrict_vocab < 1:
                raise ConfigError(f"restrict_vocab must be a positive integer, got {restrict_vocab!r}")
            first = np.arange(min(restrict_vocab, len(self)))
            rows = first if rows is None else rows[rows < restrict_vocab]
        return rows

    @staticmethod
    def _pairs(neighbors: list[Neighbor]) -> list[tuple[str, float]]:
        return [(n.word, n.score) for n in neighbors]

    def most_similar(self, positive: Any = None, negative: Any = None, topn: int = 10, *,
                     restrict_vocab: int | None = None, among: Iterable[str] | None = None) -> list[tuple[str, float]]:
        """gensim's ``most_similar``: words nearest the mean of the unit vectors of ``positive``
        minus those of ``negative`` (words or vectors), the input words left out; ``(word, cosine)``
        pairs, best first. ``restrict_vocab``: only the first N rows; ``among``: only these words."""
        if not isinstance(topn, int) or topn < 1:
            raise ConfigError(f"topn must be a positive integer, got {topn!r}")
        weighted, exclude = self._weighted(positive, negative)
        total = sum(abs(weight) for _, weight in weighted)  # gensim's get_mean_vector
        mean = np.sum([weight * vector for vector, weight in weighted], axis=0) / (total or 1.0)
        rows = self._candidates(restrict_vocab, among)
        if rows is None:
            return self._pairs(self._search(mean, topn, exclude, composed=len(weighted) > 1))
        unit = mean / max(float(np.linalg.norm(mean)), 1e-12)
        scores = np.asarray(self.vectors[rows] @ unit.astype(np.float32)) if len(rows) else np.zeros(0, np.float32)
        return self._pairs(self._top_of_scores(scores, topn, exclude, rows)) if len(rows) else []

    def most_similar_cosmul(self, positive: Any = None, negative: Any = None, topn: int = 10, *,
                            restrict_vocab: int | None = None, among: Iterable[str] | None = None) -> list[tuple[str, float]]:
        """gensim's ``most_similar_cosmul`` (Levy & Goldberg 2014, cosines shifted to [0, 1]):
        prod((1 + cos(x, p)) / 2) / (prod((1 + cos(x, n)) / 2) + 1e-6), computed over every row."""
        if not isinstance(topn, int) or topn < 1:
            raise ConfigError(f"topn must be a positive integer, got {topn!r}")
        weighted, exclude = self._weighted(positive, negative)
        if not any(weight > 0 for _, weight in weighted):
            raise ConfigError("most_similar_cosmul needs at least one positive term")
        rows = self._candidates(restrict_vocab, among)
        if rows is None:
            rows = np.arange(len(self))
        if not len(rows):
            return []
        matrix = self.vectors if len(rows) == len(self) else self.vectors[rows]
        terms = np.stack([vector for vector, _ in weighted]).astype(np.float32)
        shifted = (1.0 + np.asarray(matrix @ terms.T)) / 2.0
        positive_cols = [i for i, (_, w) in enumerate(weighted) if w > 0]
        negative_cols = [i for i, (_, w) in enumerate(weighted) if w < 0]
        numerator = np.prod(shifted[:, positive_cols], axis=1)
        denominator = np.prod(shifted[:, negative_cols], axis=1) + _COSMUL_EPSILON
        return self._pairs(self._top_of_scores(numerator / denominator, topn, exclude, rows))

    def similar_by_vector(self, vector: np.ndarray, topn: int = 10, *, restrict_vocab: int | None = None,
                          among: Iterable[str] | None = None) -> list[tuple[str, float]]:
        """gensim's ``similar_by_vector``: words nearest ``vector`` (nothing left out)."""
        return self.most_similar(positive=[np.asarray(vector)], topn=topn, restrict_vocab=restrict_vocab, among=among)

    def similar_by_word(self, word: str, topn: int = 10, *, restrict_vocab: int | None = None,
                        among: Iterable[str] | None = None) -> list[tuple[str, float]]:
        """gensim's ``similar_by_word``: ``most_similar(positive=[word])``."""
        return self.most_similar(positive=[word], topn=topn, restrict_vocab=restrict_vocab, among=among)

    # --- bridge ------------------------------------------------------------------------------

    def to_keyedvectors(self) -> Any:
        """The store's vocabulary, unit vectors and counts as a gensim ``KeyedVectors`` (gensim is
        imported here, not on the query path). FastText stores give plain ``KeyedVectors`` (no subwords)."""
        from gensim.models import KeyedVectors

        keyed = KeyedVectors(vector_size=self.dim, count=0, dtype=np.float32)
        keyed.add_vectors(self.vocabulary(), np.asarray(self.vectors, dtype=np.float32))
        keyed.allocate_vecattrs(attrs=["count"], types=[np.int64])  # (add_vectors' extras= is broken in gensim 4.3)
        keyed.expandos["count"][:] = self.counts()
        return keyed
