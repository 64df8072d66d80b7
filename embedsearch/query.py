"""The query engine: open a store, answer questions, return dataclasses. It never prints.

Rows of ``vectors.npy`` are unit length, so every score here is a cosine similarity (3CosMul
excepted, see :meth:`Store.analogy`). Query words go through the store's own text pipeline first,
so ``King`` finds ``king`` in a lowercased store.
"""
from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigError, QueryError, UnknownWordError, UsageError
from .expression import parse_expression
from .store import StoreFiles
from .store.subwords import SubwordModel
from .text.pipeline import CompiledPipeline, Pipeline

ANALOGY_METHODS = ("3cosadd", "3cosmul")
# gensim's most_similar_cosmul adds this to the denominator; we use the same so results agree.
COSMUL_EPSILON = 1e-6
_SQL_BATCH = 500


@dataclass(frozen=True)
class Neighbor:
    word: str
    score: float


@dataclass(frozen=True)
class QueryTerm:
    """A word of the query as typed, the word(s) it became, and its weight.

    ``oov`` lists the words that are not in the vocabulary and were built from subwords
    (FastText stores only; elsewhere an unknown word is an error).
    """

    text: str
    words: list[str]
    weight: float
    oov: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SimilarResult:
    query: str
    terms: list[QueryTerm]
    neighbors: list[Neighbor]


@dataclass(frozen=True)
class AnalogyResult:
    """``a`` is to ``b`` as ``c`` is to each of ``neighbors``."""

    a: str
    b: str
    c: str
    method: str
    neighbors: list[Neighbor]
    oov: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SimilarityResult:
    first: QueryTerm
    second: QueryTerm
    score: float


@dataclass(frozen=True)
class DoesntMatchResult:
    """The word least like the others; ``scores`` are each word's cosine to the mean, lowest first."""

    odd_one_out: str
    scores: list[Neighbor]
    oov: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class StoreInfo:
    path: str
    words: int
    dim: int
    metric: str
    model: dict[str, Any]
    pipeline: str
    index: dict[str, Any]
    corpus: dict[str, Any] | None
    files: dict[str, int]
    created_with: str
    created_at: str
    pipeline_steps: list[dict[str, Any]] = field(default_factory=list)


