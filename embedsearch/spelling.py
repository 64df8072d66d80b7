"""Spelling edits for "did you mean" suggestions, in any script, and the search for them in a
store's words table (:func:`suggest`).

Edits are made on *spelling units*: characters, except that a precomposed Hangul syllable is
split into its conjoining jamo (``련`` -> ``ᄅ ᅧ ᆫ``), so a one-key Hangul typo (``대통련`` for
``대통령``) is one edit, as ``fraance`` is for ``france``. The letters that replacements and
insertions draw from are the word's own, the ASCII letters, and the units most common in the
vocabulary (its own alphabet: Latin with accents, Cyrillic, Greek, jamo...), capped, so the number
of candidates grows linearly with the word's length whatever the script.
"""
from __future__ import annotations

import difflib
import string
import unicodedata
from collections import Counter
from collections.abc import Iterable
from typing import Any

_SYLLABLES = range(0xAC00, 0xD7A4)
_JAMO = range(0x1100, 0x1200)
# Units taken from the vocabulary beyond the ASCII letters: enough for any alphabet (Hangul jamo: 67).
MAX_ALPHABET = 96
# Edit-distance candidates only for words up to this long (a word of n characters has ~54n of
# them; a 100 KB "word" once hung), difflib's slower comparison up to the second bound.
SUGGEST_EDIT_CHARS = 40
SUGGEST_MAX_CHARS = 100
_SQL_BATCH = 500


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


def vocabulary_alphabet(db: Any) -> str:
    """The letters beyond ASCII of a store's 5,000 most frequent words (``db``: its meta.sqlite)."""
    rows = db.execute("SELECT word FROM words ORDER BY count DESC, id LIMIT 5000")
    return alphabet(word for (word,) in rows)


def suggest(db: Any, word: str, letters: str = "", limit: int = 5) -> list[str]:
    """Words of a store's words table (``db``) spelled close to ``word``: those one edit away (drawing
    on ``letters``, see :func:`edits1`), most frequent first, then difflib's close matches among the
    frequent words that share its first character."""
    if not word or len(word) > SUGGEST_MAX_CHARS:
        return []
    candidates = sorted(edits1(word, letters)) if len(word) <= SUGGEST_EDIT_CHARS else []
    found: list[tuple[int, int, str]] = []
    for start in range(0, len(candidates), _SQL_BATCH):
        batch = candidates[start : start + _SQL_BATCH]
        sql = f"SELECT count, id, word FROM words WHERE word IN ({','.join('?' * len(batch))})"
        found.extend(db.execute(sql, batch).fetchall())
    # Most frequent first; imported stores have no counts, and rows keep the file's order.
    ranked = [w for _, _, w in sorted(found, key=lambda row: (-row[0], row[1]))][:limit]
    if len(ranked) < limit:
        first = word[0]
        pool = [w for (w,) in db.execute(
            "SELECT word FROM words WHERE word >= ? AND word < ? ORDER BY count DESC, id LIMIT 20000",
            (first, chr(ord(first) + 1)),
        )]
        for close in difflib.get_close_matches(word, pool, n=limit, cutoff=0.75):
            if close not in ranked and close != word:
                ranked.append(close)
    return ranked[:limit]
