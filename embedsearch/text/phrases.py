"""Phrases learned from the corpus (``new york`` → ``new_york``), a fitted token step.

Ingest learns them with gensim's ``Phrases`` (pass 1: bigrams; pass 2, on the corpus with those
joined: trigrams such as ``new_york_city``) and keeps the result as a JSON artifact: the phrases
above the threshold, per pass. Applying them needs no gensim: :func:`apply_phrases` is gensim's
``FrozenPhrases`` rule (greedy, left to right, connector words allowed inside a phrase), re-written
here so the query path stays light; a test checks it against gensim on real text.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..errors import ConfigError
from .steps import PLACEHOLDER_RE, TOKENS, FitInput, StepFunction, check_options, int_option, register

ARTIFACT_FORMAT = 1
_GENSIM_DELIMITER = "\ue000"
_DEFAULTS = {"passes": 2, "min_count": 5, "threshold": 10.0, "scoring": "default", "connectors": "none",
             "delimiter": "_", "max_vocab_size": 20_000_000}


def _options(options: Mapping[str, Any]) -> dict[str, Any]:
    opts = check_options("phrases", options, _DEFAULTS)
    int_option("phrases", "passes", opts["passes"], 1, 4)
    int_option("phrases", "min_count", opts["min_count"], 1)
    int_option("phrases", "max_vocab_size", opts["max_vocab_size"], 1000)
    if opts["scoring"] not in ("default", "npmi"):
        raise ConfigError(f"step 'phrases': scoring must be default or npmi, got {opts['scoring']!r}")
    if opts["connectors"] not in ("none", "en"):
        raise ConfigError(f"step 'phrases': connectors must be none or en (a, of, the... allowed inside phrases), got {opts['connectors']!r}")
    delimiter = opts["delimiter"]
    if not isinstance(delimiter, str) or not delimiter or any(ch.isspace() for ch in delimiter):
        raise ConfigError("step 'phrases': delimiter must be a non-empty string without spaces")
    try:
        opts["threshold"] = float(opts["threshold"])
    except (TypeError, ValueError):
        raise ConfigError(f"step 'phrases': threshold must be a number, got {opts['threshold']!r}") from None
    low, high = (-1.0, 1.0) if opts["scoring"] == "npmi" else (0.0, 1e12)
    if not low < opts["threshold"] <= high:  # also false for NaN
        raise ConfigError(f"step 'phrases': threshold must be a finite number in ({low:g}, {high:g}] for "
                          f"{opts['scoring']} scoring, got {opts['threshold']}")
    return opts


def _connector_words(name: str) -> frozenset[str]:
    if name == "en":
        from gensim.models.phrases import ENGLISH_CONNECTOR_WORDS

        return frozenset(ENGLISH_CONNECTOR_WORDS)
    return frozenset()


def apply_phrases(sentence: Sequence[str], phrases: frozenset[str], connectors: frozenset[str], delimiter: str) -> list[str]:
    """Join the known phrases of one sentence, exactly as gensim's ``FrozenPhrases[sentence]`` does."""
    out: list[str] = []
    start: str | None = None
    between: list[str] = []
    for word in sentence:
        if word in connectors:
            if start is not None:
                between.append(word)
            else:
                out.append(word)
            continue
        if start is not None:
            phrase = delimiter.join([start, *between, word])
            if phrase in phrases:
                out.append(phrase)
                start, between = None, []
                continue
            out.append(start)
            out.extend(between)
        start, between = word, []
    if start is not None:
        out.append(start)
        out.extend(between)
    return out


def _fit(options: Mapping[str, Any], data: FitInput) -> bytes:
    from gensim.models.phrases import Phrases

    opts = _options(options)
    connectors = _connector_words(opts["connectors"])
    layers: list[list[str]] = []

    frozen_layers: list[frozenset[str]] = []

    def stream() -> Iterable[list[str]]:
        for sentence in data.sentences():
            if any(_GENSIM_DELIMITER in token for token in sentence):
                sentence = [token.replace(_GENSIM_DELIMITER, "") or "_" for token in sentence]
            for layer in frozen_layers:
                sentence = apply_phrases(sentence, layer, connectors, opts["delimiter"])
            yield sentence

    for _ in range(opts["passes"]):
        # gensim scores phrases it exports by splitting them at its delimiter, so a phrase of an
        # earlier pass (new_york) must not contain it: gensim gets a private-use character instead.
        model = Phrases(
            stream(),
            min_count=opts["min_count"],
            threshold=opts["threshold"],
            max_vocab_size=opts["max_vocab_size"],
            delimiter=_GENSIM_DELIMITER,
            scoring=opts["scoring"],
            connector_words=connectors,
        )
        found = sorted(
            phrase.replace(_GENSIM_DELIMITER, opts["delimiter"])
            for phrase in model.export_phrases()
            if not PLACEHOLDER_RE.search(phrase)  # <url> stays a token of its own
        )
        layers.append(found)
        frozen_layers.append(frozenset(found))
    artifact = {"format": ARTIFACT_FORMAT, "delimiter": opts["delimiter"], "connectors": sorted(connectors), "layers": layers}
    return json.dumps(artifact, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def load_phrases(artifact: bytes) -> tuple[list[frozenset[str]], frozenset[str], str]:
    """(phrases per pass, connector words, delimiter) from an artifact written by ingest."""
    try:
        data = json.loads(artifact.decode("utf-8"))
        if data.get("format") != ARTIFACT_FORMAT:
            raise ValueError(f"format {data.get('format')!r}")
        layers = [frozenset(str(p) for p in layer) for layer in data["layers"]]
        return layers, frozenset(str(w) for w in data["connectors"]), str(data["delimiter"])
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"the phrases model is malformed ({exc})") from exc


@register(
    "phrases",
    kind=TOKENS,
    version=1,
    description="join collocations learned from the corpus with gensim Phrases (new york → new_york; passes=2 gives trigrams)",
    defaults=_DEFAULTS,
    fit=_fit,
    artifact_suffix=".json",
)
def _phrases(options: Mapping[str, Any], artifact: bytes) -> StepFunction:
    _options(options)
    layers, connectors, delimiter = load_phrases(artifact)

    def join(tokens: list[str]) -> list[str]:
        for layer in layers:
            if layer:
                tokens = apply_phrases(tokens, layer, connectors, delimiter)
        return tokens

    return join
