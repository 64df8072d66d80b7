"""The text pipeline: known answers for every step, saved-form round trips, and invariants."""
from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from embedsearch.errors import ConfigError
from embedsearch.text.pipeline import Pipeline, Step, available_steps, english_words, parse_steps


@pytest.fixture(scope="module")
def english():
    return english_words().compile()


def test_english_pipeline_known_answer(english):
    text = "The Quick brown fox. It isn't state-of-the-art!  ＦＵＬＬ width ﬁle 2024"
    assert english.process(text) == [
        ["the", "quick", "brown", "fox"],
        ["it", "isn't", "state-of-the-art"],
        ["full", "width", "file", "2024"],
    ]


def test_word_tokenizer_keeps_letters_of_every_script(english):
    # Devanagari vowel signs are combining marks (not \w in Python's re); words must stay whole.
    assert english.tokens("नमस्ते दुनिया") == ["नमस्ते", "दुनिया"]
    assert english.tokens("한국어 문장입니다, Привет мир; 漢字") == ["한국어", "문장입니다", "привет", "мир", "漢字"]
    assert english.tokens("e-mail -dash- 'quoted' don't") == ["e-mail", "dash", "quoted", "don't"]


def test_sentences_split_after_closing_quotes():
    split = Pipeline.of("sentences", "whitespace").compile()
    assert split.process('He said "stop." Then left? Yes… ok') == [["He", "said", '"stop."'], ["Then", "left?"], ["Yes…"], ["ok"]]


def test_length_filter_and_options():
    pipeline = parse_steps("lowercase,word,length:min_chars=2;max_chars=4").compile()
    assert pipeline.tokens("A bb CCC dddd eeeee") == ["bb", "ccc", "dddd"]
    with pytest.raises(ConfigError, match="min_chars"):
        parse_steps("word,length:min_chars=0").compile()
    with pytest.raises(ConfigError, match="no option"):
        parse_steps("word,length:colour=red").compile()


def test_saved_form_round_trip_gives_the_same_tokens(english):
    saved = english_words().to_dict()
    again = Pipeline.from_dict(saved)
    assert again == english_words()
    text = "Mixed CASE. Ünïcödé  text!"
    assert again.compile().process(text) == english.process(text)


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        (("nfkc", "lowercase"), "exactly one tokenizer"),
        (("word", "whitespace"), "exactly one tokenizer"),
        (("word", "lowercase"), "cannot come after the tokenizer"),
        (("nope", "word"), "unknown pipeline step"),
    ],
)
def test_invalid_pipelines_are_rejected(steps, message):
    with pytest.raises(ConfigError, match=message):
        Pipeline.of(*steps)


def test_unknown_step_version_is_rejected():
    with pytest.raises(ConfigError, match="version 99"):
        Pipeline((Step("word", 99),))
    with pytest.raises(ConfigError, match="not a pipeline"):
        Pipeline.from_dict({"format": 42, "steps": []})


def test_available_steps_describe_every_registered_step():
    names = {name for name, *_ in available_steps()}
    assert {"nfkc", "lowercase", "sentences", "word", "whitespace", "length"} <= names


@given(st.text(max_size=200))
def test_normalisation_is_idempotent(text):
    normalise = Pipeline.of("nfkc", "lowercase", "whitespace").compile()
    once = " ".join(normalise.tokens(text))
    assert " ".join(normalise.tokens(once)) == once


@given(st.text(max_size=300))
def test_tokens_are_never_empty_and_never_contain_whitespace(text):
    for sentence in english_words().compile().process(text):
        assert sentence
        for token in sentence:
            assert token and not any(ch.isspace() for ch in token)


@given(st.text(max_size=300))
def test_tokenizing_joined_tokens_is_stable(text):
    # What ingest writes (tokens joined by spaces) reads back as the same tokens.
    english = english_words().compile()
    tokens = english.tokens(text)
    assert english.tokens(" ".join(tokens)) == tokens


def test_word_pattern_covers_all_combining_marks_of_this_python():
    from embedsearch.text.marks import MARK_RANGES

    covered = {cp for low, high in MARK_RANGES for cp in range(low, high + 1)}
    # Python's Unicode may be newer than the frozen table; what the table lists must still be marks.
    assert all(unicodedata.category(chr(cp)).startswith("M") for cp in list(covered)[:: max(1, len(covered) // 500)])
