"""Training: validated parameters, reproducibility with one worker, clear failures, progress."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import embedsearch
from embedsearch.errors import ConfigError, EmptyCorpusError, SourceError, StoreExistsError

from .conftest import LEE_TRAIN


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"arch": "glove"}, "arch must be one of"),
        ({"dim": 0}, "dim must be from 1 to"),
        ({"epochs": 0}, "epochs must be from 1 to"),
        # Failed before: accepted, then a 82 GiB MemoryError traceback, or a segfault inside gensim (alpha).
        ({"dim": 1_000_000_000}, "dim must be from 1 to 10,000"),
        ({"alpha": 1e30}, "alpha .* must be in"),
        ({"alpha": float("nan")}, "alpha must be a finite number"),
        ({"sample": float("nan")}, "sample must be a finite number"),
        ({"window": 10**8}, "window must be from 1"),
        ({"bucket": 10**12}, "bucket must be at most"),
        ({"dim": 8.5}, "dim must be an integer"),
        ({"negative": 0}, "negative must be at least 1"),
        ({"sample": 1.5}, "sample must be in"),
        ({"alpha": 0.01, "min_alpha": 0.1}, "min_alpha <= alpha"),
        ({"seed": -1}, "seed must be in"),
    ],
)
def test_config_validation(options, message):
    with pytest.raises(ConfigError, match=message):
        embedsearch.TrainConfig(**options)


def test_store_records_parameters_pipeline_and_corpus(lee_store: Path, lee_corpus):
    with embedsearch.open_store(lee_store) as store:
        info = store.info()
    params = info.model["params"]
    assert (params["dim"], params["epochs"], params["min_count"], params["seed"], params["arch"]) == (24, 5, 3, 7, "skipgram")
    assert info.model["kind"] == "word2vec" and info.model["backend"].startswith("gensim")
    assert len(info.model["epochs"]) == 5 and all(e["words_per_second"] > 0 for e in info.model["epochs"])
    assert info.pipeline == lee_corpus.pipeline.describe()
    assert info.corpus["stats"]["tokens"] == lee_corpus.stats.tokens
    assert info.model["corpus_words"] == lee_corpus.stats.tokens


def test_one_worker_with_a_seed_is_reproducible(tmp_path: Path, lee_corpus, lee_store: Path):
    config = embedsearch.TrainConfig(**LEE_TRAIN)  # the settings of lee_store
    embedsearch.train(lee_corpus, tmp_path / "again", config=config)
    with embedsearch.open_store(lee_store) as first, embedsearch.open_store(tmp_path / "again") as second:
        np.testing.assert_array_equal(np.asarray(first.vectors), np.asarray(second.vectors))
    other = embedsearch.TrainConfig(**{**LEE_TRAIN, "seed": 8})
    embedsearch.train(lee_corpus, tmp_path / "other", config=other)
    with embedsearch.open_store(lee_store) as first, embedsearch.open_store(tmp_path / "other") as third:
        assert not np.array_equal(np.asarray(first.vectors), np.asarray(third.vectors))


def test_progress_reports_every_epoch(tmp_path: Path, lee_corpus):
    events = []
    config = embedsearch.TrainConfig(dim=8, epochs=3, min_count=3, workers=1, compute_loss=True)
    result = embedsearch.train(lee_corpus, tmp_path / "s", config=config, progress=events.append)
    epochs = [e for e in events if e.stage == "train" and e.unit == "epochs" and float(e.done).is_integer()]
    assert [e.done for e in epochs] == [1, 2, 3]
    assert all("words/s" in e.message and "loss" in e.message for e in epochs)
    assert [e.epoch for e in result.epochs] == [1, 2, 3] and all(e.loss and e.loss > 0 for e in result.epochs)
    assert any(e.stage == "store" and e.final for e in events)


def test_min_count_too_high_is_a_clear_error(tmp_path: Path, lee_corpus):
    config = embedsearch.TrainConfig(dim=8, epochs=1, min_count=10**9, workers=1)
    with pytest.raises(EmptyCorpusError, match="min_count"):
        embedsearch.train(lee_corpus, tmp_path / "s", config=config)
    assert not (tmp_path / "s").exists()


def test_existing_store_is_refused_before_training(tmp_path: Path, lee_corpus, lee_store: Path, monkeypatch):
    from embedsearch.training import word2vec

    monkeypatch.setattr(word2vec, "train_word2vec", lambda *a, **k: pytest.fail("trained anyway"))
    with pytest.raises(StoreExistsError):
        embedsearch.train(lee_corpus, lee_store)


def test_training_from_something_that_is_not_a_corpus(tmp_path: Path):
    with pytest.raises(SourceError, match="not a directory"):
        embedsearch.train(tmp_path / "missing", tmp_path / "s")


def test_defaults_follow_the_architecture():
    cbow, skipgram = embedsearch.TrainConfig(), embedsearch.TrainConfig(arch="skipgram")
    assert cbow.arch == "cbow"
    assert (cbow.window, cbow.sample, cbow.negative, cbow.alpha) == (8, 1e-4, 5, 0.05)
    assert (skipgram.window, skipgram.sample, skipgram.negative, skipgram.alpha) == (5, 1e-3, 10, 0.025)
    assert cbow.add_context is True and skipgram.add_context is False  # w + c: measured for CBOW only
    assert embedsearch.TrainConfig(add_context=False).add_context is False
    assert (cbow.dim, cbow.epochs, cbow.combine, cbow.combine_window, cbow.combine_dim, cbow.combine_weight) == \
        (200, 15, "ppmi-svd", 10, 200, 0.25)
    assert skipgram.combine == "none" and embedsearch.TrainConfig(combine="none").combined_config() is None
    # fastText's own defaults, the best FastText row measured (docs/quality.md)
    fasttext = embedsearch.TrainConfig(model="fasttext")
    assert (fasttext.arch, fasttext.dim, fasttext.epochs) == ("skipgram", 100, 5)
    assert (fasttext.window, fasttext.sample, fasttext.negative, fasttext.alpha) == (5, 1e-4, 5, 0.05)
    assert embedsearch.TrainConfig(model="fasttext", arch="cbow").window == 5
    assert embedsearch.TrainConfig(model="fasttext", arch="skipgram", negative=12).negative == 12
    assert embedsearch.TrainConfig(arch="skipgram", alpha=0.01, window=2, negative=3, sample=0.0).to_dict() == {
        **skipgram.to_dict(), "alpha": 0.01, "window": 2, "negative": 3, "sample": 0.0}


def test_cli_train_leaves_arch_defaults_to_the_config(tmp_path: Path, lee_corpus):
    from click.testing import CliRunner

    from embedsearch.cli import main

    store = tmp_path / "s"
    done = CliRunner().invoke(main, ["-q", "train", str(lee_corpus.path), "-o", str(store), "--arch", "skipgram",
                                     "--dim", "8", "--epochs", "1", "--min-count", "3", "--workers", "1", "--contexts", "0"])
    assert done.exit_code == 0, done.output
    params = embedsearch.open_store(store).info().model["params"]
    assert (params["window"], params["sample"], params["negative"], params["alpha"]) == (5, 1e-3, 10, 0.025)


def test_a_combined_store_answers_the_weighted_mean_of_its_two_models(tmp_path: Path, lee_corpus, lee_store: Path):
    """--combine ppmi-svd: the store joins the count model's unit vectors to Word2Vec's, so each cosine
    is (1 - w) x Word2Vec's + w x the count model's; both trained here alone with the same settings."""
    weight = 0.3
    combined = embedsearch.TrainConfig(**LEE_TRAIN, combine="ppmi-svd", combine_window=4, combine_dim=16,
                                       combine_weight=weight)
    embedsearch.train(lee_corpus, tmp_path / "both", config=combined, contexts=0)
    count = combined.combined_config()
    assert (count.model, count.window, count.dim, count.min_count, count.seed) == ("ppmi-svd", 4, 16, 3, 7)
    embedsearch.train(lee_corpus, tmp_path / "count", config=count, contexts=0)
    pairs = [("police", "officers"), ("government", "minister"), ("fire", "police"), ("the", "cricket")]
    with embedsearch.open_store(tmp_path / "both") as both, embedsearch.open_store(lee_store) as main, \
            embedsearch.open_store(tmp_path / "count") as alone:
        assert both.dim == 24 + 16 and len(both) == len(main) == len(alone)
        assert both.vocabulary() == main.vocabulary()
        for a, b in pairs:
            expected = (1 - weight) * main.similarity(a, b).score + weight * alone.similarity(a, b).score
            assert both.similarity(a, b).score == pytest.approx(expected, abs=1e-5), (a, b)
        params = both.info().model["params"]
        assert (params["combine"], params["combine_window"], params["combine_dim"], params["combine_weight"]) == \
            ("ppmi-svd", 4, 16, weight)
        model = both.info().model
        assert len(model["epochs"]) == 5  # Word2Vec's; the count model's own record beside them
        assert model["combined"]["model"] == "ppmi-svd" and model["combined"]["dims"] == [24, 40]
        assert model["combined"]["weight"] == weight and len(model["combined"]["epochs"]) == 1
        # the count model's own settings are recorded too: PPMI-SVD joined to CBOW is unweighted (p = 0)
        assert model["combined"]["params"] == count.to_dict() and count.eig == 0.0
        assert alone.info().model["params"]["eig"] == 0.0


@pytest.mark.parametrize(("options", "message"), [
    ({"combine": "fasttext"}, "combine must be one of"),
    ({"model": "fasttext", "combine": "ppmi-svd"}, "no count vector to join"),
    ({"model": "glove", "combine": "ppmi-svd"}, "combine is for word2vec"),
    ({"combine": "ppmi-svd", "combine_weight": 1.0}, "combine_weight .* must be in"),
    ({"combine": "ppmi-svd", "combine_weight": float("nan")}, "combine_weight .* must be in"),
    ({"combine": "ppmi-svd", "combine_window": 0}, "combine_window must be an integer from 1"),
    ({"combine": "ppmi-svd", "combine_dim": 10**6}, "combine_dim must be an integer from 1"),
])
def test_combine_settings_are_checked(options, message):
    with pytest.raises(ConfigError, match=message):
        embedsearch.TrainConfig(**options)


def test_combine_is_off_where_it_was_not_chosen_and_leaves_no_trace():
    skipgram = embedsearch.TrainConfig(arch="skipgram")
    assert skipgram.combine == "none" and skipgram.combined_config() is None
    assert not any(key.startswith("combine") for key in skipgram.to_dict())
    assert not any(key.startswith("combine") for key in embedsearch.TrainConfig(model="glove").to_dict())
    assert embedsearch.TrainConfig(combine="ppmi-svd", dim=50).combine_dim == 50  # default: the main model's dim


def test_combining_refuses_models_that_know_different_words():
    from embedsearch.errors import TrainingError
    from embedsearch.training.combine import combine_vectors
    from embedsearch.training.results import TrainedVectors

    def trained(words: list[str]) -> TrainedVectors:
        return TrainedVectors(words, np.ones(len(words), dtype=np.int64), np.ones((len(words), 3), dtype=np.float32), 9, [], "x")

    joined = combine_vectors(trained(["a", "b"]), trained(["b", "a"]), weight=0.5, label="ppmi-svd")
    assert joined.vectors.shape == (2, 6)
    np.testing.assert_allclose(np.linalg.norm(joined.vectors, axis=1), 1.0, rtol=1e-6)
    with pytest.raises(TrainingError, match="vocabulary differs .* 'b'"):
        combine_vectors(trained(["a", "b"]), trained(["a", "c"]), weight=0.5, label="ppmi-svd")
    with pytest.raises(TrainingError, match="vocabulary differs"):
        combine_vectors(trained(["a", "b"]), trained(["a", "b", "c"]), weight=0.5, label="ppmi-svd")


def test_the_default_combination_fits_a_small_vocabulary(tmp_path: Path):
    """The default CBOW training joins a 200-dim SVD, which a corpus of 60 words cannot have: it
    gets 59 dims and a warning after Word2Vec trains, not an error, and the store says so."""
    words = [f"w{i}" for i in range(60)]
    rng = np.random.default_rng(3)
    text = tmp_path / "small.txt"
    text.write_text("\n".join(" ".join(rng.choice(words, 15)) for _ in range(400)), encoding="utf-8")
    corpus = embedsearch.ingest([text], tmp_path / "corpus", workers=1)
    events = []
    result = embedsearch.train(corpus, tmp_path / "store", config=embedsearch.TrainConfig(epochs=1, workers=1),
                               contexts=0, progress=events.append)
    warnings = [e.message for e in events if e.stage == "warning"]
    assert warnings == ["--combine ppmi-svd: 59 dims, not 200, as the vocabulary has 60 words"]
    assert result.dim == 200 + 59 and result.config.combine_dim == 59
    with embedsearch.open_store(tmp_path / "store") as store:
        assert store.info().model["params"]["combine_dim"] == 59
        assert store.info().model["combined"]["dims"] == [200, 259]
    with pytest.raises(embedsearch.TrainingError, match="must be less than the vocabulary size"):
        embedsearch.train(corpus, tmp_path / "svd", config=embedsearch.TrainConfig(model="ppmi-svd"), contexts=0)
