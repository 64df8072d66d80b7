"""BLAS threads: one per worker process, one in the reranker's training steps, restored afterwards."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import embedsearch
from embedsearch.errors import ConfigError
from embedsearch.rerank import training
from embedsearch.rerank.training import RerankConfig, train_reranker
from embedsearch.workers import blas_threads, process_pool

threadpoolctl = pytest.importorskip("threadpoolctl")


def blas_thread_counts() -> list[int]:
    """Thread counts of every BLAS/OpenMP pool loaded in this process (run in workers too)."""
    import numpy  # noqa: F401  (loads OpenBLAS)

    return [pool["num_threads"] for pool in threadpoolctl.threadpool_info()]


def test_worker_processes_use_one_blas_thread():
    with process_pool(2) as pool:
        counts = pool.submit(blas_thread_counts).result(timeout=60)
    assert counts and set(counts) == {1}


def test_blas_threads_limits_and_restores():
    before = blas_thread_counts()
    with blas_threads(1):
        assert set(blas_thread_counts()) == {1}
    assert blas_thread_counts() == before


def test_reranker_steps_run_on_one_blas_thread(tmp_path: Path, lee_store: Path, lee_corpus: embedsearch.Corpus,
                                               monkeypatch: pytest.MonkeyPatch):
    seen: list[list[int]] = []
    original = training._run_steps

    def watched(*args, **kwargs):
        seen.append(blas_thread_counts())
        return original(*args, **kwargs)

    monkeypatch.setattr(training, "_run_steps", watched)
    store = tmp_path / "store"
    shutil.copytree(lee_store, store)
    before = blas_thread_counts()
    train_reranker(store, lee_corpus.path, RerankConfig(hidden=8, batch=16, tokens=2000, workers=1))
    assert seen and set(seen[0]) == {1}
    assert blas_thread_counts() == before


def test_rerank_workers_option_is_checked():
    with pytest.raises(ConfigError, match="workers"):
        RerankConfig(workers=0)
