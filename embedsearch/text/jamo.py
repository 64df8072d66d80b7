"""Hangul syllables decomposed into jamo, and composed back: the ``jamo`` token filter.

Park, Byun, Baek, Cho and Oh (2018, "Subword-level Word Vector Representations for Korean", ACL)
build FastText's subwords from jamo instead of syllables: 학교 has two syllables but six jamo
(ㅎㅏㄱ ㄱㅛ-), so a character n-gram can hold part of a syllable, such as a stem's final consonant
(먹 ㅁㅓㄱ and 먹었 ㅁㅓㄱㅇㅓㅆ share ㅁㅓㄱ).

Every precomposed syllable (U+AC00-U+D7A3, all 11,172) becomes exactly three characters: its
initial consonant (choseong), its vowel (jungseong) and its final consonant (jongseong), or the
filler ``-`` when it has none, all written with Hangul Compatibility Jamo (ㄱ, ㅏ...: the letters a
Korean keyboard types, which NFC leaves alone). Three characters per syllable, always, make the
decomposition invertible: :func:`compose` reads back each (initial, vowel, final-or-filler) triple
as the syllable it came from. Other characters (Latin, digits, Hanja, punctuation, and jamo that
were already in the text, such as ㅋㅋ) are left as they are. The one text the round trip cannot
give back is text that already held such a triple of compatibility jamo (ㄱㅏ-), which
:func:`compose` reads as a syllable (가): display only; it never changes what a store looks up.

A store built with this step shows its words composed (``similar`` answers 학교, not ㅎㅏㄱㄱㅛ-)
and decomposes query words through its own pipeline, so queries are typed in Hangul.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .steps import DISPLAY, TOKENS, StepFunction, check_options, register

FILLER = "-"  # the jongseong of a syllable without a final consonant
_FIRST, _LAST = 0xAC00, 0xD7A3
_VOWELS_COUNT, _FINALS_COUNT = 21, 28  # finals: 27 consonants + none

# Compatibility jamo in Unicode's conjoining order (index = position in the syllable formula).
CHOSEONG = "ㄱㄲㄴㄷㄸㄹㅁㅂㅃㅅㅆㅇㅈㅉㅊㅋㅌㅍㅎ"
JUNGSEONG = "ㅏㅐㅑㅒㅓㅔㅕㅖㅗㅘㅙㅚㅛㅜㅝㅞㅟㅠㅡㅢㅣ"
JONGSEONG = FILLER + "ㄱㄲㄳㄴㄵㄶㄷㄹㄺㄻㄼㄽㄾㄿㅀㅁㅂㅄㅅㅆㅇㅈㅊㅋㅌㅍㅎ"
assert len(CHOSEONG) == 19 and len(JUNGSEONG) == _VOWELS_COUNT and len(JONGSEONG) == _FINALS_COUNT  # noqa: S101

_INITIAL = {c: i for i, c in enumerate(CHOSEONG)}
_VOWEL = {c: i for i, c in enumerate(JUNGSEONG)}
_FINAL = {c: i for i, c in enumerate(JONGSEONG)}

# Every syllable's three characters, indexed by code point - 0xAC00 (a 11,172-entry table: one
# lookup per character on the ingest path).
_DECOMPOSED = tuple(
    CHOSEONG[i // (_VOWELS_COUNT * _FINALS_COUNT)] + JUNGSEONG[(i // _FINALS_COUNT) % _VOWELS_COUNT] + JONGSEONG[i % _FINALS_COUNT]
    for i in range(_LAST - _FIRST + 1)
)
_TABLE = {_FIRST + i: triple for i, triple in enumerate(_DECOMPOSED)}


def decompose(text: str) -> str:
    """Each Hangul syllable of ``text`` as its three jamo (학교 → ㅎㅏㄱㄱㅛ-); other characters kept."""
    return text.translate(_TABLE)


def has_syllables(text: str) -> bool:
    return any(_FIRST <= ord(ch) <= _LAST for ch in text)


def compose(text: str) -> str:
    """The inverse of :func:`decompose`: each (initial, vowel, final or ``-``) triple of compatibility
    jamo becomes its syllable (ㅎㅏㄱㄱㅛ- → 학교); everything else is kept."""
    if not any(ch in _VOWEL for ch in text):  # no vowel, no syllable: the usual non-Korean word
        return text
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if i + 2 < n:
            initial = _INITIAL.get(text[i])
            vowel = _VOWEL.get(text[i + 1])
            final = _FINAL.get(text[i + 2])
            if initial is not None and vowel is not None and final is not None:
                out.append(chr(_FIRST + (initial * _VOWELS_COUNT + vowel) * _FINALS_COUNT + final))
                i += 3
                continue
        out.append(text[i])
        i += 1
    return "".join(out)


@register(
    "jamo",
    kind=TOKENS,
    version=1,
    description="Hangul syllables as their jamo, initial+vowel+final with - for no final (학교 → ㅎㅏㄱㄱㅛ-), "
    "so FastText's character n-grams run over jamo (Park et al. 2018); answers are shown composed",
)
def _jamo(options: Mapping[str, Any]) -> StepFunction:
    check_options("jamo", options, {})

    def jamo(tokens: list[str]) -> list[str]:
        return [decompose(t) for t in tokens]

    return jamo


DISPLAY["jamo"] = compose  # a jamo store shows its words composed
