"""Word-word co-occurrence counts of a tokenized corpus: the input of GloVe and PPMI-SVD.

Counting follows Stanford's ``cooccur.c``: words below ``min_count`` are dropped before windowing
(they take no position), a window never crosses a line end, each pair of in-vocabulary words at
distance ``d <= window`` adds ``1/d`` (``weighting="harmonic"``, GloVe's) or ``1``
(``"uniform"``, the plain counts PPMI is defined on) to both ``X[a, b]`` and ``X[b, a]``. The
matrix is symmetric, so only its upper triangle is kept (``rows <= cols``); the full matrix is
``U + U.T`` (a word next to itself adds to the diagonal twice, as Stanford's symmetric mode does).

How: the corpus is encoded once into word ids (processes, one per worker, over byte spans of the
file), then cut into chunks of ~1M tokens. Each chunk's pairs become int64 keys
``(row * V + col) * window + (d - 1)``, sorted (numpy's sort, which releases the GIL, so
``workers`` threads sort at once) and reduced into (pair, weight) runs by small numba kernels;
runs are merged two at a time like a binary counter, always in chunk order. The result does not
depend on ``workers``: the same sums are made in the same order.

Memory: a distinct pair costs 16 bytes (an int64 key, a float64 sum); while merging, a run and its
merge output are both alive, so counting needs up to ~32 bytes per distinct pair, plus the chunk
buffers. :func:`estimate_bytes` bounds this before anything is allocated and counting checks the
budget before each merge; see ``docs/count-models.md`` for figures by corpus size.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, EmptyCorpusError, MemoryLimitError
from ..progress import Progress, ProgressCallback, ignore_progress
from ..spans import file_spans, span_lines
from .vocab import count_words

WEIGHTINGS = ("harmonic", "uniform")
CHUNK_TOKENS = 1 << 20  # tokens per counting chunk (fixed, so results never depend on workers)
PAIR_BYTES = 16         # an int64 key and a float64 value per distinct pair
GIB = 1 << 30


# --- vocabulary ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Vocabulary:
    """The words kept (count >= min_count), most frequent first (ties: first occurrence first)."""

    words: list[str]
    counts: np.ndarray  # int64, corpus frequency of each word
    corpus_tokens: int  # all tokens of the corpus, rare ones included

    @property
    def tokens(self) -> int:
        """Tokens of the kept words (those that take a position in a window)."""
        return int(self.counts.sum())


def build_vocabulary(text_path: str | os.PathLike[str], *, min_count: int, workers: int,
                     progress: ProgressCallback = ignore_progress) -> Vocabulary:
    counted = count_words(text_path, workers=workers, progress=progress)
    kept = [(word, count) for word, count in counted.counts.items() if count >= min_count]
    kept.sort(key=lambda item: -item[1])  # stable: ties keep first-occurrence order
    if not kept:
        raise EmptyCorpusError(f"no word in {text_path} occurs at least min_count={min_count} times; lower --min-count")
    return Vocabulary([w for w, _ in kept], np.array([c for _, c in kept], dtype=np.int64), counted.tokens)


# --- memory ----------------------------------------------------------------------------------

def available_bytes() -> int:
    """Memory the system can give us now (``MemAvailable``), or physical memory if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 8 * GIB


def memory_budget(max_memory_gib: float | None) -> int:
    """Bytes we allow ourselves: ``max_memory_gib`` if given, else 90% of the memory available."""
    return int(max_memory_gib * GIB) if max_memory_gib is not None else int(available_bytes() * 0.9)


