"""Token filters (``tokens`` steps): stopwords, Snowball stems, dictionary lemmas.

Placeholders (``<url>``...) pass every filter unchanged. PyStemmer and simplemma are imported
when a pipeline that uses them is compiled, never at import time.
"""
from __future__ import annotations

import functools
from collections.abc import Mapping
from importlib import resources
from typing import Any

from ..errors import ConfigError
from .steps import PLACEHOLDERS, TOKENS, StepFunction, bool_option, check_options, list_option, register

BUILTIN_STOPWORDS = ("en", "ko")


@functools.cache
def builtin_stopwords(name: str) -> frozenset[str]:
    """A built-in stopword list shipped in ``embedsearch/text/data`` (``en`` or ``ko``)."""
    if name not in BUILTIN_STOPWORDS:
        raise ConfigError(f"no built-in stopword list {name!r}; there are: {', '.join(BUILTIN_STOPWORDS)}")
    text = resources.files(__package__).joinpath("data", f"stopwords_{name}.txt").read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def read_stopword_file(path: str) -> list[str]:
    """A user stopword file: UTF-8, one word a line (or several separated by spaces), ``#`` comments."""
    from ..errors import SourceError

    try:
        with open(path, encoding="utf-8-sig", errors="strict") as handle:
            text = handle.read()
    except OSError as exc:
        raise SourceError(f"cannot read stopword file {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise SourceError(f"stopword file {path} is not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    words: list[str] = []
    for line in text.splitlines():
        words.extend(line.split("#", 1)[0].split())
    return sorted(set(words))


@register(
    "stopwords",
    kind=TOKENS,
    version=1,
    description="drop stopwords: built-in lists (en, ko) and/or the given words (saved in the pipeline)",
    defaults={"lists": "en", "words": [], "ignore_case": True},
)
def _stopwords(options: Mapping[str, Any]) -> StepFunction:
    opts = check_options("stopwords", options, {"lists": "en", "words": [], "ignore_case": True})
    ignore_case = bool_option("stopwords", "ignore_case", opts["ignore_case"])
    words: set[str] = set()
    for name in list_option(opts["lists"]):
        words |= builtin_stopwords(name)
    words |= set(list_option(opts["words"]) if isinstance(opts["words"], str) else opts["words"])
    if ignore_case:
        words = {w.casefold() for w in words}
        stop = frozenset(words)
        return lambda tokens: [t for t in tokens if t.casefold() not in stop]
    stop = frozenset(words)
    return lambda tokens: [t for t in tokens if t not in stop]


def _cached(function: Any, size: int = 1 << 18) -> Any:
    # Words repeat (Zipf): a per-process cache makes a stemmer or lemmatiser close to a dict lookup.
    return functools.lru_cache(maxsize=size)(function)


@register(
    "stem",
    kind=TOKENS,
    version=1,
    description="Snowball stems with PyStemmer (jumping→jump); language: english, german, russian... (see `Stemmer.algorithms()`)",
    defaults={"language": "english"},
)
def _stem(options: Mapping[str, Any]) -> StepFunction:
    opts = check_options("stem", options, {"language": "english"})
    try:
        import Stemmer
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise ConfigError("step 'stem' needs PyStemmer: pip install PyStemmer") from exc
    language = str(opts["language"]).lower()
    if language not in Stemmer.algorithms():
        raise ConfigError(f"step 'stem': no Snowball stemmer for {language!r}; there are: {', '.join(Stemmer.algorithms())}")
    stemmer = Stemmer.Stemmer(language)
    stemmer.maxCacheSize = 100_000
    stem_words = stemmer.stemWords

    def stem(tokens: list[str]) -> list[str]:
        stems = stem_words(tokens)
        return [t if t in PLACEHOLDERS else s for t, s in zip(tokens, stems)]

    return stem


@register(
    "lemma",
    kind=TOKENS,
    version=1,
    description="dictionary lemmas with simplemma (are→be, mice→mouse); language: en, de, fr... "
    "(Korean lemmas: the morphemes tokenizer's lemma option)",
    defaults={"language": "en"},
)
def _lemma(options: Mapping[str, Any]) -> StepFunction:
    opts = check_options("lemma", options, {"language": "en"})
    language = str(opts["language"]).lower()
    if language == "ko":
        raise ConfigError("step 'lemma': for Korean use the morphemes tokenizer with lemma=true (먹었다 → 먹다)")
    try:
        import simplemma
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise ConfigError("step 'lemma' needs simplemma: pip install simplemma") from exc
    try:
        simplemma.lemmatize("test", lang=language)  # load the dictionary now, not on the first token
    except ValueError as exc:
        raise ConfigError(f"step 'lemma': simplemma has no {language!r} dictionary ({exc}); try en, de, fr, es...") from exc

    @_cached
    def lemma_of(token: str) -> str:
        if token in PLACEHOLDERS:
            return token
        lemma = simplemma.lemmatize(token, lang=language)
        # simplemma may capitalise (new_york → new_York); a lowercased corpus stays lowercased.
        return lemma.lower() if token.islower() else lemma

    return lambda tokens: [lemma_of(t) for t in tokens]
