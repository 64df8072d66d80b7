"""Post-processing (center, all-but-the-top) applied consistently: stored rows, query-path vectors, metadata;
and w + c for Word2Vec."""
from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import embedsearch
from embedsearch.cli import main
from embedsearch.errors import ConfigError, StoreError
from embedsearch.store.postprocess import Postprocess, apply, fit, parse_postprocess
from embedsearch.store.reindex import reindex
from embedsearch.store.index import IndexOptions
from embedsearch.store.writer import seal_meta

from .conftest import LEE_TRAIN, store_file


def test_spec_parsing():
    assert parse_postprocess(None) is None and parse_postprocess("none") is None
    assert parse_postprocess("center") == Postprocess("center")
    assert parse_postprocess("ABTT:3") == Postprocess("abtt", 3)
    for bad in ("abtt", "abtt:0", "abtt:-1", "abtt:x", "center:1", "pca", "abtt:1000"):
        with pytest.raises(ConfigError):
            parse_postprocess(bad)


def test_fit_and_apply_remove_the_mean_and_the_top_directions():
    rng = np.random.default_rng(3)
    common = rng.normal(size=16)
    dominant = rng.normal(size=16)
    rows = rng.normal(size=(500, 16)) + 4 * common + rng.normal(size=(500, 1)) * 3 * dominant
    units = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    centred = apply(units, fit(units.astype(np.float32), Postprocess("center")))
    np.testing.assert_allclose(np.linalg.norm(centred, axis=1), 1.0, atol=1e-5)
    assert abs(float(np.mean(units @ units.T))) > 0.5 > abs(float(np.mean(centred @ centred.T)))
    params = fit(units.astype(np.float32), Postprocess("abtt", 2))
    assert params.shape == (3, 16) and params.dtype == np.float32
    np.testing.assert_allclose(params[1:] @ params[1:].T, np.eye(2), atol=1e-5)
    out = apply(units, params)
    assert np.abs(out @ params[1:].T).max() < 1e-4  # nothing left along the removed directions
    # The top direction is the planted one, up to the mean's part of it.
    planted = dominant / np.linalg.norm(dominant)
    assert abs(float(params[1] @ planted)) > 0.6
    # One vector, any length, gets the same place as its row; zero rows stay zero.
    np.testing.assert_allclose(apply(rows[7] * 5.0, params), out[7], atol=1e-6)
    assert not apply(np.zeros((2, 16)), params).any()


@pytest.fixture(scope="module")
def processed_w2v(tmp_path_factory: pytest.TempPathFactory, lee_corpus, lee_store: Path) -> Path:
    path = tmp_path_factory.mktemp("post") / "store"
    embedsearch.train(lee_corpus, path, config=embedsearch.TrainConfig(**LEE_TRAIN), postprocess="abtt:2", contexts=0)
    return path


def test_trained_store_records_and_applies_it(processed_w2v: Path, lee_store: Path):
    with embedsearch.open_store(processed_w2v) as store, embedsearch.open_store(lee_store) as plain:
        assert store.meta["postprocess"] == {"method": "abtt", "directions": 2, "file": "postprocess.npy"}
        assert "postprocess.npy" in store.info().files
        rows = np.asarray(store.vectors)
        # Same training (1 worker, fixed seed): the stored rows are the plain store's rows, post-processed.
        params = fit(np.asarray(plain.vectors), Postprocess("abtt", 2))
        np.testing.assert_allclose(rows, apply(np.asarray(plain.vectors), params), atol=1e-5)
        assert abs(float(rows.mean(axis=0) @ params[1])) < 1e-3
        assert float(np.linalg.norm(rows.mean(axis=0))) < float(np.linalg.norm(np.asarray(plain.vectors).mean(axis=0)))
        # An in-vocabulary word's query-path vector is its stored row.
        word = store.vocabulary()[10]
        np.testing.assert_array_equal(store.resolve(word)[1], rows[10])
        np.testing.assert_array_equal(store[word], rows[10])


