"""Batch export: neighbours equal single queries, unknown words marked, memory bounded by the batch."""
from __future__ import annotations

import io
import json
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import embedsearch
from embedsearch.batch import (
    neighbors_of,
    pair_similarities,
    read_pairs,
    write_neighbors,
    write_similarities,
)
from embedsearch.cli import main
from embedsearch.errors import ConfigError, SourceError
from embedsearch.store import write_store
from embedsearch.store.index import IndexOptions


def test_whole_vocabulary_equals_single_queries(lee_store: Path):
    with embedsearch.open_store(lee_store) as store:
        rows = list(neighbors_of(store, k=5, batch_size=97))  # odd batch size: edges exercised
        assert [r.word for r in rows] == store.vocabulary()
        for row in rows[:: max(1, len(rows) // 60)]:
            single = store.similar(row.word, k=5).neighbors
            assert [n.word for n in row.neighbors] == [n.word for n in single]
            np.testing.assert_allclose([n.score for n in row.neighbors], [n.score for n in single], atol=1e-5)


def test_scores_are_the_same_bits_on_one_thread_or_two_and_alone_or_in_a_batch(lee_store: Path):
    """A float32 GEMM's last bits depend on how many threads split it (FAISS's BLAS on one thread
    and on two disagreed on 12 of the Lee store's 2,859 rows): a Dask worker, limited to one BLAS
    thread, then exported other bytes than a local run. Rescored, every path gives one answer."""
    import faiss  # noqa: F401  (loaded first, so that threadpool_limits reaches its BLAS too)
    from threadpoolctl import threadpool_limits

    with embedsearch.open_store(lee_store) as store:
        runs = {}
        for threads in (1, 2):
            with threadpool_limits(limits=threads):
                runs[threads] = list(neighbors_of(store, k=5, batch_size=256))
        assert runs[1] == runs[2]
        vocabulary = store.vocabulary()
        for number in range(0, len(store), 50):  # one query alone takes numpy's path, not FAISS's
            scores, ids = store.search_vectors(np.asarray(store.vectors[number : number + 1]), 6)
            alone = [(vocabulary[i], s) for i, s in zip(ids[0].tolist(), scores[0].tolist()) if i != number][:5]
            assert alone == [(n.word, n.score) for n in runs[2][number].neighbors]


def test_word_lists_go_through_the_pipeline_and_mark_unknown_words(toy_store: Path):
    with embedsearch.open_store(toy_store) as store:
        rows = list(neighbors_of(store, ["Apple", "nosuchword", "new york"], k=2))
    assert [(r.word, r.known) for r in rows] == [("Apple", True), ("nosuchword", False), ("new york", True)]
    assert [n.word for n in rows[0].neighbors] == ["pear", "new"]
    assert "new" not in [n.word for n in rows[2].neighbors] and "york" not in [n.word for n in rows[2].neighbors]


def test_min_score_and_bad_arguments(toy_store: Path):
    with embedsearch.open_store(toy_store) as store:
        rows = list(neighbors_of(store, ["apple"], k=9, min_score=0.5))
        assert [n.word for n in rows[0].neighbors] == ["pear"]
        with pytest.raises(ConfigError):
            list(neighbors_of(store, k=0))


def test_memory_is_bounded_by_the_batch_not_the_vocabulary(tmp_path: Path):
    count, dim = 20_000, 16
    vectors = np.random.default_rng(0).standard_normal((count, dim)).astype(np.float32)
    write_store(tmp_path / "s", words=[f"w{i}" for i in range(count)], counts=[1] * count, vectors=vectors,
                model={}, pipeline=None, index=IndexOptions("flat"))
    with embedsearch.open_store(tmp_path / "s") as store:
        store.vocabulary()
        tracemalloc.start()
        seen = sum(1 for _ in neighbors_of(store, k=10, batch_size=256))
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert seen == count
    assert peak < 100 * 2**20, f"peak {peak / 2**20:.0f} MiB; a V x V score matrix would be {count * count * 4 / 2**30:.1f} GiB"


def test_pairs_are_read_in_any_shape_and_unknown_words_marked(toy_store: Path, tmp_path: Path):
    path = tmp_path / "pairs.txt"
    path.write_text("\ufeff# comment\nApple\tpear\t9.5\nking,queen\ncar new\nzzz apple\n", encoding="utf-8")
    pairs = list(read_pairs(path))
    assert pairs == [("Apple", "pear"), ("king", "queen"), ("car", "new"), ("zzz", "apple")]
    with embedsearch.open_store(toy_store) as store:
        rows = list(pair_similarities(store, pairs))
    assert rows[0].score == pytest.approx(1.02 / np.sqrt(1.01 * 1.04), abs=1e-6)
    assert rows[1].score == pytest.approx(0.0, abs=1e-6)
    assert rows[3].score is None and rows[3].oov == ["zzz"]
    out = io.StringIO()
    assert write_similarities(rows, out, "jsonl") == 4
    assert json.loads(out.getvalue().splitlines()[3]) == {"first": "zzz", "second": "apple", "score": None, "oov": ["zzz"]}
    with pytest.raises(SourceError, match="no such pairs file"):
        list(read_pairs(tmp_path / "none"))


def test_writers_formats(toy_store: Path):
    with embedsearch.open_store(toy_store) as store:
        rows = list(neighbors_of(store, ["apple", "zzz"], k=2))
    tsv, csv_out, jsonl = io.StringIO(), io.StringIO(), io.StringIO()
    write_neighbors(rows, tsv, "tsv")
    write_neighbors(rows, csv_out, "csv")
    write_neighbors(rows, jsonl, "jsonl")
    header, first = tsv.getvalue().splitlines()[:2]
    assert header == "word\trank\tneighbor\tscore" and first.split("\t")[:3] == ["apple", "1", "pear"]
    assert float(first.split("\t")[3]) == pytest.approx(1.02 / np.sqrt(1.01 * 1.04), abs=1e-6)
    assert csv_out.getvalue().splitlines()[-1] == "zzz,,,"
    assert json.loads(jsonl.getvalue().splitlines()[1]) == {"word": "zzz", "known": False, "neighbors": []}
    with pytest.raises(ConfigError):
        write_neighbors(rows, io.StringIO(), "xml")


def test_cli_export_neighbors_and_similarities(toy_store: Path, tmp_path: Path):
    runner = CliRunner()
    out = tmp_path / "n.tsv"
    result = runner.invoke(main, ["-q", "export", "neighbors", "-s", str(toy_store), "-k", "1", "-o", str(out)])
    assert result.exit_code == 0 and "10 word(s) written" in result.stderr
    assert out.read_text(encoding="utf-8").splitlines()[1:3] == [f"king\t1\tman\t{1.1 / np.sqrt(2 * 1.01):.6f}", f"queen\t1\twoman\t{1.1 / np.sqrt(2 * 1.01):.6f}"]
    words = tmp_path / "w.txt"
    words.write_text("apple\n\nzzz\n", encoding="utf-8")
    result = runner.invoke(main, ["export", "neighbors", "-s", str(toy_store), "--words", str(words), "--format", "jsonl"])
    assert [json.loads(line)["known"] for line in result.stdout.splitlines()] == [True, False]
    both = runner.invoke(main, ["export", "neighbors", "-s", str(toy_store), "--words", str(words), "--all"])
    assert both.exit_code == 2
    pairs = tmp_path / "p.tsv"
    pairs.write_text("apple\tpear\nzzz\tapple\n", encoding="utf-8")
    result = runner.invoke(main, ["export", "similarities", "-s", str(toy_store), str(pairs), "--format", "csv"])
    lines = result.stdout.splitlines()
    assert result.exit_code == 0 and lines[1].startswith("apple,pear,0.99522") and lines[2] == "zzz,apple,,zzz"


def test_exporting_a_large_store_never_holds_a_square_score_matrix(tmp_path: Path):
    # Peak resident memory of a child process, so allocations inside FAISS and BLAS count too
    # (tracemalloc above sees only numpy's). 40,000 words: V x V scores would be 6.4 GB, and even one
    # batch's full score rows (1,024 x 40,000) 164 MB.
    import subprocess
    import sys

    count, dim = 40_000, 16
    vectors = np.random.default_rng(1).standard_normal((count, dim)).astype(np.float32)
    write_store(tmp_path / "s", words=[f"w{i}" for i in range(count)], counts=[1] * count, vectors=vectors,
                model={}, pipeline=None, index=IndexOptions("flat"))
    script = (
        "import resource, sys, embedsearch, faiss\n"
        "from embedsearch.batch import neighbors_of\n"
        f"store = embedsearch.open_store({str(tmp_path / 's')!r}); store.vocabulary()\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "seen = sum(1 for r in neighbors_of(store, k=10) if len(r.neighbors) == 10)\n"
        "print(seen, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)\n"
    )
    seen, grown_mib = map(int, subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                                              check=True).stdout.split())
    assert seen == count
    assert grown_mib < 100, f"peak resident memory grew by {grown_mib} MiB during the export"
