"""Index choice: exact and approximate search, measured recall that holds, overrides, reindex."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import embedsearch
from embedsearch.errors import ConfigError
from embedsearch.store import write_store
from embedsearch.store.index import IndexOptions, choose_kind, exact_top_k
from embedsearch.store.reindex import reindex

from .conftest import store_file


def embedding_like(count: int, dim: int, seed: int = 0) -> np.ndarray:
    """Low intrinsic dimension plus clusters, like real embeddings (isotropic noise is the wrong test)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((64, 12))
    latent = centres[rng.integers(0, 64, count)] + 0.6 * rng.standard_normal((count, 12))
    rows = latent @ rng.standard_normal((12, dim)) + 0.05 * rng.standard_normal((count, dim))
    return rows.astype(np.float32)


WORDS = [f"w{i}" for i in range(12_000)]
VECTORS = embedding_like(len(WORDS), 32)


def make_store(path: Path, kind: str, target: float = 0.9) -> Path:
    write_store(path, words=WORDS, counts=[1] * len(WORDS), vectors=VECTORS, model={}, pipeline=None,
                index=IndexOptions(kind=kind, target_recall=target))
    return path


def observed_recall(store: embedsearch.Store, rows: np.ndarray) -> float:
    """recall@10 of store.similar against exact search, on rows the build did not necessarily sample."""
    vectors = np.asarray(store.vectors)
    _, truth = exact_top_k(vectors, vectors[rows], 11)
    hits = 0
    for row, exact in zip(rows, truth):
        expected = {f"w{i}" for i in exact if i != row}
        found = {n.word for n in store.similar(f"w{row}", k=10).neighbors}
        hits += len(found & set(list(expected)[:10]) if len(expected) > 10 else found & expected)
    return hits / (10 * len(rows))


@pytest.mark.parametrize("kind", ["hnsw", "ivf", "ivfpq"])
def test_approximate_index_reaches_and_keeps_its_measured_recall(tmp_path: Path, kind: str):
    path = make_store(tmp_path / kind, kind)
    with embedsearch.open_store(path) as store:
        meta = store.info().index
        assert meta["kind"] == kind and not meta["exact"] and (store_file(path, "index.faiss")).exists()
        assert meta["recall_at_10"] >= 0.9 and meta["recall_sample"] == 1000
        rows = np.random.default_rng(99).choice(len(WORDS), 150, replace=False)
        assert observed_recall(store, rows) >= meta["recall_at_10"] - 0.05  # an independent sample agrees
        result = store.similar("w5", k=5)
        assert result.search.index == kind and result.search.recall_at_10 == meta["recall_at_10"]
        scores = [n.score for n in result.neighbors]
        exact = np.asarray(store.vectors[[int(n.word[1:]) for n in result.neighbors]]) @ np.asarray(store.vectors[5])
        np.testing.assert_allclose(scores, exact, atol=1e-5)  # reported scores are true cosines


def test_flat_is_exact_and_auto_chooses_by_size(tmp_path: Path):
    assert choose_kind(50_000, 100)[0] == "flat" and choose_kind(2_000_000, 100)[0] in ("hnsw", "ivfpq")
    path = make_store(tmp_path / "auto", "auto")
    with embedsearch.open_store(path) as store:
        info = store.info().index
        assert info["kind"] == "flat" and info["exact"] and "auto_reason" in info
        assert store.similar("w1").search.recall_at_10 == 1.0


def test_search_overrides_are_checked_and_drop_the_recall_claim(tmp_path: Path):
    path = make_store(tmp_path / "h", "hnsw")
    with embedsearch.open_store(path) as store:
        store.set_search(ef_search=16)
        assert store.similar("w3", k=3).search.recall_at_10 is None
        with pytest.raises(ConfigError, match="nprobe applies to ivf"):
            store.set_search(nprobe=4)
        store.set_search()
        assert store.similar("w3", k=3).search.recall_at_10 is not None


def test_analogies_with_an_approximate_index_match_exact_ones(tmp_path: Path):
    flat = make_store(tmp_path / "flat", "flat")
    hnsw = make_store(tmp_path / "hnsw", "hnsw", target=0.97)
    agree = 0
    with embedsearch.open_store(flat) as exact, embedsearch.open_store(hnsw) as approx:
        for a, b, c in [(1, 2, 3), (10, 20, 30), (100, 200, 300), (7, 70, 700), (5, 50, 500)]:
            for method in ("3cosadd", "3cosmul"):
                want = exact.analogy(f"w{a}", f"w{b}", f"w{c}", k=1, method=method).neighbors[0].word
                got = approx.analogy(f"w{a}", f"w{b}", f"w{c}", k=1, method=method).neighbors[0].word
                agree += want == got
    assert agree >= 9  # of 10: candidate pools rescored exactly


