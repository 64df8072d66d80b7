"""Nearest-neighbour search over a store's unit rows: exact (BLAS) or approximate (FAISS), with measured recall.

``flat``   exact: one matrix product over the memory-mapped ``vectors.npy``; no index file. A FAISS
           ``IndexFlatIP`` would be the same computation over a second in-memory copy of the vectors
           (measured here: 1M x 100 costs 422 MB resident on open, and numpy's product is faster).
``hnsw``   FAISS ``IndexHNSWFlat`` (graph; inner product), tuned by ``efSearch``.
``ivf``    FAISS ``IndexIVFFlat`` (k-means cells), tuned by ``nprobe`` (FAISS's default of 1 is far too
           low for embeddings; we tune it).
``ivfpq``  FAISS ``IndexIVFPQ`` (compressed codes), tuned by ``nprobe``; candidates are rescored
           exactly from ``vectors.npy`` so reported scores are true cosines.
``auto``   flat up to 100k words, hnsw above (ivfpq if an HNSW graph would not fit in half the memory).

At build time the search parameter is raised until recall@10 against exact search, measured on a
seeded sample of the vocabulary, reaches the target; the measured figure is stored and ``info``
shows it. Searches return exact inner products for the ids they return, computed one way
(:func:`exact_scores`) whichever index, path or thread count found them.
"""
from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError, StoreError
from ..progress import Progress, ProgressCallback, ignore_progress

if TYPE_CHECKING:
    import faiss

INDEX_KINDS = ("flat", "hnsw", "ivf", "ivfpq", "auto")
AUTO_FLAT_LIMIT = 100_000
DEFAULT_TARGET_RECALL = 0.95
RECALL_SAMPLE = 1000
_FLAT_BLOCK = 131_072  # rows per block for a single query
_FLAT_SCORES = 16 * 2**20  # at most this many scores (64 MB) in flight for a batch of queries
# From this many queries on, exact search goes to FAISS's brute-force k-NN: its blocked GEMM plus
# per-row heaps run on every core, where numpy's argpartition runs on one and dominated the time
# (text8 store, all 67,873 words: 23 s with numpy, 6.3 s with FAISS on 2 cores). Below it the
# numpy path stays, so interactive queries on flat stores never import FAISS.
_BATCH_QUERIES = 32
_ADD_BATCH = 50_000
_EF_STEPS = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)
_PQ_REFINE = 10
# Candidates beyond k that exact search rescores: two float32 paths differ in the last bit or so, so
# the k returned could differ only if the k-th and the next five scores all lay within ~1e-7.
SCORE_MARGIN = 4
# Candidates past the margin in which exact search looks for rows within float32 error of its last
# (see with_near_ties); only a longer run of near-equal scores costs a pass over all rows.
TIE_POOL = 32


@dataclass(frozen=True)
class IndexOptions:
    """What to build. ``None`` parameters are chosen from the vocabulary size."""

    kind: str = "flat"
    m: int | None = None  # HNSW neighbours per node
    ef_construction: int | None = None
    nlist: int | None = None  # IVF cells
    pq_m: int | None = None  # PQ sub-quantizers
    target_recall: float = DEFAULT_TARGET_RECALL
    seed: int = 1

    def __post_init__(self) -> None:
        if self.kind not in INDEX_KINDS:
            raise ConfigError(f"unknown index kind {self.kind!r}; choose one of {', '.join(INDEX_KINDS)}")
        if not 0 < self.target_recall <= 1:
            raise ConfigError(f"target recall must be in (0, 1], got {self.target_recall}")
        # Upper bounds far above useful values: FAISS allocates per unit (m=1e9 is std::bad_alloc).
        for name, high in (("m", 1024), ("ef_construction", 1_000_000), ("nlist", 1 << 24), ("pq_m", 1024)):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high):
                raise ConfigError(f"{name} must be an integer from 1 to {high:,}, got {value!r}")


def _available_memory() -> int:
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 8 * 2**30


