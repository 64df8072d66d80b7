"""The LSTM reranker: gradients, the language model, contexts, training, saving and reranking."""
from __future__ import annotations

import json
import shutil
import sqlite3
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import embedsearch
from embedsearch.cli import main
from embedsearch.errors import ConfigError, QueryError, StoreError
from embedsearch.rerank import contexts as contexts_module
from embedsearch.rerank import corpus_ids
from embedsearch.rerank.contexts import collect_contexts, read_contexts, sample_contexts
from embedsearch.rerank.corpus_ids import blocks_of, iter_id_blocks
from embedsearch.rerank.lstm import lstm_backward, lstm_forward, lstm_init, lstm_step
from embedsearch.rerank.model import (
    OOV,
    PAD,
    PARAMETERS,
    LMWeights,
    WindowBatch,
    encode_slots,
    lm_init,
    lm_loss,
    lm_loss_and_gradients,
)
from embedsearch.rerank.optim import Adam, SparseSGD, clip_global_norm
from embedsearch.rerank.training import (
    RerankConfig,
    corpus_windows,
    keep_probabilities,
    train_reranker,
)
from embedsearch.spans import file_spans
from embedsearch.store.update import updating_store

from .conftest import store_file


def relative_error(numeric: np.ndarray, analytic: np.ndarray) -> float:
    return float(np.abs(numeric - analytic).max() / max(np.abs(numeric).max(), 1e-12))


