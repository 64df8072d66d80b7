"""The count-based models: co-occurrence counts, PPMI, SVD, GloVe, their CLI and their memory guard."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import embedsearch
from embedsearch.cli import main
from embedsearch.errors import ConfigError, MemoryLimitError
from embedsearch.training import cooccur
from embedsearch.training.cooccur import Cooccurrences, Vocabulary, build_vocabulary, count_cooccurrences
from embedsearch.training.ppmi import factorise, sppmi_matrix


def zipf_lines(seed: int, lines: int = 200, vocabulary: int = 120) -> list[str]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(lines):
        words = [f"w{int(x)}" for x in rng.zipf(1.4, int(rng.integers(0, 25))) if x < vocabulary]
        out.append(" ".join(words))
    return out


def brute_force(lines: list[str], index: dict[str, int], window: int, harmonic: bool) -> np.ndarray:
    """Stanford's cooccur.c, literally: out-of-vocabulary words take no position; lines reset the window."""
    matrix = np.zeros((len(index), len(index)))
    for line in lines:
        ids = [index[w] for w in line.split() if w in index]
        for p in range(len(ids)):
            for d in range(1, min(window, p) + 1):
                weight = 1.0 / d if harmonic else 1.0
                matrix[ids[p], ids[p - d]] += weight
                matrix[ids[p - d], ids[p]] += weight
    return matrix


@pytest.fixture()
def zipf_file(tmp_path: Path) -> tuple[Path, list[str]]:
    lines = zipf_lines(3)
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, lines


@pytest.mark.parametrize("weighting", ["harmonic", "uniform"])
@pytest.mark.parametrize("window", [1, 4, 9])
def test_cooccurrence_counts_match_a_brute_force_count(zipf_file, monkeypatch, weighting: str, window: int):
    path, lines = zipf_file
    monkeypatch.setattr(cooccur, "CHUNK_TOKENS", 37)  # many chunks, windows across chunk edges, many merges
    vocabulary = build_vocabulary(path, min_count=2, workers=1)
    assert list(vocabulary.counts) == sorted(vocabulary.counts, reverse=True) and min(vocabulary.counts) >= 2
    expected = brute_force(lines, {w: i for i, w in enumerate(vocabulary.words)}, window, weighting == "harmonic")
    results = [count_cooccurrences(path, vocabulary, window=window, weighting=weighting, workers=w) for w in (1, 2)]
    for counts in results:
        assert np.all(counts.rows <= counts.cols)
        np.testing.assert_allclose(counts.to_csr().toarray(), expected, rtol=1e-12)
        assert counts.nnz == np.count_nonzero(expected)
    # the sums are made in the same order whatever the number of workers
    np.testing.assert_array_equal(results[0].values, results[1].values)


def test_counting_refuses_a_bad_weighting(zipf_file):
    path, _ = zipf_file
    vocabulary = build_vocabulary(path, min_count=2, workers=1)
    with pytest.raises(ConfigError, match="weighting must be one of"):
        count_cooccurrences(path, vocabulary, window=3, weighting="gaussian")


def test_sppmi_matches_the_dense_formula():
    rng = np.random.default_rng(5)
    size = 30
    dense = np.triu(rng.poisson(0.8, (size, size)).astype(float) * rng.integers(1, 4, (size, size)))
    rows, cols = np.nonzero(dense)
    vocabulary = Vocabulary([f"w{i}" for i in range(size)], np.ones(size, dtype=np.int64), size)
    counts = Cooccurrences(vocabulary, rows.astype(np.int32), cols.astype(np.int32), dense[rows, cols], 2, "uniform")
    full = dense + dense.T
    np.testing.assert_allclose(counts.to_csr().toarray(), full)
    for cds, k in [(0.75, 1.0), (1.0, 1.0), (0.75, 5.0)]:
        context = full.sum(axis=0) ** cds
        with np.errstate(divide="ignore"):
            pmi = np.log(full * context.sum() / (full.sum(axis=1, keepdims=True) * context[None, :]))
        expected = np.maximum(pmi - np.log(k), 0)
        expected[full == 0] = 0
        got = sppmi_matrix(counts, cds=cds, shift=k)
        np.testing.assert_allclose(got.toarray(), expected, rtol=1e-10, atol=1e-12)
        assert np.all(got.data > 0)


