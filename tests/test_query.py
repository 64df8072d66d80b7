"""The query engine: known answers on hand-made vectors, and parity with gensim on trained ones."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import embedsearch
from embedsearch.errors import ConfigError, ExpressionError, QueryError, UnknownWordError, UsageError

from .conftest import TOY_WORDS


@pytest.fixture()
def toy(toy_store: Path):
    with embedsearch.open_store(toy_store) as store:
        yield store


def words(neighbors):
    return [n.word for n in neighbors]


def test_similar_excludes_the_query_and_orders_by_cosine(toy):
    result = toy.similar("apple", k=3)
    assert words(result.neighbors) == ["pear", "new", "car"]  # cosines 0.995, 0.381, 0.194
    assert result.neighbors[0].score == pytest.approx(1.02 / np.sqrt(1.01 * 1.04), abs=1e-6)
    assert [n.score for n in result.neighbors] == sorted((n.score for n in result.neighbors), reverse=True)


def test_query_words_go_through_the_store_pipeline(toy):
    result = toy.similar("  APPLE ", k=1)
    assert result.terms[0].words == ["apple"] and words(result.neighbors) == ["pear"]


def test_phrase_averages_its_words_and_excludes_them(toy):
    result = toy.similar("new york", k=2)
    assert words(result.neighbors) == ["city", "car"]
    assert [t.words for t in result.terms] == [["new", "york"]]  # one term: the pipeline sees the phrase whole


def test_expression_king_minus_man_plus_woman_is_queen(toy):
    assert words(toy.similar("king - man + woman", k=1).neighbors) == ["queen"]


def test_weights_change_the_answer(toy):
    assert words(toy.similar("apple + 3*city", k=1).neighbors) == ["new"]
    assert words(toy.similar("3*apple + city", k=1).neighbors) == ["pear"]


def test_expression_that_cancels_out_is_a_clear_error(toy):
    with pytest.raises(QueryError, match="cancel out"):
        toy.similar("king - king")


def test_analogy_both_methods(toy):
    for method in ("3cosadd", "3cosmul"):
        result = toy.analogy("man", "king", "woman", k=2, method=method)
        assert result.neighbors[0].word == "queen"
        assert {"man", "king", "woman"}.isdisjoint(words(result.neighbors))
    with pytest.raises(ConfigError, match="method must be one of"):
        toy.analogy("man", "king", "woman", method="3cosdiv")


def test_similarity_and_doesnt_match(toy):
    assert toy.similarity("apple", "pear").score == pytest.approx(1.02 / np.sqrt(1.01 * 1.04), abs=1e-6)
    assert toy.similarity("King", "king").score == pytest.approx(1.0, abs=1e-6)
    result = toy.doesnt_match(["apple", "pear", "car"])
    assert result.odd_one_out == "car"
    assert [n.score for n in result.scores] == sorted(n.score for n in result.scores)
    with pytest.raises(UsageError, match="at least 3 words"):
        toy.doesnt_match(["apple", "pear"])


def test_unknown_word_names_close_spellings(toy):
    with pytest.raises(UnknownWordError) as caught:
        toy.similar("quene")
    assert caught.value.word == "quene" and "queen" in caught.value.suggestions
    with pytest.raises(UnknownWordError, match="close spellings: apple"):
        toy.analogy("man", "king", "aple")


def test_bad_k_and_bad_expressions(toy):
    with pytest.raises(ConfigError):
        toy.similar("apple", k=0)
    with pytest.raises(ExpressionError):
        toy.similar("apple +")
    with pytest.raises(QueryError, match="no words left"):
        toy.similar("!!!")


def test_k_larger_than_vocabulary_returns_all_other_words(toy):
    assert sorted(words(toy.similar("apple", k=100).neighbors)) == sorted(set(TOY_WORDS) - {"apple"})


def test_info_describes_the_store(toy, toy_store: Path):
    info = toy.info()
    assert (info.words, info.dim, info.metric) == (len(TOY_WORDS), 4, "cosine")
    assert info.pipeline == "nfkc → sentences → lowercase → word"
    assert info.index["kind"] == "flat" and info.index["exact"] is True
    assert set(info.files) == {"meta.sqlite", "vectors.npy"}


def test_vector_and_membership(toy):
    assert "apple" in toy and "APPLE" not in toy and 42 not in toy
    np.testing.assert_allclose(np.linalg.norm(toy.vector("king")), 1.0, rtol=1e-6)


# --- parity with gensim on a trained store -----------------------------------------------------


@pytest.fixture(scope="module")
def gensim_twin(lee_store: Path):
    """gensim KeyedVectors holding exactly the store's vectors, and the store itself."""
    from gensim.models import KeyedVectors

    with embedsearch.open_store(lee_store) as store:
        words_in_order = store.words_of(range(len(store)))
        kv = KeyedVectors(store.dim)
        kv.add_vectors(words_in_order, np.asarray(store.vectors))
        yield store, kv