def central_difference(f, array: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    grad = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        old = array[index]
        array[index] = old + eps
        plus = f()
        array[index] = old - eps
        minus = f()
        array[index] = old
        grad[index] = (plus - minus) / (2 * eps)
    return grad


# --- the LSTM --------------------------------------------------------------------------------


def test_lstm_gradient_check_float64_with_padding() -> None:
    rng = np.random.default_rng(0)
    steps, batch, dim, hidden = 6, 3, 5, 4
    W = lstm_init(dim, hidden, rng, np.float64) + rng.normal(0, 0.3, (dim + hidden + 1, 4 * hidden))
    x = rng.normal(size=(steps, batch, dim))
    mask = np.ones((steps, batch))
    mask[:2, 0] = 0  # left padding
    mask[4:, 2] = 0  # right padding
    upstream = rng.normal(size=(steps, batch, hidden))

    def loss() -> float:
        out, _ = lstm_forward(W, x, mask)
        return float((out * upstream).sum())

    _, cache = lstm_forward(W, x, mask)
    dW, dx = lstm_backward(upstream, cache)
    assert relative_error(central_difference(loss, W), dW) < 1e-6
    assert relative_error(central_difference(loss, x), dx) < 1e-6


def test_batched_forward_equals_step_by_step_cell() -> None:
    rng = np.random.default_rng(1)
    steps, batch, dim, hidden = 7, 4, 6, 5
    W = lstm_init(dim, hidden, rng, np.float64) + rng.normal(0, 0.2, (dim + hidden + 1, 4 * hidden))
    x = rng.normal(size=(steps, batch, dim))
    out, _ = lstm_forward(W, x)
    h = np.zeros((batch, hidden))
    c = np.zeros((batch, hidden))
    for t in range(steps):
        h, c = lstm_step(W, x[t], h, c)
        np.testing.assert_allclose(out[t], h, rtol=1e-12, atol=1e-12)
    # One sequence at a time gives the same states as the batch.
    for b in range(batch):
        single, _ = lstm_forward(W, x[:, b:b + 1])
        np.testing.assert_allclose(single[:, 0], out[:, b], rtol=1e-12, atol=1e-12)


def test_left_padding_leaves_the_final_state_of_the_real_tokens() -> None:
    rng = np.random.default_rng(2)
    W = lstm_init(3, 4, rng, np.float64) + rng.normal(0, 0.3, (8, 16))
    x = rng.normal(size=(5, 1, 3))
    short, _ = lstm_forward(W, x[2:])
    padded_x = x.copy()
    padded_x[:2] = rng.normal(size=(2, 1, 3))  # garbage under the padding must not matter
    padded, _ = lstm_forward(W, padded_x, np.array([[0], [0], [1], [1], [1]]))
    np.testing.assert_allclose(padded[-1], short[-1], rtol=1e-12)


def test_forget_gate_starts_open() -> None:
    W = lstm_init(3, 4, np.random.default_rng(0))
    assert W.dtype == np.float32 and W.shape == (3 + 4 + 1, 16)
    np.testing.assert_array_equal(W[-1, 4:8], 1.0)
    np.testing.assert_array_equal(W[-1, :4], 0.0)


# --- the language model ------------------------------------------------------------------------


def _lm_problem(seed: int = 3, learned: bool = False):
    rng = np.random.default_rng(seed)
    vocab, dim, hidden, batch, steps = 20, 5, 4, 3, 6
    vectors = rng.normal(size=(vocab, dim))
    weights = lm_init(dim, hidden, rng, np.float64, output=vectors + rng.normal(0, 0.5, vectors.shape) if learned else None)
    for array in weights.arrays().values():
        array += rng.normal(0, 0.3, array.shape)
    tokens = rng.integers(0, vocab, size=(batch, steps))
    tokens[0, 1] = OOV
    tokens[2, 4:] = PAD
    return weights, vectors, WindowBatch(tokens, tokens >= 0), rng.integers(0, vocab, 7)


def test_lm_loss_gradient_check() -> None:
    weights, vectors, batch, negatives = _lm_problem()
    _, gradients, table = lm_loss_and_gradients(weights, vectors, batch, negatives)
    assert gradients is not None and table is None
    for name in PARAMETERS:
        numeric = central_difference(lambda: lm_loss(weights, vectors, batch, negatives), getattr(weights, name))
        assert relative_error(numeric, getattr(gradients, name)) < 1e-6, name


def test_lm_loss_gradient_check_with_a_learned_target_table() -> None:
    """context2vec's variant: the target table is trained too, its gradient given as rows. A
    negative drawn twice and a word that is both target and negative must sum their parts."""
    weights, vectors, batch, _ = _lm_problem(learned=True)
    negatives = np.array([3, 3, int(batch.tokens[1, 2]), 7, 11])
    loss, gradients, table = lm_loss_and_gradients(weights, vectors, batch, negatives)
    assert table is not None and list(table.rows) == sorted(set(table.rows))
    for name in PARAMETERS:
        numeric = central_difference(lambda: lm_loss(weights, vectors, batch, negatives), getattr(weights, name))
        assert relative_error(numeric, getattr(gradients, name)) < 1e-6, name
    numeric = central_difference(lambda: lm_loss(weights, vectors, batch, negatives), weights.output)
    assert relative_error(numeric, table.dense(weights.output.shape)) < 1e-6
    untouched = np.setdiff1d(np.arange(len(vectors)), table.rows)
    assert len(untouched) and not numeric[untouched].any()
    # The inputs stay the store's vectors: changing the table changes only the scoring side.
    moved = LMWeights(weights.forward, weights.backward, weights.projection, output=vectors)
    assert lm_loss(moved, vectors, batch, negatives) != pytest.approx(loss)
    assert lm_loss(moved, vectors, batch, negatives) == pytest.approx(lm_loss(
        LMWeights(weights.forward, weights.backward, weights.projection), vectors, batch, negatives))


def test_sparse_sgd_updates_only_the_rows_given() -> None:
    rng = np.random.default_rng(2)
    table = rng.normal(size=(6, 3))
    original = table.copy()
    rows, values = np.array([1, 4]), rng.normal(size=(2, 3))
    SparseSGD(table, 0.1).step(rows, values, scale=3.0)
    np.testing.assert_allclose(table[rows], original[rows] - 0.3 * values)
    untouched = [0, 2, 3, 5]
    np.testing.assert_array_equal(table[untouched], original[untouched])
    with pytest.raises(ValueError):
        SparseSGD(table, 0.0)


def test_keep_probabilities_subsample_only_frequent_words() -> None:
    keep = keep_probabilities(np.array([1_000_000, 100, 1]), 1e-3)
    assert keep[0] < 0.1 and keep[1] == 1.0 and keep[2] == 1.0
    np.testing.assert_array_equal(keep_probabilities(np.array([5, 5]), 0), 1.0)


def test_corpus_windows_pad_within_lines(tmp_path: Path) -> None:
    lines = [np.arange(5, dtype=np.int32), np.arange(10, 12, dtype=np.int32)]
    windows = corpus_windows(blocks_of(lines), 3, tmp_path)
    np.testing.assert_array_equal(np.asarray(windows), [[0, 1, 2], [3, 4, PAD], [10, 11, PAD]])


# --- contexts --------------------------------------------------------------------------------


def _lines(seed: int = 0, count: int = 300) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.minimum(rng.zipf(1.5, rng.integers(1, 30)), 40).astype(np.int32) - 1 for _ in range(count)]


def test_contexts_are_real_occurrences_within_their_line() -> None:
    lines = _lines()
    lines[0][0] = OOV
    sampled = sample_contexts(blocks_of(lines), per_word=4, window=3, seed=5)
    texts = {tuple(line.tolist()) for line in lines}
    for word, left, right in zip(sampled.words, sampled.left, sampled.right):
        left_real = [int(t) for t in left if t != PAD]
        right_real = [int(t) for t in right if t != PAD]
        assert all(t == PAD for t in left[: 3 - len(left_real)]) and all(t == PAD for t in right[len(right_real):])
        fragment = (*left_real, int(word), *right_real)
        assert any(_contains(line, fragment) for line in texts), fragment
    counts = np.bincount(np.concatenate(lines)[np.concatenate(lines) >= 0])
    kept = np.bincount(sampled.words, minlength=len(counts))
    np.testing.assert_array_equal(kept, np.minimum(counts, 4))
    assert OOV not in sampled.words


