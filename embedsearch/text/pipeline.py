"""A text pipeline: an ordered list of named, versioned steps, saved with corpora and stores.

The saved form (``Pipeline.to_dict``) is plain JSON, so a store re-creates the preprocessing of its
corpus for query words without any code from the store itself.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from .steps import REGISTRY, SEGMENT, TEXT, TOKENIZE, TOKENS, StepFunction

PIPELINE_FORMAT = 1

# Where each kind may stand: text and segment steps in any order before the tokenizer, token
# filters after it.
_PHASE = {TEXT: 0, SEGMENT: 0, TOKENIZE: 1, TOKENS: 2}


@dataclass(frozen=True)
class Step:
    """One step of a pipeline as saved: its registered name, version and options."""

    name: str
    version: int = 1
    options: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "options": dict(self.options)}


@dataclass(frozen=True)
class Pipeline:
    """An ordered list of steps. ``process`` turns raw text into sentences of tokens."""

    steps: tuple[Step, ...]

    def __post_init__(self) -> None:
        phase = 0
        tokenizers = 0
        for step in self.steps:
            definition = REGISTRY.get(step.name)
            if definition is None:
                raise ConfigError(f"unknown pipeline step {step.name!r}; known steps: {', '.join(sorted(REGISTRY))}")
            if step.version != definition.version:
                raise ConfigError(
                    f"pipeline step {step.name!r} version {step.version} is not available "
                    f"(this embedsearch has version {definition.version}); upgrade embedsearch"
                )
            step_phase = _PHASE[definition.kind]
            if step_phase < phase:
                raise ConfigError(f"pipeline step {step.name!r} ({definition.kind}) cannot come after the tokenizer")
            phase = step_phase
            tokenizers += definition.kind == TOKENIZE
        if tokenizers != 1:
            raise ConfigError(f"a pipeline needs exactly one tokenizer step, this one has {tokenizers}")

    @classmethod
    def of(cls, *names: str | tuple[str, Mapping[str, Any]]) -> Pipeline:
        """Build a pipeline from step names, or ``(name, options)`` pairs, at their current versions."""
        steps = []
        for item in names:
            name, options = (item, {}) if isinstance(item, str) else item
            definition = REGISTRY.get(name)
            if definition is None:
                raise ConfigError(f"unknown pipeline step {name!r}; known steps: {', '.join(sorted(REGISTRY))}")
            steps.append(Step(name, definition.version, dict(options)))
        return cls(tuple(steps))

    def to_dict(self) -> dict[str, Any]:
        return {"format": PIPELINE_FORMAT, "steps": [step.to_dict() for step in self.steps]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Pipeline:
        if not isinstance(data, Mapping) or data.get("format") != PIPELINE_FORMAT or not isinstance(data.get("steps"), list):
            raise ConfigError(f"not a pipeline description of format {PIPELINE_FORMAT}: {data!r}")
        try:
            steps = tuple(Step(s["name"], int(s["version"]), dict(s.get("options", {}))) for s in data["steps"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"malformed pipeline step in {data!r}") from exc
        return cls(steps)

    def describe(self) -> str:
        """One line for humans: ``nfkc → sentences → lowercase → word``."""
        parts = []
        for step in self.steps:
            options = ",".join(f"{k}={v}" for k, v in step.options.items())
            parts.append(f"{step.name}({options})" if options else step.name)
        return " → ".join(parts)

    def compile(self) -> CompiledPipeline:
        return CompiledPipeline(self)


class CompiledPipeline:
    """A pipeline with its step functions built, ready to run many times."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self._before: list[tuple[str, StepFunction]] = []
        self._tokenize: StepFunction = str.split
        self._after: list[StepFunction] = []
        for step in pipeline.steps:
            definition = REGISTRY[step.name]
            function = definition.build(step.options)
            if definition.kind in (TEXT, SEGMENT):
                self._before.append((definition.kind, function))
            elif definition.kind == TOKENIZE:
                self._tokenize = function
            else:
                self._after.append(function)

    def process(self, text: str) -> list[list[str]]:
        """Raw text -> sentences (lists of tokens); empty sentences are dropped."""
        segments = [text]
        for kind, function in self._before:
            if kind == TEXT:
                segments = [function(s) for s in segments]
            else:
                segments = [part for s in segments for part in function(s)]
        sentences = []
        for segment in segments:
            tokens = self._tokenize(segment)
            for function in self._after:
                tokens = function(tokens)
            if tokens:
                sentences.append(tokens)
        return sentences

    def tokens(self, text: str) -> list[str]:
        """Raw text -> one flat list of tokens (how query words are prepared)."""
        return [token for sentence in self.process(text) for token in sentence]


def english_words() -> Pipeline:
    """The default English word pipeline: NFKC, sentence split, lowercase, Unicode words."""
    return Pipeline.of("nfkc", "sentences", "lowercase", "word")


def parse_steps(spec: str) -> Pipeline:
    """Parse ``"nfkc,lowercase,word,length:min_chars=2"`` (CLI form) into a pipeline."""
    items: list[str | tuple[str, Mapping[str, Any]]] = []
    for raw in (part.strip() for part in spec.split(",")):
        if not raw:
            continue
        name, _, option_text = raw.partition(":")
        options: dict[str, Any] = {}
        for pair in filter(None, option_text.split(";")):
            key, sep, value = pair.partition("=")
            if not sep:
                raise ConfigError(f"pipeline option {pair!r} of step {name!r} should look like key=value")
            options[key.strip()] = _parse_value(value.strip())
        items.append((name.strip(), options))
    return Pipeline.of(*items)


def _parse_value(value: str) -> Any:
    lowered = value.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


def available_steps() -> Sequence[tuple[str, str, int, str]]:
    """(name, kind, version, description) of every registered step, for help texts."""
    return [(d.name, d.kind, d.version, d.description) for d in sorted(REGISTRY.values(), key=lambda d: d.name)]