def test_reindex_swaps_the_index_and_keeps_everything_else(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = make_store(tmp_path / "s", "flat")
    before = (store_file(path, "vectors.npy")).read_bytes()
    meta = reindex(path, IndexOptions(kind="ivf", target_recall=0.9))
    assert meta["kind"] == "ivf"
    with embedsearch.open_store(path) as store:
        assert store.info().index["kind"] == "ivf" and len(store) == len(WORDS)
    assert (store_file(path, "vectors.npy")).read_bytes() == before
    from embedsearch.store import reindex as module

    monkeypatch.setattr(module, "build_index", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom")))
    with pytest.raises(RuntimeError, match="boom"):
        reindex(path, IndexOptions(kind="hnsw"))
    with embedsearch.open_store(path) as store:  # the failed rebuild left the ivf store intact
        assert store.info().index["kind"] == "ivf"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]
    monkeypatch.undo()
    reindex(path, IndexOptions(kind="flat"))
    assert not (store_file(path, "index.faiss")).exists()


def test_exact_search_of_a_flat_store_does_not_import_faiss(tmp_path: Path):
    path = make_store(tmp_path / "flat", "flat")
    script = (
        "import sys, embedsearch\n"
        f"s = embedsearch.open_store({str(path)!r}); s.similar('w1'); s.analogy('w1', 'w2', 'w3', method='3cosmul')\n"
        "print('faiss' in sys.modules)\n"
    )
    assert subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.strip() == "False"


def test_exact_top_k_blocks_agree_with_a_full_sort(monkeypatch: pytest.MonkeyPatch):
    from embedsearch.store import index

    monkeypatch.setattr(index, "_FLAT_BLOCK", 1000)  # many blocks
    rows = VECTORS / np.linalg.norm(VECTORS, axis=1, keepdims=True)
    scores, ids = exact_top_k(rows, rows[:7], 12)
    full = rows[:7] @ rows.T
    np.testing.assert_array_equal(ids, np.argsort(-full, axis=1, kind="stable")[:, :12])
    np.testing.assert_allclose(scores, np.sort(full, axis=1)[:, ::-1][:, :12], rtol=1e-6)


def test_batched_exact_search_equals_one_query_at_a_time():
    from embedsearch.store import index

    rows = VECTORS / np.linalg.norm(VECTORS, axis=1, keepdims=True)
    queries = rows[::211]
    assert len(queries) >= index._BATCH_QUERIES  # the batch path (FAISS), checked against the numpy one
    scores, ids = exact_top_k(rows, queries, 11)
    for query, got_scores, got_ids in zip(queries, scores, ids):
        one_scores, one_ids = exact_top_k(rows, query[None, :], 11)
        np.testing.assert_array_equal(got_ids, one_ids[0])
        np.testing.assert_allclose(got_scores, one_scores[0], atol=1e-6)


def test_equal_scores_come_in_row_order_on_both_paths():
    # Small integer vectors: every dot product is exact in float32 whatever the summation order,
    # and most scores tie, so the tie order is what is being tested.
    rows = np.random.default_rng(3).integers(0, 3, size=(3000, 6)).astype(np.float32)
    queries = rows[:40]
    scores, ids = exact_top_k(rows, queries, 25)
    for query, got_scores, got_ids in zip(queries, scores, ids):
        full = rows @ query
        np.testing.assert_array_equal(got_scores, np.sort(full)[::-1][:25])
        key = list(zip(-got_scores, got_ids))
        assert key == sorted(key)  # best first, equal scores by row number
        one_scores, one_ids = exact_top_k(rows, query[None, :], 25)
        np.testing.assert_array_equal(one_scores[0], got_scores)
        tied = got_scores == got_scores[-1]  # which of the rows tied at the cut-off get in may differ
        np.testing.assert_array_equal(one_ids[0][~tied], got_ids[~tied])


@pytest.mark.parametrize("copies", [40, 100])  # 100: past the tie pool too, so a pass over all rows
@pytest.mark.parametrize("queries,block", [(1, None), (7, None), (7, 1000), (40, None)])
def test_a_run_of_equal_rows_longer_than_the_margin_is_returned_in_row_order(
        monkeypatch: pytest.MonkeyPatch, queries: int, block: int | None, copies: int):
    """Equal unit rows tie exactly, but a float32 GEMM may round them differently by position; every
    path (one query, blocks, FAISS's batch) must still return the lowest rows of the run, in order."""
    from embedsearch.store import index

    if block is not None:
        monkeypatch.setattr(index, "_FLAT_BLOCK", block)
    rng = np.random.default_rng(4099 + queries)
    rows = rng.standard_normal((4099, 8)).astype(np.float32)
    rows[2049 : 2049 + copies] = rows[3]  # a run far longer than SCORE_MARGIN
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    asked = np.vstack([rows[3], rng.standard_normal((queries - 1, 8))]).astype(np.float32)[:queries]
    asked /= np.linalg.norm(asked, axis=1, keepdims=True)
    scores, ids = exact_top_k(rows, asked, 25)
    for query, got in zip(asked, ids):
        every = (rows.astype(np.float64) @ query.astype(np.float64)).astype(np.float32)
        assert got.tolist() == np.lexsort((np.arange(len(rows)), -every))[:25].tolist()
    assert ids[0].tolist() == [3, *range(2049, 2073)]

