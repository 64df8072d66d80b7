"""The fast route of the default English pipeline (text/fast_english.py) gives exactly what the
step-by-step pipeline gives: the same sentences, tokens, counts and distinct words."""
from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embedsearch.text.fast_english import SEPARATORS, Chunk, fast_english, plain
from embedsearch.text.marks import MARK_RANGES
from embedsearch.text.pipeline import Pipeline, english_words, parse_steps
from embedsearch.text.presets import PipelineOptions, build_pipeline

from .conftest import SHARED_DATA

VARIANTS = [english_words(), Pipeline.of("nfc", "sentences", "lowercase", "word"),
            Pipeline.of("sentences", "casefold", "word"), Pipeline.of("nfkc", "sentences", "casefold", "word")]


def step_by_step(pipeline: Pipeline, lines: list[str], max_tokens: int) -> Chunk:
    """What ingest wrote before the fast route: each line through ``process``, long sentences cut."""
    compiled = pipeline.compile()
    found = [s[i : i + max_tokens] for line in lines for s in compiled.process(line) for i in range(0, len(s), max_tokens)]
    text = "".join(" ".join(s) + "\n" for s in found).encode("utf-8", errors="replace")
    return Chunk(text, len(found), sum(map(len, found)), {t for s in found for t in s})


def check(lines: list[str], max_tokens: int = 1000, pipeline: Pipeline | None = None) -> None:
    pipeline = pipeline or english_words()
    fast = fast_english(pipeline)
    assert fast is not None
    assert fast.process_lines(lines, max_tokens) == step_by_step(pipeline, lines, max_tokens)


def test_the_default_english_pipeline_and_close_variants_take_the_fast_route():
    assert build_pipeline(PipelineOptions()) == english_words()
    for pipeline in VARIANTS:
        assert fast_english(pipeline) is not None
    for spec in ("nfkc,sentences,lowercase,word,length:min_chars=2", "nfkc,lowercase,word", "nfkc,sentences,word",
                 "nfkc,sentences,lowercase,whitespace", "entities,nfkc,sentences,lowercase,word", "nfkc,nfc,sentences,lowercase,word",
                 "nfkc,sentences,lowercase,punct,word", "html,sentences,lowercase,word"):
        assert fast_english(parse_steps(spec)) is None, spec


KNOWN = [
    "The Quick brown fox. It isn't state-of-the-art!  ＦＵＬＬ width ﬁle 2024",
    'He said "Stop." Then (he left.) Did he? [Yes.] \'No.\' Fine... ok!!! why?! Done.',
    "Visit https://example.com/a-b?c=1&d=2 or www.test.org, mail me@x.co.uk; call +1 (555) 123-4567.",
    "Numbers 3.14, 1,000,000 and -42 or 2024-03-15; 50% of 10/12/2020 v1.2.3",
    "e-mail -dash- 'quoted' don't --double-- a--b a-'b rock'n'roll 'tis x- -y _under_score_ __",
    "Café Müller – the “best” in Zürich — 25 °C × 3 ≈ 75. Next one’s here. ΟΔΥΣΣΕΥΣ ΣΑΣ. İstanbul",
    "Mixed: naïve résumé, e\u0301 (combining), Straße, ǅ, ﬀ, ① ⅷ, x\u00b2, ½ and \u00a0nbsp\u2009thin\u3000ideographic",
    "Tabs\tand\x1fseparators\x1c\x1d\x1e\x0b\x0c\x85\u2028\u2029 line breaks . ! ?",
    "Quotes close sentences.” Like this!’ And this?» Not this.«  Arabic: مرحبا بالعالم. Hindi नमस्ते दुनिया।",
    "",
    "   ",
    "...",
    "a. b. c.",
    "x.\ty.\x1fz. w",
    "Ends with a joiner- and a quote'",
    "-'- '-' -- ''",
    "UPPER lower MiXeD 123abc ABC_DEF",
    "—“Quoted dash”— and ‘single’ quotes; 5′ 11″ tall, §3 ¶2 © ® ™ € 5",
]