def max_pairs(tokens: int, vocabulary: int, window: int) -> int:
    """An upper bound on distinct unordered pairs: each token pairs with ``window`` earlier ones,
    and there are only ``V (V + 1) / 2`` pairs of words."""
    return min(tokens * window, vocabulary * (vocabulary + 1) // 2)


def chunk_bytes(tokens: int, window: int, workers: int) -> int:
    """Each worker's chunk buffers (keys, values and their reduced copies)."""
    return workers * min(CHUNK_TOKENS, max(tokens, 1)) * window * 24


def counting_bytes(pairs: int, tokens: int, window: int, workers: int) -> int:
    """Peak bytes of counting with ``pairs`` distinct pairs: the runs and one merge output, plus
    each worker's chunk buffers."""
    return 2 * pairs * PAIR_BYTES + chunk_bytes(tokens, window, workers)


def gib(nbytes: float) -> str:
    return f"{nbytes / GIB:.2f} GiB" if nbytes >= GIB / 10 else f"{nbytes / (1 << 20):.1f} MiB"


def check_memory(need: int, budget: int, what: str, *, lower_bound: bool = False) -> None:
    """Raise :class:`MemoryLimitError` if ``need`` bytes exceed ``budget``; ``lower_bound``: ``need``
    is only what is certain so far (the message says "at least")."""
    if need > budget:
        raise MemoryLimitError(
            f"{what} needs {'at least' if lower_bound else 'about'} {gib(need)}, more than the {gib(budget)} allowed "
            "(--max-memory, default 90% of the memory available); use a smaller --window, a higher "
            "--min-count, or a smaller corpus, or allow more memory")


# --- the counts ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Cooccurrences:
    """The upper triangle (``rows <= cols``, sorted) of the symmetric co-occurrence matrix."""

    vocabulary: Vocabulary
    rows: np.ndarray    # int32
    cols: np.ndarray    # int32
    values: np.ndarray  # float64
    window: int
    weighting: str

    @property
    def size(self) -> int:
        return len(self.vocabulary.words)

    @property
    def nnz(self) -> int:
        """Non-zero entries of the full symmetric matrix."""
        return 2 * len(self.rows) - int(np.count_nonzero(self.rows == self.cols))

    def full(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The full matrix as (rows, cols, values): both ``(a, b)`` and ``(b, a)``, the diagonal
        doubled (``U + U.T``)."""
        off = self.rows != self.cols
        rows = np.concatenate([self.rows, self.cols[off]])
        cols = np.concatenate([self.cols, self.rows[off]])
        values = np.concatenate([np.where(off, self.values, 2 * self.values), self.values[off]])
        return rows, cols, values

    def to_csr(self) -> Any:
        """The full matrix as a ``scipy.sparse.csr_matrix`` (float64)."""
        from scipy import sparse

        rows, cols, values = self.full()
        return sparse.csr_matrix((values, (rows, cols)), shape=(self.size, self.size))


# --- numba kernels (compiled on first use, cached on disk) -------------------------------------

_KERNELS: dict[str, Callable[..., Any]] = {}


def kernels() -> dict[str, Callable[..., Any]]:
    if _KERNELS:
        return _KERNELS
    from numba import njit

    @njit(nogil=True, cache=True)
    def chunk_keys(ids, start, end, window, size, out):  # pragma: no cover - compiled
        n = 0
        for p in range(start, end):
            b = ids[p]
            if b < 0:
                continue
            for d in range(1, window + 1):
                q = p - d
                if q < 0:
                    break
                a = ids[q]
                if a < 0:
                    break
                if a <= b:
                    key = np.int64(a) * size + b
                else:
                    key = np.int64(b) * size + a
                out[n] = key * window + (d - 1)
                n += 1
        return n

    @njit(nogil=True, cache=True)
    def reduce_sorted(keys, n, window, weights, values):  # pragma: no cover - compiled
        # keys[:n] sorted; writes distinct pairs into keys[:m] and their summed weights into values[:m]
        m = -1
        previous = np.int64(-1)
        for t in range(n):
            key = keys[t]
            pair = key // window
            weight = weights[key - pair * window]
            if pair != previous:
                m += 1
                keys[m] = pair
                values[m] = weight
                previous = pair
            else:
                values[m] += weight
        return m + 1

    @njit(nogil=True, cache=True)
    def merge(ka, va, kb, vb, ko, vo):  # pragma: no cover - compiled
        i = j = m = 0
        while i < len(ka) and j < len(kb):
            if ka[i] < kb[j]:
                ko[m] = ka[i]
                vo[m] = va[i]
                i += 1
            elif kb[j] < ka[i]:
                ko[m] = kb[j]
                vo[m] = vb[j]
                j += 1
            else:
                ko[m] = ka[i]
                vo[m] = va[i] + vb[j]
                i += 1
                j += 1
            m += 1
        while i < len(ka):
            ko[m] = ka[i]
            vo[m] = va[i]
            i += 1
            m += 1
        while j < len(kb):
            ko[m] = kb[j]
            vo[m] = vb[j]
            j += 1
            m += 1
        return m

    _KERNELS.update(chunk_keys=chunk_keys, reduce_sorted=reduce_sorted, merge=merge)
    return _KERNELS


# --- encoding the corpus into word ids ---------------------------------------------------------

_ENCODE_VOCAB: dict[str, int] = {}


def _init_encoder(words: list[str]) -> None:
    _ENCODE_VOCAB.clear()
    _ENCODE_VOCAB.update((w, i) for i, w in enumerate(words))


def _encode_span(path: str, start: int, end: int) -> np.ndarray:
    get = _ENCODE_VOCAB.get
    ids: list[int] = []
    for _, line in span_lines(path, start, end):
        ids.extend([i for i in map(get, line.split()) if i is not None])
        ids.append(-1)  # a line end: windows stop here
    return np.array(ids, dtype=np.int32)


def encode_corpus(text_path: str | os.PathLike[str], vocabulary: Vocabulary, *, workers: int, scratch: Path | None,
                  progress: ProgressCallback = ignore_progress) -> np.ndarray:
    """The corpus as int32 word ids, out-of-vocabulary words dropped, ``-1`` after each line; kept in
    ``scratch`` (memory-mapped) when given."""
    from ..corpus import worker_context

    spans = file_spans(text_path)
    total = spans[-1][2]
    progress(Progress("encode", 0, total / 1e6, "MB"))
    parts: list[np.ndarray] = []
    out = open(scratch / "ids.int32", "wb") if scratch is not None else None  # noqa: SIM115 - closed below
    done = 0
    try:
        def absorb(ids: np.ndarray, span: tuple[int, int, int]) -> None:
            nonlocal done
            if out is not None:
                out.write(ids.tobytes())
            else:
                parts.append(ids)
            done += span[2] - span[1]
            progress(Progress("encode", done / 1e6, total / 1e6, "MB"))

        if workers == 1 or len(spans) == 1:
            _init_encoder(vocabulary.words)
            for span in spans:
                absorb(_encode_span(str(text_path), span[1], span[2]), span)
        else:
            with ProcessPoolExecutor(min(workers, len(spans)), mp_context=worker_context(),
                                     initializer=_init_encoder, initargs=(vocabulary.words,)) as pool:
                futures = [pool.submit(_encode_span, str(text_path), start, end) for _, start, end in spans]
                for future, span in zip(futures, spans):
                    absorb(future.result(), span)
    finally:
        if out is not None:
            out.close()
    progress(Progress("encode", total / 1e6, total / 1e6, "MB", final=True))
    if out is not None:
        path = scratch / "ids.int32"  # type: ignore[operator]
        if path.stat().st_size == 0:
            return np.zeros(0, dtype=np.int32)
        return np.memmap(path, dtype=np.int32, mode="r")
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)


# --- counting ----------------------------------------------------------------------------------

def count_cooccurrences(
    text_path: str | os.PathLike[str],
    vocabulary: Vocabulary,
    *,
    window: int,
    weighting: str = "harmonic",
    workers: int = 1,
    scratch: Path | None = None,
    budget: int | None = None,
    reserve: int = 0,
    progress: ProgressCallback = ignore_progress,
) -> Cooccurrences:
    """Count co-occurrences of ``vocabulary``'s words within ``window`` words in the corpus file.

    ``budget`` (bytes, default: :func:`memory_budget` ``(None)``) caps counting's memory plus
    ``reserve`` bytes per distinct pair found (what the caller will need for them next), so counting
    stops as soon as the pairs found so far could not be trained on; the check is made before each
    allocation that grows with the counts, and a :class:`MemoryLimitError` names the estimate.
    """
    if weighting not in WEIGHTINGS:
        raise ConfigError(f"weighting must be one of {', '.join(WEIGHTINGS)}, got {weighting!r}")
    if window < 1:
        raise ConfigError(f"window must be at least 1, got {window}")
    size = len(vocabulary.words)
    if size * size * window >= 2**62:
        raise ConfigError(f"vocabulary of {size:,} words with window {window} is too large to count; raise --min-count")
    budget = memory_budget(None) if budget is None else budget
    workers = max(1, workers)
    ids = encode_corpus(text_path, vocabulary, workers=workers, scratch=scratch, progress=progress)
    k = kernels()
    weights = (1.0 / np.arange(1, window + 1, dtype=np.float64)) if weighting == "harmonic" else np.ones(window)
    starts = list(range(0, len(ids), CHUNK_TOKENS))
    total = len(ids)

    def count_chunk(start: int) -> tuple[np.ndarray, np.ndarray]:
        end = min(start + CHUNK_TOKENS, total)
        keys = np.empty((end - start) * window, dtype=np.int64)
        n = k["chunk_keys"](ids, start, end, window, size, keys)
        keys = keys[:n]
        keys.sort()  # numpy releases the GIL here
        values = np.empty(n, dtype=np.float64)
        m = k["reduce_sorted"](keys, n, window, weights, values)
        return keys[:m].copy(), values[:m].copy()

    runs: list[tuple[np.ndarray, np.ndarray]] = []

    def held() -> int:
        return sum(len(r[0]) for r in runs)

    def merge_two() -> None:
        (ka, va), (kb, vb) = runs[-2], runs[-1]
        # the counts will have at least as many distinct pairs as the largest run: what the caller
        # needs for those (``reserve``) is certain already
        at_least = max(len(r[0]) for r in runs)
        need = (held() + len(ka) + len(kb)) * PAIR_BYTES + at_least * reserve + chunk_bytes(total, window, workers)
        check_memory(need, budget, f"counting co-occurrences and training on them (window {window}, {size:,} words; "
                     f"{held():,} distinct pairs held, at least {at_least:,} in the end, after "
                     f"{done / max(total, 1):.0%} of the corpus)", lower_bound=True)
        ko = np.empty(len(ka) + len(kb), dtype=np.int64)
        vo = np.empty(len(ka) + len(kb), dtype=np.float64)
        m = k["merge"](ka, va, kb, vb, ko, vo)
        runs[-2:] = [(ko[:m].copy() if m < len(ko) * 0.9 else ko[:m], vo[:m].copy() if m < len(vo) * 0.9 else vo[:m])]

    progress(Progress("co-occurrences", 0, total / 1e6, "M tokens"))
    done = 0
    with ThreadPoolExecutor(workers) as pool:
        pending: list[Future[tuple[np.ndarray, np.ndarray]]] = []
        queue = iter(starts)
        for start in queue:
            pending.append(pool.submit(count_chunk, start))
            if len(pending) >= workers:
                break
        while pending:
            run = pending.pop(0).result()
            nxt = next(queue, None)
            if nxt is not None:
                pending.append(pool.submit(count_chunk, nxt))
            runs.append(run)
            done = min(done + CHUNK_TOKENS, total)
            while len(runs) >= 2 and len(runs[-2][0]) <= 2 * len(runs[-1][0]):
                merge_two()
            progress(Progress("co-occurrences", done / 1e6, total / 1e6, "M tokens", f"{held():,} distinct pairs"))
    while len(runs) >= 2:
        merge_two()
    keys, values = runs[0] if runs else (np.zeros(0, np.int64), np.zeros(0, np.float64))
    if len(keys) == 0:
        raise EmptyCorpusError(f"no two words of the vocabulary occur within {window} words of each other in {text_path}")
    rows = (keys // size).astype(np.int32)
    cols = (keys % size).astype(np.int32)
    del keys, runs
    progress(Progress("co-occurrences", total / 1e6, total / 1e6, "M tokens", f"{len(rows):,} distinct pairs", final=True))
    return Cooccurrences(vocabulary, rows, cols, values, window, weighting)


def counted_for_training(corpus_path: str | os.PathLike[str], *, min_count: int, window: int, dim: int, workers: int,
                         max_memory: float | None, weighting: str, model: str,
                         model_bytes: Callable[[int, int, int], int], scratch: Path | None,
                         progress: ProgressCallback) -> tuple[Vocabulary, Cooccurrences]:
    """What GloVe and PPMI-SVD both start with: the vocabulary, the co-occurrence counts, and the
    memory budget, checked at each step against ``model_bytes(nnz, words, dim)`` (what the model
    will need for ``nnz`` non-zero counts)."""
    budget = memory_budget(max_memory)
    vocabulary = build_vocabulary(corpus_path, min_count=min_count, workers=workers, progress=progress)
    size = len(vocabulary.words)
    # Before counting: what is certain (chunk buffers, the vectors); while counting, each merge checks
    # that the pairs found so far and what training them will take still fit (``reserve``).
    check_memory(chunk_bytes(vocabulary.tokens, window, workers) + model_bytes(0, size, dim), budget,
                 f"{model} on {vocabulary.tokens:,} tokens, {size:,} words, window {window}, "
                 f"{dim} dims (before counting: at most {max_pairs(vocabulary.tokens, size, window):,} distinct pairs)",
                 lower_bound=True)
    counts = count_cooccurrences(corpus_path, vocabulary, window=window, weighting=weighting, workers=workers,
                                 scratch=scratch, budget=budget, reserve=2 * model_bytes(1, 0, 0), progress=progress)
    check_memory(model_bytes(counts.nnz, size, dim) + len(counts.rows) * PAIR_BYTES, budget,
                 f"{model} ({counts.nnz:,} non-zero co-occurrences, {size:,} words, {dim} dims)")
    return vocabulary, counts
