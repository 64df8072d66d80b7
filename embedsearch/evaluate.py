"""Benchmarks of embedding quality: analogy questions and word-pair similarity.

Both read the common file formats and put every evaluation word through the store's own text
pipeline, so a lowercasing or Korean-morpheme store is evaluated on its own terms. On the same
vectors the numbers equal gensim's ``evaluate_word_analogies`` (3CosAdd) and
``evaluate_word_pairs``; 3CosMul evaluation is ours (gensim's ignores its similarity function).
"""
from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .datasets import resolve_dataset
from .errors import ConfigError, QueryError, SourceError, StoreError
from .query import ANALOGY_METHODS, COSMUL_EPSILON, Store
from .sources import read_error

_BATCH = 256


@dataclass(frozen=True)
class SectionScore:
    """Accuracy over one section: ``correct`` of ``answered``; ``skipped`` had a word out of vocabulary
    (or an answer the pipeline does not make one vocabulary word). ``top_correct``: questions whose
    answer is among the ``top`` best candidates (equal to ``correct`` when ``top`` is 1)."""

    name: str
    correct: int
    answered: int
    skipped: int
    top_correct: int = 0
    top: int = 1

    @property
    def accuracy(self) -> float:
        return self.correct / self.answered if self.answered else 0.0

    @property
    def top_accuracy(self) -> float:
        """Hit rate within the top ``top`` answers (ratsgo's Korean benchmarks use 30)."""
        return self.top_correct / self.answered if self.answered else 0.0

    @property
    def questions(self) -> int:
        return self.answered + self.skipped

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "correct": self.correct, "answered": self.answered, "skipped": self.skipped,
                "accuracy": self.accuracy, "top": self.top, "top_correct": self.top_correct,
                "top_accuracy": self.top_accuracy}


# An analogy question as rows: those of a's, b's and c's words (several when the pipeline splits a
# word) and the answer's one row.
Question = tuple[list[int], list[int], list[int], int]


@dataclass(frozen=True)
class AnalogyRerank:
    """How ``evaluate analogies --rerank`` answered: the top ``candidates`` by the method's score
    reordered by score + ``weight`` x fit (:meth:`Reranker.analogy_fit`); ``plain`` is the total
    without reranking, from the same run; ``unscored`` questions had no stored contexts for any of
    a, b, c and kept the plain answer."""

    candidates: int
    weight: float
    plain: SectionScore
    unscored: int


@dataclass(frozen=True)
class AnalogyEvaluation:
    """``averaged_words``: question words (a, b or c) that the pipeline made several vocabulary words,
    represented by the mean of their unit vectors (``multi="mean"``) or skipped (``multi="skip"``);
    ``collapsed``: questions answered whose answer the pipeline made equal to one of a, b, c (밥 밥을
    물 물을 with particles dropped is 밥 밥 물 물): inputs are never answers, so they count as wrong."""

    file: str
    method: str
    restrict: int
    sections: list[SectionScore]
    total: SectionScore
    semantic: SectionScore | None
    syntactic: SectionScore | None
    invalid_lines: int
    top: int = 1
    multi: str = "mean"
    averaged_words: int = 0
    collapsed: int = 0
    rerank: AnalogyRerank | None = None


@dataclass(frozen=True)
class RerankCandidates:
    """One analogy question's top candidates for reranking: their rows and method scores (best
    first), their fits, and where the expected answer is among them (-1: not there)."""

    rows: np.ndarray
    scores: np.ndarray
    fits: np.ndarray
    answer: int
    contexts: int

    def predict(self, weight: float) -> int:
        """The row answered at this blend weight."""
        return int(self.rows[int(np.argmax(self.scores + weight * self.fits))])

    def hits(self, weight: float, top: int) -> tuple[bool, bool]:
        """Whether the expected answer comes first, and whether it is among the ``top`` first, at
        this blend weight."""
        if self.answer < 0:
            return False, False
        blended = self.scores + weight * self.fits
        above = int((blended > blended[self.answer]).sum())  # ties count for the answer, as argmax's first
        ahead = int((blended[: self.answer] == blended[self.answer]).sum())
        place = above + ahead
        return place == 0, place < top


