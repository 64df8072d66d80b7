"""FastText: training in a child process, out-of-vocabulary vectors equal to fastText's own."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import embedsearch
from embedsearch.errors import ConfigError, EmptyCorpusError, QueryError, SourceError, UnknownWordError
from embedsearch.formats import detect_format, import_vectors
from embedsearch.store.subwords import char_ngrams, fasttext_hash


fasttext = pytest.importorskip("fasttext")

# fastText 0.9.3 diverges (NaN) at small dimensions, depending even on path lengths (seen at <= 16 with
# subwords, <= 50 without): these tests stay well above that.
TINY = {"model": "fasttext", "dim": 50, "epochs": 2, "min_count": 3, "workers": 1, "bucket": 5000}


@pytest.fixture(scope="module")
def ft_store(tmp_path_factory: pytest.TempPathFactory, lee_corpus) -> Path:
    path = tmp_path_factory.mktemp("ft") / "store"
    embedsearch.train(lee_corpus, path, config=embedsearch.TrainConfig(**TINY))
    return path


@pytest.fixture(scope="module")
def ft_model_file(tmp_path_factory: pytest.TempPathFactory, lee_corpus) -> Path:
    # In its own process: a second train_unsupervised in one process ends in "Encountered NaN" (fasttext 0.9.3).
    return _train_fasttext(lee_corpus, tmp_path_factory.mktemp("ftbin") / "model.bin", bucket=3000, threads=1)


def _train_fasttext(corpus, path: Path, *, bucket: int, threads: int) -> Path:
    """A fastText skip-gram model (50 dims, 1 epoch) of ``corpus``, trained by fastText itself in a
    process of its own and saved to ``path``."""
    script = (
        "import fasttext, sys\n"
        "m = fasttext.train_unsupervised(sys.argv[1], model='skipgram', dim=50, epoch=1, minCount=3,"
        " bucket=int(sys.argv[3]), thread=int(sys.argv[4]), verbose=0)\n"
        "m.save_model(sys.argv[2])\n"
    )
    subprocess.run([sys.executable, "-c", script, str(corpus.text_path), str(path), str(bucket), str(threads)], check=True)
    return path


def test_ngrams_follow_fasttext_rules():
    assert char_ngrams("ab", 3, 4) == [b"<ab", b"<ab>", b"ab>"]
    assert char_ngrams("é", 1, 2) == ["<é".encode(), "é".encode(), "é>".encode()]  # edges alone are skipped
    assert fasttext_hash(b"") == 2166136261
    assert fasttext_hash(b"a") == 3826002220  # FNV-1a("a")
    assert fasttext_hash("é".encode()) != fasttext_hash(b"\x00\xa9")  # high bytes are sign-extended


def test_trained_store_has_subwords_and_answers_unknown_words(ft_store: Path, lee_corpus):
    with embedsearch.open_store(ft_store) as store:
        info = store.info()
        assert info.model["kind"] == "fasttext" and info.model["params"]["bucket"] == 5000
        assert "subwords.npy" in info.files and "</s>" not in store
        result = store.similar("governmentt", k=3)
        assert result.terms[0].oov == ["governmentt"] and len(result.neighbors) == 3
        in_vocab = store.similar("government", k=3)
        assert in_vocab.terms[0].oov == []
        analogy = store.analogy("man", "he", "womann", k=2)
        assert analogy.oov == ["womann"]
        assert -1 <= store.similarity("police", "policemen").score <= 1


def test_vectors_equal_fasttext_for_known_and_unknown_words(ft_model_file: Path, tmp_path: Path):
    assert detect_format(ft_model_file) == "fasttext-bin"
    report = import_vectors(ft_model_file, tmp_path / "store")
    model = fasttext.load_model(str(ft_model_file))
    assert report.words == len(model.words) - 1  # "</s>" is not a word
    with embedsearch.open_store(tmp_path / "store") as store:
        for word in ["government", "the", "police", "governmentt", "xyzzy", "한국어", "naïve", "a", "ünïcödé-wörd"]:
            np.testing.assert_array_equal(store.raw_vector(word), model.get_word_vector(word), err_msg=word)
        row = store.word_id("government")
        expected = model.get_word_vector("government")
        np.testing.assert_allclose(np.asarray(store.vectors[row]), expected / np.linalg.norm(expected), atol=1e-6)


def test_one_process_trains_many_models(tmp_path: Path, lee_corpus, ft_store: Path):
    # In one process fastText's second training ends in "Encountered NaN"; each of ours has its own process.
    config = embedsearch.TrainConfig(**{**TINY, "maxn": 0, "dim": 100})  # without subwords 0.9.3 needs ~100
    embedsearch.train(lee_corpus, tmp_path / "plain", config=config)
    with embedsearch.open_store(tmp_path / "plain") as store:
        assert np.isfinite(np.asarray(store.vectors)).all()
        with pytest.raises(UnknownWordError):
            store.similar("governmentt")


def test_failures_are_clear_and_leave_no_store(tmp_path: Path, lee_corpus):
    with pytest.raises(EmptyCorpusError, match="min"):
        embedsearch.train(lee_corpus, tmp_path / "s", config=embedsearch.TrainConfig(**{**TINY, "min_count": 10**8}))
    assert not (tmp_path / "s").exists() and list(tmp_path.iterdir()) == []
    with pytest.raises(ConfigError, match="minn <= maxn"):
        embedsearch.TrainConfig(**{**TINY, "minn": 5, "maxn": 3})
    (tmp_path / "fake.bin").write_bytes((793712314).to_bytes(4, "little") + b"\x00" * 100)
    with pytest.raises(SourceError, match="fastText format version 0 is not supported"):
        import_vectors(tmp_path / "fake.bin", tmp_path / "t")


def test_evaluate_pairs_through_subwords(ft_store: Path, tmp_path: Path):
    from embedsearch.evaluate import evaluate_pairs

    pairs = tmp_path / "p.txt"
    pairs.write_text("government\tminister\t8\npolice\tofficers\t7\nfire\tday\t2\ngovernmentt\tpolicee\t5\n",
                     encoding="utf-8")
    with embedsearch.open_store(ft_store) as store:
        skipped = evaluate_pairs(store, pairs)
        scored = evaluate_pairs(store, pairs, subwords=True)
    assert (skipped.pairs, skipped.oov_pairs) == (3, 1)
    assert (scored.pairs, scored.oov_pairs) == (4, 0)


def test_word2vec_store_has_no_raw_vectors(lee_store: Path):
    with embedsearch.open_store(lee_store) as store:
        with pytest.raises(QueryError, match="no subword data"):
            store.raw_vector("government")


OOV_WORDS = ["governmentt", "xyzzy", "qqqqzzzzjjj", "한국어", "naïve", "ünïcödé-wörd", "a", "zz"]


@pytest.fixture(scope="module")
def ft_big_bucket_file(tmp_path_factory: pytest.TempPathFactory, lee_corpus) -> Path:
    """A model with far more buckets than its vocabulary touches, trained on 2 threads."""
    return _train_fasttext(lee_corpus, tmp_path_factory.mktemp("ftbig") / "model.bin", bucket=200_000, threads=2)


def test_store_keeps_only_touched_rows_and_stays_exact(ft_big_bucket_file: Path, tmp_path: Path):
    import_vectors(ft_big_bucket_file, tmp_path / "store")
    model = fasttext.load_model(str(ft_big_bucket_file))
    full = model.get_input_matrix()
    with embedsearch.open_store(tmp_path / "store") as store:
        sub = store.subwords
        assert sub is not None and sub.rows is not None and sub.init_threads == 2
        assert sub.matrix.shape[0] < full.shape[0] // 5  # ~28k of 203k rows
        stored = store.info().files["subwords.npy"]
        assert 0 < stored < full.nbytes // 5
        # bit for bit, every vocabulary word and unseen ones: the same float32 sums as fastText's
        for word in OOV_WORDS + [w for w in model.words if w != "</s>"]:
            np.testing.assert_array_equal(store.raw_vector(word), model.get_word_vector(word), err_msg=word)
        # rows not stored are recomputed bit for bit: fastText's initial values (random, then zero)
        untouched = np.setdiff1d(np.arange(full.shape[0]), np.asarray(sub.rows))
        probe = untouched[:: max(1, len(untouched) // 2000)]
        assert np.array_equal(sub.input_rows(list(probe)), full[probe])
        assert np.any(full[probe] != 0) and np.any(np.all(full[probe] == 0, axis=1))  # both kinds probed


def test_trained_store_is_compact(ft_store: Path):
    with embedsearch.open_store(ft_store) as store:
        sub = store.subwords
        assert sub is not None and sub.rows is not None  # 5000 buckets: nearly all touched
        assert sub.matrix.shape[0] == len(sub.rows) < sub.nwords + sub.bucket
        assert store.info().files["subword_rows.npy"] > 0


def test_compaction_refuses_a_matrix_it_cannot_recompute():
    from embedsearch.store.subwords import compact_matrix, initial_rows

    words = ["</s>", "cat", "dog"]
    total = len(words) + 5000
    matrix = initial_rows(np.arange(total), dim=20, total_rows=total, threads=2)
    assert compact_matrix(matrix, words, minn=3, maxn=6, bucket=5000) is not None
    changed = matrix.copy()
    changed[-1] += 0.5  # an untouched row that is not fastText's initial value
    changed[1000:4000] += 0.5
    assert compact_matrix(changed, words, minn=3, maxn=6, bucket=5000) is None


def test_damaged_row_table_is_a_clear_error(ft_store: Path):
    """The metadata's own checksum catches edits on open; the subword checks catch what gets past it."""
    from embedsearch.store.subwords import SubwordModel

    with embedsearch.open_store(ft_store) as store:
        sub = store.subwords
        meta = dict(store.meta["subwords"])
        matrix, rows = np.asarray(sub.matrix), np.asarray(sub.rows)
    assert SubwordModel.from_meta(matrix, meta, rows).rows is not None
    bad_cases = [
        ({**meta, "init": {**meta["init"], "rows": meta["init"]["rows"] + 1}}, matrix, rows, "init rows"),
        (meta, matrix, rows[::-1].copy(), "increasing"),
        (meta, matrix, rows[:-1], "one integer per row"),
        (meta, matrix, rows.astype(np.float32), "one integer per row"),
        (meta, matrix, np.concatenate([rows[:1], rows[2:], [rows[-1] + 10**9]]), "increasing and below"),
        (meta, matrix, None, "row table"),
        ({**meta, "nwords": -1}, matrix, rows, "negative"),
    ]
    for bad_meta, bad_matrix, bad_rows, message in bad_cases:
        with pytest.raises(embedsearch.StoreError, match=message):
            SubwordModel.from_meta(bad_matrix, bad_meta, bad_rows)


