"""Pipeline steps: small functions registered under stable names and versions.

A step has a *kind* that fixes where it may stand in a pipeline:

``text``      str -> str, applied to each segment before tokenization (normalisers);
``segment``   str -> list[str], splits a segment into smaller ones (sentences);
``tokenize``  str -> list[str], turns a segment into tokens (exactly one per pipeline);
``tokens``    list[str] -> list[str], applied to each token list (filters).

A step's behaviour is frozen by its version: a change that alters output gets a new version, and
the old one stays available so stores made with it keep reproducing their own preprocessing.
"""
from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from .marks import MARK_RANGES

TEXT = "text"
SEGMENT = "segment"
TOKENIZE = "tokenize"
TOKENS = "tokens"
KINDS = (TEXT, SEGMENT, TOKENIZE, TOKENS)

StepFunction = Callable[[Any], Any]


@dataclass(frozen=True)
class StepDefinition:
    name: str
    kind: str
    version: int
    description: str
    build: Callable[[Mapping[str, Any]], StepFunction]
    defaults: Mapping[str, Any]


REGISTRY: dict[str, StepDefinition] = {}


def register(
    name: str, *, kind: str, version: int, description: str, defaults: Mapping[str, Any] | None = None
) -> Callable[[Callable[[Mapping[str, Any]], StepFunction]], Callable[[Mapping[str, Any]], StepFunction]]:
    """Register a step factory: ``build(options) -> function``."""
    if kind not in KINDS:
        raise ValueError(f"unknown step kind {kind!r}")

    def decorator(build: Callable[[Mapping[str, Any]], StepFunction]) -> Callable[[Mapping[str, Any]], StepFunction]:
        if name in REGISTRY:
            raise ValueError(f"step {name!r} registered twice")
        REGISTRY[name] = StepDefinition(name, kind, version, description, build, dict(defaults or {}))
        return build

    return decorator


def _check_options(name: str, options: Mapping[str, Any], allowed: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ConfigError(f"step {name!r} has no option(s) {', '.join(unknown)}; it takes: {', '.join(allowed) or 'none'}")
    return {**allowed, **options}


# --- normalisers -----------------------------------------------------------------------------


@register("nfkc", kind=TEXT, version=1, description="Unicode NFKC normalisation (compatibility forms folded: ﬁ→fi, ２→2)")
def _nfkc(options: Mapping[str, Any]) -> StepFunction:
    _check_options("nfkc", options, {})
    return lambda text: unicodedata.normalize("NFKC", text)


@register("lowercase", kind=TEXT, version=1, description="Unicode lowercasing (str.lower)")
def _lowercase(options: Mapping[str, Any]) -> StepFunction:
    _check_options("lowercase", options, {})
    return str.lower


# --- segmenters ------------------------------------------------------------------------------

# A sentence ends at . ! ? … or their full-width forms, possibly followed by closing quotes or
# brackets, then whitespace. Abbreviations ("Dr. Smith") split too: for word embeddings that only
# shortens one context window, while missing real boundaries would not matter either; simple wins.
_SENTENCE_END = re.compile(r"(?:(?<=[.!?…。！？])|(?<=[.!?…。！？][\"'”’)\]]))\s+")


@register("sentences", kind=SEGMENT, version=1, description="split segments into sentences at . ! ? … followed by space")
def _sentences(options: Mapping[str, Any]) -> StepFunction:
    _check_options("sentences", options, {})
    return lambda text: [part for part in _SENTENCE_END.split(text) if part and not part.isspace()]


# --- tokenizers ------------------------------------------------------------------------------

_MARKS = "".join(f"{re.escape(chr(low))}-{re.escape(chr(high))}" for low, high in MARK_RANGES)
# A word is a run of letters, digits, underscores and combining marks (so Devanagari, Thai and
# decomposed accents stay whole), optionally joined by single inner hyphens or apostrophes
# ("state-of-the-art", "don't"). Everything else separates words and is dropped.
_WORD_CHAR = rf"[\w{_MARKS}]"
WORD_REGEX = rf"{_WORD_CHAR}+(?:[-'’]{_WORD_CHAR}+)*"


@functools.cache
def word_pattern() -> re.Pattern[str]:
    # Compiled on first use: the mark table makes this a ~20 ms compile, not worth paying at import.
    return re.compile(WORD_REGEX)


@register("word", kind=TOKENIZE, version=1, description="Unicode words: letters, digits, marks; inner - and ' kept")
def _word(options: Mapping[str, Any]) -> StepFunction:
    _check_options("word", options, {})
    return word_pattern().findall


@register("whitespace", kind=TOKENIZE, version=1, description="split on whitespace only (for pre-tokenized text)")
def _whitespace(options: Mapping[str, Any]) -> StepFunction:
    _check_options("whitespace", options, {})
    return str.split


# --- token filters ---------------------------------------------------------------------------


@register(
    "length",
    kind=TOKENS,
    version=1,
    description="drop tokens shorter than min_chars or longer than max_chars characters",
    defaults={"min_chars": 1, "max_chars": 100},
)
def _length(options: Mapping[str, Any]) -> StepFunction:
    opts = _check_options("length", options, {"min_chars": 1, "max_chars": 100})
    low, high = int(opts["min_chars"]), int(opts["max_chars"])
    if low < 1 or high < low:
        raise ConfigError(f"length: need 1 <= min_chars <= max_chars, got {low} and {high}")
    return lambda tokens: [t for t in tokens if low <= len(t) <= high]