def choose_kind(rows: int, dim: int, m: int = 32) -> tuple[str, str]:
    """The ``auto`` choice and why, from the vocabulary size and the memory available."""
    if rows <= AUTO_FLAT_LIMIT:
        return "flat", f"{rows:,} words: exact search takes about a millisecond"
    graph_bytes = rows * (4 * dim + 2 * m * 4 * 1.1)
    if graph_bytes > _available_memory() / 2:
        return "ivfpq", f"{rows:,} words: an HNSW graph ({graph_bytes / 2**30:.1f} GiB) would not fit in half the free memory"
    return "hnsw", f"{rows:,} words: HNSW answers in well under a millisecond at high recall"


# --- searching -----------------------------------------------------------------------------------


class Searcher:
    """Top-k inner-product search over a store's unit rows; scores returned are exact."""

    kind = "flat"
    exact = True

    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors = vectors

    def search(self, queries: np.ndarray, k: int, param: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``queries`` float32 ``[n, dim]`` -> (scores, ids), each ``[n, k]``, best first; ids -1 pad."""
        return exact_top_k(self.vectors, queries, k)


def exact_top_k(vectors: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k by inner product, in row blocks so memory stays ``n x block`` whatever the vocabulary.

    The candidates come from a float32 product (BLAS or FAISS), whose last bits depend on how many
    threads split it; ``SCORE_MARGIN`` more than ``k``, and any rows within float32 error of the
    last (:func:`with_near_ties`), are rescored by :func:`exact_scores`, so the scores and the
    order returned are the same on one core or two, locally or on a Dask worker.
    """
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    k = min(k, len(vectors))
    wide = min(k + SCORE_MARGIN, len(vectors))
    scores, ids = _candidates(vectors, queries, min(wide + TIE_POOL, len(vectors)))
    return rescore_top_k(vectors, queries, with_near_ties(vectors, queries, scores, ids, wide), k)


def score_error(queries: np.ndarray) -> np.ndarray:
    """Per query, how far apart two float32 inner products of it with unit rows can be: BLAS sums
    ``dim`` float32 products within ``dim * 2**-24 * |query|`` of the exact score, whatever kernel or
    order, and may round identical rows differently (OpenBLAS 0.3.31's GEMM on an AMD EPYC scores 40
    copies of one row as 1.0 or 1.0000001 by position)."""
    return 2 * queries.shape[1] * 2.0**-24 * np.linalg.norm(queries, axis=1)


def with_near_ties(vectors: np.ndarray, queries: np.ndarray, scores: np.ndarray, ids: np.ndarray,
                    wide: int) -> np.ndarray:
    """The first ``wide`` of each query's candidates (best first), and every further row whose
    score comes within :func:`score_error` of the last of them: any may tie it, or beat it, once
    rescored exactly, so ``SCORE_MARGIN`` alone would miss a run of ties longer than itself. Such
    rows are looked for among the ``TIE_POOL`` candidates past ``wide``; a query whose pool ends
    inside the run (more than ``TIE_POOL`` equal rows) gets one more pass over all rows. -1 pads."""
    if wide == 0 or ids.shape[1] <= wide:
        return ids
    floor = scores[:, wide - 1] - score_error(queries)
    near = scores >= floor[:, None]
    near[:, :wide] = True
    order = np.argsort(~near, axis=1, kind="stable")  # the near ones first, still best first
    widened = np.where(np.take_along_axis(near, order, axis=1), np.take_along_axis(ids, order, axis=1), -1)
    widened = widened[:, : max(wide, int(near.sum(axis=1).max()))]
    rows = np.asarray(vectors)
    overflow = [(q, np.flatnonzero(rows @ queries[q] >= floor[q])) for q in np.flatnonzero(near[:, -1])]
    if overflow:
        width = max(widened.shape[1], *(len(found) for _, found in overflow))
        widened = np.pad(widened, ((0, 0), (0, width - widened.shape[1])), constant_values=-1)
        for q, found in overflow:
            widened[q] = -1
            widened[q, : len(found)] = found
    return widened


def rescore_top_k(vectors: np.ndarray, queries: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The best ``k`` of each query's candidate ``ids`` by :func:`exact_scores`, best first, equal
    scores by row: ``(scores, ids)``, each ``[n, k]``."""
    scores, ids = _ordered(exact_scores(vectors, queries, ids), np.asarray(ids, dtype=np.int64))
    return scores[:, :k], ids[:, :k]


def exact_scores(vectors: np.ndarray, queries: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """The inner product of each query with the rows ``ids`` (``[n, m]``; -1 scores -inf), summed in
    float64 and rounded to float32: float32 products of float32 inputs are exact in float64, so the
    result is the correctly rounded score, whatever the summation order of the path that found it."""
    ids = np.asarray(ids, dtype=np.int64)
    if ids.size == 0:
        return np.zeros(ids.shape, dtype=np.float32)
    rows = np.asarray(vectors[np.where(ids >= 0, ids, 0)], dtype=np.float64)
    scores = np.einsum("nmd,nd->nm", rows, np.asarray(queries, dtype=np.float64)).astype(np.float32)
    scores[ids < 0] = -np.inf
    return scores


def _candidates(vectors: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    n, total = len(queries), len(vectors)
    if n == 1 and total <= _FLAT_BLOCK:
        return _top_k_one(np.asarray(vectors) @ queries[0], k)
    if n >= _BATCH_QUERIES and k > 0:
        return _faiss_top_k(vectors, queries, k)
    step = max(4096, min(_FLAT_BLOCK, _FLAT_SCORES // max(n, 1)))
    best_scores: np.ndarray | None = None
    best_ids: np.ndarray | None = None
    for start in range(0, total, step):
        block = np.asarray(vectors[start : start + step])
        # One query (interactive use): a matrix-vector product over the row-major block.
        scores = (block @ queries[0])[None, :] if n == 1 else queries @ block.T
        width = scores.shape[1]
        if width > k:
            # The k largest land at the end of the partition; no negated copy of the scores needed.
            top = np.argpartition(scores, width - k, axis=1)[:, width - k :]
            scores = np.take_along_axis(scores, top, axis=1)
        else:
            top = np.broadcast_to(np.arange(width), scores.shape)
        top = top + start
        if best_scores is None or best_ids is None:
            best_scores, best_ids = scores, top
            continue
        best_scores = np.concatenate([best_scores, scores], axis=1)
        best_ids = np.concatenate([best_ids, top], axis=1)
        keep = np.argpartition(best_scores, best_scores.shape[1] - k, axis=1)[:, best_scores.shape[1] - k :]
        best_scores = np.take_along_axis(best_scores, keep, axis=1)
        best_ids = np.take_along_axis(best_ids, keep, axis=1)
    if best_scores is None or best_ids is None:
        return np.zeros((n, 0), dtype=np.float32), np.zeros((n, 0), dtype=np.int64)
    return _ordered(best_scores, best_ids)


def _ordered(scores: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row best first, equal scores by row number: one canonical order whichever path found them."""
    order = np.lexsort((ids, -scores), axis=1)
    return np.take_along_axis(scores, order, axis=1), np.take_along_axis(ids, order, axis=1)


_faiss_lock = threading.Lock()


def _faiss_top_k(vectors: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k of a batch of queries by ``faiss.knn``, straight over the memory-mapped rows (no copy).

    FAISS computes the scores a tile at a time (``distance_compute_blas_query_bs`` x
    ``..._database_bs`` floats, 16 MB by default) and keeps a k-heap per query, so memory is the tile
    plus ``n x k`` results, never ``n x V``. FAISS 1.15 uses its BLAS path only from 128,000 queries
    on (``distance_compute_blas_threshold``); below that its one-query-at-a-time loop was 4x slower
    here, so the threshold is lowered for the call and restored after.
    """
    import faiss

    rows = np.asarray(vectors)
    if rows.dtype != np.float32 or not rows.flags.c_contiguous:
        raise StoreError(f"exact search needs C-contiguous float32 rows, got {rows.dtype}")
    with _faiss_lock:  # the threshold is process-wide FAISS state
        before = faiss.cvar.distance_compute_blas_threshold
        faiss.cvar.distance_compute_blas_threshold = 0
        try:
            scores, ids = faiss.knn(queries, rows, k, faiss.METRIC_INNER_PRODUCT)
        finally:
            faiss.cvar.distance_compute_blas_threshold = before
    return scores, ids  # ordered by exact_top_k once rescored


def _top_k_one(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The interactive case, one query over one block: plain 1-D selection, no per-axis machinery."""
    top = np.argpartition(scores, len(scores) - k)[len(scores) - k :] if len(scores) > k else np.arange(len(scores))
    top = top[np.lexsort((top, -scores[top]))]  # equal scores by row number, as _ordered does
    return scores[top][None, :], top.astype(np.int64)[None, :]


class FaissSearcher(Searcher):
    """An approximate FAISS index; ``param`` is efSearch (hnsw) or nprobe (ivf, ivfpq)."""

    exact = False

    def __init__(self, vectors: np.ndarray, index: faiss.Index, kind: str, default_param: int) -> None:
        super().__init__(vectors)
        self.index = index
        self.kind = kind
        self.default_param = default_param

    def search(self, queries: np.ndarray, k: int, param: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        value = param or self.default_param
        if self.kind == "hnsw":
            self.index.hnsw.efSearch = max(value, k)
        else:
            self.index.nprobe = value
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        wanted = min(k * _PQ_REFINE if self.kind == "ivfpq" else k, self.index.ntotal)
        scores, ids = self.index.search(queries, wanted)
        if self.kind == "ivfpq":
            return self._rescore(queries, ids, k)
        # FAISS's own distances differ from exact_scores in the last bit: rescored, a word pair
        # scores the same bits whichever index found it
        return rescore_top_k(self.vectors, queries, ids, k)

    def _rescore(self, queries: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """PQ distances are approximate: rescore the candidates exactly from the stored rows."""
        out_scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        out_ids = np.full((len(queries), k), -1, dtype=np.int64)
        for row, (query, candidates) in enumerate(zip(queries, ids)):
            candidates = candidates[candidates >= 0]
            if not len(candidates):
                continue
            ordered = np.sort(candidates)  # sorted rows read a memory map sequentially
            exact = exact_scores(self.vectors, query[None, :], ordered[None, :])[0]
            best = np.argsort(-exact, kind="stable")[:k]
            out_scores[row, : len(best)] = exact[best]
            out_ids[row, : len(best)] = ordered[best]
        return out_scores, out_ids


# --- building ------------------------------------------------------------------------------------


def measure_recall(searcher: Searcher, vectors: np.ndarray, sample: np.ndarray, param: int | None, k: int = 10) -> float:
    """Mean recall@k of ``searcher`` against exact search for the rows ``sample``, each query's own row left out."""
    queries = np.asarray(vectors[sample], dtype=np.float32)
    _, exact_ids = exact_top_k(vectors, queries, k + 1)
    _, found_ids = searcher.search(queries, k + 1, param)
    total = 0.0
    for own, truth, found in zip(sample, exact_ids, found_ids):
        truth_set = [int(i) for i in truth if i != own][:k]
        found_set = {int(i) for i in found if i != own and i >= 0}
        total += len(found_set.intersection(truth_set)) / max(len(truth_set), 1)
    return total / len(sample)


def build_index(
    rows: np.ndarray,
    path: Path,
    *,
    kind: str | IndexOptions = "flat",
    progress: ProgressCallback = ignore_progress,
) -> dict[str, Any]:
    """Build the index over unit ``rows``; write ``path`` for approximate kinds; return its metadata."""
    options = kind if isinstance(kind, IndexOptions) else IndexOptions(kind=kind)
    count, dim = rows.shape
    chosen, reason = (options.kind, "") if options.kind != "auto" else choose_kind(count, dim)
    if chosen == "flat":
        return {"kind": "flat", "exact": True, "params": {}, "search": "exact inner product over vectors.npy",
                "recall_at_10": 1.0, **({"auto_reason": reason} if reason else {})}
    import faiss

    faiss.omp_set_num_threads(max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1))
    rng = np.random.default_rng(options.seed)
    data = np.ascontiguousarray(rows, dtype=np.float32)
    params: dict[str, Any]
    if chosen == "hnsw":
        m = options.m or 32
        index = faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = options.ef_construction or 200
        params = {"M": m, "efConstruction": index.hnsw.efConstruction}
        steps: tuple[int, ...] = _EF_STEPS
    else:
        nlist = options.nlist or max(16, min(65_536, int(4 * math.sqrt(count))))
        nlist = min(nlist, max(1, count // 39))  # FAISS wants ~39 training points per cell
        quantizer = faiss.IndexFlatIP(dim)
        if chosen == "ivf":
            index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
            params = {"nlist": nlist}
        else:
            pq_m = options.pq_m or _default_pq_m(dim)
            if dim % pq_m:
                raise ConfigError(f"pq_m={pq_m} must divide the dimension {dim}")
            index = faiss.IndexIVFPQ(quantizer, dim, nlist, pq_m, 8, faiss.METRIC_INNER_PRODUCT)
            params = {"nlist": nlist, "pq_m": pq_m, "nbits": 8, "refine": _PQ_REFINE}
        index.cp.seed = options.seed
        training = data[np.sort(rng.choice(count, size=min(count, 256 * nlist), replace=False))]
        progress(Progress("index", 0, count, "words", f"training {chosen} quantizer ({nlist} cells)"))
        index.train(training)
        steps = tuple(p for p in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048) if p <= nlist)
    for start in range(0, count, _ADD_BATCH):
        index.add(data[start : start + _ADD_BATCH])
        progress(Progress("index", min(start + _ADD_BATCH, count), count, "words", f"building {chosen}"))
    searcher = FaissSearcher(rows, index, chosen, steps[0])
    sample = np.sort(rng.choice(count, size=min(count, RECALL_SAMPLE), replace=False))
    recall, param = 0.0, steps[0]
    for param in steps:
        recall = measure_recall(searcher, rows, sample, param)
        progress(Progress("index", count, count, "words", f"recall@10 {recall:.3f} at {_param_name(chosen)}={param}"))
        if recall >= options.target_recall:
            break
    faiss.write_index(index, str(path))
    return {
        "kind": chosen,
        "faiss": type(index).__name__,
        "exact": False,
        "params": {**params, _param_name(chosen): param},
        "recall_at_10": round(recall, 4),
        "recall_sample": len(sample),
        "target_recall": options.target_recall,
        "threads_deterministic": False,
        **({"auto_reason": reason} if reason else {}),
    }


def _param_name(kind: str) -> str:
    return "efSearch" if kind == "hnsw" else "nprobe"


def _default_pq_m(dim: int) -> int:
    for candidate in (dim // 4, dim // 2, dim):
        if candidate and dim % candidate == 0 and candidate <= 64:
            return candidate
    return next(c for c in range(min(dim, 64), 0, -1) if dim % c == 0)


def open_searcher(path: Path, meta: dict[str, Any], vectors: np.ndarray, *, shown: Path | None = None,
                  crc32: str | None = None) -> Searcher:
    """The searcher a store's metadata describes; FAISS is imported only for approximate kinds.

    ``path`` opens the index file; ``shown`` is how messages name it. With ``crc32`` the file is
    checked before FAISS parses it (it is read whole anyway): FAISS trusts its input, so a corrupt
    index must be refused before it can crash the process.
    """
    shown = shown or path
    kind = meta.get("kind")
    if kind == "flat":
        return Searcher(vectors)
    if kind not in INDEX_KINDS:
        raise StoreError(f"{shown}: unknown index kind {kind!r}")
    if crc32 is not None:
        from ..fsutil import crc32_file

        if crc32_file(path) != crc32:
            raise StoreError(f"{shown}: checksum mismatch (the file is corrupt or was changed after the store was built)")
    import faiss

    try:
        index = faiss.read_index(str(path), faiss.IO_FLAG_READ_ONLY)
    except RuntimeError as exc:
        raise StoreError(f"{shown}: not a readable FAISS index ({str(exc).splitlines()[0]})") from exc
    if index.ntotal != vectors.shape[0] or index.d != vectors.shape[1]:
        raise StoreError(f"{shown}: index holds {index.ntotal} vectors of dim {index.d}, the store has {vectors.shape}")
    param = int(meta.get("params", {}).get(_param_name(kind), 0) or 0)
    if param < 1:
        raise StoreError(f"{shown}: the metadata records no {_param_name(kind)} for the {kind} index")
    return FaissSearcher(vectors, index, kind, param)
