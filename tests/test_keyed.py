"""The gensim-shaped API: same answers as gensim's KeyedVectors on the same vectors; `among=`."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import embedsearch
from embedsearch.errors import ConfigError, UnknownWordError


@pytest.fixture(scope="module")
def pair(lee_store: Path):
    from gensim.models import KeyedVectors

    store = embedsearch.open_store(lee_store)
    keyed = KeyedVectors(vector_size=store.dim)
    keyed.add_vectors(store.vocabulary(), np.asarray(store.vectors))
    yield store, keyed
    store.close()


def _same(ours: list[tuple[str, float]], theirs: list[tuple[str, float]]) -> None:
    assert [w for w, _ in ours] == [w for w, _ in theirs]
    np.testing.assert_allclose([s for _, s in ours], [s for _, s in theirs], atol=1e-6)


def test_getitem_and_vector_are_gensims(pair):
    store, keyed = pair
    np.testing.assert_allclose(store["government"], keyed["government"], atol=1e-7)
    np.testing.assert_allclose(store.vector("police"), keyed.get_vector("police", norm=True), atol=1e-7)
    assert store[["government", "police"]].shape == (2, store.dim)
    assert store.index_to_key[:5] == keyed.index_to_key[:5] and store.key_to_index["police"] == keyed.key_to_index["police"]
    with pytest.raises(UnknownWordError):
        store["governmentt"]  # a Word2Vec store has no subwords


@pytest.mark.parametrize("positive,negative", [
    (["government"], None),
    (["police", "fire"], ["government"]),
    (["australia", "government"], ["police"]),
    ([("police", 2.0), "fire"], None),
])
def test_most_similar_equals_gensim(pair, positive, negative):
    store, keyed = pair
    _same(store.most_similar(positive=positive, negative=negative, topn=7),
          keyed.most_similar(positive=positive, negative=negative, topn=7))
    _same(store.most_similar(positive=positive, negative=negative, topn=5, restrict_vocab=300),
          keyed.most_similar(positive=positive, negative=negative, topn=5, restrict_vocab=300))


@pytest.mark.parametrize("positive,negative", [(["police", "fire"], ["government"]), (["australia"], None),
                                               (["man", "king"], ["woman"])])
def test_most_similar_cosmul_equals_gensim(pair, positive, negative):
    store, keyed = pair
    if any(w not in keyed for w in positive + (negative or [])):
        pytest.skip("word not in the tiny vocabulary")
    _same(store.most_similar_cosmul(positive=positive, negative=negative, topn=6),
          keyed.most_similar_cosmul(positive=positive, negative=negative, topn=6))


def test_similar_by_vector_and_word_equal_gensim(pair):
    store, keyed = pair
    vector = keyed["police"] * 3 + keyed["fire"]  # not unit length
    _same(store.similar_by_vector(vector, topn=8), keyed.similar_by_vector(vector, topn=8))
    _same(store.similar_by_word("fire", topn=4), keyed.similar_by_word("fire", topn=4))
    _same(store.most_similar(positive=[vector, "government"], topn=5),
          keyed.most_similar(positive=[vector, "government"], topn=5))


def test_among_restricts_answers_exactly(pair):
    store, keyed = pair
    among = ["fire", "police", "government", "sydney", "notaword", "australia", "the"]
    result = store.most_similar(positive=["police"], topn=10, among=among)
    assert [w for w, _ in result] and {w for w, _ in result} <= set(among) - {"police", "notaword"}
    brute = sorted(((w, float(keyed.similarity("police", w))) for w in among if w in keyed and w != "police"),
                   key=lambda p: -p[1])
    _same(result, brute)
    similar = store.similar("police", k=3, among=among)
    assert [n.word for n in similar.neighbors] == [w for w, _ in brute[:3]]
    analogy = store.analogy("police", "fire", "government", k=2, among=among)
    assert {n.word for n in analogy.neighbors} <= set(among) - {"police", "fire", "government"}
    cosmul = store.analogy("police", "fire", "government", k=2, method="3cosmul", among=among)
    assert {n.word for n in cosmul.neighbors} <= set(among)
    assert store.most_similar(positive=["police"], among=["notaword"]) == []
    with pytest.raises(ConfigError):
        store.most_similar(positive=["police"], among="fire")


def test_to_keyedvectors_round_trip(pair):
    pytest.importorskip("gensim")
    store, _ = pair
    keyed = store.to_keyedvectors()
    assert len(keyed) == len(store) and keyed.vector_size == store.dim
    np.testing.assert_allclose(keyed["police"], store["police"], atol=0)
    assert keyed.get_vecattr("police", "count") == int(store.counts()[store.word_id("police")])
    _same(store.most_similar(positive=["fire"], topn=5), keyed.most_similar(positive=["fire"], topn=5))


def test_bad_input_is_a_clear_error(pair):
    store, _ = pair
    with pytest.raises(ConfigError):
        store.most_similar()
    with pytest.raises(ConfigError):
        store.most_similar(positive=["fire"], topn=0)
    with pytest.raises(ConfigError):
        store.similar_by_vector(np.ones(3))
    with pytest.raises(ConfigError):
        store.most_similar_cosmul(negative=["fire"])
