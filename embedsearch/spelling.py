"""Spelling edits for "did you mean" suggestions, in any script.

Edits are made on *spelling units*: characters, except that a precomposed Hangul syllable is
split into its conjoining jamo (``련`` -> ``ᄅ ᅧ ᆫ``), so a one-key Hangul typo (``대통련`` for
``대통령``) is one edit, as ``fraance`` is for ``france``. The letters that replacements and
insertions draw from are the word's own, the ASCII letters, and the units most common in the
vocabulary (its own alphabet: Latin with accents, Cyrillic, Greek, jamo...), capped, so the number
of candidates grows linearly with the word's length whatever the script.
"""
from __future__ import annotations

import string
import unicodedata
from collections import Counter
from collections.abc import Iterable

_SYLLABLES = range(0xAC00, 0xD7A4)
_JAMO = range(0x1100, 0x1200)
# Units taken from the vocabulary beyond the ASCII letters: enough for any alphabet (Hangul jamo: 67).
MAX_ALPHABET = 96


def units(text: str) -> str:
    """``text`` with each Hangul syllable decomposed into conjoining jamo; other characters as they are."""
    return "".join(unicodedata.normalize("NFD", ch) if ord(ch) in _SYLLABLES else ch for ch in text)


def compose(text: str) -> str:
    """Inverse of :func:`units`: conjoining jamo composed back into syllables."""
    return unicodedata.normalize("NFC", text) if any(ord(ch) in _JAMO for ch in text) else text


def alphabet(words: Iterable[str], limit: int = MAX_ALPHABET) -> str:
    """The ``limit`` most common non-ASCII letters (as spelling units) of ``words``."""
    counts = Counter(unit for word in words for unit in units(word) if unit.isalpha() and not unit.isascii())
    return "".join(unit for unit, _ in counts.most_common(limit))


def edits1(word: str, letters: str = "") -> set[str]:
    """Every spelling one deletion, transposition, replacement or insertion away from ``word``.

    Replacements and insertions use ``letters`` plus the ASCII letters plus the word's own units.
    """
    spelled = units(word)
    pool = set(spelled) | set(string.ascii_lowercase) | set(letters)
    splits = [(spelled[:i], spelled[i:]) for i in range(len(spelled) + 1)]
    edits = {a + b[1:] for a, b in splits if b}
    edits |= {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    edits |= {a + ch + b[1:] for a, b in splits if b for ch in pool}
    edits |= {a + ch + b for a, b in splits for ch in pool}
    found = {compose(edit) for edit in edits if edit}
    found.discard(word)
    return found