@dataclass(frozen=True)
class PairEvaluation:
    """Rank (Spearman) and linear (Pearson) correlation of cosine with human scores."""

    file: str
    pairs: int
    oov_pairs: int
    invalid_lines: int
    spearman: float
    pearson: float

    @property
    def oov_ratio(self) -> float:
        """Percent of pairs skipped for out-of-vocabulary words (as gensim reports it)."""
        total = self.pairs + self.oov_pairs
        return 100.0 * self.oov_pairs / total if total else 0.0


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """Numbered, stripped lines of an evaluation file; ``-`` is stdin."""
    try:
        if str(path) == "-":
            yield from _stdin_lines()
            return
        with open(path, encoding="utf-8-sig", errors="strict", newline=None) as handle:
            for number, line in enumerate(handle, 1):
                yield number, line.strip()
    except FileNotFoundError:
        raise SourceError(f"no such evaluation file: {path}") from None
    except UnicodeDecodeError as exc:
        raise SourceError(f"{path}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:  # a directory, no permission, an I/O error: name the file
        raise read_error(path, exc) from None


def _stdin_lines() -> Iterator[tuple[int, str]]:
    import io
    import sys

    stream = getattr(sys.stdin, "buffer", None)
    handle = sys.stdin if stream is None else io.TextIOWrapper(stream, encoding="utf-8-sig", errors="strict", newline=None)
    try:
        for number, line in enumerate(handle, 1):
            yield number, line.strip()
    finally:
        if stream is not None:
            handle.detach()


class _Vocabulary:
    """Maps evaluation words to rows of the (restricted) store, through the store's pipeline."""

    def __init__(self, store: Store, restrict: int) -> None:
        self.store = store
        self.restrict = restrict
        self.cache: dict[str, list[int] | None] = {}

    def rows(self, word: str) -> list[int] | None:
        if word not in self.cache:
            tokens = self.store.pipeline.tokens(word)
            found = self.store.rows_for(tokens) if tokens else {}
            ids = [found.get(t) for t in tokens]
            self.cache[word] = [i for i in ids if i is not None] if ids and all(
                i is not None and i < self.restrict for i in ids) else None
        return self.cache[word]

    def single_row(self, word: str) -> int | None:
        rows = self.rows(word)
        return rows[0] if rows is not None and len(rows) == 1 else None


def _check_restrict(store: Store, restrict: int | None) -> int:
    if restrict is None:
        return len(store)
    if restrict < 1:
        raise ConfigError(f"restrict must be a positive number of words, got {restrict}")
    return min(restrict, len(store))


MULTI_WORD = ("mean", "skip")


def evaluate_analogies(
    store: Store,
    path: str | os.PathLike[str],
    *,
    method: str = "3cosadd",
    restrict: int | None = 30_000,
    rerank: bool = False,
    rerank_k: int = 50,
    rerank_weight: float | None = None,
    top: int = 1,
    multi: str = "mean",
) -> AnalogyEvaluation:
    """Accuracy on an analogy file (``: section`` or ``# section`` headers, ``a b c d`` lines).
    ``path`` may also name a shipped set (``google``, ``ko-analogy-semantic``; see ``embedsearch datasets``).

    Every word goes through the store's own pipeline. Candidates and question words are restricted
    to the ``restrict`` most frequent words (the store's first rows); a question with a word outside
    them is skipped and counted. A question word (a, b or c) that the pipeline makes several
    vocabulary words (a Korean word of several morphemes) is the mean of their unit vectors, as in
    ``similarity``, with ``multi="mean"``, or makes its question skipped with ``multi="skip"``; an
    answer (d) must be one vocabulary word, or the question is skipped. The answer is the
    best-scoring word other than the words of ``a``, ``b`` and ``c``; ``top`` > 1 also counts the
    questions whose answer is among the ``top`` best (``SectionScore.top_accuracy``).

    ``rerank`` (needs ``embedsearch rerank train``): the top ``rerank_k`` by the method's score are
    reordered by score + ``rerank_weight`` (default: the store's) x their fit in the stored contexts
    of b and c minus that in a's (:meth:`~embedsearch.rerank.reranker.Reranker.analogy_fit`), as
    ``analogy --rerank`` answers one question; the result also carries the plain accuracy.
    """
    if method not in ANALOGY_METHODS:
        raise ConfigError(f"method must be one of {', '.join(ANALOGY_METHODS)}, got {method!r}")
    if multi not in MULTI_WORD:
        raise ConfigError(f"multi must be one of {', '.join(MULTI_WORD)}, got {multi!r}")
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise ConfigError(f"top must be a positive number of answers, got {top!r}")
    path = resolve_dataset(path, "analogies")
    limit = _check_restrict(store, restrict)
    vocabulary = _Vocabulary(store, limit)
    names: list[str] = []
    questions: dict[str, list[tuple[list[int], list[int], list[int], int]]] = {}
    skipped: dict[str, int] = {}
    averaged: set[str] = set()
    invalid = 0
    section = "(no section)"
    for _, line in _lines(path):
        if not line:
            continue
        if line[0] in ":#":
            section = line[1:].strip() or "(unnamed)"
            if section not in questions:
                names.append(section)
                questions[section], skipped[section] = [], 0
            continue
        words = line.split()
        if len(words) != 4:
            invalid += 1
            continue
        if section not in questions:
            names.append(section)
            questions[section], skipped[section] = [], 0
        rows = [vocabulary.rows(w) for w in words]
        if any(r is None for r in rows) or len(rows[3]) != 1:  # type: ignore[arg-type]
            skipped[section] += 1
            continue
        several = [w for w, r in zip(words[:3], rows[:3]) if len(r) > 1]  # type: ignore[arg-type]
        averaged.update(several)
        if several and multi == "skip":
            skipped[section] += 1
            continue
        answer = rows[3]
        questions[section].append((rows[0], rows[1], rows[2], answer[0]))  # type: ignore[arg-type, index]

    if not names or not any(questions[name] or skipped[name] for name in names):
        raise SourceError(f"{path}: no analogy questions found ({invalid} malformed line(s)); lines must be "
                          "'a b c d', with ': section' or '# section' headers")
    candidates = np.asarray(store.vectors[:limit], dtype=np.float32)
    if not np.isfinite(candidates).all():
        raise StoreError(f"{store.path / 'vectors.npy'}: holds NaN or infinite values; the store is damaged "
                         f"(check it with `embedsearch verify {store.path}`, then rebuild or re-import it)")
    scores: list[SectionScore] = []
    plain: list[SectionScore] = []
    weight, unscored, collapsed = 0.0, 0, 0
    if rerank:
        from .rerank.weights import check_rerank_weight

        if rerank_k < 1:
            raise ConfigError(f"rerank_k must be at least 1, got {rerank_k}")
        weight = store.reranker.analogy_weight if rerank_weight is None else check_rerank_weight(rerank_weight)
    for name in names:
        asked = questions[name]
        collapsed += sum(q[3] in (*q[0], *q[1], *q[2]) for q in asked)
        correct = top_correct = 0
        if not rerank:
            for start in range(0, len(asked), _BATCH):
                batch = asked[start : start + _BATCH]
                best = _predict(candidates, batch, method, top)
                answers = np.array([q[3] for q in batch], dtype=np.int64)
                correct += int((best[:, 0] == answers).sum())
                top_correct += int((best == answers[:, None]).any(axis=1).sum())
        else:
            plain_correct = plain_top = 0
            for found in rerank_candidates(store, candidates, asked, method, max(rerank_k, top)):
                unscored += found.contexts == 0
                first, within = found.hits(0.0, top)
                plain_correct, plain_top = plain_correct + first, plain_top + within
                first, within = found.hits(weight, top)
                correct, top_correct = correct + first, top_correct + within
            plain.append(SectionScore(name, plain_correct, len(asked), skipped[name], plain_top, top))
        scores.append(SectionScore(name, correct, len(asked), skipped[name], top_correct, top))
    total = _sum("total", scores)
    syntactic_parts = [s for s in scores if s.name.lower().startswith(("gram", "syn"))]
    semantic_parts = [s for s in scores if not s.name.lower().startswith(("gram", "syn"))]
    split = bool(syntactic_parts)  # Google marks syntactic sections gram*, SungjoonPark's syn*; others say nothing
    return AnalogyEvaluation(
        str(path), method, limit, scores, total,
        _sum("semantic", semantic_parts) if split else None,
        _sum("syntactic", syntactic_parts) if split else None,
        invalid, top, multi, len(averaged), collapsed,
        AnalogyRerank(rerank_k, weight, _sum("total", plain), unscored) if rerank else None,
    )


def rerank_candidates(store: Store, candidates: np.ndarray, asked: Sequence[Question], method: str,
                      k: int) -> list[RerankCandidates]:
    """For each question ``(a, b, c, d)`` of ``asked`` (a, b, c: lists of rows, d a row, all below
    ``len(candidates)``): the top ``k`` candidates by the method's score, inputs excluded, with
    their analogy fits."""
    reranker = store.reranker
    found: list[RerankCandidates] = []
    k = min(k, len(candidates))
    for start in range(0, len(asked), _BATCH):
        batch = asked[start:start + _BATCH]
        scores = _scores(candidates, batch, method)
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k] if k < scores.shape[1] else np.tile(
            np.arange(scores.shape[1]), (len(batch), 1))
        for question, rows, row_scores in zip(batch, top, np.take_along_axis(scores, top, axis=1)):
            order = np.argsort(-row_scores, kind="stable")
            rows, row_scores = rows[order], row_scores[order]
            rows, row_scores = rows[np.isfinite(row_scores)], row_scores[np.isfinite(row_scores)]
            a, b, c, d = question
            fit = reranker.analogy_fit(a, b, c, rows)
            if not np.isfinite(fit.scores).all():
                raise StoreError(f"{store.path / 'reranker.npz'}: the language model gives non-finite scores; "
                                 "the reranker is damaged (train it again with `embedsearch rerank train`)")
            at = np.flatnonzero(rows == d)
            found.append(RerankCandidates(rows, row_scores.astype(np.float64), fit.scores, int(at[0]) if len(at) else -1,
                                          fit.contexts))
    return found