def test_svd_vectors_carry_the_weighted_singular_values():
    from scipy import sparse

    rng = np.random.default_rng(2)
    dense = np.maximum(rng.standard_normal((40, 40)), 0)
    singular = np.linalg.svd(dense, compute_uv=False)[:5]
    for eig in (1.0, 0.5, 0.0):
        vectors = factorise(sparse.csr_matrix(dense), dim=5, eig=eig, add_context=False, seed=1)
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=0), singular**eig, rtol=1e-4)
    again = factorise(sparse.csr_matrix(dense), dim=5, eig=0.5, add_context=True, seed=1)
    np.testing.assert_array_equal(again, factorise(sparse.csr_matrix(dense), dim=5, eig=0.5, add_context=True, seed=1))
    assert not np.allclose(again, factorise(sparse.csr_matrix(dense), dim=5, eig=0.5, add_context=False, seed=1))


GLOVE = dict(model="glove", dim=12, window=5, min_count=3, epochs=6, workers=1, seed=3)


def test_glove_cost_decreases_and_one_worker_is_reproducible(tmp_path: Path, lee_corpus):
    first = embedsearch.train(lee_corpus, tmp_path / "a", config=embedsearch.TrainConfig(**GLOVE), contexts=0)
    costs = [e.loss for e in first.epochs]
    assert len(costs) == 6 and all(b < a for a, b in zip(costs, costs[1:])), costs
    embedsearch.train(lee_corpus, tmp_path / "b", config=embedsearch.TrainConfig(**GLOVE), contexts=0)
    embedsearch.train(lee_corpus, tmp_path / "c", config=embedsearch.TrainConfig(**{**GLOVE, "seed": 4}), contexts=0)
    with embedsearch.open_store(tmp_path / "a") as a, embedsearch.open_store(tmp_path / "b") as b, \
            embedsearch.open_store(tmp_path / "c") as c:
        np.testing.assert_array_equal(np.asarray(a.vectors), np.asarray(b.vectors))
        assert not np.allclose(np.asarray(a.vectors), np.asarray(c.vectors))
        info = a.info()
    assert info.model["kind"] == "glove" and info.model["params"]["x_max"] == 100.0
    assert "negative" not in info.model["params"] and "sample" not in info.model["params"]


def test_glove_with_two_workers_learns_too(tmp_path: Path, lee_corpus):
    result = embedsearch.train(lee_corpus, tmp_path / "s", config=embedsearch.TrainConfig(**{**GLOVE, "workers": 2}),
                               contexts=0)
    costs = [e.loss for e in result.epochs]
    assert costs[-1] < 0.8 * costs[0]


def test_ppmi_svd_is_reproducible_and_finds_related_words(tmp_path: Path, lee_corpus):
    config = embedsearch.TrainConfig(model="ppmi-svd", dim=16, min_count=3, workers=2, seed=1)
    embedsearch.train(lee_corpus, tmp_path / "a", config=config, contexts=0)
    embedsearch.train(lee_corpus, tmp_path / "b", config=config, contexts=0)
    with embedsearch.open_store(tmp_path / "a") as a, embedsearch.open_store(tmp_path / "b") as b:
        np.testing.assert_array_equal(np.asarray(a.vectors), np.asarray(b.vectors))
        params = a.info().model["params"]
        # numbers and months are the clearest clusters of the Lee corpus
        neighbours = [n.word for n in a.similar("tuesday", k=10).neighbors]
    assert params["cds"] == 0.75 and params["eig"] == 0.5 and params["negative"] == 1 and "epochs" not in params
    days = {"monday", "wednesday", "thursday", "friday", "saturday", "sunday"}
    assert len(days & set(neighbours)) >= 2, neighbours  # by chance: ~0.02 of a day among 10 of 2,859 words