@pytest.mark.parametrize("pipeline", VARIANTS, ids=lambda p: p.describe())
def test_known_lines_give_the_step_by_step_result(pipeline):
    check(KNOWN, pipeline=pipeline)
    for line in KNOWN:
        check([line], pipeline=pipeline)


def test_long_sentences_are_cut_like_ingest_cuts_them():
    line = " ".join(f"w{i}" for i in range(25)) + ". Short one. " + "é " * 7 + "end"
    for max_tokens in (1, 2, 3, 7, 10, 25, 1000):
        check([line, "tiny", line], max_tokens)


def test_input_with_the_fast_routes_own_marks_falls_back_to_the_steps():
    check(["a\x00b c", "plain line"])
    check(["a\x01b. c \x01", "é\x00"])
    check(["\x00", "\x01", "\x00\x01"])


def test_separators_are_treated_like_commas_by_every_step():
    mark_class = "".join(f"{re.escape(chr(low))}-{re.escape(chr(high))}" for low, high in MARK_RANGES)
    special = re.compile(rf"[\w{mark_class}'’\-.!?…。！？\"”)\]]")
    for ch in SEPARATORS:
        assert unicodedata.normalize("NFKC", ch) == unicodedata.normalize("NFC", ch) == ch, ch
        assert ch.lower() == ch.casefold() == ch == ch.upper(), ch
        assert not ch.isspace() and not special.match(ch) and len(ch.splitlines()) == 1, ch
    assert plain("a – b ” c “ d") == 'a , b " c , d'


# Text made of what matters to the steps: ASCII of every kind, the marks' own characters,
# non-ASCII letters (with case: Σ, İ), combining marks, the separators, closing quotes and joiners
# outside ASCII, whitespace and line breaks outside ASCII, compatibility forms NFKC changes.
ALPHABET = [chr(c) for c in range(128)] + list(SEPARATORS) + list(
    "éÉßΣσςİıǅﬁ①Ａ½²\u0301\u0308\u093f한ا’”“…。！？\u00a0\u2009\u3000\u2028\u2029\u0085\u200b\u00ad"
)
words = st.sampled_from(["the", "The", "a-b", "don't", "x'", "-y", "U.S.", "e.g.", "3.14", "https://a.io/x", "me@x.org",
                         "Zürich", "naïve", "ΣΟΦΟΣ", "rock’n’roll", "“hi”", "(see)", "[1]", "end.", "why?!", "so...", "—"])
texty = st.text(alphabet=st.sampled_from(ALPHABET), max_size=60) | st.lists(
    words | st.text(alphabet=st.sampled_from(ALPHABET), min_size=1, max_size=4), max_size=20
).map(" ".join)


@settings(max_examples=400, deadline=None)
@given(text=texty, more=st.lists(texty, max_size=4), max_tokens=st.sampled_from([2, 5, 1000]))
def test_fast_route_equals_the_steps_on_generated_text(text, more, max_tokens):
    lines = [part for t in (text, *more) for part in t.splitlines()]  # lines as ingest makes them
    check(lines, max_tokens)
    check(lines, max_tokens, VARIANTS[2])


def test_text_longer_than_a_block_gives_the_step_by_step_result():
    check([f"{i}-{line} {i}" for i in range(300) for line in KNOWN])  # ~400 KB, tokens worked in blocks


@settings(max_examples=200, deadline=None)
@given(text=texty, more=st.lists(texty, max_size=4))
def test_tiny_blocks_give_the_same_result(text, more):
    from embedsearch.text import fast_english as module

    lines = [part for t in (text, *more) for part in t.splitlines()]
    saved = module._BLOCK
    module._BLOCK = 3  # a block boundary after almost every token
    try:
        check(lines)
    finally:
        module._BLOCK = saved


@pytest.mark.slow
def test_fast_route_equals_the_steps_on_real_wikipedia_text():
    source = SHARED_DATA / "en" / "wiki2015_plain_40MB.txt"
    if not source.exists():
        pytest.skip(f"{source} not found")
    with open(source, "rb") as handle:
        data = handle.read(4_000_000)
    lines = data[: data.rfind(b"\n")].decode("utf-8", errors="replace").splitlines()
    for start in range(0, len(lines), 2000):
        check(lines[start : start + 2000])