def _sum(name: str, parts: list[SectionScore]) -> SectionScore:
    top = parts[0].top if parts else 1
    return SectionScore(name, sum(p.correct for p in parts), sum(p.answered for p in parts), sum(p.skipped for p in parts),
                        sum(p.top_correct for p in parts), top)


def _mean_unit(candidates: np.ndarray, rows: list[int]) -> np.ndarray:
    if len(rows) == 1:
        return candidates[rows[0]]
    mean = candidates[rows].mean(axis=0)
    return mean / max(float(np.linalg.norm(mean)), 1e-12)


def _predict(candidates: np.ndarray, batch: Sequence[Question], method: str, top: int = 1) -> np.ndarray:
    """The ``top`` best candidate rows, best first, for each question ``(a, b, c, _)`` of ``batch``."""
    scores = _scores(candidates, batch, method)
    if top == 1:
        return scores.argmax(axis=1)[:, None]
    top = min(top, scores.shape[1])
    best = np.argpartition(-scores, top - 1, axis=1)[:, :top]
    order = np.argsort(-np.take_along_axis(scores, best, axis=1), axis=1, kind="stable")
    return np.take_along_axis(best, order, axis=1)


def _scores(candidates: np.ndarray, batch: Sequence[Question], method: str) -> np.ndarray:
    """Each question's score of every candidate row, ``-inf`` for the words of its a, b and c (each
    of a, b, c: the rows of its words, their mean when several)."""
    a, b, c = (np.stack([_mean_unit(candidates, q[i]) for q in batch]) for i in range(3))
    if method == "3cosadd":
        query = b - a + c
        query /= np.maximum(np.linalg.norm(query, axis=1, keepdims=True), 1e-12)
        scores = query @ candidates.T
    else:
        def shifted(x: np.ndarray) -> np.ndarray:
            return (1.0 + x @ candidates.T) / 2.0

        scores = shifted(b) * shifted(c) / (shifted(a) + COSMUL_EPSILON)
    for i, question in enumerate(batch):
        scores[i, [*question[0], *question[1], *question[2]]] = -np.inf
    return scores


