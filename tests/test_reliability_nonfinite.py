"""No result ever holds NaN or infinity: tampered store files, degenerate data, diverged training.

Tampered files are resealed (their recorded sizes and checksums recomputed, the metadata re-sealed),
as a deliberate tamperer would: the query path itself must then refuse non-finite numbers, naming
the file and pointing at ``embedsearch verify``.
"""
from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

import embedsearch
from embedsearch.batch import neighbors_of, pair_similarities
from embedsearch.errors import ConfigError, QueryError, ResourceError, SourceError, StoreError, TrainingError
from embedsearch.evaluate import evaluate_analogies, evaluate_pairs
from embedsearch.formats import export_vectors
from embedsearch.query import open_store
from embedsearch.fsutil import crc32_file
from embedsearch.store import write_store
from embedsearch.store.writer import seal_meta
from embedsearch.store.generations import live_directory
from embedsearch.store.subwords import HASH_SCHEME, SUBWORDS_FILE
from embedsearch.text.pipeline import english_words

from .conftest import TOY_WORDS, toy_vectors
from .test_reliability_inputs import tiny  # noqa: F401  (session fixture: tiny corpus and stores)


def poison(path: Path, name: str, rows: slice | int, value: float = np.nan) -> None:
    """Write ``value`` into rows of a store array, then reseal the store (record the file's new size
    and CRC-32, re-seal the metadata), as a deliberate tamperer would."""
    target = live_directory(path) / name
    array = np.array(np.load(target))
    array[rows] = value
    target.unlink()  # a new file: a generation's files may be hard links shared with the previous one
    np.save(target, array)
    reseal(path, name)


def reseal(path: Path, name: str) -> None:
    target = live_directory(path) / name
    db = sqlite3.connect(live_directory(path) / "meta.sqlite")
    (raw,) = db.execute("SELECT value FROM meta WHERE key = 'files'").fetchone()
    files = json.loads(raw)
    files[name] = {"bytes": target.stat().st_size, "crc32": crc32_file(target)}
    db.execute("UPDATE meta SET value = ? WHERE key = 'files'", (json.dumps(files),))
    seal_meta(db)
    db.commit()
    db.close()


@pytest.fixture()
def nan_store(toy_store: Path) -> Path:
    poison(toy_store, "vectors.npy", TOY_WORDS.index("apple"))
    return toy_store


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_nan_row_is_a_store_error_not_an_answer(toy_store: Path, value: float) -> None:
    # Failed before: with checksums skipped, NaN rows gave NaN scores with exit 0.
    poison(toy_store, "vectors.npy", TOY_WORDS.index("apple"), value)
    with open_store(toy_store, verify=False) as store:
        for call in (lambda: store.similar("pear"), lambda: store.similar("apple"), lambda: store.similarity("apple", "pear"),
                     lambda: store.analogy("apple", "pear", "king"), lambda: store.doesnt_match(["apple", "pear", "car"]),
                     lambda: store.similar("0.5*apple + pear")):
            with pytest.raises(StoreError, match=r"vectors\.npy.*NaN or infinite.*embedsearch verify"):
                call()
        # Any other query answers with finite scores, or refuses the same way (exact search meets every row).
        try:
            result = store.similar("king", k=3)
        except StoreError as exc:
            assert "vectors.npy" in str(exc)
        else:
            assert all(np.isfinite(n.score) for n in result.neighbors)


def test_nan_rows_in_batch_paths(nan_store: Path, tmp_path: Path) -> None:
    with open_store(nan_store, verify=False) as store:
        with pytest.raises(StoreError, match=r"vectors\.npy"):
            list(neighbors_of(store, k=3))
        with pytest.raises(StoreError, match=r"vectors\.npy"):
            list(pair_similarities(store, [("apple", "pear")]))
        with pytest.raises(StoreError, match=r"vectors\.npy"):
            export_vectors(store, tmp_path / "out.txt")
        assert not (tmp_path / "out.txt").exists() and not list(tmp_path.glob(".out.txt*"))
        pairs = tmp_path / "pairs.tsv"
        pairs.write_text("apple\tpear\t1\nking\tqueen\t2\nman\twoman\t3\ncar\tcity\t4\n", encoding="utf-8")
        with pytest.raises(StoreError, match=r"vectors\.npy"):
            evaluate_pairs(store, pairs)
        questions = tmp_path / "q.txt"
        questions.write_text(": s\nman king woman queen\n", encoding="utf-8")
        with pytest.raises(StoreError, match=r"vectors\.npy"):
            evaluate_analogies(store, questions)


def test_a_default_open_refuses_it_too(nan_store: Path) -> None:
    with open_store(nan_store) as store, pytest.raises(StoreError, match=r"vectors\.npy"):
        store.similar("apple")


