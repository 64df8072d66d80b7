"""The parallel vocabulary count that replaces gensim's single-threaded scan."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import embedsearch
from embedsearch.errors import SourceError
from embedsearch.spans import file_spans, span_lines
from embedsearch.training.vocab import GENSIM_SENTENCE_WORDS, count_words

from .conftest import LEE_TRAIN


def _gensim_scan(path: Path) -> tuple[dict[str, int], int, int]:
    from gensim.models import Word2Vec

    model = Word2Vec(min_count=1)
    total, sentences = model.scan_vocab(corpus_file=str(path))
    return dict(model.raw_vocab), sentences, total


def test_counts_order_and_sentences_match_gensims_scan(tmp_path: Path):
    path = tmp_path / "corpus.txt"
    lines = ["b a b", "", "c  a\td", "   ", " ".join(["e"] * (GENSIM_SENTENCE_WORDS + 5)), "a\ff b\r", "zé b"]
    path.write_text("\n".join(lines), encoding="utf-8")  # no final newline: the last line still counts
    expected = _gensim_scan(path)
    for workers in (1, 2):
        found = count_words(path, workers=workers)
        assert (found.counts, found.sentences, found.tokens) == expected
        assert list(found.counts) == list(expected[0])  # first-occurrence order, which breaks count ties


def test_counts_do_not_depend_on_span_size(tmp_path: Path, lee_corpus, monkeypatch):
    expected = _gensim_scan(lee_corpus.text_path)
    monkeypatch.setattr("embedsearch.training.vocab.file_spans", lambda p: file_spans(p, size=4099))
    found = count_words(lee_corpus.text_path, workers=2)
    assert len(file_spans(lee_corpus.text_path, size=4099)) > 50
    assert (found.counts, found.sentences, found.tokens) == expected
    assert list(found.counts) == list(expected[0])


def test_spans_read_every_line_once(tmp_path: Path):
    path = tmp_path / "lines.txt"
    lines = [f"line {i} " + "x" * (i % 37) for i in range(500)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for size in (1, 7, 64, 10_000):
        read = [line for _, start, end in file_spans(path, size) for _, line in span_lines(path, start, end)]
        assert read == lines


def test_damaged_corpus_is_a_clear_error(tmp_path: Path):
    path = tmp_path / "corpus.txt"
    path.write_bytes(b"fine words\nbad \xff byte\n")
    with pytest.raises(SourceError, match="not valid UTF-8 at byte 15"):
        count_words(path, workers=1)


def test_training_equals_raw_gensim_bit_for_bit(tmp_path: Path, lee_corpus):
    """One worker and a seed: our train (parallel count + build_vocab_from_freq + train) and a plain
    ``Word2Vec(corpus_file=...)`` give the same vocabulary, order and vectors."""
    from gensim.models import Word2Vec

    settings = dict(LEE_TRAIN, dim=16, epochs=2)
    result = embedsearch.train(lee_corpus, tmp_path / "store", config=embedsearch.TrainConfig(**settings), contexts=0)
    raw = Word2Vec(corpus_file=str(lee_corpus.text_path), vector_size=16, window=5, min_count=3, sg=1, hs=0,
                   negative=5, sample=1e-3, epochs=2, alpha=0.025, min_alpha=0.0001, workers=1, seed=7)
    store = embedsearch.open_store(result.store)
    assert store.vocabulary() == raw.wv.index_to_key
    assert result.corpus_words == raw.corpus_total_words
    expected = raw.wv.vectors / np.linalg.norm(raw.wv.vectors, axis=1, keepdims=True)
    np.testing.assert_array_equal(np.asarray(store.vectors), expected.astype(np.float32))