def test_reindex_post_processes_once_and_equals_training_with_it(processed_w2v: Path, lee_store: Path, tmp_path: Path):
    path = tmp_path / "store"
    shutil.copytree(lee_store, path, symlinks=True)
    reindex(path, IndexOptions("flat"), postprocess="abtt:2")
    with embedsearch.open_store(path) as store, embedsearch.open_store(processed_w2v) as trained:
        np.testing.assert_allclose(np.asarray(store.vectors), np.asarray(trained.vectors), atol=1e-5)
        assert [n.word for n in store.similar("police", k=5).neighbors] == \
            [n.word for n in trained.similar("police", k=5).neighbors]
    with pytest.raises(ConfigError, match="already post-processed"):
        reindex(path, IndexOptions("flat"), postprocess="center")
    reindex(path, IndexOptions("hnsw", target_recall=0.5))  # a new index alone keeps the post-processing
    with embedsearch.open_store(path) as store:
        assert store.meta["postprocess"]["directions"] == 2 and store.meta["index"]["kind"] == "hnsw"


@pytest.fixture(scope="module")
def ft_model_file(tmp_path_factory: pytest.TempPathFactory, lee_corpus) -> Path:
    import subprocess
    import sys

    pytest.importorskip("fasttext")
    path = tmp_path_factory.mktemp("ftbin") / "model.bin"
    script = ("import fasttext, sys\n"
              "m = fasttext.train_unsupervised(sys.argv[1], model='skipgram', dim=50, epoch=1, minCount=3, bucket=3000,"
              " thread=1, verbose=0)\n"
              "m.save_model(sys.argv[2])\n")
    subprocess.run([sys.executable, "-c", script, str(lee_corpus.text_path), str(path)], check=True)
    return path


@pytest.mark.parametrize("spec", ["center", "abtt:3"])
def test_fasttext_unseen_words_land_where_seen_words_do(ft_model_file: Path, tmp_path: Path, spec: str):
    result = CliRunner().invoke(main, ["-q", "import", str(ft_model_file), "-o", str(tmp_path / "store"),
                                       "--postprocess", spec])
    assert result.exit_code == 0, result.output
    model = pytest.importorskip("fasttext").load_model(str(ft_model_file))
    with embedsearch.open_store(tmp_path / "store") as store:
        params = store._files.postprocess
        assert params.shape == (1 + int(spec.partition(":")[2] or 0), 50)
        rows = np.asarray(store.vectors)
        # A seen word, rebuilt from its subwords as an unseen word is, lands on its stored row.
        for word in ["government", "police", "the"]:
            row = store.word_id(word)
            np.testing.assert_allclose(store.placed(store.subwords.vector(word, row)), rows[row], atol=1e-5)
            np.testing.assert_array_equal(store.raw_vector(word), model.get_word_vector(word))  # raw stays fastText's
        # An unseen word gets fastText's vector, post-processed the same way, on every query path.
        expected = apply(model.get_word_vector("governmentt"), params)
        np.testing.assert_allclose(store.vector("governmentt"), expected, atol=1e-6)
        np.testing.assert_allclose(store.resolve("governmentt")[1], expected, atol=1e-6)
        top = store.similar("governmentt", k=1).neighbors[0]
        np.testing.assert_allclose(top.score, float(rows[store.word_id(top.word)] @ expected), atol=1e-5)
        pair = store.similarity("governmentt", "police").score
        np.testing.assert_allclose(pair, float(expected @ rows[store.word_id("police")]), atol=1e-5)


def _tamper(path: Path, key: str, value, *, file_entry: bool = True) -> None:
    db = sqlite3.connect(store_file(path, "meta.sqlite"))
    if value is None:
        db.execute("DELETE FROM meta WHERE key = ?", (key,))
    else:
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, json.dumps(value)))
    try:
        seal_meta(db)  # a careful tamperer reseals; then the schema or the file check must object
    except Exception:
        db.execute("DELETE FROM meta WHERE key = 'checksums'")
    db.commit()
    db.close()


