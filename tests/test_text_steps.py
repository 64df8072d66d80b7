"""Every normaliser, filter and tokenizer step: known answers, options, and invariants."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embedsearch.errors import ConfigError, SourceError
from embedsearch.text.filters import builtin_stopwords, read_stopword_file
from embedsearch.text.pipeline import Pipeline, available_steps, english_words, parse_steps
from embedsearch.text.presets import PipelineOptions, build_pipeline
from embedsearch.text.steps import PLACEHOLDERS, REGISTRY, TEXT, VERSIONS


def run(*steps, text: str) -> list[str]:
    return Pipeline.of(*steps).compile().tokens(text)


def normalise(step, text: str) -> str:
    """What one text step makes of ``text``."""
    return Pipeline.of(step, "whitespace").compile().segments(text)[0]


# --- normalisers -------------------------------------------------------------------------------


def test_unicode_forms():
    assert normalise("nfc", "e\u0301") == "\u00e9"
    assert normalise("nfc", "ﬁ２") == "ﬁ２"  # NFC keeps compatibility characters
    assert normalise("nfkc", "ﬁ２") == "fi2"
    assert normalise("nfc", "ㅋㅋ") == "ㅋㅋ"  # NFC keeps Hangul compatibility jamo; NFKC would not
    assert normalise("nfc", "\u1112\u1161\u11ab") == "한"  # conjoining jamo compose


def test_casefold_is_stronger_than_lowercase():
    assert normalise("casefold", "Straße ΣΊΣΥΦΟΣ") == "strasse σίσυφοσ"
    assert normalise("lowercase", "Straße") == "straße"


def test_unaccent_strips_latin_accents_and_keeps_other_scripts():
    assert normalise("unaccent", "Crème brûlée, São Paulo, Ångström, Ёж") == "Creme brulee, Sao Paulo, Angstrom, Еж"
    assert normalise("unaccent", "नमस्ते 한국어 漢字") == "नमस्ते 한국어 漢字"  # vowel signs are not accents


def test_html_entities_and_markup():
    assert normalise("html", "Fish &amp; chips &#233;t&eacute; <b>bold</b><br/>x<!-- note -->y") == "Fish & chips été  bold  x y"
    assert normalise("html", "<script>var a = 1;</script>text <ref name=x>cite</ref>") == " text  cite "
    assert normalise("html", "a < b and c > d, 3<4") == "a < b and c > d, 3<4"  # not tags
    assert normalise("html", "keep <url> and <num>") == "keep <url> and <num>"  # placeholders are not markup
    assert normalise("html", "&amp;lt;b&amp;gt;x") == " x"  # double-escaped markup goes too


def test_punct_keeps_letters_of_every_script_and_digits():
    assert run("punct", "whitespace", text="Hello, world! 한국어는… «Привет» — 漢字; 3.14% e-mail_ok ★☺") == [
        "Hello", "world", "한국어는", "Привет", "漢字", "3", "14", "e", "mail", "ok"]
    assert run(("punct", {"keep": "-'"}), "whitespace", text="state-of-the-art isn't (x)") == ["state-of-the-art", "isn't", "x"]
    assert run("punct", "whitespace", text="नमस्ते!") == ["नमस्ते"]  # combining vowel signs stay
    with pytest.raises(ConfigError, match="spaces"):
        run(("punct", {"keep": " "}), "whitespace", text="x")


def test_spaces_collapse_and_invisible_characters():
    assert normalise("spaces", "  a \t b\u00a0\u00a0c\u200bd soft\u00adhyphen \n") == "a b cd softhyphen"


ENTITY_TEXT = ("Mail jo.bo+x@mail.example.co.uk or see https://example.com/a?b=1, www.test.org. "
               "On 2024-03-15, 15/03/2024, March 15, 2024 and 2024년 3월 15일 call 010-1234-5678 or "
               "+1 (555) 123-4567. It costs 3,000.50 or 12% of 1990년 sales.")


def test_entities_become_placeholders():
    tokens = run("entities", "word", text=ENTITY_TEXT)
    assert tokens == [
        "Mail", "<email>", "or", "see", "<url>", "<url>", "On", "<date>", "<date>", "<date>", "and", "<date>", "call",
        "<phone>", "or", "<phone>", "It", "costs", "<num>", "or", "<num>", "of", "<num>", "년", "sales"]


def test_entities_removed_or_kept_per_kind():
    remove = ("entities", {"url": "remove", "email": "remove", "date": "keep", "phone": "keep", "num": "keep"})
    assert run(remove, "whitespace", text="see https://x.org/y or a@b.com on 2024-01-02") == ["see", "or", "on", "2024-01-02"]
    with pytest.raises(ConfigError, match="url must be one of"):
        run(("entities", {"url": "hide"}), "word", text="x")


def test_words_with_digits_are_not_numbers():
    assert run("entities", "word", text="mp3 covid19 1990s 3rd v1.2.3") == ["mp3", "covid19", "1990s", "3rd", "v1", "2", "3"]


# --- tokenizers and n-grams --------------------------------------------------------------------


def test_char_tokenizer_keeps_combining_marks_with_their_letter():
    assert run("char", text="한국 e\u0301!") == ["한", "국", "e\u0301", "!"]


def test_word_ngrams():
    assert run("word", ("word_ngrams", {"min_n": 1, "max_n": 2}), text="new york city") == [
        "new", "new_york", "york", "york_city", "city"]
    assert run("word", ("word_ngrams", {"min_n": 2, "max_n": 3}), text="a b c") == ["a_b", "a_b_c", "b_c"]
    with pytest.raises(ConfigError, match="min_n <= max_n"):
        run("word", ("word_ngrams", {"min_n": 3, "max_n": 2}), text="x")


def test_char_ngrams():
    assert run("word", "char_ngrams", text="where is") == ["whe", "her", "ere", "is"]
    assert run("word", ("char_ngrams", {"min_n": 2, "max_n": 3, "boundary": "<", "keep_word": True}), text="ab") == [
        "<a", "<ab", "ab", "ab>", "b>"]
    assert run("word", ("char_ngrams", {"min_n": 3, "max_n": 3, "boundary": "<", "keep_word": True}), text="ab") == [
        "ab", "<ab", "ab>"]
    assert run("entities", "word", "char_ngrams", text="at 42") == ["at", "<num>"]  # placeholders stay whole


# --- filters -------------------------------------------------------------------------------------


def test_builtin_and_user_stopwords(tmp_path):
    assert {"the", "and", "is"} <= builtin_stopwords("en") and {"은", "는", "을", "를", "것"} <= builtin_stopwords("ko")
    assert run("lowercase", "word", "stopwords", text="The cat is on the mat") == ["cat", "mat"]
    assert run("word", ("stopwords", {"lists": "", "words": ["Cat"]}), text="the cat CAT sat") == ["the", "sat"]
    assert run("whitespace", ("stopwords", {"lists": "ko"}), text="그 학생 은 책 을 읽었다") == ["학생", "책", "읽었다"]
    words = tmp_path / "stop.txt"
    words.write_text("# my list\nfoo bar\n\nbaz  # trailing comment\n", encoding="utf-8")
    assert read_stopword_file(str(words)) == ["bar", "baz", "foo"]
    with pytest.raises(SourceError, match="cannot read stopword file"):
        read_stopword_file(str(tmp_path / "missing.txt"))
    with pytest.raises(ConfigError, match="no built-in stopword list"):
        run("word", ("stopwords", {"lists": "xx"}), text="x")


def test_stem_known_answers():
    assert run("word", "stem", text="jumps jumping jumped") == ["jump", "jump", "jump"]
    assert run("word", ("stem", {"language": "german"}), text="häuser laufen") == ["haus", "lauf"]
    assert run("entities", "word", "stem", text="running 42") == ["run", "<num>"]
    with pytest.raises(ConfigError, match="no Snowball stemmer"):
        run("word", ("stem", {"language": "klingon"}), text="x")


def test_lemma_known_answers():
    assert run("word", "lemma", text="is am are") == ["be", "be", "be"]
    assert run("lowercase", "word", "lemma", text="Mice were running") == ["mouse", "be", "run"]
    with pytest.raises(ConfigError, match="morphemes tokenizer"):
        run("word", ("lemma", {"language": "ko"}), text="x")


def test_length_filter_keeps_placeholders_unsplit():
    assert run("entities", "word", ("length", {"min_chars": 3}), text="a ab abc 12345") == ["abc", "<num>"]


# --- registry, saved form, presets --------------------------------------------------------------


def test_every_registered_step_is_listed_and_builds_with_its_defaults():
    listed = {name for name, *_ in available_steps()}
    assert listed == set(REGISTRY)
    assert {"nfc", "casefold", "unaccent", "html", "punct", "spaces", "entities", "char", "word_ngrams", "char_ngrams",
            "stopwords", "stem", "lemma", "phrases", "morphemes", "by_script", "subword"} <= listed
    for (name, _version), definition in VERSIONS.items():
        if definition.fitted or name in ("morphemes",):
            continue
        definition.build(dict(definition.defaults))  # the documented defaults are valid options


def test_parse_steps_with_list_options_round_trips():
    pipeline = parse_steps("nfkc,entities:num=keep;date=remove,word,stopwords:lists=en+ko,stem:language=english")
    assert pipeline.steps[1].options == {"num": "keep", "date": "remove"}
    assert pipeline.steps[3].options == {"lists": "en+ko"}
    assert Pipeline.from_dict(pipeline.to_dict()) == pipeline
    assert run("word", ("stopwords", {"lists": "en+ko"}), text="the 것 cat") == ["cat"]


def test_default_options_build_the_default_pipeline():
    assert build_pipeline(PipelineOptions()) == english_words()
    full = build_pipeline(PipelineOptions(html=True, entities=["all"], strip_accents=True, punct=True, case="casefold",
                                          lemma=True, stem="english", builtin_stopwords=["en"], min_chars=2,
                                          word_ngrams=2))
    assert [s.name for s in full.steps] == ["nfkc", "html", "entities", "unaccent", "sentences", "casefold", "punct",
                                             "word", "stopwords", "lemma", "stem", "length", "word_ngrams"]
    assert full.compile().tokens("The Cafés are <b>closed</b> at https://x.org!") == [
        "cafe", "cafe_close", "close", "close_<url>", "<url>"]  # "are", "at": stopwords
    with pytest.raises(ConfigError, match="entities are"):
        PipelineOptions(entities=["urls"])
    with pytest.raises(ConfigError, match="morpheme analyser"):
        build_pipeline(PipelineOptions(pos_tags=True))


def test_user_stopwords_are_saved_in_the_pipeline(tmp_path):
    path = tmp_path / "stop.txt"
    path.write_text("quick\nfox\n", encoding="utf-8")
    pipeline = build_pipeline(PipelineOptions(stopword_files=[str(path)]))
    path.unlink()  # queries need no file: the words are in the saved pipeline
    again = Pipeline.from_dict(pipeline.to_dict())
    assert again.compile().tokens("The quick brown fox") == ["the", "brown"]


def test_old_step_versions_stay_available_and_new_ones_are_preferred():
    from embedsearch.text.steps import register

    @register("lowercase", kind=TEXT, version=99, description="test only")
    def _lower_v99(options):
        return str.upper

    try:
        assert Pipeline.of("lowercase", "word").steps[0].version == 99
        saved = {"format": 1, "steps": [{"name": "lowercase", "version": 1}, {"name": "word", "version": 1}]}
        assert Pipeline.from_dict(saved).compile().tokens("ABC") == ["abc"]  # a store made with v1 still gets v1
    finally:
        del VERSIONS[("lowercase", 99)]
        REGISTRY["lowercase"] = VERSIONS[("lowercase", 1)]


# --- properties ---------------------------------------------------------------------------------

IDEMPOTENT = ["nfc", "nfkc", "casefold", "lowercase", "unaccent", "html", "punct", "spaces", "entities",
              ("entities", {k: "remove" for k in ("url", "email", "date", "phone", "num")})]
PIECES = [" ", ".", ",", ":", "/", "@", "<", ">", "&", ";", "#", "-", "https://", "www.", "<url>", "<num>", "&amp;",
          "<b>", "</b>", "&#233;", "2024-03-15", "010-1234-5678", "3,000", "a@b.co", "é", "e\u0301", "한국어", "ß"]
# Random text, and text built from the pieces normalisers look for (no regex strategy: validating
# generated strings against a nested-quantifier regex can backtrack for minutes).
texty = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=120) | st.lists(
    st.sampled_from(PIECES) | st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=6),
    max_size=25,
).map("".join)


@pytest.mark.parametrize("step", IDEMPOTENT, ids=str)
@settings(max_examples=150, deadline=None)
@given(text=texty)
def test_normalisers_are_idempotent(step, text):
    once = normalise(step, text)
    assert normalise(step, once) == once


@settings(max_examples=150, deadline=None)
@given(text=texty)
def test_no_empty_tokens_from_any_tokenizer_or_filter(text):
    for steps in (("entities", "punct", "word"), ("char",), ("entities", "whitespace", "char_ngrams"),
                  ("word", "word_ngrams"), ("html", "word", "stem"), ("word", ("stopwords", {"lists": "en+ko"}))):
        for sentence in Pipeline.of(*steps).compile().process(text):
            assert sentence and all(token and not any(ch.isspace() for ch in token) for token in sentence)


placeholder = st.sampled_from(sorted(PLACEHOLDERS))
filler = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)


@settings(max_examples=150, deadline=None)
@given(parts=st.lists(st.tuples(filler, placeholder), max_size=6), tail=filler)
def test_placeholders_are_never_split(parts, tail):
    text = "".join(f"{before}{ph}" for before, ph in parts) + tail
    wanted = [ph for _, ph in parts]
    for tokenizer in ("word", "whitespace", "char"):
        for extra in ((), ("punct",)):
            tokens = Pipeline.of("entities", *extra, tokenizer).compile().tokens(text)
            found = [t for t in tokens if t in PLACEHOLDERS]
            # what the text brought along may add placeholders (a number in the filler), never lose or cut one
            assert all(found.count(ph) >= wanted.count(ph) for ph in set(wanted))
            assert not any(t != ph and ph in t for t in tokens for ph in PLACEHOLDERS)


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(list("ab .!?…。\"')]”’\n\t\u3000")), max_size=40) | texty)
def test_fast_sentence_split_equals_its_definition(text):
    from embedsearch.text.steps import _SENTENCE_END, split_sentences

    assert split_sentences(text) == [part for part in _SENTENCE_END.split(text) if part and not part.isspace()]


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.characters(max_codepoint=127), max_size=80) | st.from_regex(r"[a-z'\- _0-9]{0,40}", fullmatch=True))
def test_ascii_fast_path_of_word_equals_the_unicode_pattern(text):
    from embedsearch.text.steps import word_pattern

    assert Pipeline.of("word").compile().tokens(text) == word_pattern().findall(text)


marked_text = st.text(alphabet=st.sampled_from(list("ab é-'’ _1\u0301\u0903\u093f\u0e31\u05b0.!한\U0001d167\U000101fd\u200d")), max_size=50)


@settings(max_examples=300, deadline=None)
@given(text=marked_text | st.text(max_size=60))
def test_fast_word_pattern_equals_its_definition(text):
    import re

    from embedsearch.text.steps import WORD_REGEX, word_pattern

    assert word_pattern().findall(text) == re.findall(WORD_REGEX, text)
