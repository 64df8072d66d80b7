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
import operator
import re
import sys
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
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
    """A registered step. ``fit`` is set for *fitted* steps, which learn a model from the corpus
    (ingest calls it once, on what the steps before it make of the whole corpus) and then build
    from that model: ``build(options, artifact_bytes)`` instead of ``build(options)``."""

    name: str
    kind: str
    version: int
    description: str
    build: Callable[..., StepFunction]
    defaults: Mapping[str, Any]
    fit: Callable[[Mapping[str, Any], FitInput], bytes] | None = None
    artifact_suffix: str = ""
    placeholders: bool = False  # the step may write placeholder tokens (<url>...) into the text

    @property
    def fitted(self) -> bool:
        return self.fit is not None


@dataclass(frozen=True)
class FitInput:
    """What a fitted step learns from: a UTF-8 file written by ingest's fitting pass, one item a line.

    For a tokenizer: the text segments it will see (placeholders removed). For a token filter:
    the sentences it will see, tokens separated by single spaces. ``seed`` is the ingest seed.
    """

    path: Path
    lines: int
    seed: int = 1

    def sentences(self) -> Iterator[list[str]]:
        with open(self.path, encoding="utf-8", errors="strict") as handle:
            for line in handle:
                tokens = line.split()
                if tokens:
                    yield tokens


# The latest version of every step, by name, and every version still available, by (name, version).
REGISTRY: dict[str, StepDefinition] = {}
VERSIONS: dict[tuple[str, int], StepDefinition] = {}
# Token filters whose output is not for reading (jamo: 학교 → ㅎㅏㄱㄱㅛ-) name here, by step name, the
# function that turns one of their tokens back into text for display (a store's answers).
DISPLAY: dict[str, Callable[[str], str]] = {}


def register(
    name: str,
    *,
    kind: str,
    version: int,
    description: str,
    defaults: Mapping[str, Any] | None = None,
    fit: Callable[[Mapping[str, Any], FitInput], bytes] | None = None,
    artifact_suffix: str = "",
    placeholders: bool = False,
) -> Callable[[Callable[..., StepFunction]], Callable[..., StepFunction]]:
    """Register a step factory: ``build(options) -> function`` (fitted steps: ``build(options, artifact)``).

    Registering a new version of an existing name keeps the old one available for saved pipelines.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown step kind {kind!r}")

    def decorator(build: Callable[..., StepFunction]) -> Callable[..., StepFunction]:
        if (name, version) in VERSIONS:
            raise ValueError(f"step {name!r} version {version} registered twice")
        definition = StepDefinition(
            name, kind, version, description, _options_checked(name, build), dict(defaults or {}), fit,
            artifact_suffix, placeholders
        )
        VERSIONS[(name, version)] = definition
        if name not in REGISTRY or REGISTRY[name].version < version:
            REGISTRY[name] = definition
        return build

    return decorator


def _options_checked(name: str, build: Callable[..., StepFunction]) -> Callable[..., StepFunction]:
    """``build`` with option values it cannot convert (``max_chars=1e400``, ``nan``, a list for a
    number) reported as a :class:`ConfigError` naming the step, wherever a step converts them."""
    @functools.wraps(build)
    def checked(*args: Any) -> StepFunction:
        try:
            return build(*args)
        except (TypeError, ValueError, OverflowError) as exc:
            raise ConfigError(f"{name}: invalid option value ({exc})") from exc
    return checked


def check_options(name: str, options: Mapping[str, Any], allowed: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` over the ``allowed`` defaults; an unknown option is a :class:`ConfigError`."""
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ConfigError(f"step {name!r} has no option(s) {', '.join(unknown)}; it takes: {', '.join(allowed) or 'none'}")
    return {**allowed, **options}


_check_options = check_options


# Placeholder tokens that the ``entities`` step writes in place of what it recognises. A pipeline
# with such a step keeps them whole through every tokenizer (see ``CompiledPipeline``).
PLACEHOLDER_NAMES = ("url", "email", "date", "phone", "num")
PLACEHOLDER_RE = re.compile(r"<(?:url|email|date|phone|num)>")
PLACEHOLDERS = frozenset(f"<{name}>" for name in PLACEHOLDER_NAMES)


def tokenize_around_placeholders(tokenize: StepFunction, segment: str) -> list[str]:
    """``tokenize`` on the text between placeholders; each placeholder becomes one token."""
    if "<" not in segment:
        return tokenize(segment)
    tokens: list[str] = []
    position = 0
    for match in PLACEHOLDER_RE.finditer(segment):
        piece = segment[position : match.start()]
        if piece and not piece.isspace():
            tokens.extend(tokenize(piece))
        tokens.append(match.group())
        position = match.end()
    rest = segment[position:]
    if rest and not rest.isspace():
        tokens.extend(tokenize(rest))
    return tokens


