"""What the server asks of a store beyond :class:`~embedsearch.query.Store`'s own methods.

Everything here is built from the store's public methods (``resolve``, ``search_vectors``,
``words_of``, ``rows_for``, ``vocabulary``), so answers are the library's answers:

- :func:`compose` is the first half of ``Store.similar`` (parse, the store's pipeline, the weighted
  sum, the rows to exclude); :func:`similar_many` is its second half for many queries at once, as
  ONE search call (one matrix product on exact stores), which is how concurrent requests are
  answered together (see :mod:`.batcher`). The API's equality tests hold these to ``Store.similar``.
- :func:`similar_among` ranks a given list of words (``restrict``), :func:`similar_to_vector`
  searches from a raw vector, :func:`word_vectors` gives the vectors of words (subword-built on
  FastText stores), :func:`word_map` places a query and its neighbours on a 2-D map (PCA), and
  :class:`Vocabulary` pages the vocabulary and completes prefixes.

Nothing here imports gensim, fastText or training code.
"""
from __future__ import annotations

import bisect
import dataclasses
import heapq
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError, EmbedsearchError, ExpressionError, QueryError
from ..expression import is_plain, parse_expression
from ..plot import pca_2d
from ..query import Neighbor, QueryTerm, SimilarResult, Store
from ..store.index import SCORE_MARGIN, TIE_POOL, exact_scores, rescore_top_k, with_near_ties

# As in query.py: candidates an approximate index supplies for composed queries, rescored exactly.
_POOL = 200
# Exact top-k selection: the scores are cut in blocks of this many columns (see select_top_k).
_SELECT_BLOCK = 64
# At most this many scores (128 MB) in flight per search call; bigger batches go in row chunks.
_MAX_SCORES = 32 * 2**20
# NeighbourTable.plain_word remembers how this many queries (of up to _RESOLVED_CHARS characters)
# resolved: ~15 MB at most, emptied when full.
_RESOLVED_MAX = 32_768
_RESOLVED_CHARS = 64
_MISSING = object()


_FIELDS: dict[type, tuple[str, ...]] = {}
_PLAIN = (str, float, int, bool, type(None))


def as_data(value: Any) -> Any:
    """``dataclasses.asdict`` for JSON, without its deep copies (a third of a small request's time)."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    names = _FIELDS.get(kind)
    if names is None and dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = _FIELDS[kind] = tuple(f.name for f in dataclasses.fields(value))
    if names is not None:
        return {name: as_data(getattr(value, name)) for name in names}
    if kind is list or kind is tuple:
        return [as_data(item) for item in value]
    if kind is dict:
        return {key: as_data(item) for key, item in value.items()}
    return value


@dataclass(frozen=True)
class Composed:
    """A similarity query made ready to search: its terms, its (not yet unit) vector, the rows it
    excludes (its own words) and whether it is composed (several terms, a phrase, a negative term)."""

    query: str
    terms: list[QueryTerm]
    vector: np.ndarray
    exclude: frozenset[int]
    composed: bool


def compose(store: Store, query: str) -> Composed:
    """Parse ``query`` and resolve its terms exactly as ``Store.similar`` does (it is the same code)."""
    terms, combined, exclude, composed = store.compose(query)
    return Composed(query, terms, combined, frozenset(exclude), composed)


def plain_word(store: Store, query: str) -> tuple[dict[str, Any], int] | None:
    """``(term, row)`` when ``query`` is one plain vocabulary word after the store's pipeline (what
    ``compose`` would make a one-term, one-word, weight-1 query of, without its vector); else ``None``
    (an expression, a phrase, an unknown word, anything that fails: :func:`compose` says what).
    ``term`` is the :class:`QueryTerm`'s JSON document, built directly (``as_data`` of a hundred
    terms was a fifth of a batch's time)."""
    try:
        parsed = parse_expression(query)
    except ExpressionError:
        return None
    if not is_plain(parsed):
        return None
    text = " ".join(term.text for term in parsed)  # as compose joins a plain phrase
    tokens = store.pipeline.tokens(text)
    if len(tokens) != 1:
        return None
    row = store.rows_for(tokens).get(tokens[0])
    if row is None:
        return None
    return {"text": text, "words": tokens, "weight": 1.0, "oov": []}, row