QUERY_WORDS = ["government", "police", "world", "australia", "fire", "people", "says", "minister", "day", "new"]
ANALOGIES = [("man", "he", "woman"), ("australia", "australian", "afghanistan"), ("police", "officers", "fire"),
             ("government", "minister", "palestinian"), ("day", "days", "year")]


def test_similar_matches_gensim_most_similar(gensim_twin):
    store, kv = gensim_twin
    for word in QUERY_WORDS:
        ours = words(store.similar(word, k=10).neighbors)
        theirs = [w for w, _ in kv.most_similar(word, topn=10)]
        assert ours == theirs, word


def test_expression_matches_gensim_positive_negative(gensim_twin):
    store, kv = gensim_twin
    ours = words(store.similar("police - fire + government", k=10).neighbors)
    theirs = [w for w, _ in kv.most_similar(positive=["police", "government"], negative=["fire"], topn=10)]
    assert ours == theirs


@pytest.mark.parametrize(("a", "b", "c"), ANALOGIES)
def test_analogy_matches_gensim_for_both_methods(gensim_twin, a, b, c):
    store, kv = gensim_twin
    add = store.analogy(a, b, c, k=10, method="3cosadd")
    assert words(add.neighbors) == [w for w, _ in kv.most_similar(positive=[b, c], negative=[a], topn=10)]
    mul = store.analogy(a, b, c, k=10, method="3cosmul")
    theirs = kv.most_similar_cosmul(positive=[b, c], negative=[a], topn=10)
    assert words(mul.neighbors) == [w for w, _ in theirs]
    np.testing.assert_allclose([n.score for n in mul.neighbors], [s for _, s in theirs], rtol=1e-4)


def test_similarity_and_doesnt_match_match_gensim(gensim_twin):
    store, kv = gensim_twin
    assert store.similarity("police", "fire").score == pytest.approx(float(kv.similarity("police", "fire")), abs=1e-5)
    group = ["government", "minister", "police", "fire", "day"]
    assert store.doesnt_match(group).odd_one_out == kv.doesnt_match(group)


# --- the query path stays light -----------------------------------------------------------------


def test_answering_a_query_does_not_import_training_code(lee_store: Path):
    script = (
        "import sys, embedsearch\n"
        f"store = embedsearch.open_store({str(lee_store)!r})\n"
        "store.similar('government', k=5); store.analogy('man', 'he', 'woman', method='3cosmul')\n"
        "store.similarity('police', 'fire'); store.info()\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in {'gensim', 'fasttext', 'sqlite_utils', 'scipy'}"
        " or m.startswith('embedsearch.training') or m == 'embedsearch.corpus')\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_large_vocabularies_are_not_cached_in_memory(toy_store, monkeypatch: pytest.MonkeyPatch):
    import embedsearch.query as query_module

    monkeypatch.setattr(query_module, "_WARM_MAX_WORDS", 5)
    with embedsearch.open_store(toy_store) as store:
        answers = [[n.word for n in store.similar("king", k=3).neighbors] for _ in range(3)]
        assert store._row_of is None
    assert answers[0] == answers[1] == answers[2]
