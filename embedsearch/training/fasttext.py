"""The fastText backend: Facebook's ``fasttext``, run in a child process on the tokenized corpus file.

The store gets fastText's word vectors (what ``get_word_vector`` returns) and the rows of its input
matrix that training changed as ``subwords.npy`` (the others are recomputed), so out-of-vocabulary words get vectors on the query path without
fastText (see :mod:`embedsearch.store.subwords`). fastText's Python API takes no seed (it always
uses 0): training is reproducible only with one thread.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from ..corpus import Corpus
from ..errors import EmptyCorpusError, SourceError, TrainingError, install_hint
from ..progress import Progress, ProgressCallback, ignore_progress
from ..store.subwords import EOS, HASH_SCHEME, ROWS_FILE, SUBWORDS_FILE, compact_matrix
from .config import TrainConfig
from .results import EpochStats, TrainedVectors

_PROGRESS = re.compile(
    r"Progress:\s*([\d.]+)%\s+words/sec/thread:\s*([\d.]+)\s+lr:\s*[-\d.e]+\s+(?:avg\.)?loss:\s*([-\d.einfa]+)"
)


def fasttext_job(corpus: Corpus, config: TrainConfig) -> dict[str, Any]:
    """The keyword arguments for ``fasttext.train_unsupervised``."""
    return {
        "input": str(corpus.text_path),
        "model": config.arch,
        "dim": config.dim,
        "ws": config.window,
        "epoch": config.epochs,
        "minCount": config.min_count,
        "neg": config.negative,
        "loss": "ns",
        "t": config.sample,
        "lr": config.alpha,
        "minn": config.minn if config.maxn > 0 else 0,
        "maxn": config.maxn,
        "bucket": config.bucket if config.maxn > 0 else 0,
        "thread": config.workers,
        "wordNgrams": 1,
        "verbose": 2,
    }


def _run_worker(mode: str, job: dict[str, Any], scratch: Path, epochs: int, workers: int,
                progress: ProgressCallback) -> tuple[list[EpochStats], str]:
    """Run the child, turning fastText's progress lines into events; returns per-epoch stats and stderr's tail."""
    job_path = scratch / "job.json"
    job_path.write_text(json.dumps(job), encoding="utf-8")
    started = time.perf_counter()
    stats: list[EpochStats] = []
    tail: list[str] = []
    process = subprocess.Popen(
        [sys.executable, "-m", "embedsearch.training.fasttext_worker", mode, str(job_path), str(scratch)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    stderr = process.stderr
    if stderr is None:  # cannot happen with stderr=PIPE; keeps type checkers honest
        raise TrainingError("could not read fastText's output")
    buffer = b""
    try:
        while chunk := os.read(stderr.fileno(), 65536):
            buffer += chunk
            *lines, buffer = re.split(rb"[\r\n]", buffer)
            for raw in lines:
                line = raw.decode("utf-8", errors="replace").strip()
                match = _PROGRESS.search(line) if line else None
                if match is None:
                    if line:
                        tail = (tail + [line])[-20:]
                    continue
                done = float(match.group(1)) / 100 * epochs
                words_per_second = float(match.group(2)) * workers
                loss = float(match.group(3))
                while len(stats) < min(int(done + 1e-9), epochs):
                    elapsed = time.perf_counter() - started - sum(e.seconds for e in stats)
                    stats.append(EpochStats(len(stats) + 1, round(elapsed, 3), words_per_second, loss))
                progress(Progress("train", done, epochs, "epochs", f"{words_per_second:,.0f} words/s, loss {loss:.4f}"))
    except BaseException:
        process.kill()
        raise
    finally:
        code = process.wait()
    message = " / ".join(tail[-3:]) or "no message"
    if code != 0:
        if "Empty vocabulary" in message:
            raise EmptyCorpusError(f"no word occurs at least min_count times ({message}); lower --min-count")
        if "Encountered NaN" in message:
            raise TrainingError(
                "fastText diverged (Encountered NaN). fasttext 0.9.3 does this at very small dimensions (seen here at "
                "16 or fewer with subwords and 50 or fewer without, depending even on unrelated file path lengths); "
                "use --dim 100, or a lower --alpha"
            )
        if "No module named 'fasttext'" in message:
            raise TrainingError(f"the fasttext package is not installed: {install_hint('fasttext')}")
        raise TrainingError(f"fastText failed (exit code {code}): {message}")
    return stats, message


def _collect(scratch: Path, corpus_words: int, epochs: list[EpochStats]) -> TrainedVectors:
    try:
        listing = json.loads((scratch / "words.json").read_text(encoding="utf-8"))
        words: list[str] = listing["words"]
        args: dict[str, Any] = listing["args"]
        counts = np.asarray(listing["counts"], dtype=np.int64)
        vectors = np.load(scratch / "vectors.npy", mmap_mode="r", allow_pickle=False)
        matrix = np.load(scratch / "input.npy", mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, KeyError) as exc:
        raise TrainingError(f"fastText finished but its output is incomplete: {exc}") from exc
    if not np.isfinite(vectors).all():
        raise TrainingError("fastText produced NaN or infinite vectors; try a lower --alpha")
    eos_id = words.index(EOS) if EOS in words else -1
    keep = [i for i in range(len(words)) if i != eos_id]  # "</s>" marks line ends; it is not a word
    if not keep:
        raise EmptyCorpusError("the fastText model has no words")
    subwords: dict[str, Any] = {"file": SUBWORDS_FILE, "hash": HASH_SCHEME, "minn": int(args["minn"]),
                                "maxn": int(args["maxn"]), "bucket": int(matrix.shape[0] - len(words)),
                                "nwords": len(words), "eos_id": eos_id}
    arrays: dict[str, np.ndarray] = {SUBWORDS_FILE: matrix}
    # Only the rows training changed are stored; the others are fastText's initial values, recomputed
    # on demand (store/subwords.py). A matrix whose other rows are not those is stored whole.
    compact = compact_matrix(matrix, words, minn=subwords["minn"], maxn=subwords["maxn"], bucket=subwords["bucket"])
    if compact is not None:
        kept_matrix, kept_rows, init = compact
        index_dtype = np.int32 if matrix.shape[0] < 2**31 else np.int64
        arrays = {SUBWORDS_FILE: kept_matrix, ROWS_FILE: kept_rows.astype(index_dtype)}
        subwords.update({"rows_file": ROWS_FILE, "init": init})
    return TrainedVectors(
        words=[words[i] for i in keep],
        counts=counts[keep],
        vectors=np.asarray(vectors[keep]),
        corpus_words=corpus_words,
        epochs=epochs,
        backend=f"fasttext {version('fasttext')}",
        arrays=arrays,
        extra_meta={"subwords": subwords, "fasttext_args": args},
    )


def train_fasttext(corpus: Corpus, config: TrainConfig, progress: ProgressCallback, scratch: Path) -> TrainedVectors:
    """Train in a child process writing into ``scratch``; the arrays returned are memory-mapped from it."""
    epochs, _ = _run_worker("train", fasttext_job(corpus, config), scratch, config.epochs, config.workers, progress)
    return _collect(scratch, int(corpus.stats.tokens), epochs)


def load_fasttext_bin(path: Path, scratch: Path, progress: ProgressCallback = ignore_progress) -> TrainedVectors:
    """Read a fastText ``.bin`` model (in a child process) into arrays memory-mapped from ``scratch``."""
    if not path.is_file():
        raise SourceError(f"no such file: {path}")
    try:
        _run_worker("load", {"path": str(path.absolute())}, scratch, 1, 1, progress)
    except TrainingError as exc:
        raise SourceError(f"{path}: not a readable fastText model ({exc})") from exc
    return _collect(scratch, 0, [])