def unit(vector: np.ndarray) -> np.ndarray:
    """``vector`` scaled to unit length in float32, as ``Store._unit`` does (a zero vector is an error)."""
    norm = float(np.linalg.norm(vector))
    if not np.isfinite(norm) or norm < 1e-6:
        raise QueryError("the query vector is zero (the terms cancel out); nothing is similar to it")
    return (vector / norm).astype(np.float32, copy=False)


def _wanted(store: Store, item: Composed, k: int) -> int:
    wanted = min(k + len(item.exclude), len(store))
    if item.composed and not store.search_info.exact:
        wanted = min(max(wanted, _POOL), len(store))
    return wanted


def select_top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best rows for each column of ``scores`` (``[words, queries]``), as ``[queries, k]``
    scores and row ids, best first, equal scores by row: exactly what a full sort would give.

    ``np.argpartition`` per query costs ~5 ns per score; this is one vectorised pass over the block
    (the maximum of each run of ``_SELECT_BLOCK`` rows) plus a little: a query's k-th largest block
    maximum ``floor`` is at most its k-th largest score (k blocks hold a score >= floor), so only the
    blocks whose maximum reaches ``floor`` (and the few rows after the last whole block) can hold
    its top k, and only those are sorted.
    """
    total, n = scores.shape
    k = min(k, total)
    blocks = total // _SELECT_BLOCK
    if blocks < 4 * k:
        order = np.argsort(-scores.T, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(scores.T, order, axis=1), order.astype(np.int64)
    covered = blocks * _SELECT_BLOCK
    head = scores[:covered].reshape(blocks, _SELECT_BLOCK, n).max(axis=1)
    floor = np.partition(head, blocks - k, axis=0)[blocks - k]
    block_ids, queries = np.nonzero(head >= floor[None, :])
    rows = (block_ids[:, None] * _SELECT_BLOCK + np.arange(_SELECT_BLOCK)[None, :]).ravel()
    queries = np.repeat(queries, _SELECT_BLOCK)
    if covered < total:
        tail = np.arange(covered, total)
        rows = np.concatenate([rows, np.tile(tail, n)])
        queries = np.concatenate([queries, np.repeat(np.arange(n), len(tail))])
    values = scores[rows, queries]
    keep = values >= floor[queries]
    rows, queries, values = rows[keep], queries[keep], values[keep]
    order = np.lexsort((rows, -values, queries))  # by query, then best first, then by row
    rows, queries, values = rows[order], queries[order], values[order]
    take = (np.searchsorted(queries, np.arange(n))[:, None] + np.arange(k)[None, :]).ravel()
    return values[take].reshape(n, k), rows[take].reshape(n, k).astype(np.int64)


def flat_top_k(vectors: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` by inner product for a block of queries: one matrix product and
    :func:`select_top_k` find the candidates that ``Store.similar`` finds (``SCORE_MARGIN`` more
    than ``k``, and near ties: :func:`~embedsearch.store.index.with_near_ties`), which are rescored
    as it rescores its own (:func:`~embedsearch.store.index.rescore_top_k`), so a query gets
    bit-identical scores whether it was answered alone or in a batch."""
    rows = np.asarray(vectors)
    wide = min(k + SCORE_MARGIN, len(rows))
    pool = min(wide + TIE_POOL, len(rows))
    chunk = max(1, _MAX_SCORES // max(len(rows), 1))
    parts = []
    for i in range(0, len(queries), chunk):
        block = queries[i : i + chunk]
        scores = (rows @ block[0])[:, None] if len(block) == 1 else rows @ block.T
        parts.append(with_near_ties(rows, block, *select_top_k(scores, pool), wide))
    width = max(part.shape[1] for part in parts)
    ids = np.concatenate([np.pad(part, ((0, 0), (0, width - part.shape[1])), constant_values=-1) for part in parts])
    return rescore_top_k(rows, queries, ids, k)


def similar_many(store: Store, items: Sequence[Composed], ks: Sequence[int]) -> list[SimilarResult | EmbedsearchError]:
    """The neighbours of many composed queries from ONE search call; a failing query gets its error.

    Each row is searched for the most candidates any row needs, then cut to its own ``k`` after
    leaving out its own words, so every row's answer is the one ``Store.similar`` gives, to the bit
    (both rescore their candidates with :func:`~embedsearch.store.index.exact_scores`).
    """
    out: list[SimilarResult | EmbedsearchError | None] = [None] * len(items)
    rows: list[np.ndarray] = []
    placed: list[int] = []
    for position, (item, k) in enumerate(zip(items, ks)):
        if not isinstance(k, int) or k < 1:
            out[position] = ConfigError(f"k must be a positive integer, got {k!r}")
            continue
        try:
            rows.append(unit(item.vector))
        except EmbedsearchError as exc:
            out[position] = exc
            continue
        placed.append(position)
    if placed:
        wanted = max(_wanted(store, items[p], ks[p]) for p in placed)
        info = store.search_info
        if info.exact and info.index == "flat":
            scores, ids = flat_top_k(store.vectors, np.stack(rows), wanted)
        else:
            scores, ids = store.search_vectors(np.stack(rows), wanted)
        id_lists, score_lists = ids.tolist(), scores.tolist()
        for position, row_ids, row_scores in zip(placed, id_lists, score_lists):
            item, k = items[position], ks[position]
            # Only the candidates this row would have drawn on its own, so ties cut the same way.
            limit = _wanted(store, item, k)
            hits = [(i, s) for i, s in zip(row_ids[:limit], row_scores[:limit]) if i >= 0 and i not in item.exclude][:k]
            words = store.words_of(i for i, _ in hits)
            out[position] = SimilarResult(item.query, item.terms,
                                          [Neighbor(store.shown(w), s) for w, (_, s) in zip(words, hits)], info)
    return out  # type: ignore[return-value]


class NeighbourTable:
    """The ``depth`` nearest rows of every row of a flat store, computed once in the background, so a
    query that is one vocabulary word (most of what a page or a client asks) is a look-up.

    Built a block of rows at a time with :func:`flat_top_k` (the same search the micro-batches do,
    on the same unit query vectors), in a thread at low CPU priority; until it is complete, queries
    are searched as usual. Costs ``rows x (depth + 1) x 8`` bytes (text8: 28 MB) and about one
    matrix product over the whole vocabulary (text8: ~10-20 s of one core). Only for stores up to
    ``max_rows`` words: the work grows with the square of the vocabulary.
    """

    def __init__(self, store: Store, *, depth: int = 50, block: int = 1024) -> None:
        self.store = store
        self.depth = depth
        self.block = block
        self.ready = False
        self.seconds: float | None = None
        self._ids: np.ndarray | None = None
        self._scores: np.ndarray | None = None
        self._usable: np.ndarray | None = None  # rows that are a query's own vector (finite, not zero)
        self._cancelled = False
        self.thread: threading.Thread | None = None
        self._resolved: dict[str, tuple[dict[str, Any], int] | None] = {}

    def build(self) -> None:
        import os
        import time

        try:  # below the threads answering requests (Linux: a thread's own nice value)
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        except (AttributeError, OSError):
            pass
        start = time.perf_counter()
        vectors = np.asarray(self.store.vectors)
        total = len(vectors)
        width = min(self.depth + 1, total)
        ids = np.empty((total, width), dtype=np.int32)
        scores = np.empty((total, width), dtype=np.float32)
        usable = np.empty(total, dtype=bool)
        for begin in range(0, total, self.block):
            if self._cancelled:
                return
            rows = np.asarray(vectors[begin : begin + self.block], dtype=np.float32)
            if not np.isfinite(rows).all():
                return  # a damaged store: no table; searches say what is wrong with it
            norms = np.linalg.norm(rows, axis=1, keepdims=True)
            # A zero row is no query (unit() refuses it): such words are searched, and fail as they should.
            usable[begin : begin + len(rows)] = norms[:, 0] >= 1e-6
            units = (rows / np.where(norms < 1e-6, 1.0, norms)).astype(np.float32, copy=False)
            found_scores, found_ids = flat_top_k(vectors, units, width)
            ids[begin : begin + len(rows)] = found_ids
            scores[begin : begin + len(rows)] = found_scores
        self._ids, self._scores, self._usable = ids, scores, usable
        self.seconds = time.perf_counter() - start
        self.ready = True

    def cancel(self) -> None:
        self._cancelled = True

    def plain_word(self, query: str) -> tuple[dict[str, Any], int] | None:
        """:func:`plain_word` of ``query``, remembered: a table belongs to one generation of a store,
        whose pipeline and vocabulary never change, so a query resolves the same way every time; and
        parsing it and running the pipeline (~5 us) is half of a batch's work once the answers come
        from the table. The term document returned is shared between answers: never modify it."""
        if len(query) > _RESOLVED_CHARS:
            return plain_word(self.store, query)
        hit = self._resolved.get(query, _MISSING)
        if hit is _MISSING:
            if len(self._resolved) >= _RESOLVED_MAX:
                self._resolved.clear()
            hit = self._resolved[query] = plain_word(self.store, query)
        return hit  # type: ignore[return-value]

    def answer(self, item: Composed, k: int) -> SimilarResult | None:
        """The answer to a one-word query from the table, or ``None`` when the table cannot give it."""
        if not self.ready or k > self.depth or len(item.terms) != 1:
            return None
        term = item.terms[0]
        if term.weight != 1.0 or len(term.words) != 1 or term.oov or len(item.exclude) != 1:
            return None
        (row,) = item.exclude
        assert self._ids is not None and self._scores is not None and self._usable is not None
        if not self._usable[row]:
            return None
        ids, scores = self._ids[row].tolist(), self._scores[row].tolist()
        hits = [(i, s) for i, s in zip(ids, scores) if i != row][:k]
        if len(hits) < min(k, len(self.store) - 1):
            return None
        words = self.store.words_of(i for i, _ in hits)
        return SimilarResult(item.query, item.terms, [Neighbor(self.store.shown(w), s) for w, (_, s) in zip(words, hits)],
                             self.store.search_info)


    def answer_many(self, rows: Sequence[int], k: int) -> tuple[list[list[int]], list[list[float]], list[bool]] | None:
        """For the vocabulary rows ``rows`` (one-word queries), their ``k`` nearest rows (themselves left
        out) and scores, looked up all at once; ``found[i]`` is False where the table cannot answer
        (search that one). ``None`` when the table cannot answer any (not built, ``k`` too deep)."""
        if not self.ready or k > self.depth or not len(rows):
            return None
        assert self._ids is not None and self._scores is not None and self._usable is not None
        picked = np.asarray(rows, dtype=np.int64)
        ids, scores = self._ids[picked], self._scores[picked]
        keep = ids != picked[:, None]
        kept = keep.sum(axis=1)
        # Each row's kept entries first, in their order (best first), then cut to k.
        order = np.argsort(~keep, axis=1, kind="stable")[:, :k]
        ids, scores = np.take_along_axis(ids, order, axis=1), np.take_along_axis(scores, order, axis=1)
        lengths = np.minimum(kept, k).tolist()
        found = ((kept >= min(k, len(self.store) - 1)) & self._usable[picked]).tolist()
        id_lists = [row[:n] for row, n in zip(ids.tolist(), lengths)]
        score_lists = [row[:n] for row, n in zip(scores.tolist(), lengths)]
        return id_lists, score_lists, found


def similar_documents(store: Store, table: NeighbourTable | None, queries: Sequence[str], k: int) -> list[Any]:
    """The answers to many ``similar`` queries, each as its JSON document (``as_data`` of the
    ``SimilarResult`` ``Store.similar`` returns) or the ``EmbedsearchError`` it raises; the work is
    done once for the whole list, not once per query:

    - one-word queries (most of a batch) are found in the neighbour table with one look-up for all
      (:meth:`NeighbourTable.answer_many`), their words from the vocabulary list, and their documents
      built directly (no dataclass per neighbour); each query is resolved once per table
      (:meth:`NeighbourTable.plain_word`);
    - every other query is composed, and all of them are searched as ONE matrix product
      (:func:`similar_many`).
    """
    out: list[Any] = [None] * len(queries)
    if table is not None and table.ready and k <= table.depth:
        placed: list[int] = []
        rows: list[int] = []
        terms: list[dict[str, Any]] = []
        for position, query in enumerate(queries):
            hit = table.plain_word(query)
            if hit is not None:
                placed.append(position)
                terms.append(hit[0])
                rows.append(hit[1])
        answered = table.answer_many(rows, k)
        if answered is not None:
            vocabulary = store.vocabulary()
            info = as_data(store.search_info)
            for position, term, ids, scores, found in zip(placed, terms, *answered):
                if found:
                    out[position] = {"query": queries[position], "terms": [term],
                                     "neighbors": [{"word": vocabulary[i], "score": s} for i, s in zip(ids, scores)],
                                     "search": info, "rerank": None}
    rest = [position for position, document in enumerate(out) if document is None]
    items: list[Composed] = []
    searched: list[int] = []
    for position in rest:
        try:
            items.append(compose(store, queries[position]))
            searched.append(position)
        except EmbedsearchError as exc:
            out[position] = exc
    if items:
        for position, answer in zip(searched, similar_many(store, items, [k] * len(items))):
            out[position] = answer if isinstance(answer, BaseException) else as_data(answer)
    return out


@dataclass(frozen=True)
class RestrictedResult:
    """``query``'s cosine to each of ``among`` (the candidate words), best first; ``terms`` as in ``similar``."""

    query: str
    terms: list[QueryTerm]
    neighbors: list[Neighbor]


def similar_among(store: Store, query: str, among: Sequence[str], *, k: int) -> RestrictedResult:
    """Rank only the words ``among`` (each through the store's pipeline, each one vocabulary word)
    by cosine to ``query``; the query's own words are left out, as in ``similar``."""
    item = compose(store, query)
    direction = unit(item.vector)
    candidates: dict[int, str] = {}
    for text in among:
        term, _, ids = store.resolve(text)
        if len(term.words) != 1 or not ids:
            raise QueryError(f"restrict takes single vocabulary words; {text!r} is {term.words}")
        if ids[0] not in item.exclude:
            candidates.setdefault(ids[0], term.words[0])
    ordered = sorted(candidates)
    if not ordered:
        return RestrictedResult(query, item.terms, [])
    scores = exact_scores(store.vectors, direction[None, :].astype(np.float32), np.asarray(ordered)[None, :])[0]
    order = np.lexsort((np.asarray(ordered), -scores))[:k]
    return RestrictedResult(query, item.terms,
                            [Neighbor(store.shown(candidates[ordered[i]]), float(scores[i])) for i in order])


@dataclass(frozen=True)
class VectorNeighbors:
    neighbors: list[Neighbor]


def similar_to_vector(store: Store, vector: Sequence[float], *, k: int) -> VectorNeighbors:
    """Top-``k`` words by cosine to a raw vector of the store's dimension (no word is left out)."""
    array = np.asarray(vector, dtype=np.float64)
    if array.ndim != 1 or len(array) != store.dim:
        raise ConfigError(f"the vector must have {store.dim} numbers (the store's dimension), got {array.size}")
    if not np.all(np.isfinite(array)):
        raise ConfigError("the vector must hold finite numbers")
    scores, ids = store.search_vectors(unit(array.astype(np.float32))[None, :], min(k, len(store)))
    hits = [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0][:k]
    words = store.words_of(i for i, _ in hits)
    return VectorNeighbors([Neighbor(store.shown(w), s) for w, (_, s) in zip(words, hits)])


@dataclass(frozen=True)
class WordVector:
    """A word's unit vector as queries use it (a phrase: the mean of its words' unit vectors).
    ``words`` are the vocabulary words it became; ``oov`` those built from subwords (FastText)."""

    text: str
    words: list[str]
    oov: list[str]
    vector: list[float]


def word_vectors(store: Store, texts: Sequence[str]) -> list[WordVector]:
    found = []
    for text in texts:
        term, vector, _ = store.resolve(text)
        found.append(WordVector(text, term.words, term.oov, [float(x) for x in np.asarray(vector, dtype=np.float32)]))
    return found


@dataclass(frozen=True)
class MapPoint:
    word: str
    x: float
    y: float
    score: float | None  # cosine to the query; None for the query itself
    query: bool = False


@dataclass(frozen=True)
class WordMap:
    """A query and its neighbours in 2-D: the first two principal components of their unit vectors."""

    query: str
    points: list[MapPoint]
    explained: list[float] = field(default_factory=list)


def word_map(store: Store, result: SimilarResult) -> WordMap:
    """The query (as its composed vector) and ``result``'s neighbours projected to 2-D by PCA."""
    item = compose(store, result.query)
    rows = store.rows_for([n.word for n in result.neighbors])
    vectors = [unit(item.vector)] + [np.asarray(store.vectors[rows[n.word]], dtype=np.float32) for n in result.neighbors]
    points, explained = pca_2d(np.stack(vectors))
    out = [MapPoint(result.query, float(points[0, 0]), float(points[0, 1]), None, True)]
    out += [MapPoint(n.word, float(p[0]), float(p[1]), n.score) for n, p in zip(result.neighbors, points[1:])]
    return WordMap(result.query, out, explained)


@dataclass(frozen=True)
class VocabularyPage:
    """Words of the vocabulary, most frequent first; ``total`` counts every match, ``offset`` where this page starts."""

    words: list[str]
    total: int
    offset: int
    prefix: str | None


class Vocabulary:
    """Paging and prefix completion over a store's vocabulary (most frequent first).

    The sorted copy for prefix search is made on the first prefix query (~50 ms per 100k words)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._sorted: list[str] | None = None
        self._rows: list[int] | None = None

    def _index(self) -> tuple[list[str], list[int]]:
        with self._lock:
            if self._sorted is None or self._rows is None:
                words = self.store.vocabulary()
                order = sorted(range(len(words)), key=words.__getitem__)
                self._sorted = [words[i] for i in order]
                self._rows = order
            return self._sorted, self._rows

    def page(self, *, prefix: str | None, offset: int, limit: int) -> VocabularyPage:
        words = self.store.vocabulary()
        if not prefix:
            return VocabularyPage(words[offset : offset + limit], len(words), offset, None)
        ordered, rows = self._index()
        matches: set[int] = set()
        for variant in dict.fromkeys([prefix, unicodedata.normalize("NFKC", prefix).lower()]):
            start = bisect.bisect_left(ordered, variant)
            stop = bisect.bisect_left(ordered, variant + "\U0010ffff", lo=start)
            matches.update(rows[start:stop])
        best = heapq.nsmallest(offset + limit, matches)[offset:]
        return VocabularyPage([words[i] for i in best], len(matches), offset, prefix)
