"""Character tokenizer and n-gram steps (word n-grams and character n-grams of each token).

The n-gram steps are token filters, so they work after any tokenizer: ``word → word_ngrams`` gives
word n-grams, ``morphemes → word_ngrams`` morpheme n-grams. Placeholders (``<url>``) stay whole.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError
from .marks import MARK_RANGES
from .steps import PLACEHOLDERS, TOKENIZE, TOKENS, StepFunction, bool_option, check_options, int_option, register

_MARKS = "".join(f"{re.escape(chr(low))}-{re.escape(chr(high))}" for low, high in MARK_RANGES)


@functools.cache
def _char_pattern() -> re.Pattern[str]:
    # A character with the combining marks that follow it (é written as e + U+0301 is one token).
    return re.compile(rf"[^\s{_MARKS}][{_MARKS}]*|[{_MARKS}]+")


@register("char", kind=TOKENIZE, version=1, description="characters (with their combining marks); whitespace dropped")
def _char(options: Mapping[str, Any]) -> StepFunction:
    check_options("char", options, {})
    return _char_pattern().findall


def _n_range(name: str, opts: Mapping[str, Any]) -> tuple[int, int]:
    low = int_option(name, "min_n", opts["min_n"], 1, 20)
    high = int_option(name, "max_n", opts["max_n"], 1, 20)
    if high < low:
        raise ConfigError(f"step {name!r}: need min_n <= max_n, got {low} and {high}")
    return low, high


@register(
    "word_ngrams",
    kind=TOKENS,
    version=1,
    description="token n-grams joined by '_' (new york city → new, new_york, york, york_city, city with min_n=1 max_n=2)",
    defaults={"min_n": 1, "max_n": 2, "joiner": "_"},
)
def _word_ngrams(options: Mapping[str, Any]) -> StepFunction:
    opts = check_options("word_ngrams", options, {"min_n": 1, "max_n": 2, "joiner": "_"})
    low, high = _n_range("word_ngrams", opts)
    joiner = str(opts["joiner"])
    if not joiner or any(ch.isspace() for ch in joiner):
        raise ConfigError("step 'word_ngrams': joiner must be a non-empty string without spaces")

    def ngrams(tokens: list[str]) -> list[str]:
        if low == 1 and high == 1:
            return tokens
        out = []
        count = len(tokens)
        for start in range(count):
            for n in range(low, min(high, count - start) + 1):
                out.append(tokens[start] if n == 1 else joiner.join(tokens[start : start + n]))
        return out

    return ngrams


@register(
    "char_ngrams",
    kind=TOKENS,
    version=1,
    description="character n-grams of each token (where → whe, her, ere); shorter tokens kept whole",
    defaults={"min_n": 3, "max_n": 3, "keep_word": False, "boundary": ""},
)
def _char_ngrams(options: Mapping[str, Any]) -> StepFunction:
    opts = check_options("char_ngrams", options, {"min_n": 3, "max_n": 3, "keep_word": False, "boundary": ""})
    low, high = _n_range("char_ngrams", opts)
    keep_word = bool_option("char_ngrams", "keep_word", opts["keep_word"])
    boundary = str(opts["boundary"])
    if len(boundary) > 1 or boundary.isspace():
        raise ConfigError("step 'char_ngrams': boundary must be one non-space character or empty (fastText uses '<' and '>' : give '<')")
    left, right = (boundary, {"<": ">", "[": "]", "(": ")"}.get(boundary, boundary)) if boundary else ("", "")

    @functools.lru_cache(maxsize=1 << 16)
    def grams(token: str) -> tuple[str, ...]:
        if token in PLACEHOLDERS:
            return (token,)
        marked = f"{left}{token}{right}"
        size = len(marked)
        found = [marked[start : start + n] for start in range(size) for n in range(low, high + 1) if start + n <= size]
        if not found:
            return (token,)
        if keep_word and token not in found:
            found.insert(0, token)
        return tuple(found)

    def ngrams(tokens: list[str]) -> list[str]:
        out: list[str] = []
        for token in tokens:
            out.extend(grams(token))
        return out

    return ngrams
