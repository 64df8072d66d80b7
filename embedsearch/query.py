"""The query engine: open a store, answer questions, return dataclasses. It never prints.

Rows of ``vectors.npy`` are unit length, so every score here is a cosine similarity (3CosMul
excepted, see :meth:`Store.analogy`). Query words go through the store's own text pipeline first,
so ``King`` finds ``king`` in a lowercased store.
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import ConfigError, QueryError, StoreError, UnknownWordError, UsageError
from .expression import WeightedTerm, is_plain, parse_expression
from .keyed import KeyedVectorsAPI
from .rerank.weights import check_rerank_weight
from .results import (  # noqa: F401  (re-exported: they were defined here)
    AnalogyResult,
    DoesntMatchResult,
    Example,
    ExamplesResult,
    Neighbor,
    QueryTerm,
    RerankInfo,
    RerankedNeighbor,
    SearchInfo,
    SimilarResult,
    SimilarityResult,
    StoreInfo,
)
from .store import StoreFiles
from .store.index import exact_scores
from .store.subwords import SubwordModel
from .text.pipeline import CompiledPipeline, Pipeline

if TYPE_CHECKING:
    from .rerank.reranker import Reranker

ANALOGY_METHODS = ("3cosadd", "3cosmul")
# gensim's most_similar_cosmul adds this to the denominator; we use the same so results agree.
COSMUL_EPSILON = 1e-6
_SQL_BATCH = 500
VECTORS_FILE = "vectors.npy"
# Candidates an approximate index supplies for composed queries (expressions, analogies), rescored exactly.
_POOL = 200
_WARM_MAX_WORDS = 250_000
# Search breadth overrides beyond this cost memory (FAISS allocates per unit) and gain nothing.
MAX_SEARCH_PARAM = 1_000_000




class Store(KeyedVectorsAPI):
    """An open store. Use :func:`open_store`; close it (or use ``with``) when done.

    Besides its own queries it answers gensim's ``KeyedVectors`` calls (``store["king"]``,
    ``most_similar``, ``most_similar_cosmul``, ``similar_by_vector``...; see :mod:`embedsearch.keyed`)."""

    def __init__(self, files: StoreFiles) -> None:
        self._files = files
        self.path = files.path
        self.vectors = files.vectors
        self._pipeline: CompiledPipeline | None = None
        self._subwords: SubwordModel | None | bool = False  # False: not looked at yet
        self._postprocess = files.postprocess  # the stored rows' post-processing (mean, directions), or None
        self._search_param: int | None = None
        self._vocabulary: list[str] | None = None
        self._row_of: dict[str, int] | None = None
        self._searches = 0
        self._reranker: Reranker | None = None
        self._alphabet: str | None = None
        self._display: Callable[[str], str] | None | bool = False  # False: not looked at yet

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
            try:
                # A store imported from plain vectors has no pipeline: query words are used as typed.
                pipeline = Pipeline.from_dict(saved) if saved else Pipeline.of("whitespace")
                # Fitted steps (phrases, SentencePiece) need the models they learned from the corpus.
                self._pipeline = pipeline.compile(self._files.artifacts)
            except (ConfigError, KeyError, TypeError, ValueError) as exc:
                raise StoreError(f"{self._files.directory / 'meta.sqlite'}: the saved text pipeline is unusable ({exc})") from exc
        return self._pipeline

    def _display_function(self) -> Callable[[str], str] | None:
        if self._display is False:
            saved = self.meta.get("pipeline")
            try:
                self._display = Pipeline.from_dict(saved).display() if saved else None
            except ConfigError:
                self._display = None  # the pipeline's own error comes from `pipeline`, when it is used
        return self._display  # type: ignore[return-value]

    def shown(self, word: str) -> str:
        """A vocabulary word as answers show it: as stored, except in stores whose pipeline writes
        tokens that are not for reading (the ``jamo`` step: ㅎㅏㄱㄱㅛ- is shown 학교)."""
        display = self._display_function()
        return word if display is None else display(word)

    def _shown(self, neighbors: list[Neighbor]) -> list[Neighbor]:
        display = self._display_function()
        if display is None:
            return neighbors
        return [dataclasses.replace(n, word=display(n.word)) for n in neighbors]

    @property
    def subwords(self) -> SubwordModel | None:
        """The FastText subword model, or ``None`` for stores without one."""
        if self._subwords is False:
            meta = self.meta.get("subwords")
            self._subwords = SubwordModel.from_store(self._files, meta) if meta else None
        return self._subwords  # type: ignore[return-value]

    def placed(self, vector: np.ndarray) -> np.ndarray:
        """A vector built outside the stored rows (a FastText subword vector) moved where the stored
        rows are: normalised, and post-processed as they were (``train --postprocess``)."""
        if self._postprocess is not None:
            from .store.postprocess import apply

            return apply(vector, self._postprocess)
        return (vector / np.linalg.norm(vector)).astype(np.float32, copy=False)

    def raw_vector(self, word: str) -> np.ndarray:
        """A FastText store's unnormalised vector for any word, as fastText's ``get_word_vector`` gives
        it (before any post-processing: :meth:`vector` is the word's place among the stored rows)."""
        if self.subwords is None:
            raise QueryError(f"{self.path} has no subword data (only FastText stores do)")
        row = self.rows_for([word]).get(word)
        return self.subwords.vector(word, row)

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and self.rows_for([word]).get(word) is not None

    def word_id(self, word: str) -> int:
        """Row of a vocabulary word (exactly as stored); raises :class:`UnknownWordError`."""
        found = self.rows_for([word]).get(word)
        if found is None:
            raise self._unknown(word)
        return found

    def vector(self, word: str) -> np.ndarray:
        """The unit vector of a word (a copy, float32): a vocabulary word's row or, in a FastText
        store, any word's vector built from its subwords, as ``similar`` places it."""
        return self.get_vector(word)

    def vocabulary(self) -> list[str]:
        """Every vocabulary word in row order (most frequent first for trained stores); read once, cached."""
        if self._vocabulary is None:
            vocabulary = [w for (w,) in self._files.db.execute("SELECT word FROM words ORDER BY id")]
            if not all(isinstance(w, str) for w in vocabulary):
                raise self._words_damaged("a word that is not text")
            self._vocabulary = vocabulary
        return self._vocabulary

    def counts(self) -> np.ndarray:
        """Corpus count of every vocabulary word, in row order (int64; 0 where a store has no counts)."""
        rows = self._files.db.execute("SELECT count FROM words ORDER BY id")
        if not all(isinstance(c, int) and c >= 0 for (c,) in rows):
            raise self._words_damaged("a count that is not a whole number >= 0")
        return np.fromiter((c for (c,) in rows), dtype=np.int64, count=len(self))

    def _warm(self) -> None:
        """From a store's second search on, keep the vocabulary in memory: a one-off read (~30 ms per
        100k words) that a cold one-shot query should not pay, but that spares every later query two
        SQLite round trips. Not above ``_WARM_MAX_WORDS``: a million words take ~130 MB as Python
        strings and a dict, more than the vectors' own 0.4 GB can justify for ~0.1 ms per query."""
        self._searches += 1
        if self._searches == 2 and self._row_of is None and len(self) <= _WARM_MAX_WORDS:
            self._row_of = {word: row for row, word in enumerate(self.vocabulary())}

    def words_of(self, ids: Iterable[int]) -> list[str]:
        """Vocabulary words of rows ``ids``, in the same order."""
        if self._vocabulary is not None:
            return [self._vocabulary[int(i)] for i in ids]
        ids = [int(i) for i in ids]
        found: dict[int, str] = {}
        for start in range(0, len(ids), _SQL_BATCH):
            batch = ids[start : start + _SQL_BATCH]
            sql = f"SELECT id, word FROM words WHERE id IN ({','.join('?' * len(batch))})"
            found.update(self._files.db.execute(sql, batch).fetchall())
        missing = [i for i in ids if not isinstance(found.get(i), str)]
        if missing:
            raise self._words_damaged(f"no word (as text) with id {missing[0]}")
        return [found[i] for i in ids]

    def rows_for(self, words: Sequence[str]) -> dict[str, int]:
        """Rows of those ``words`` (exactly as stored) that are in the vocabulary."""
        if self._row_of is not None:
            return {word: self._row_of[word] for word in words if word in self._row_of}
        found: dict[str, int] = {}
        unique = list(dict.fromkeys(words))
        for start in range(0, len(unique), _SQL_BATCH):
            batch = unique[start : start + _SQL_BATCH]
            sql = f"SELECT word, id FROM words WHERE word IN ({','.join('?' * len(batch))})"
            found.update(self._files.db.execute(sql, batch).fetchall())
        # The word -> id lookup goes through the table's index, which opening does not read; the id ->
        # word rows it lands on are the ones the words checksum covers, so they must agree.
        if found and self.words_of(found.values()) != list(found):
            raise self._words_damaged("the index of the words table does not match the table")
        return found

    def _unknown(self, word: str) -> UnknownWordError:
        """The error for a word the lookup did not find, after making sure the lookup can be trusted:
        it goes through the words table's index, which opening does not read, so a word that a plain
        scan of the (checksummed) table finds means a damaged index, not an unknown word."""
        if self._row_of is None and self._files.db.execute(
                "SELECT 1 FROM words NOT INDEXED WHERE word = ? LIMIT 1", (word,)).fetchone():
            raise self._words_damaged("the index of the words table misses a word the table holds")
        return UnknownWordError(word, self.suggest(word))

    def _words_damaged(self, what: str) -> StoreError:
        return StoreError(f"{self._files.directory / 'meta.sqlite'}: the words table is damaged ({what}); "
                          "`embedsearch verify` checks the whole store")

    def suggest(self, word: str, limit: int = 5) -> list[str]:
        """Vocabulary words spelled close to ``word``, most frequent first among equals."""
        from . import spelling  # only an unknown word needs it

        if self._alphabet is None and word and len(word) <= spelling.SUGGEST_EDIT_CHARS:
            self._alphabet = spelling.vocabulary_alphabet(self._files.db)
        return spelling.suggest(self._files.db, word, self._alphabet or "", limit)

    # --- resolving query words ---------------------------------------------------------------

    def resolve(self, text: str, weight: float = 1.0) -> tuple[QueryTerm, np.ndarray, list[int]]:
        """A query term's words (after the store's pipeline), its vector (the mean of its words' unit
        vectors; subword-built for unknown words in FastText stores) and its vocabulary rows.

        Raises :class:`UnknownWordError` (with close spellings) for a word the store cannot place."""
        tokens = self.pipeline.tokens(text)
        if not tokens:
            raise QueryError(f"{text!r} has no words left after the store's text pipeline ({self.pipeline.pipeline.describe()})")
        ids = self.rows_for(tokens)
        units: list[np.ndarray] = []
        oov: list[str] = []
        for token in tokens:
            if token in ids:
                unit = np.asarray(self.vectors[ids[token]], dtype=np.float32)
                if not np.isfinite(unit).all():
                    raise self._damaged(VECTORS_FILE, f"the row of {token!r}")
                units.append(unit)
                continue
            vector = self.subwords.vector(token) if self.subwords is not None else None
            norm = float(np.linalg.norm(vector)) if vector is not None else 0.0
            if vector is not None and not np.isfinite(norm):
                raise self._damaged(str(self.meta["subwords"].get("file", "subwords.npy")), f"the n-grams of {token!r}")
            if vector is None or norm == 0.0:
                raise self._unknown(token)
            units.append(self.placed(vector))
            oov.append(token)
        rows = [ids[t] for t in tokens if t in ids]
        vector = units[0] if len(units) == 1 else np.mean(units, axis=0)
        return QueryTerm(text, tokens, weight, oov), vector, rows

    def _damaged(self, name: str, what: str) -> StoreError:
        """The error for non-finite numbers read from a store file: the file is damaged or tampered with."""
        return StoreError(f"{self.path / name}: {what} holds NaN or infinite values; the store is damaged "
                          f"(check it with `embedsearch verify {self.path}`, then rebuild or re-import it)")

    @staticmethod
    def _check_k(k: int) -> None:
        if not isinstance(k, int) or k < 1:
            raise ConfigError(f"k must be a positive integer, got {k!r}")

    # --- search ------------------------------------------------------------------------------

    def set_search(self, *, ef_search: int | None = None, nprobe: int | None = None) -> None:
        """Override the approximate index's search parameter for this store object (``None``: as built).

        ``ef_search`` applies to HNSW indexes, ``nprobe`` to IVF ones. Results then report no
        recall figure, since it was measured at the built-in setting.
        """
        kind = self._files.index_meta.get("kind")
        for name, value, kinds in (("ef_search", ef_search, ("hnsw",)), ("nprobe", nprobe, ("ivf", "ivfpq"))):
            if value is None:
                continue
            if kind not in kinds:
                raise ConfigError(f"{name} applies to {' and '.join(kinds)} indexes; this store's index is {kind}")
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 1 <= value <= MAX_SEARCH_PARAM:
                raise ConfigError(f"{name} must be an integer from 1 to {MAX_SEARCH_PARAM:,}, got {value!r}")
            self._search_param = value
        if ef_search is None and nprobe is None:
            self._search_param = None

    @property
    def search_info(self) -> SearchInfo:
        meta = self._files.index_meta
        exact = bool(meta.get("exact", False))
        recall = 1.0 if exact else (None if self._search_param is not None else meta.get("recall_at_10"))
        return SearchInfo(str(meta.get("kind")), exact, recall)

    def search_vectors(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` rows for each unit query row (scores exact cosines); the batch primitive of exports.

        Raises :class:`StoreError` if a score is not finite: rows of ``vectors.npy`` hold NaN or
        infinity (a damaged or tampered store), which no result may carry. Checked here, on the
        top-``k`` only, so opening a store never scans the whole file."""
        scores, ids = self._files.searcher.search(queries, k, self._search_param)
        if not np.isfinite(scores).all():
            raise self._damaged(VECTORS_FILE, "a row")
        return scores, ids

    def _unit(self, query: np.ndarray) -> np.ndarray:
        norm = float(np.linalg.norm(query))
        if not np.isfinite(norm):
            raise QueryError("the query vector is not finite (weights too large?); nothing can be compared with it")
        if norm < 1e-6:
            raise QueryError("the query vector is zero (the terms cancel out); nothing is similar to it")
        return (query / norm).astype(np.float32, copy=False)

    def among_rows(self, among: Iterable[str] | None) -> np.ndarray | None:
        """Sorted rows of the vocabulary words of ``among`` (words not in the vocabulary are
        ignored; ``None``: no restriction). Answers restricted to them are scored exactly."""
        if among is None:
            return None
        if isinstance(among, str):
            raise ConfigError("among must be a list of words, not one string")
        return np.array(sorted(set(self.rows_for(list(among)).values())), dtype=np.int64)

    def _search(self, query: np.ndarray, k: int, exclude: set[int], *, composed: bool = False,
                among: Iterable[str] | None = None) -> list[Neighbor]:
        """Top ``k`` rows by inner product with ``query`` (unit or not), ``exclude`` left out.

        ``composed`` queries (expressions, analogies) are not word vectors: they lie off the words'
        manifold, where an approximate index needs a wider search than the one its recall was tuned
        with, so they draw a pool of at least ``_POOL`` candidates (scores are exact either way).
        """
        self._warm()
        rows = self.among_rows(among)
        if rows is not None:  # a word list: every candidate scored exactly, no index needed
            if not len(rows):
                return []
            scores = exact_scores(self.vectors, self._unit(query)[None, :], np.asarray(rows)[None, :])[0]
            return self._top_of_scores(scores, k, exclude, rows)
        wanted = min(k + len(exclude), len(self))
        if composed and not self._files.index_meta.get("exact", False):
            wanted = min(max(wanted, _POOL), len(self))
        scores, ids = self.search_vectors(self._unit(query)[None, :], wanted)
        hits = [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0 and int(i) not in exclude][:k]
        words = self.words_of(i for i, _ in hits)
        return [Neighbor(word, score) for word, (_, score) in zip(words, hits)]

    def _cosmul_pool(self, units: np.ndarray, k: int) -> np.ndarray:
        """Rows that can win a 3CosMul query: all rows (exact index), or the index's nearest rows to
        b, c, b - a + c, b + c and -a (approximate index: 3CosMul rewards being near b and c and far
        from a), which are then scored exactly."""
        if self._files.index_meta.get("exact", False):
            return np.arange(len(self))
        size = min(len(self), max(_POOL, 10 * k))
        a, b, c = units
        probes = np.stack([b, c, self._unit(b - a + c), self._unit(b + c), -a])
        _, ids = self.search_vectors(probes, size)
        return np.unique(ids[ids >= 0])

    def _top_of_scores(self, scores: np.ndarray, k: int, exclude: set[int], rows: np.ndarray) -> list[Neighbor]:
        """Best ``k`` of ``scores``, which belong to store rows ``rows``, ``exclude`` left out."""
        wanted = min(k + len(exclude), len(scores))
        top = np.argpartition(-scores, wanted - 1)[:wanted] if wanted < len(scores) else np.arange(len(scores))
        top = top[np.argsort(-scores[top], kind="stable")]
        if not np.isfinite(scores[top]).all():
            raise self._damaged(VECTORS_FILE, "a row")
        hits = [(int(rows[i]), float(scores[i])) for i in top if int(rows[i]) not in exclude][:k]
        words = self.words_of(row for row, _ in hits)
        return [Neighbor(word, score) for word, (_, score) in zip(words, hits)]

    # --- reranking ---------------------------------------------------------------------------

    @property
    def reranker(self) -> Reranker:
        """The store's LSTM reranker, loaded on first use (``StoreError`` if it has none)."""
        if self._reranker is None:
            from .rerank.reranker import Reranker

            self._reranker = Reranker.load(self._files)
        return self._reranker

    def _rerank(self, candidates: list[Neighbor], context_words: list[str], k: int,
                weight: float | None, analogy: tuple[list[str], list[str], list[str]] | None = None,
                ) -> tuple[list[Neighbor], RerankInfo]:
        """Reorder ``candidates`` by cosine + weight * fit in the contexts of ``context_words``
        (for an ``analogy``, the words of a, b and c: :meth:`Reranker.analogy_fit`); keep ``k``."""
        reranker = self.reranker
        if weight is None:
            weight = reranker.blend_weight if analogy is None else reranker.analogy_weight
        else:
            weight = check_rerank_weight(weight)
        rows = self.rows_for(context_words)
        candidate_rows = self.rows_for([n.word for n in candidates])
        wanted = [candidate_rows[n.word] for n in candidates]
        if analogy is None:
            fit = reranker.fit([rows[w] for w in context_words if w in rows], wanted)
        else:
            fit = reranker.analogy_fit(*([rows[w] for w in words if w in rows] for words in analogy), wanted)
        if fit.contexts == 0:
            raise QueryError(f"no stored contexts for {', '.join(context_words) or 'the query'}: nothing to rerank with "
                             "(the word may be too rare, or the store was built with --contexts 0)")
        if not np.isfinite(fit.scores).all():
            raise self._damaged("reranker.npz", "the language model")
        scored = [RerankedNeighbor(n.word, n.score + weight * float(f), cosine=n.score, fit=float(f))
                  for n, f in zip(candidates, fit.scores)]
        scored.sort(key=lambda n: -n.score)
        return list(scored[:k]), RerankInfo(len(candidates), weight, fit.contexts, context_words)

    # --- queries -----------------------------------------------------------------------------

    def compose(self, query: str) -> tuple[list[QueryTerm], np.ndarray, set[int], bool]:
        """Parse ``query`` and resolve its terms: (terms, the weighted sum of their vectors, the rows
        to leave out of the answers, whether it is more than one plain word)."""
        terms: list[QueryTerm] = []
        combined = np.zeros(self.dim, dtype=np.float32)
        exclude: set[int] = set()
        parsed_terms = parse_expression(query)
        if is_plain(parsed_terms):
            # A plain phrase goes through the pipeline whole, so steps that join words (learned
            # phrases such as new_york) see it as the corpus did; its vector is still the mean.
            parsed_terms = [WeightedTerm(" ".join(t.text for t in parsed_terms), 1.0)]
        for parsed in parsed_terms:
            term, vector, ids = self.resolve(parsed.text, parsed.weight)
            terms.append(term)
            combined += parsed.weight * vector
            exclude.update(ids)
        composed = len(terms) > 1 or any(term.weight < 0 or len(term.words) > 1 for term in terms)
        return terms, combined, exclude, composed

    def similar(self, query: str, *, k: int = 10, rerank: bool = False, rerank_k: int = 50,
                rerank_weight: float | None = None, among: Iterable[str] | None = None) -> SimilarResult:
        """Nearest words to a word, a phrase (mean of its words) or an expression (``king - man + woman``).

        ``rerank`` draws the top ``rerank_k`` by cosine and reorders them by cosine plus
        ``rerank_weight`` (default: the store's) times their fit in the stored contexts of the
        query's words (those with positive weight); needs ``embedsearch rerank train`` first.
        ``among``: answers only from these words (others of the list not in the vocabulary are ignored).
        """
        self._check_k(k)
        if rerank_weight is not None:
            check_rerank_weight(rerank_weight)  # a bad number fails before any work
        terms, combined, exclude, composed = self.compose(query)
        if not rerank:
            return SimilarResult(query, terms, self._shown(self._search(combined, k, exclude, composed=composed, among=among)),
                                 self.search_info)
        self._check_k(rerank_k)
        candidates = self._search(combined, max(k, rerank_k), exclude, composed=composed, among=among)
        positive = [word for term in terms if term.weight > 0 for word in term.words if word not in term.oov]
        neighbors, info = self._rerank(candidates, positive, k, rerank_weight)
        return SimilarResult(query, terms, self._shown(neighbors), self.search_info, info)

    def analogy(self, a: str, b: str, c: str, *, k: int = 10, method: str = "3cosadd", rerank: bool = False,
                rerank_k: int = 50, rerank_weight: float | None = None,
                among: Iterable[str] | None = None) -> AnalogyResult:
        """``a`` is to ``b`` as ``c`` is to ...? (``man king woman`` → ``queen``). Inputs are excluded.

        ``3cosadd`` ranks by cos(x, b - a + c); ``3cosmul`` (Levy & Goldberg 2014) by
        cos'(x, b) * cos'(x, c) / (cos'(x, a) + 1e-6) with cos' = (1 + cos) / 2, as gensim's
        ``most_similar_cosmul`` does. ``rerank`` reorders the top ``rerank_k`` by cosine (or the
        3CosMul score) plus ``rerank_weight`` times their fit in the stored contexts of ``b`` and
        ``c`` minus their fit in those of ``a`` (:meth:`Reranker.analogy_fit`; see :meth:`similar`);
        ``rerank_weight`` defaults to the reranker's analogy weight, not its neighbour weight.
        ``among``: answers only from these words.
        """
        self._check_k(k)
        if rerank:
            self._check_k(rerank_k)
        if rerank_weight is not None:
            check_rerank_weight(rerank_weight)  # a bad number fails before any work
        wanted = max(k, rerank_k) if rerank else k
        if method not in ANALOGY_METHODS:
            raise ConfigError(f"method must be one of {', '.join(ANALOGY_METHODS)}, got {method!r}")
        resolved = [self.resolve(word) for word in (a, b, c)]
        vectors = [vector for _, vector, _ in resolved]
        exclude = {i for _, _, ids in resolved for i in ids}
        names = [" ".join(map(self.shown, term.words)) for term, _, _ in resolved]
        oov = [word for term, _, _ in resolved for word in term.oov]
        units = np.stack([self._unit(v) for v in vectors])
        if method == "3cosadd":
            neighbors = self._search(units[1] - units[0] + units[2], wanted, exclude, composed=True, among=among)
        else:
            among_rows = self.among_rows(among)
            pool = among_rows if among_rows is not None else self._cosmul_pool(units, wanted + len(exclude))
            rows = self.vectors if len(pool) == len(self) else self.vectors[pool]
            shifted = (1.0 + np.asarray(rows @ units.T)) / 2.0
            scores = shifted[:, 1] * shifted[:, 2] / (shifted[:, 0] + COSMUL_EPSILON)
            neighbors = self._top_of_scores(scores, wanted, exclude, pool)
        info = None
        if rerank:
            words = [[w for w in term.words if w not in term.oov] for term, _, _ in resolved]
            neighbors, info = self._rerank(neighbors, [w for part in words for w in part], k, rerank_weight,
                                           analogy=(words[0], words[1], words[2]))
        return AnalogyResult(names[0], names[1], names[2], method, self._shown(neighbors), oov, self.search_info, info)

    def similarity(self, first: str, second: str) -> SimilarityResult:
        """Cosine similarity of two words (or phrases, as the mean of their words)."""
        term1, v1, _ = self.resolve(first)
        term2, v2, _ = self.resolve(second)
        denominator = float(np.linalg.norm(v1) * np.linalg.norm(v2))
        score = float(v1 @ v2) / denominator if denominator > 0 else 0.0
        if not np.isfinite(score):
            raise self._damaged(VECTORS_FILE, "a row")
        return SimilarityResult(term1, term2, score)

    def doesnt_match(self, words: Sequence[str]) -> DoesntMatchResult:
        """Which of ``words`` fits least: the one farthest (by cosine) from the mean of all of them."""
        if len(words) < 3:
            raise UsageError(f"doesnt-match needs at least 3 words, got {len(words)}")
        resolved = [self.resolve(word) for word in words]
        vectors = np.stack([vector for _, vector, _ in resolved])
        units = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        mean = units.mean(axis=0)
        mean /= max(float(np.linalg.norm(mean)), 1e-12)
        scores = units @ mean
        if not np.isfinite(scores).all():
            raise self._damaged(VECTORS_FILE, "a row")
        order = np.argsort(scores, kind="stable")
        ranked = [Neighbor(" ".join(map(self.shown, resolved[i][0].words)), float(scores[i])) for i in order]
        return DoesntMatchResult(ranked[0].word, ranked, [w for term, _, _ in resolved for w in term.oov])

    def examples(self, word: str, *, limit: int | None = None) -> ExamplesResult:
        """Where ``word`` occurs in the corpus: the store's seeded sample of its contexts (by default
        up to 16 from ``train``, 64 once ``rerank train`` has run; 8 words either side), kept in the
        store so no corpus is needed."""
        from .rerank.contexts import read_contexts
        from .rerank.model import PAD

        described = self.meta.get("contexts")
        if not described:
            raise QueryError(f"{self.path} keeps no contexts (built with --contexts 0, or imported); "
                             "`embedsearch rerank train -s STORE CORPUS_DIR` adds them")
        term, _, rows = self.resolve(word)
        if len(term.words) != 1 or not rows:
            raise QueryError(f"examples are kept for single vocabulary words; {word!r} is {term.words}")
        contexts = read_contexts(self._files.db, rows, int(described["window"]), vocabulary=len(self))
        shown = len(contexts) if limit is None else min(limit, len(contexts))
        tokens = np.concatenate([contexts.left[:shown], contexts.right[:shown]], axis=1)
        known = sorted({int(t) for t in tokens.ravel() if t >= 0})
        text = dict(zip(known, self.words_of(known)))

        def words(ids: np.ndarray) -> list[str]:
            return [text[int(t)] if t >= 0 else "<unk>" for t in ids if t != PAD]

        found = [Example(words(contexts.left[i]), term.words[0], words(contexts.right[i])) for i in range(shown)]
        return ExamplesResult(term.words[0], found, len(contexts))

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
            contexts=meta.get("contexts"),
            reranker=meta.get("reranker"),
            postprocess=meta.get("postprocess"),
        )


def open_store(path: str | os.PathLike[str], *, verify: bool = True) -> Store:
    """Open the store at ``path`` for queries, checking its format, sizes and (``verify``) checksums."""
    return Store(StoreFiles(Path(path), verify=verify))