class Store:
    """An open store. Use :func:`open_store`; close it (or use ``with``) when done."""

    def __init__(self, files: StoreFiles) -> None:
        self._files = files
        self.path = files.path
        self.vectors = files.vectors
        self._pipeline: CompiledPipeline | None = None
        self._subwords: SubwordModel | None | bool = False  # False: not looked at yet

    # --- basics ------------------------------------------------------------------------------

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._files.close()

    def __len__(self) -> int:
        return self._files.words

    @property
    def dim(self) -> int:
        return self._files.dim

    @property
    def meta(self) -> dict[str, Any]:
        return self._files.meta

    @property
    def pipeline(self) -> CompiledPipeline:
        if self._pipeline is None:
            saved = self.meta.get("pipeline")
            # A store imported from plain vectors has no pipeline: query words are used as typed.
            pipeline = Pipeline.from_dict(saved) if saved else Pipeline.of("whitespace")
            self._pipeline = pipeline.compile()
        return self._pipeline

    @property
    def subwords(self) -> SubwordModel | None:
        """The FastText subword model, or ``None`` for stores without one."""
        if self._subwords is False:
            meta = self.meta.get("subwords")
            self._subwords = SubwordModel.from_meta(self._files.array(meta["file"]), meta) if meta else None
        return self._subwords  # type: ignore[return-value]

    def raw_vector(self, word: str) -> np.ndarray:
        """A FastText store's unnormalised vector for any word, as fastText's ``get_word_vector`` gives it."""
        if self.subwords is None:
            raise QueryError(f"{self.path} has no subword data (only FastText stores do)")
        row = self._lookup([word]).get(word)
        return self.subwords.vector(word, row)

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and self._lookup([word]).get(word) is not None

    def word_id(self, word: str) -> int:
        """Row of a vocabulary word (exactly as stored); raises :class:`UnknownWordError`."""
        found = self._lookup([word]).get(word)
        if found is None:
            raise UnknownWordError(word, self.suggest(word))
        return found

    def vector(self, word: str) -> np.ndarray:
        """The unit vector of a vocabulary word (a copy, float32)."""
        return np.array(self.vectors[self.word_id(word)])

    def words_of(self, ids: Iterable[int]) -> list[str]:
        """Vocabulary words of rows ``ids``, in the same order."""
        ids = [int(i) for i in ids]
        found: dict[int, str] = {}
        for start in range(0, len(ids), _SQL_BATCH):
            batch = ids[start : start + _SQL_BATCH]
            sql = f"SELECT id, word FROM words WHERE id IN ({','.join('?' * len(batch))})"
            found.update(self._files.db.execute(sql, batch).fetchall())
        return [found[i] for i in ids]

    def _lookup(self, words: Sequence[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        unique = list(dict.fromkeys(words))
        for start in range(0, len(unique), _SQL_BATCH):
            batch = unique[start : start + _SQL_BATCH]
            sql = f"SELECT word, id FROM words WHERE word IN ({','.join('?' * len(batch))})"
            found.update(self._files.db.execute(sql, batch).fetchall())
        return found

    def suggest(self, word: str, limit: int = 5) -> list[str]:
        """Vocabulary words spelled close to ``word``, most frequent first among equals."""
        if not word:
            return []
        db = self._files.db
        letters = set(word) | set("abcdefghijklmnopqrstuvwxyz")
        splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
        edits = {a + b[1:] for a, b in splits if b}
        edits |= {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
        edits |= {a + ch + b[1:] for a, b in splits if b for ch in letters}
        edits |= {a + ch + b for a, b in splits for ch in letters}
        edits.discard(word)
        found: list[tuple[int, str]] = []
        candidates = sorted(edits)
        for start in range(0, len(candidates), _SQL_BATCH):
            batch = candidates[start : start + _SQL_BATCH]
            sql = f"SELECT count, word FROM words WHERE word IN ({','.join('?' * len(batch))})"
            found.extend(db.execute(sql, batch).fetchall())
        ranked = [w for _, w in sorted(found, key=lambda cw: (-cw[0], cw[1]))][:limit]
        if len(ranked) < limit:
            # Farther spellings: compare with frequent words sharing the first character.
            first = word[0]
            pool = [w for (w,) in db.execute(
                "SELECT word FROM words WHERE word >= ? AND word < ? ORDER BY count DESC LIMIT 20000",
                (first, chr(ord(first) + 1)),
            )]
            for close in difflib.get_close_matches(word, pool, n=limit, cutoff=0.75):
                if close not in ranked and close != word:
                    ranked.append(close)
        return ranked[:limit]

    # --- resolving query words ---------------------------------------------------------------

    def _term(self, text: str, weight: float = 1.0) -> tuple[QueryTerm, np.ndarray, list[int]]:
        """A query term's words, its vector (mean of its words' unit vectors) and its vocabulary rows."""
        tokens = self.pipeline.tokens(text)
        if not tokens:
            raise QueryError(f"{text!r} has no words left after the store's text pipeline ({self.pipeline.pipeline.describe()})")
        ids = self._lookup(tokens)
        units: list[np.ndarray] = []
        oov: list[str] = []
        for token in tokens:
            if token in ids:
                units.append(np.asarray(self.vectors[ids[token]], dtype=np.float32))
                continue
            vector = self.subwords.vector(token) if self.subwords is not None else None
            norm = float(np.linalg.norm(vector)) if vector is not None else 0.0
            if vector is None or norm == 0.0:
                raise UnknownWordError(token, self.suggest(token))
            units.append(vector / norm)
            oov.append(token)
        rows = [ids[t] for t in tokens if t in ids]
        return QueryTerm(text, tokens, weight, oov), np.mean(units, axis=0), rows

    @staticmethod
    def _check_k(k: int) -> None:
        if not isinstance(k, int) or k < 1:
            raise ConfigError(f"k must be a positive integer, got {k!r}")

    # --- search ------------------------------------------------------------------------------

    def _search(self, query: np.ndarray, k: int, exclude: set[int]) -> list[Neighbor]:
        """Top ``k`` rows by inner product with ``query`` (unit or not), ``exclude`` left out."""
        norm = float(np.linalg.norm(query))
        if norm < 1e-6:
            raise QueryError("the query vector is zero (the terms cancel out); nothing is similar to it")
        unit = (query / norm).astype(np.float32, copy=False)[None, :]
        wanted = min(k + len(exclude), len(self))
        scores, ids = self._files.index.search(unit, wanted)
        hits = [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0 and int(i) not in exclude][:k]
        words = self.words_of(i for i, _ in hits)
        return [Neighbor(word, score) for word, (_, score) in zip(words, hits)]

    def _top_of_scores(self, scores: np.ndarray, k: int, exclude: set[int]) -> list[Neighbor]:
        wanted = min(k + len(exclude), len(scores))
        top = np.argpartition(-scores, wanted - 1)[:wanted] if wanted < len(scores) else np.arange(len(scores))
        top = top[np.argsort(-scores[top], kind="stable")]
        hits = [int(i) for i in top if int(i) not in exclude][:k]
        words = self.words_of(hits)
        return [Neighbor(word, float(scores[i])) for word, i in zip(words, hits)]

    # --- queries -----------------------------------------------------------------------------

    def similar(self, query: str, *, k: int = 10) -> SimilarResult:
        """Nearest words to a word, a phrase (mean of its words) or an expression (``king - man + woman``)."""
        self._check_k(k)
        terms: list[QueryTerm] = []
        combined = np.zeros(self.dim, dtype=np.float32)
        exclude: set[int] = set()
        for parsed in parse_expression(query):
            term, vector, ids = self._term(parsed.text, parsed.weight)
            terms.append(term)
            combined += parsed.weight * vector
            exclude.update(ids)
        return SimilarResult(query, terms, self._search(combined, k, exclude))

    def analogy(self, a: str, b: str, c: str, *, k: int = 10, method: str = "3cosadd") -> AnalogyResult:
        """``a`` is to ``b`` as ``c`` is to ...? (``man king woman`` → ``queen``). Inputs are excluded.

        ``3cosadd`` ranks by cos(x, b - a + c); ``3cosmul`` (Levy & Goldberg 2014) by
        cos'(x, b) * cos'(x, c) / (cos'(x, a) + 1e-6) with cos' = (1 + cos) / 2, as gensim's
        ``most_similar_cosmul`` does.
        """
        self._check_k(k)
        if method not in ANALOGY_METHODS:
            raise ConfigError(f"method must be one of {', '.join(ANALOGY_METHODS)}, got {method!r}")
        resolved = [self._term(word) for word in (a, b, c)]
        vectors = [vector for _, vector, _ in resolved]
        exclude = {i for _, _, ids in resolved for i in ids}
        names = [" ".join(term.words) for term, _, _ in resolved]
        oov = [word for term, _, _ in resolved for word in term.oov]
        if method == "3cosadd":
            units = [v / max(float(np.linalg.norm(v)), 1e-12) for v in vectors]
            neighbors = self._search(units[1] - units[0] + units[2], k, exclude)
        else:
            units = np.stack([v / max(float(np.linalg.norm(v)), 1e-12) for v in vectors]).astype(np.float32)
            shifted = (1.0 + np.asarray(self.vectors @ units.T)) / 2.0
            scores = shifted[:, 1] * shifted[:, 2] / (shifted[:, 0] + COSMUL_EPSILON)
            neighbors = self._top_of_scores(scores, k, exclude)
        return AnalogyResult(names[0], names[1], names[2], method, neighbors, oov)

    def similarity(self, first: str, second: str) -> SimilarityResult:
        """Cosine similarity of two words (or phrases, as the mean of their words)."""
        term1, v1, _ = self._term(first)
        term2, v2, _ = self._term(second)
        denominator = float(np.linalg.norm(v1) * np.linalg.norm(v2))
        score = float(v1 @ v2) / denominator if denominator > 0 else 0.0
        return SimilarityResult(term1, term2, score)

    def doesnt_match(self, words: Sequence[str]) -> DoesntMatchResult:
        """Which of ``words`` fits least: the one farthest (by cosine) from the mean of all of them."""
        if len(words) < 3:
            raise UsageError(f"doesnt-match needs at least 3 words, got {len(words)}")
        resolved = [self._term(word) for word in words]
        vectors = np.stack([vector for _, vector, _ in resolved])
        units = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        mean = units.mean(axis=0)
        mean /= max(float(np.linalg.norm(mean)), 1e-12)
        scores = units @ mean
        order = np.argsort(scores, kind="stable")
        ranked = [Neighbor(" ".join(resolved[i][0].words), float(scores[i])) for i in order]
        return DoesntMatchResult(ranked[0].word, ranked, [w for term, _, _ in resolved for w in term.oov])

    def info(self) -> StoreInfo:
        """What the store holds: size, model and training parameters, pipeline, index, files."""
        meta = self.meta
        saved = meta.get("pipeline")
        pipeline = Pipeline.from_dict(saved) if saved else None
        return StoreInfo(
            path=str(self.path.absolute()),
            words=len(self),
            dim=self.dim,
            metric=meta.get("metric", "cosine"),
            model=meta.get("model") or {},
            pipeline=pipeline.describe() if pipeline else "(none: words used as typed)",
            index=self._files.index_meta,
            corpus=meta.get("corpus"),
            files=self._files.file_sizes(),
            created_with=meta.get("created_with", "?"),
            created_at=meta.get("created_at", "?"),
            pipeline_steps=[s.to_dict() for s in pipeline.steps] if pipeline else [],
        )


def open_store(path: str | os.PathLike[str], *, verify: bool = True) -> Store:
    """Open the store at ``path`` for queries, checking its format, sizes and (``verify``) checksums."""
    return Store(StoreFiles(Path(path), verify=verify))
