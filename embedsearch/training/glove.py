"""GloVe (Pennington, Socher & Manning 2014), trained as Stanford's ``glove.c`` does.

The objective is weighted least squares on the log co-occurrence counts,
``f(X_ij) (w_i . w~_j + b_i + b~_j - log X_ij)^2`` with ``f(x) = min(1, (x / x_max)^alpha)``,
minimised by AdaGrad over the non-zero entries (both ``(i, j)`` and ``(j, i)``), visited in one
seeded random order that every epoch repeats (Stanford shuffles its record file once). The update
is ``glove.c``'s line for line: gradient components clipped to [-100, 100], then times the learning
rate; squared-gradient sums start at 1; the biases step by the unscaled gradient; an update with a
NaN or infinity is skipped. Vectors and biases start uniform in ``[-0.5, 0.5] / dim``. The store
gets ``W + W~`` (Stanford's default output, "model 2"), or ``W`` alone with ``add_context=False``.

Differences from ``glove.c``: parameters are float32 (``glove.c`` uses double; half the memory
traffic), and ``f(X)`` and ``log X`` are computed once per entry rather than every epoch.

Threads: ``workers`` threads each take a contiguous share of the shuffled entries and update the
shared parameters without locks (Hogwild, as ``glove.c``'s pthreads do). With several workers the
interleaving of updates depends on scheduling, so results vary from run to run in the last digits;
with ``workers=1`` training is bit-reproducible for a given seed.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import numpy as np

from ..corpus import Corpus
from ..errors import TrainingError
from ..progress import Progress, ProgressCallback
from .config import TrainConfig
from .cooccur import (
    CHUNK_TOKENS,
    counted_for_training,
)
from .results import EpochStats, TrainedVectors

GRAD_CLIP = 100.0
RECORD_BYTES = 24  # per non-zero entry: row, col (int32), log x, f(x) (float32), and the shuffle's int64 order
BLOCKS_PER_EPOCH = 20  # a worker's share of an epoch is run in this many calls, so progress can be seen

_KERNELS: dict[str, Callable[..., Any]] = {}


def _kernel() -> Callable[..., Any]:
    if _KERNELS:
        return _KERNELS["block"]
    from numba import njit

    # fastmath without the no-NaN/no-infinity assumptions: glove.c's NaN checks must survive
    @njit(nogil=True, cache=True, fastmath={"contract", "arcp", "reassoc", "nsz", "afn"})
    def block(rows, cols, logx, fx, W, C, bw, bc, gW, gC, gbw, gbc, eta, clip, start, end):  # pragma: no cover
        dim = W.shape[1]
        u1 = np.empty(dim, dtype=np.float32)
        u2 = np.empty(dim, dtype=np.float32)
        cost = 0.0
        for t in range(start, end):
            i = rows[t]
            j = cols[t]
            diff = np.float32(0.0)
            for b in range(dim):
                diff += W[i, b] * C[j, b]
            diff += bw[i] + bc[j] - logx[t]
            fdiff = fx[t] * diff
            if not (np.isfinite(diff) and np.isfinite(fdiff)):
                continue
            cost += 0.5 * fdiff * diff
            s1 = np.float32(0.0)
            s2 = np.float32(0.0)
            for b in range(dim):
                t1 = min(max(fdiff * C[j, b], -clip), clip) * eta
                t2 = min(max(fdiff * W[i, b], -clip), clip) * eta
                u1[b] = t1 / np.sqrt(gW[i, b])
                u2[b] = t2 / np.sqrt(gC[j, b])
                s1 += u1[b]
                s2 += u2[b]
                gW[i, b] += t1 * t1
                gC[j, b] += t2 * t2
            if np.isfinite(s1) and np.isfinite(s2):
                for b in range(dim):
                    W[i, b] -= u1[b]
                    C[j, b] -= u2[b]
            d1 = fdiff / np.sqrt(gbw[i])
            d2 = fdiff / np.sqrt(gbc[j])
            if np.isfinite(d1):
                bw[i] -= d1
            if np.isfinite(d2):
                bc[j] -= d2
            f2 = fdiff * fdiff
            gbw[i] += f2
            gbc[j] += f2
        return cost

    _KERNELS["block"] = block
    return block


def glove_bytes(nnz: int, words: int, dim: int) -> int:
    """Training memory: the entries and the shuffled order, plus W, W~, their AdaGrad sums and the output."""
    return nnz * RECORD_BYTES + words * dim * 4 * 5


def train_glove(corpus: Corpus, config: TrainConfig, progress: ProgressCallback, scratch: Path) -> TrainedVectors:
    workers = config.workers
    vocabulary, counts = counted_for_training(
        corpus.text_path, min_count=config.min_count, window=config.window, dim=config.dim, workers=workers,
        max_memory=config.max_memory, weighting="harmonic", model="GloVe", model_bytes=glove_bytes, scratch=scratch,
        progress=progress)
    size, dim, nnz = len(vocabulary.words), config.dim, counts.nnz
    rng = np.random.default_rng(config.seed)
    started = time.perf_counter()
    rows, cols, values = counts.full()
    del counts
    order = rng.permutation(len(rows))
    rows, cols = rows[order], cols[order]
    values = values[order]
    del order
    logx = np.log(values).astype(np.float32)
    fx = np.minimum(1.0, (values / config.x_max) ** config.weighting_alpha).astype(np.float32)
    del values
    scale = np.float32(1.0 / dim)
    W = ((rng.random((size, dim), dtype=np.float32) - 0.5) * scale)
    C = ((rng.random((size, dim), dtype=np.float32) - 0.5) * scale)
    bw = ((rng.random(size, dtype=np.float32) - 0.5) * scale)
    bc = ((rng.random(size, dtype=np.float32) - 0.5) * scale)
    gW, gC = np.ones_like(W), np.ones_like(C)
    gbw, gbc = np.ones_like(bw), np.ones_like(bc)
    kernel = _kernel()
    eta, clip = np.float32(config.alpha), np.float32(GRAD_CLIP)
    # Each worker owns a contiguous share of the shuffled entries; each share is run in blocks so
    # progress can be reported between them.
    shares = np.linspace(0, nnz, workers + 1).astype(np.int64)
    epochs: list[EpochStats] = []
    progress(Progress("train", 0, config.epochs, "epochs", f"{nnz:,} co-occurrences"))

    def run(share: int, costs: list[float]) -> None:
        # A worker's whole share of one epoch, block by block, with no barrier between workers until
        # the epoch ends (as glove.c joins its threads once per iteration).
        lo, hi = shares[share], shares[share + 1]
        for block in range(BLOCKS_PER_EPOCH):
            start = lo + (hi - lo) * block // BLOCKS_PER_EPOCH
            end = lo + (hi - lo) * (block + 1) // BLOCKS_PER_EPOCH
            costs[share] += float(kernel(rows, cols, logx, fx, W, C, bw, bc, gW, gC, gbw, gbc, eta, clip, start, end))
            done[share] += end - start

    with ThreadPoolExecutor(workers) as pool:
        for epoch in range(config.epochs):
            begun = time.perf_counter()
            costs = [0.0] * workers
            done = [0] * workers
            futures = [pool.submit(run, share, costs) for share in range(workers)]
            while True:
                finished, _ = wait(futures, timeout=0.5)
                if len(finished) == len(futures):
                    break
                progress(Progress("train", epoch + sum(done) / nnz, config.epochs, "epochs",
                                  f"cost {sum(costs) / max(1, sum(done)):.4f}"))
            for future in futures:
                future.result()  # re-raises a worker's exception
            cost = sum(costs)
            seconds = time.perf_counter() - begun
            if not np.isfinite(cost):
                raise TrainingError(f"GloVe diverged in epoch {epoch + 1} (cost {cost}); try a lower --alpha")
            epochs.append(EpochStats(epoch + 1, round(seconds, 3), vocabulary.tokens / max(seconds, 1e-9), cost / nnz))
            progress(Progress("train", epoch + 1, config.epochs, "epochs", f"cost {cost / nnz:.4f}"))
    vectors = W + C if config.add_context else W
    if not np.isfinite(vectors).all():
        raise TrainingError("GloVe produced NaN or infinite vectors; try a lower --alpha")
    from numba import __version__ as numba_version

    return TrainedVectors(
        words=vocabulary.words, counts=vocabulary.counts, vectors=vectors, corpus_words=vocabulary.corpus_tokens,
        epochs=epochs, backend=f"embedsearch glove (numba {numba_version})",
        extra_meta={"cooccurrences": {"nnz": nnz, "window": config.window, "weighting": "harmonic",
                                      "chunk_tokens": CHUNK_TOKENS, "seconds_training": round(time.perf_counter() - started, 3)}},
    )