def _split_pair_line(line: str) -> list[str]:
    for separator in ("\t", ","):
        if separator in line:
            return [part.strip() for part in line.split(separator)]
    return line.split()


def _term_vector(store: Store, word: str) -> np.ndarray:
    """Vector of a word that may be out of the vocabulary (FastText stores build it from subwords)."""
    _, vector, _ = store.resolve(word)
    return np.asarray(vector, dtype=np.float64)


def evaluate_pairs(
    store: Store, path: str | os.PathLike[str], *, restrict: int | None = None, subwords: bool = False
) -> PairEvaluation:
    """Spearman and Pearson correlation of the store's cosine with the scores of a word-pair file.
    ``path`` may also name a shipped set (``ws353``, ``simlex``, ``men``, ``ko-ws353``...; see ``embedsearch datasets``).

    Reads WordSim / SimLex / MEN / RW style files: ``w1 w2 score`` separated by tabs, commas or
    spaces, with or without a BOM, ``#`` comments and a header line. Pairs with a word out of the
    (restricted) vocabulary are skipped and counted, unless ``subwords`` is true and the store is a
    FastText store: then they get vectors from their character n-grams and every pair is scored.
    A word the pipeline splits into several tokens is represented by their mean vector.
    """
    from scipy import stats  # evaluation only; scipy comes with gensim

    path = resolve_dataset(path, "pairs")
    if subwords and store.subwords is None:
        raise ConfigError(f"{store.path} has no subword data: scoring out-of-vocabulary pairs needs a FastText store")
    vocabulary = _Vocabulary(store, _check_restrict(store, restrict))
    gold: list[float] = []
    model: list[float] = []
    oov = invalid = 0
    seen_data = False
    for _, line in _lines(path):
        if not line or line.startswith("#"):
            continue
        parts = _split_pair_line(line)
        try:
            if len(parts) < 3:
                raise ValueError(line)
            score = float(parts[2])
            if not math.isfinite(score):
                raise ValueError(line)
        except ValueError:
            if seen_data:
                invalid += 1
            seen_data = True  # a non-numeric first line is a header, not an error
            continue
        seen_data = True
        first, second = vocabulary.rows(parts[0]), vocabulary.rows(parts[1])
        if first is None or second is None:
            if not subwords:
                oov += 1
                continue
            v1 = _term_vector(store, parts[0])
            v2 = _term_vector(store, parts[1])
        else:
            v1 = np.asarray(store.vectors[first], dtype=np.float64).mean(axis=0)
            v2 = np.asarray(store.vectors[second], dtype=np.float64).mean(axis=0)
        denominator = float(np.linalg.norm(v1) * np.linalg.norm(v2))
        gold.append(score)
        model.append(float(v1 @ v2) / denominator if denominator else 0.0)
    if len(gold) < 3:
        raise SourceError(f"{path}: only {len(gold)} pair(s) with both words in the vocabulary ({oov} out of vocabulary); "
                          "cannot compute a correlation")
    if not np.isfinite(model).all():
        raise StoreError(f"{store.path / 'vectors.npy'}: holds NaN or infinite values; the store is damaged "
                         f"(check it with `embedsearch verify {store.path}`, then rebuild or re-import it)")
    # A correlation with a constant is undefined (scipy returns NaN with a warning): say so instead.
    if min(gold) == max(gold):
        raise SourceError(f"{path}: every human score is {gold[0]:g}, so no correlation is defined; "
                          "a word-pair file needs differing scores")
    if max(model) - min(model) < 1e-6:  # equal up to float rounding: any ranking of them is noise
        raise QueryError(f"{path}: the store gives all {len(model)} scored pairs the same cosine ({model[0]:.4f}), "
                         "so no correlation is defined")
    spearman = float(stats.spearmanr(gold, model).correlation)
    pearson = float(stats.pearsonr(gold, model)[0])
    if not (math.isfinite(spearman) and math.isfinite(pearson)):
        raise QueryError(f"{path}: the correlation is undefined for these {len(gold)} pairs")
    return PairEvaluation(str(path), len(gold), oov, invalid, spearman, pearson)