def test_vector_and_getitem_answer_unknown_words_from_subwords(ft_store: Path):
    with embedsearch.open_store(ft_store) as store:
        raw = store.raw_vector("governmentt")
        np.testing.assert_allclose(store.vector("governmentt"), raw / np.linalg.norm(raw), atol=1e-7)
        np.testing.assert_allclose(store["governmentt"], store.vector("governmentt"), atol=0)
        query = store.similar("governmentt", k=3)
        assert [w for w, _ in store.most_similar(positive=["governmentt"], topn=3)] == [n.word for n in query.neighbors]


def test_plain_output_marks_words_built_from_subwords(ft_store: Path):
    from click.testing import CliRunner

    from embedsearch.cli import main

    result = CliRunner().invoke(main, ["similar", "-s", str(ft_store), "governmentt", "-k", "2"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "  (governmentt: not in the vocabulary, built from subwords)"
    assert len(result.stdout.splitlines()) == 3
    known = CliRunner().invoke(main, ["similar", "-s", str(ft_store), "government", "-k", "2"])
    assert "subwords" not in known.stdout and len(known.stdout.splitlines()) == 2
    pair = CliRunner().invoke(main, ["similarity", "-s", str(ft_store), "governmentt", "police"])
    assert pair.exit_code == 0 and "governmentt: not in the vocabulary, built from subwords" in pair.stdout
    float(pair.stdout.splitlines()[0])  # the score stays alone on the first line