def _contains(line: tuple[int, ...], fragment: tuple[int, ...]) -> bool:
    return any(line[i:i + len(fragment)] == fragment for i in range(len(line) - len(fragment) + 1))


def test_contexts_are_seeded_and_do_not_depend_on_chunking(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = _lines(1, 500)
    first = sample_contexts(blocks_of(lines), per_word=3, window=2, seed=9)
    monkeypatch.setattr(corpus_ids, "BLOCK_TOKENS", 50)
    chunked = sample_contexts(blocks_of(lines), per_word=3, window=2, seed=9)
    assert len(list(blocks_of(lines))) > 10
    for a, b in ((first.words, chunked.words), (first.left, chunked.left), (first.right, chunked.right)):
        np.testing.assert_array_equal(a, b)
    other = sample_contexts(blocks_of(lines), per_word=3, window=2, seed=10)
    assert not np.array_equal(first.left, other.left)


def test_contexts_sample_is_uniform() -> None:
    """Each of a frequent word's occurrences is equally likely to be kept (bottom-k sampling)."""
    line = np.zeros(40, dtype=np.int32)
    line[1::2] = np.arange(1, 21)  # word 0 occurs 20 times, each between distinct neighbours
    hits = np.zeros(21)
    for seed in range(400):
        sampled = sample_contexts(blocks_of([line]), per_word=5, window=1, seed=seed)
        right = sampled.right[sampled.words == 0, 0]
        hits[right[right > 0]] += 1
    share = hits[1:] / hits[1:].sum()
    assert share.min() > 0.03 and share.max() < 0.07  # 1/20 = 0.05 each


def test_train_keeps_contexts_and_examples_show_them(lee_store: Path) -> None:
    with embedsearch.open_store(lee_store) as store:
        described = store.meta["contexts"]
        assert described["per_word"] == 16 and described["window"] == 8
        result = store.examples("government", limit=3)
        assert result.sampled == 16 and len(result.examples) == 3
        for example in result.examples:
            assert example.word == "government" and len(example.left) <= 8 and len(example.right) <= 8
        with pytest.raises(QueryError):
            store.examples("government minister")
    output = CliRunner().invoke(main, ["examples", "-s", str(lee_store), "government", "-k", "2"])
    assert output.exit_code == 0, output.output
    assert output.output.count("[government]") == 2


def test_store_without_contexts_says_how_to_get_them(tmp_path: Path, lee_corpus: embedsearch.Corpus) -> None:
    store = tmp_path / "store"
    embedsearch.train(lee_corpus, store, config=embedsearch.TrainConfig(dim=8, epochs=1, min_count=3, workers=1),
                      contexts=0)
    with sqlite3.connect(store_file(store, "meta.sqlite")) as db:
        assert db.execute("SELECT count(*) FROM contexts").fetchone()[0] == 0
    output = CliRunner().invoke(main, ["examples", "-s", str(store), "government"])
    assert output.exit_code == 1 and "rerank train" in output.output


# --- training, saving, reranking -------------------------------------------------------------

SMALL = RerankConfig(hidden=16, batch=32, negatives=10, epochs=2, sample=1e-3, seed=4)


@pytest.fixture(scope="module")
def reranked(tmp_path_factory: pytest.TempPathFactory, lee_store: Path, lee_corpus: embedsearch.Corpus):
    store = tmp_path_factory.mktemp("reranked") / "store"
    shutil.copytree(lee_store, store)
    result = train_reranker(store, lee_corpus.path, SMALL)
    return store, result


def test_training_lowers_held_out_loss(reranked) -> None:
    _, result = reranked
    assert result.steps > 50 and result.stopped_by == "epochs"
    assert result.validation_loss_after < 0.7 * result.validation_loss_before
    assert result.contexts_added  # train kept 16 per word; the reranker reads 64 by default


def test_rerank_train_samples_more_contexts_only_when_the_store_holds_fewer(tmp_path: Path, lee_store: Path,
                                                                            lee_corpus: embedsearch.Corpus) -> None:
    store = tmp_path / "store"
    shutil.copytree(lee_store, store)
    with embedsearch.open_store(store) as opened:
        assert opened.meta["contexts"]["per_word"] == 16
        before = opened.examples("government").sampled
    tiny = RerankConfig(hidden=8, batch=16, tokens=2000, seed=3)
    assert not train_reranker(store, lee_corpus.path, replace(tiny, contexts=16)).contexts_added
    with embedsearch.open_store(store) as opened:
        assert opened.meta["contexts"]["per_word"] == 16 and opened.examples("government").sampled == before
    assert train_reranker(store, lee_corpus.path, replace(tiny, contexts=40)).contexts_added
    with embedsearch.open_store(store) as opened:
        assert opened.meta["contexts"]["per_word"] == 40
        after = opened.examples("government").sampled
        assert before == 16 < after <= 40  # "government" occurs more than 16 times in the Lee corpus
        assert opened.similar("government", rerank=True, k=3).rerank.contexts == after
    assert not train_reranker(store, lee_corpus.path, replace(tiny, contexts=20)).contexts_added


def test_training_is_reproducible_with_a_seed(tmp_path: Path, lee_store: Path, lee_corpus: embedsearch.Corpus) -> None:
    runs = []
    for name in ("a", "b"):
        store = tmp_path / name
        shutil.copytree(lee_store, store)
        train_reranker(store, lee_corpus.path, RerankConfig(hidden=8, batch=16, tokens=3000, seed=11))
        with np.load(store_file(store, "reranker.npz")) as arrays:
            runs.append({key: arrays[key] for key in arrays.files})
    for key in runs[0]:
        np.testing.assert_allclose(runs[0][key], runs[1][key], rtol=1e-5, atol=1e-6)


def test_saved_reranker_gives_identical_scores_after_reopening(reranked) -> None:
    store_path, _ = reranked
    scores = []
    for _ in range(2):
        with embedsearch.open_store(store_path) as store:
            result = store.similar("government", k=5, rerank=True)
            scores.append([(n.word, n.score, n.cosine, n.fit) for n in result.neighbors])
    assert scores[0] == scores[1]
    with sqlite3.connect(store_file(store_path, "meta.sqlite")) as db:
        manifest = json.loads(db.execute("SELECT value FROM meta WHERE key = 'reranker'").fetchone()[0])
    assert manifest["hidden"] == 16 and manifest["file"] == "reranker.npz"


def test_rerank_reorders_the_same_candidates_by_blended_score(reranked) -> None:
    store_path, _ = reranked
    with embedsearch.open_store(store_path) as store:
        plain = store.similar("government", k=20)
        result = store.similar("government", k=20, rerank=True, rerank_k=20, rerank_weight=0.05)
        assert {n.word for n in result.neighbors} == {n.word for n in plain.neighbors}
        cosine = {n.word: n.score for n in plain.neighbors}
        for n in result.neighbors:
            assert n.cosine == pytest.approx(cosine[n.word], abs=1e-6)
            assert n.score == pytest.approx(n.cosine + 0.05 * n.fit)
        finals = [n.score for n in result.neighbors]
        assert finals == sorted(finals, reverse=True)
        # rerank train sampled up to 64 contexts per word (train had kept 16), and the fit read all of them
        assert result.rerank is not None and result.rerank.weight == 0.05
        assert result.rerank.contexts == store.examples("government").sampled > 16
        # Weight 0 is cosine order exactly.
        zero = store.similar("government", k=20, rerank=True, rerank_k=20, rerank_weight=0.0)
        assert [n.word for n in zero.neighbors] == [n.word for n in plain.neighbors]
        # Fit is relative to the word that really occurred: the query word itself scores 0.
        row = store.word_id("government")
        assert store.reranker.fit([row], [row]).scores[0] == pytest.approx(0.0, abs=1e-6)
        analogy = store.analogy("man", "king", "woman", k=3, rerank=True)
        assert analogy.rerank is not None and analogy.rerank.context_words == ["man", "king", "woman"]


def test_rerank_cli_shows_cosine_fit_and_final(reranked) -> None:
    store_path, _ = reranked
    output = CliRunner().invoke(main, ["similar", "-s", str(store_path), "government", "--rerank", "-k", "3"])
    assert output.exit_code == 0, output.output
    assert "final  cosine     fit" in output.output
    assert len(output.output.strip().splitlines()) == 4


def test_rerank_without_a_trained_reranker_is_a_clear_error(lee_store: Path) -> None:
    output = CliRunner().invoke(main, ["similar", "-s", str(lee_store), "government", "--rerank"])
    assert output.exit_code == 1
    assert "rerank train" in output.output


def test_rerank_train_cli_adds_contexts_to_stores_without_them(tmp_path: Path, lee_corpus: embedsearch.Corpus) -> None:
    store = tmp_path / "store"
    embedsearch.train(lee_corpus, store, config=embedsearch.TrainConfig(dim=8, epochs=1, min_count=3, workers=1),
                      contexts=0)
    output = CliRunner().invoke(main, ["rerank", "train", "-s", str(store), str(lee_corpus.path), "--hidden", "8",
                                       "--tokens", "2000", "--json"])
    assert output.exit_code == 0, output.output
    assert json.loads(output.stdout)["contexts_added"] is True
    with embedsearch.open_store(store) as opened:
        assert opened.examples("government").sampled > 0
        assert opened.similar("government", rerank=True, k=3).rerank is not None


def test_rerank_train_refuses_a_corpus_with_another_pipeline(tmp_path: Path, lee_store: Path, lee_text: Path) -> None:
    other = embedsearch.ingest([lee_text], tmp_path / "raw", workers=1, pipeline=embedsearch.Pipeline.from_dict(
        {"format": 1, "steps": [{"name": "whitespace", "version": 1, "options": {}}]}))
    with pytest.raises(ConfigError, match="different text pipeline"):
        train_reranker(lee_store, other.path, SMALL)


def test_a_failed_update_leaves_the_store_as_it_was(tmp_path: Path, lee_store: Path) -> None:
    store = tmp_path / "store"
    shutil.copytree(lee_store, store)
    before = {p.relative_to(store): p.read_bytes() for p in store.rglob("*") if p.is_file()}
    with pytest.raises(RuntimeError):
        with updating_store(store) as update:
            path = update.new_file("vectors.npy")  # a hard link to the live file is replaced, not written through
            path.write_bytes(b"garbage")
            update.set_meta("words", 0)
            raise RuntimeError("crash mid-update")
    after = {p.relative_to(store): p.read_bytes() for p in store.rglob("*") if p.is_file()}
    assert after == before  # nothing changed, nothing left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store"]


def test_reranker_files_are_checked_before_use(reranked, tmp_path: Path) -> None:
    store = tmp_path / "store"
    shutil.copytree(reranked[0], store)
    data = bytearray((store_file(store, "reranker.npz")).read_bytes())
    data[-40] ^= 0xFF
    (store_file(store, "reranker.npz")).write_bytes(bytes(data))
    with embedsearch.open_store(store) as opened, pytest.raises(StoreError, match="reranker.npz: checksum mismatch"):
        opened.similar("police", rerank=True)


def test_read_contexts_keeps_the_order_asked_for(lee_store: Path) -> None:
    with embedsearch.open_store(lee_store) as store:
        rows = store.rows_for(["police", "government"])
        window = store.meta["contexts"]["window"]
        both = read_contexts(store._files.db, [rows["police"], rows["government"]], window, vocabulary=len(store))
    assert both.words[0] == rows["police"] and both.words[-1] == rows["government"]
    assert both.left.shape == (32, window)


def test_id_blocks_map_words_and_keep_line_lengths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = tmp_path / "corpus.txt"
    text.write_text("a b zz c\n\nc a\nb\n", encoding="utf-8")
    monkeypatch.setattr(corpus_ids, "BLOCK_TOKENS", 3)
    blocks = list(iter_id_blocks(text, {"a": 0, "b": 1, "c": 2}))
    assert [b.lengths.tolist() for b in blocks] == [[4], [2, 1]]
    np.testing.assert_array_equal(np.concatenate([b.ids for b in blocks]), [0, 1, OOV, 2, 2, 0, 1])
    windows = corpus_windows(iter(blocks), 3, tmp_path)
    np.testing.assert_array_equal(np.asarray(windows), [[0, 1, OOV], [2, PAD, PAD], [2, 0, PAD], [1, PAD, PAD]])


def test_collected_contexts_do_not_depend_on_processes_or_spans(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    vocabulary = [f"w{i}" for i in range(30)]
    lines = [" ".join(rng.choice(vocabulary + ["rare"], size=rng.integers(1, 25))) for _ in range(400)]
    text = tmp_path / "corpus.txt"
    text.write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setattr(contexts_module, "file_spans", lambda path: file_spans(path, size=997))  # spans end mid-line
    one, meta = collect_contexts(text, vocabulary, per_word=5, window=3, seed=2, workers=1)
    two, _ = collect_contexts(text, vocabulary, per_word=5, window=3, seed=2, workers=2)
    for a, b in ((one.words, two.words), (one.left, two.left), (one.right, two.right)):
        np.testing.assert_array_equal(a, b)
    counts = np.bincount([vocabulary.index(w) for line in lines for w in line.split() if w != "rare"], minlength=30)
    np.testing.assert_array_equal(np.bincount(one.words, minlength=30), np.minimum(counts, 5))
    assert meta["occurrences"] == len(one) and meta["seed"] == 2
    for word, left, right in zip(one.words, one.left, one.right):
        fragment = " ".join([*(vocabulary[t] if t >= 0 else "rare" for t in left if t != PAD), vocabulary[word],
                             *(vocabulary[t] if t >= 0 else "rare" for t in right if t != PAD)])
        assert any(fragment in line for line in lines)


# --- a learned target table (context2vec) ------------------------------------------------------


@pytest.fixture(scope="module")
def learned(tmp_path_factory: pytest.TempPathFactory, lee_store: Path, lee_corpus: embedsearch.Corpus):
    store = tmp_path_factory.mktemp("learned") / "store"
    shutil.copytree(lee_store, store)
    result = train_reranker(store, lee_corpus.path, RerankConfig(hidden=16, batch=32, negatives=10, epochs=2,
                                                                 sample=1e-3, seed=4, targets="learned",
                                                                 table_learning_rate=1e-3))
    return store, result


def test_learned_targets_are_trained_saved_and_used(learned, reranked) -> None:
    store_path, result = learned
    assert result.validation_loss_after < 0.7 * result.validation_loss_before
    with sqlite3.connect(store_file(store_path, "meta.sqlite")) as db:
        manifest = json.loads(db.execute("SELECT value FROM meta WHERE key = 'reranker'").fetchone()[0])
    assert manifest["format"] == 2 and manifest["targets"] == "learned" and manifest["config"]["targets"] == "learned"
    with np.load(store_file(store_path, "reranker.npz"), allow_pickle=False) as arrays:
        assert sorted(arrays.files) == ["backward", "forward", "output", "projection"]
        output = arrays["output"]
    with embedsearch.open_store(store_path) as store:
        assert output.shape == (len(store), store.dim)
        vectors = np.asarray(store.vectors)
        # Trained: the table has moved away from the store's vectors it started from, most for frequent words.
        moved = np.linalg.norm(output - vectors, axis=1)
        assert moved[:50].mean() > 0.05 and moved[:50].mean() > moved[-50:].mean()
        reranker = store.reranker
        assert reranker.targets is not store.vectors and np.array_equal(reranker.targets, output)
        row = store.word_id("government")
        candidates = [store.word_id(n.word) for n in store.similar("government", k=10).neighbors]
        slots, own = reranker.slots([row])
        expected = (-np.logaddexp(0, -(slots @ output[candidates].T)) - own[:, None]).mean(axis=0)
        np.testing.assert_allclose(reranker.fit([row], candidates).scores, expected, rtol=1e-5, atol=1e-6)
        assert reranker.fit([row], [row]).scores[0] == pytest.approx(0.0, abs=1e-6)
        assert store.similar("government", k=5, rerank=True).rerank is not None
    # The store-target reranker of the same settings scores differently (its targets are the store's vectors).
    with embedsearch.open_store(reranked[0]) as store:
        assert store.reranker.weights.output is None and store.reranker.targets is store.reranker.vectors
    output_cli = CliRunner().invoke(main, ["info", "-s", str(store_path)])
    assert "its own learned target table" in output_cli.output


def test_rerank_train_cli_targets_option(tmp_path: Path, lee_store: Path, lee_corpus: embedsearch.Corpus) -> None:
    store = tmp_path / "store"
    shutil.copytree(lee_store, store)
    output = CliRunner().invoke(main, ["rerank", "train", "-s", str(store), str(lee_corpus.path), "--hidden", "8",
                                       "--tokens", "2000", "--targets", "learned"])
    assert output.exit_code == 0, output.output
    with np.load(store_file(store, "reranker.npz"), allow_pickle=False) as arrays:
        assert "output" in arrays.files
    bad = CliRunner().invoke(main, ["rerank", "train", "-s", str(store), str(lee_corpus.path), "--targets", "other"])
    assert bad.exit_code == 2
    with pytest.raises(ConfigError, match="targets"):
        RerankConfig(targets="other")


def test_a_learned_table_of_the_wrong_shape_or_missing_is_refused(learned, tmp_path: Path) -> None:
    store = tmp_path / "store"
    shutil.copytree(learned[0], store)
    with np.load(store_file(store, "reranker.npz"), allow_pickle=False) as arrays:
        saved = {key: arrays[key] for key in arrays.files}
    for broken, message in (({**saved, "output": saved["output"][:-1]}, "output has shape"),
                            ({k: v for k, v in saved.items() if k != "output"}, "not a readable reranker")):
        with updating_store(store) as update:
            with open(update.new_file("reranker.npz"), "wb") as handle:
                np.savez(handle, **broken)
            update.record_file("reranker.npz")
        with embedsearch.open_store(store) as opened, pytest.raises(StoreError, match=message):
            opened.similar("government", rerank=True)


def test_an_old_format_reranker_still_opens_and_reranks(reranked, tmp_path: Path) -> None:
    """A reranker.npz written before target tables existed (format 1, three arrays, no 'targets'
    key in its manifest) is read as before: candidates scored against the store's vectors."""
    store = tmp_path / "store"
    shutil.copytree(reranked[0], store)
    with embedsearch.open_store(store) as opened:
        manifest = dict(opened.meta["reranker"])
        before = [(n.word, n.score) for n in opened.similar("government", k=5, rerank=True).neighbors]
    manifest.pop("targets", None)
    manifest["config"] = {k: v for k, v in manifest["config"].items() if k != "targets"}
    with updating_store(store) as update:
        update.set_meta("reranker", manifest)
    with np.load(store_file(store, "reranker.npz"), allow_pickle=False) as arrays:
        assert sorted(arrays.files) == ["backward", "forward", "projection"]
    with embedsearch.open_store(store) as opened:
        assert opened.meta["reranker"]["format"] == 1 and "targets" not in opened.meta["reranker"]
        assert [(n.word, n.score) for n in opened.similar("government", k=5, rerank=True).neighbors] == before


# --- analogies -----------------------------------------------------------------------------------


def test_analogy_fit_is_the_3cosadd_of_fits(reranked) -> None:
    store_path, _ = reranked
    with embedsearch.open_store(store_path) as store:
        a, b, c = (store.word_id(w) for w in ("government", "police", "people"))
        candidates = [store.word_id(n.word) for n in store.similar("president", k=8).neighbors]
        r = store.reranker
        fit = r.analogy_fit([a], [b], [c], candidates)
        expected = r.fit([b], candidates).scores - r.fit([a], candidates).scores + r.fit([c], candidates).scores
        np.testing.assert_allclose(fit.scores, expected, rtol=1e-10)
        assert fit.contexts == sum(store.examples(w).sampled for w in ("government", "police", "people"))
        # The one-question path reorders its candidates by the same score.
        plain = store.analogy("government", "police", "people", k=30)
        result = store.analogy("government", "police", "people", k=30, rerank=True, rerank_k=30, rerank_weight=0.3)
        rows = [store.word_id(n.word) for n in plain.neighbors]
        blended = np.array([n.score for n in plain.neighbors]) + 0.3 * r.analogy_fit([a], [b], [c], rows).scores
        assert [n.word for n in result.neighbors] == [plain.neighbors[i].word for i in np.argsort(-blended, kind="stable")]


ANALOGIES = """: capital
government police people officials
police government officials people
: gram-plural
year years day days
day days year years
city cities state states
state states city cities
"""


def test_evaluate_analogies_rerank_matches_one_question_at_a_time(reranked, tmp_path: Path) -> None:
    from embedsearch.evaluate import evaluate_analogies, rerank_candidates

    store_path, _ = reranked
    questions = tmp_path / "q.txt"
    questions.write_text(ANALOGIES, encoding="utf-8")
    with embedsearch.open_store(store_path) as store:
        plain = evaluate_analogies(store, questions, restrict=None)
        result = evaluate_analogies(store, questions, restrict=None, rerank=True, rerank_k=20, rerank_weight=0.5)
        assert result.rerank is not None and result.rerank.plain == plain.total
        assert result.rerank.weight == 0.5 and result.rerank.candidates == 20
        # Each answer equals analogy --rerank's first answer on the same question.
        expected = 0
        for line in ANALOGIES.splitlines():
            if line.startswith(":"):
                continue
            a, b, c, d = line.split()
            answer = store.analogy(a, b, c, k=1, rerank=True, rerank_k=20, rerank_weight=0.5).neighbors[0].word
            expected += answer == d
        assert result.total.correct == expected
        # Weight 0 is the plain answer; a huge weight is the fit's own choice, which differs here.
        assert evaluate_analogies(store, questions, restrict=None, rerank=True, rerank_weight=0.0).total == plain.total
        # ... also for the top-5 hit rate (Korean benchmarks' --top), and reranking can move answers into it
        plain5 = evaluate_analogies(store, questions, restrict=None, top=5)
        assert evaluate_analogies(store, questions, restrict=None, rerank=True, rerank_weight=0.0, top=5).total == plain5.total
        heavy5 = evaluate_analogies(store, questions, restrict=None, rerank=True, rerank_k=20, rerank_weight=1e3, top=5)
        assert heavy5.rerank.plain == plain5.total and heavy5.total.top_correct >= heavy5.total.correct
        vectors = np.asarray(store.vectors)
        asked = [([a], [b], [c], d) for a, b, c, d in ([store.word_id(w) for w in line.split()]
                                                       for line in ANALOGIES.splitlines() if not line.startswith(":"))]
        found = rerank_candidates(store, vectors, asked, "3cosadd", 20)
        assert all(len(f.rows) == 20 and (np.diff(f.scores) <= 0).all() for f in found)
        assert [f.predict(0.0) for f in found] == [int(r) for r in
                                                   (np.asarray([f.rows[0] for f in found]))]
        assert any(f.predict(1e3) != f.predict(0.0) for f in found)
        with pytest.raises(ConfigError):
            evaluate_analogies(store, questions, rerank=True, rerank_k=0)


def test_evaluate_analogies_rerank_cli(reranked, tmp_path: Path, lee_store: Path) -> None:
    store_path, _ = reranked
    questions = tmp_path / "q.txt"
    questions.write_text(ANALOGIES, encoding="utf-8")
    output = CliRunner().invoke(main, ["evaluate", "analogies", "-s", str(store_path), str(questions), "--rerank",
                                       "--rerank-k", "20", "--rerank-weight", "0.5", "--json"])
    assert output.exit_code == 0, output.output
    data = json.loads(output.stdout)
    assert data["rerank"]["candidates"] == 20 and data["rerank"]["plain"]["answered"] == 6
    text = CliRunner().invoke(main, ["evaluate", "analogies", "-s", str(store_path), str(questions), "--rerank"])
    assert text.exit_code == 0 and "without reranking" in text.output
    missing = CliRunner().invoke(main, ["evaluate", "analogies", "-s", str(lee_store), str(questions), "--rerank"])
    assert missing.exit_code == 1 and "rerank train" in missing.output


def test_resume_learns_a_table_on_top_of_a_trained_encoder(reranked, tmp_path: Path, lee_corpus: embedsearch.Corpus) -> None:
    store = tmp_path / "store"
    shutil.copytree(reranked[0], store)
    with np.load(store_file(store, "reranker.npz"), allow_pickle=False) as arrays:
        encoder = {key: arrays[key] for key in arrays.files}
    config = RerankConfig(hidden=16, batch=32, negatives=10, tokens=3000, sample=1e-3, seed=4, targets="learned",
                          resume=True, table_learning_rate=1e-3)
    result = train_reranker(store, lee_corpus.path, config)
    # It starts where the trained reranker ended, far below a fresh model's held-out loss.
    assert result.validation_loss_before < 0.8 * reranked[1].validation_loss_before
    with np.load(store_file(store, "reranker.npz"), allow_pickle=False) as arrays:
        assert "output" in arrays.files
        assert not np.array_equal(arrays["forward"], encoder["forward"])  # trained further
        assert np.abs(arrays["forward"] - encoder["forward"]).max() < 0.2
    with embedsearch.open_store(store) as opened:
        manifest = opened.meta["reranker"]
        assert manifest["resumed_from"]["targets"] == "store" and manifest["resumed_from"]["tokens"] == reranked[1].tokens
        assert manifest["config"]["table_learning_rate"] == 1e-3
    with pytest.raises(ConfigError, match="units per direction"):
        train_reranker(store, lee_corpus.path, RerankConfig(hidden=8, tokens=100, resume=True))


def test_resume_needs_a_trained_reranker(tmp_path: Path, lee_store: Path, lee_corpus: embedsearch.Corpus) -> None:
    store = tmp_path / "store"
    shutil.copytree(lee_store, store)
    with pytest.raises(ConfigError, match="no reranker to resume from"):
        train_reranker(store, lee_corpus.path, RerankConfig(hidden=8, tokens=100, resume=True))
    with pytest.raises(ConfigError, match="table_learning_rate"):
        RerankConfig(table_learning_rate=0)


def _set_manifest(store: Path, **changes) -> None:
    with updating_store(store) as update:
        manifest = dict(update.meta["reranker"])
        for key, value in changes.items():
            if value is None:
                manifest.pop(key, None)
            else:
                manifest[key] = value
        update.set_meta("reranker", manifest)


def test_analogies_rerank_with_their_own_weight(reranked, tmp_path: Path) -> None:
    """The analogy fit sums three fits, so analogies take the reranker's analogy weight, not the
    neighbour one, unless a weight is given; a reranker saved before the key existed gets the default."""
    from embedsearch.evaluate import evaluate_analogies
    from embedsearch.rerank.training import DEFAULT_BLEND_WEIGHT
    from embedsearch.rerank.weights import DEFAULT_ANALOGY_WEIGHT

    store_path, _ = reranked
    questions = tmp_path / "q.txt"
    questions.write_text(ANALOGIES, encoding="utf-8")
    with embedsearch.open_store(store_path) as store:
        assert store.meta["reranker"]["analogy_weight"] == DEFAULT_ANALOGY_WEIGHT != DEFAULT_BLEND_WEIGHT
        assert store.analogy("man", "king", "woman", k=3, rerank=True).rerank.weight == DEFAULT_ANALOGY_WEIGHT
        assert store.analogy("man", "king", "woman", k=3, rerank=True, rerank_weight=0.3).rerank.weight == 0.3
        assert store.similar("government", k=3, rerank=True).rerank.weight == DEFAULT_BLEND_WEIGHT
        assert evaluate_analogies(store, questions, restrict=None, rerank=True).rerank.weight == DEFAULT_ANALOGY_WEIGHT
    older = tmp_path / "older"
    shutil.copytree(store_path, older)
    _set_manifest(older, analogy_weight=None, blend_weight=0.4)
    with embedsearch.open_store(older) as store:
        assert store.analogy("man", "king", "woman", k=3, rerank=True).rerank.weight == DEFAULT_ANALOGY_WEIGHT
        assert store.similar("government", k=3, rerank=True).rerank.weight == 0.4
    output = CliRunner().invoke(main, ["info", "-s", str(older)])
    assert f"weight 0.4 (analogies: {DEFAULT_ANALOGY_WEIGHT})" in output.output


@pytest.mark.parametrize("value", ["0.02", True, 1e9, None])
def test_a_tampered_analogy_weight_is_refused_on_open(reranked, tmp_path: Path, value) -> None:
    store_path, _ = reranked
    copy = tmp_path / "store"
    shutil.copytree(store_path, copy)
    from embedsearch.store.generations import live_directory
    from embedsearch.store.writer import seal_meta

    db = sqlite3.connect(live_directory(copy) / "meta.sqlite")  # as a tamperer would: past the writer's checks
    (raw,) = db.execute("SELECT value FROM meta WHERE key = 'reranker'").fetchone()
    db.execute("UPDATE meta SET value = ? WHERE key = 'reranker'", (json.dumps({**json.loads(raw), "analogy_weight": value}),))
    try:
        seal_meta(db)
    except embedsearch.EmbedsearchError:  # the sealer checks too: then the missing checksums must object
        db.execute("DELETE FROM meta WHERE key = 'checksums'")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="analogy_weight|checksum"):
        with embedsearch.open_store(copy) as store:
            store.analogy("man", "king", "woman", k=3, rerank=True)