def test_nan_in_reranker_weights(tiny, tmp_path: Path) -> None:  # noqa: F811
    # Failed before: loaded as is, and every fit (so every reranked score) was NaN.
    store = tmp_path / "rerank"
    shutil.copytree(tiny["rerank"], store)
    npz = live_directory(store) / "reranker.npz"
    with np.load(npz) as arrays:
        weights = {name: np.array(arrays[name]) for name in arrays.files}
    weights["projection"][0, 0] = np.nan
    npz.unlink()  # a new file (a generation's files may be hard links shared with the previous one)
    np.savez(npz, **weights)
    reseal(store, "reranker.npz")
    with open_store(store, verify=False) as opened:
        with pytest.raises(StoreError, match=r"reranker\.npz: projection holds NaN"):
            opened.similar("king", rerank=True)


@pytest.mark.parametrize("weight", [float("nan"), float("inf"), -float("inf"), 1e300, "heavy"])
def test_rerank_weight_is_range_checked(tiny, weight) -> None:  # noqa: F811
    with open_store(tiny["rerank"]) as store:
        with pytest.raises(ConfigError, match="rerank weight"):
            store.similar("king", rerank=True, rerank_weight=weight)
        with pytest.raises(ConfigError, match="rerank weight"):
            store.analogy("man", "king", "woman", rerank=True, rerank_weight=weight)
        result = store.similar("king", rerank=True, rerank_weight=0.5, k=5)
        assert all(np.isfinite(n.score) for n in result.neighbors)


def fasttext_like_store(path: Path, poison_buckets: bool) -> Path:
    """A hand-made FastText-style store: 10 words and 64 n-gram buckets."""
    rng = np.random.default_rng(4)
    bucket, dim = 64, 4
    matrix = rng.standard_normal((len(TOY_WORDS) + bucket, dim)).astype(np.float32)
    if poison_buckets:
        matrix[len(TOY_WORDS):] = np.nan
    subwords = {"file": SUBWORDS_FILE, "hash": HASH_SCHEME, "minn": 3, "maxn": 5, "bucket": bucket,
                "nwords": len(TOY_WORDS), "eos_id": -1}
    write_store(path, words=TOY_WORDS, counts=[1] * len(TOY_WORDS), vectors=toy_vectors(), model={"kind": "fasttext"},
                pipeline=english_words().to_dict(), arrays={SUBWORDS_FILE: matrix}, extra_meta={"subwords": subwords})
    return path


def test_nan_subword_vectors(tmp_path: Path) -> None:
    good = fasttext_like_store(tmp_path / "good", poison_buckets=False)
    with open_store(good) as store:
        result = store.similar("kingdom", k=3)  # out of vocabulary: built from subwords
        assert result.terms[0].oov == ["kingdom"] and all(np.isfinite(n.score) for n in result.neighbors)
    bad = fasttext_like_store(tmp_path / "bad", poison_buckets=True)
    with open_store(bad) as store:
        with pytest.raises(StoreError, match=r"subwords\.npy: the n-grams of 'kingdom' holds? NaN"):
            store.similar("kingdom")
        assert store.similar("king", k=2).neighbors  # in-vocabulary words do not need the n-grams


def test_constant_scores_have_no_correlation(toy_store: Path, tmp_path: Path) -> None:
    # Failed before: spearman and pearson came out NaN (with a scipy warning), exit 0.
    pairs = tmp_path / "constant.tsv"
    pairs.write_text("king\tqueen\t5\nman\twoman\t5\napple\tpear\t5\n", encoding="utf-8")
    with open_store(toy_store) as store:
        with pytest.raises(SourceError, match="every human score is 5"):
            evaluate_pairs(store, pairs)
        same = tmp_path / "same.tsv"
        same.write_text("king\tking\t1\nman\tman\t2\napple\tapple\t3\n", encoding="utf-8")
        with pytest.raises(QueryError, match="same cosine"):
            evaluate_pairs(store, same)


def test_training_that_diverges_is_an_error(tiny, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    import embedsearch.training as training

    real = training._train_backend

    def diverged(*args, **kwargs):
        trained, config = real(*args, **kwargs)
        trained.vectors[0, 0] = np.nan
        return trained, config

    monkeypatch.setattr(training, "_train_backend", diverged)
    config = embedsearch.TrainConfig(dim=8, epochs=1, min_count=1, workers=1)
    with pytest.raises(TrainingError, match="diverged.*lower --alpha"):
        embedsearch.train(tiny["corpus"], tmp_path / "store", config=config, contexts=0)
    assert list(tmp_path.iterdir()) == []


def test_memory_estimate_fails_early(tiny, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    import embedsearch.resources as resources

    monkeypatch.setattr(resources, "available_memory", lambda: 1024)
    config = embedsearch.TrainConfig(dim=8, epochs=1, min_count=1, workers=1)
    with pytest.raises(ResourceError, match=r"training \(up to 22 words x 8 dims\) needs ~.* of memory; this machine "
                                            r"has 1\.0 KiB available"):
        embedsearch.train(tiny["corpus"], tmp_path / "store", config=config)
    assert list(tmp_path.iterdir()) == []