@pytest.mark.parametrize("model", ["glove", "ppmi-svd"])
def test_cli_trains_a_store_that_answers_similar(tmp_path: Path, lee_corpus, model: str):
    runner = CliRunner()
    store = tmp_path / model
    result = runner.invoke(main, ["-q", "train", str(lee_corpus.path), "-o", str(store), "--model", model, "--dim", "16",
                                  "--epochs", "3", "--min-count", "3", "--workers", "1", "--contexts", "0", "--json"])
    assert result.exit_code == 0, result.output
    trained = json.loads(result.output)
    assert trained["config"]["model"] == model and trained["dim"] == 16 and trained["words"] > 1000
    result = runner.invoke(main, ["similar", "-s", str(store), "government", "-k", "5", "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert len(answer["neighbors"]) == 5 and "government" not in [n["word"] for n in answer["neighbors"]]


def test_memory_estimate_refuses_before_counting(tmp_path: Path, lee_corpus):
    for model in ("glove", "ppmi-svd"):
        config = embedsearch.TrainConfig(model=model, dim=16, min_count=3, workers=1, max_memory=0.001)
        with pytest.raises(MemoryLimitError, match=r"needs at least [\d.]+ MiB, more than the 1.0 MiB allowed"):
            embedsearch.train(lee_corpus, tmp_path / model, config=config, contexts=0)
        assert not (tmp_path / model).exists()
    result = CliRunner().invoke(main, ["-q", "train", str(lee_corpus.path), "-o", str(tmp_path / "cli"), "--model", "glove",
                                       "--min-count", "3", "--max-memory", "0.001"])
    assert result.exit_code == 1 and "needs at least" in result.output and "Traceback" not in result.output


def test_memory_is_checked_again_while_counting(zipf_file, monkeypatch):
    path, _ = zipf_file
    monkeypatch.setattr(cooccur, "CHUNK_TOKENS", 37)
    vocabulary = build_vocabulary(path, min_count=2, workers=1)
    budget = cooccur.CHUNK_TOKENS * 4 * 24 + 200 * cooccur.PAIR_BYTES  # the chunk buffers and a few hundred pairs
    with pytest.raises(MemoryLimitError, match=r"distinct pairs held, at least [\d,]+ in the end, after \d+% of the corpus"):
        count_cooccurrences(path, vocabulary, window=4, budget=budget)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"model": "glove", "x_max": 0}, "x_max must be positive"),
        ({"model": "glove", "weighting_alpha": 1.5}, "weighting_alpha must be in"),
        ({"model": "ppmi-svd", "cds": 0}, "cds must be in"),
        ({"model": "ppmi-svd", "eig": 2}, "eig must be in"),
        ({"model": "glove", "max_memory": 0}, "max_memory must be positive"),
    ],
)
def test_count_model_settings_are_validated(options, message):
    with pytest.raises(ConfigError, match=message):
        embedsearch.TrainConfig(**options)


def test_count_model_defaults():
    glove = embedsearch.TrainConfig(model="glove")
    assert (glove.window, glove.alpha, glove.add_context, glove.x_max, glove.weighting_alpha) == (10, 0.05, True, 100.0, 0.75)
    svd = embedsearch.TrainConfig(model="ppmi-svd")
    assert (svd.window, svd.negative, svd.add_context, svd.cds, svd.eig) == (5, 1, True, 0.75, 0.5)
    word2vec = embedsearch.TrainConfig().to_dict()
    assert not {"x_max", "cds", "eig", "max_memory"} & set(word2vec) and word2vec["add_context"] is True