@pytest.mark.parametrize("value", [
    {"method": "abtt", "directions": 3, "file": "postprocess.npy"},   # the file holds 2 directions
    {"method": "center", "directions": 0, "file": "postprocess.npy"},  # likewise
    {"method": "center", "directions": 2, "file": "postprocess.npy"},
    {"method": "abtt", "directions": 0, "file": "postprocess.npy"},
    {"method": "abtt", "directions": 24, "file": "postprocess.npy"},  # as many as the dimensions
    {"method": "pca", "directions": 2, "file": "postprocess.npy"},
    {"method": "abtt", "directions": "2", "file": "postprocess.npy"},
    {"method": "abtt", "directions": 2, "file": "vectors.npy"},
    {"method": "abtt", "directions": 2, "file": "other.npy"},
    {"method": "abtt", "directions": 2},
    "abtt:2",
    None,  # the record removed, its file still listed
], ids=lambda v: repr(v)[:50])
def test_tampered_postprocess_metadata_is_refused_on_open(processed_w2v: Path, tmp_path: Path, value):
    path = tmp_path / "store"
    shutil.copytree(processed_w2v, path, symlinks=True)
    _tamper(path, "postprocess", value)
    with pytest.raises(StoreError) as caught:
        embedsearch.open_store(path)
    assert str(path) in str(caught.value)


def test_damaged_parameters_are_refused_on_open(processed_w2v: Path, tmp_path: Path):
    path = tmp_path / "store"
    shutil.copytree(processed_w2v, path, symlinks=True)
    target = store_file(path, "postprocess.npy")
    params = np.load(target)
    params[1, 0] = np.nan
    target.unlink()
    np.save(target, params)  # same size: only the values differ
    with pytest.raises(StoreError, match="postprocess.npy.*NaN"):
        embedsearch.open_store(path)


def test_cli_options(lee_store: Path, tmp_path: Path):
    runner = CliRunner()
    bad = runner.invoke(main, ["reindex", "-s", str(lee_store), "--postprocess", "abtt"])
    assert bad.exit_code == 2 and "abtt:D" in bad.output
    path = tmp_path / "store"
    shutil.copytree(lee_store, path, symlinks=True)
    done = runner.invoke(main, ["-q", "reindex", "-s", str(path), "--postprocess", "center", "--json"])
    assert done.exit_code == 0, done.output
    info = runner.invoke(main, ["info", "-s", str(path), "--json"])
    assert json.loads(info.output)["postprocess"]["method"] == "center" and '"postprocess.npy"' in info.output
    assert "post-processed: centred (--postprocess center)" in runner.invoke(main, ["info", "-s", str(path)]).output
    again = runner.invoke(main, ["-q", "reindex", "-s", str(path), "--postprocess", "abtt:1"])
    assert again.exit_code == 2 and "already post-processed" in again.output
    assert "--postprocess" in runner.invoke(main, ["train", "--help"]).output


def test_word2vec_w_plus_c(lee_corpus, lee_store: Path, tmp_path: Path):
    config = embedsearch.TrainConfig(**LEE_TRAIN, add_context=True)
    assert config.to_dict()["add_context"] is True and embedsearch.TrainConfig(**LEE_TRAIN).add_context is False
    embedsearch.train(lee_corpus, tmp_path / "wc", config=config, contexts=0)
    with embedsearch.open_store(tmp_path / "wc") as wc, embedsearch.open_store(lee_store) as w:
        assert wc.meta["model"]["params"]["add_context"] is True
        assert wc.vocabulary() == w.vocabulary()
        assert not np.allclose(np.asarray(wc.vectors), np.asarray(w.vectors), atol=1e-3)
    with pytest.raises(ConfigError, match="w \\+ c"):
        embedsearch.TrainConfig(model="fasttext", add_context=True)
    assert embedsearch.TrainConfig(model="fasttext").add_context is False  # CBOW's default is not FastText's
