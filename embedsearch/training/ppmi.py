"""PPMI-SVD: shifted positive PMI factorised by truncated SVD (Levy, Goldberg & Dagan 2015).

From the (uniformly weighted, symmetric) co-occurrence counts ``#(w, c)``:

    PMI(w, c)   = log( #(w, c) * sum_c' #(c')**cds / (#(w) * #(c)**cds) )
    SPPMI(w, c) = max(PMI(w, c) - log k, 0)

with ``#(w)``, ``#(c)`` the row and column sums, ``cds`` the context-distribution smoothing
(0.75) and ``k`` the shift (``negative``; 1 means none). Only the non-zero counts are visited, so
the matrix stays sparse. Its top ``dim`` singular triplets ``U S V^T`` give the word vectors
``U S**eig`` (eigenvalue weighting p = ``eig``), plus ``V S**eig`` with ``add_context`` ("w + c").

The SVD is ARPACK's (``scipy.sparse.linalg.svds``), started from a vector drawn from a seeded
``numpy.random.Generator``: with the same seed, corpus and settings the result is the same. Its
matrix products run in one thread; the BLAS calls use every core BLAS is given.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..corpus import Corpus
from ..errors import TrainingError
from ..progress import Progress, ProgressCallback
from .config import TrainConfig
from .cooccur import (
    Cooccurrences,
    counted_for_training,
)
from .results import EpochStats, TrainedVectors


def ppmi_bytes(nnz: int, words: int, dim: int) -> int:
    """The PPMI matrix as it is built (the full triplets, 16 B per entry, the PMI values and one
    temporary, the kept triplets and the CSR arrays: ~56 B per entry at the peak) and ARPACK's
    Lanczos basis (2 dim + 1 float64 vectors of ``words``) with the outputs."""
    return nnz * 56 + words * (2 * dim + 1) * 8 * 2 + words * dim * 4 * 3


def sppmi_matrix(counts: Cooccurrences, *, cds: float, shift: float):  # -> scipy.sparse.csr_matrix
    """The shifted positive PMI matrix of ``counts`` (CSR, float64, explicit zeros removed)."""
    from scipy import sparse

    rows, cols, values = counts.full()
    row_sums = np.bincount(rows, weights=values, minlength=counts.size)
    col_sums = np.bincount(cols, weights=values, minlength=counts.size)
    smoothed = col_sums ** cds
    with np.errstate(divide="ignore"):
        log_rows = np.log(row_sums)
        log_cols = np.log(smoothed) - np.log(smoothed.sum())
    pmi = np.log(values, out=values)  # in place: one temporary of 8 bytes per entry at a time
    pmi -= log_rows[rows]
    pmi -= log_cols[cols]
    pmi -= np.log(shift)
    keep = pmi > 0
    matrix = sparse.csr_matrix((pmi[keep], (rows[keep], cols[keep])), shape=(counts.size, counts.size))
    matrix.sort_indices()
    return matrix


def factorise(matrix, *, dim: int, eig: float, add_context: bool, seed: int) -> np.ndarray:
    """Word vectors ``U S**eig`` (``+ V S**eig`` with ``add_context``) from the top ``dim`` singular triplets."""
    from scipy.sparse.linalg import svds

    size = min(matrix.shape)
    if dim >= size:
        raise TrainingError(f"dim={dim} must be less than the vocabulary size ({size:,} words) for a truncated SVD")
    rng = np.random.default_rng(seed)
    v0 = rng.standard_normal(size)
    u, s, vt = svds(matrix, k=dim, v0=v0, solver="arpack")
    order = np.argsort(-s)  # svds returns ascending singular values
    u, s, vt = u[:, order], s[order], vt[order]
    # An SVD's signs are arbitrary: fix each component so its largest entry in U is positive.
    signs = np.sign(u[np.abs(u).argmax(axis=0), np.arange(dim)])
    signs[signs == 0] = 1
    u, vt = u * signs, vt * signs[:, None]
    weight = s ** eig
    vectors = u * weight
    if add_context:
        vectors = vectors + vt.T * weight
    return vectors.astype(np.float32)


def train_ppmi_svd(corpus: Corpus, config: TrainConfig, progress: ProgressCallback, scratch: Path) -> TrainedVectors:
    workers = config.workers
    vocabulary, counts = counted_for_training(
        corpus.text_path, min_count=config.min_count, window=config.window, dim=config.dim, workers=workers,
        max_memory=config.max_memory, weighting="uniform", model="PPMI-SVD", model_bytes=ppmi_bytes, scratch=scratch,
        progress=progress)
    size, dim, nnz = len(vocabulary.words), config.dim, counts.nnz
    started = time.perf_counter()
    progress(Progress("ppmi", 0, 1, "matrix", f"{nnz:,} co-occurrences"))
    matrix = sppmi_matrix(counts, cds=config.cds, shift=float(config.negative))
    del counts
    progress(Progress("ppmi", 1, 1, "matrix", f"{matrix.nnz:,} positive entries", final=True))
    progress(Progress("svd", 0, 1, "factorisation", f"top {dim} singular vectors of {size:,} x {size:,}"))
    vectors = factorise(matrix, dim=dim, eig=config.eig, add_context=bool(config.add_context), seed=config.seed)
    seconds = time.perf_counter() - started
    progress(Progress("svd", 1, 1, "factorisation", f"{seconds:.1f} s", final=True))
    if not np.isfinite(vectors).all():
        raise TrainingError("the SVD produced NaN or infinite values")
    import scipy

    return TrainedVectors(
        words=vocabulary.words, counts=vocabulary.counts, vectors=vectors, corpus_words=vocabulary.corpus_tokens,
        epochs=[EpochStats(1, round(seconds, 3), vocabulary.tokens / max(seconds, 1e-9), None)],
        backend=f"embedsearch ppmi-svd (scipy {scipy.__version__} ARPACK)",
        extra_meta={"cooccurrences": {"nnz": nnz, "positive": int(matrix.nnz), "window": config.window, "weighting": "uniform"}},
    )