def bool_option(name: str, key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
        return value.lower() in ("true", "yes", "1")
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ConfigError(f"step {name!r}: option {key} must be true or false, got {value!r}")


def int_option(name: str, key: str, value: Any, low: int = 1, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        bounds = f"{low}..{high}" if high is not None else f">= {low}"
        raise ConfigError(f"step {name!r}: option {key} must be an integer {bounds}, got {value!r}")
    return value


def list_option(value: Any) -> list[str]:
    """A list option: a list, or a string separated by commas or `+` (`+` inside `--pipeline` specs)."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [part.strip() for part in re.split(r"[,+]", value) if part.strip()]
    if isinstance(value, (list, tuple)):
        return [str(part) for part in value]
    raise ConfigError(f"expected a list or a comma-separated string, got {value!r}")


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
_SENTENCE_END = re.compile(r"(?:(?<=[.!?…。！？])|(?<=[.!?…。！？][\"'”’)\]]))\s+")  # the definition
# The same cuts, found faster: split() with a pattern that starts with the end mark lets the regex
# engine skip ahead to candidates instead of testing two look-behinds at every position; the
# captured end marks are glued back to their sentences (a test checks both agree).
_SENTENCE_CUT = re.compile(r"([.!?…。！？][\"'”’)\]]?)\s+")


def split_sentences(text: str) -> list[str]:
    parts = _SENTENCE_CUT.split(text)  # body, end, body, end, ..., last body
    if len(parts) == 1:
        return [text] if text and not text.isspace() else []
    # every sentence but the last has its end mark, so only the last can be empty or blank
    sentences = list(map(operator.add, parts[0:-1:2], parts[1::2]))
    last = parts[-1]
    if last and not last.isspace():
        sentences.append(last)
    return sentences


@register("sentences", kind=SEGMENT, version=1, description="split segments into sentences at . ! ? … followed by space")
def _sentences(options: Mapping[str, Any]) -> StepFunction:
    _check_options("sentences", options, {})
    return split_sentences


# --- tokenizers ------------------------------------------------------------------------------

_MARKS = "".join(f"{re.escape(chr(low))}-{re.escape(chr(high))}" for low, high in MARK_RANGES)
# A word is a run of letters, digits, underscores and combining marks (so Devanagari, Thai and
# decomposed accents stay whole), optionally joined by single inner hyphens or apostrophes
# ("state-of-the-art", "don't"). Everything else separates words and is dropped.
_WORD_CHAR = rf"[\w{_MARKS}]"
WORD_REGEX = rf"{_WORD_CHAR}+(?:[-'’]{_WORD_CHAR}+)*"


@functools.cache
def word_pattern() -> re.Pattern[str]:
    """WORD_REGEX, compiled on first use (the mark table makes this a ~20 ms compile, not worth
    paying at import). On Python 3.11+ in an equivalent form the regex engine runs ~2.5x faster:
    runs of ``\\w`` and runs of marks alternate possessively instead of testing each character
    against one big class, and ASCII characters skip the mark ranges (no mark is ASCII). A test
    checks both forms agree."""
    if sys.version_info < (3, 11):
        return re.compile(WORD_REGEX)
    char_run = rf"(?:\w++|(?![\x00-\x7f])[{_MARKS}]++)++"
    return re.compile(rf"{char_run}(?:[-'’]{char_run})*+")


# On ASCII text the word pattern reduces to this one (\w is [A-Za-z0-9_] there, marks and ’ are
# not ASCII), which the regex engine runs ~3x faster than the big Unicode class (a test checks both agree).
# Possessive quantifiers (Python 3.11+) match the same here (what follows a run can never be part
# of it: joiners are not word characters) and spare the engine its backtracking bookkeeping.
_POSSESSIVE = "+" if sys.version_info >= (3, 11) else ""
_ASCII_WORD = re.compile(rf"[A-Za-z0-9_]+{_POSSESSIVE}(?:[-'][A-Za-z0-9_]+{_POSSESSIVE})*{_POSSESSIVE}")


@register("word", kind=TOKENIZE, version=1, description="Unicode words: letters, digits, marks; inner - and ' kept")
def _word(options: Mapping[str, Any]) -> StepFunction:
    _check_options("word", options, {})
    ascii_words = _ASCII_WORD.findall

    def words(text: str) -> list[str]:
        # The Unicode pattern is compiled on the first text beyond ASCII: an ASCII query never pays for it.
        return ascii_words(text) if text.isascii() else word_pattern().findall(text)

    return words


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
