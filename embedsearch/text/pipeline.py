"""A text pipeline: an ordered list of named, versioned steps, saved with corpora and stores.

The saved form (``Pipeline.to_dict``) is plain JSON, so a store re-creates the preprocessing of its
corpus for query words without any code from the store itself.

Fitted steps (``phrases``, ``subword``) learn a model from the corpus. Ingest fits them and
records, in the step, the name and SHA-256 of the model's bytes (its *artifact*); the bytes
travel beside the JSON (files in the corpus directory, a table in the store) and are handed to
:meth:`Pipeline.compile`, which checks each against its recorded hash.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import ConfigError, SourceError
from . import filters, jamo, korean, normalise, phrases, subword, tokenizers  # noqa: F401  (they register their steps)
from .steps import (
    DISPLAY,
    REGISTRY,
    SEGMENT,
    TEXT,
    TOKENIZE,
    TOKENS,
    VERSIONS,
    StepDefinition,
    StepFunction,
    tokenize_around_placeholders,
)

PIPELINE_FORMAT = 1
ARTIFACT_NAME = re.compile(r"[0-9]{1,3}-[a-z_]+\.[a-z]+")

# Where each kind may stand: text and segment steps in any order before the tokenizer, token
# filters after it.
_PHASE = {TEXT: 0, SEGMENT: 0, TOKENIZE: 1, TOKENS: 2}


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Step:
    """One step of a pipeline as saved: its registered name, version, options and, for a fitted
    step once fitted, its artifact reference ``{"name": ..., "sha256": ...}``."""

    name: str
    version: int = 1
    options: Mapping[str, Any] = field(default_factory=dict)
    artifact: Mapping[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        saved: dict[str, Any] = {"name": self.name, "version": self.version, "options": dict(self.options)}
        if self.artifact is not None:
            saved["artifact"] = dict(self.artifact)
        return saved

    @property
    def definition(self) -> StepDefinition:
        return VERSIONS[(self.name, self.version)]


def _unknown_step(name: str) -> ConfigError:
    return ConfigError(f"unknown pipeline step {name!r}; known steps: {', '.join(sorted(REGISTRY))}")


@dataclass(frozen=True)
class Pipeline:
    """An ordered list of steps. ``compile().process`` turns raw text into sentences of tokens."""

    steps: tuple[Step, ...]

    def __post_init__(self) -> None:
        phase = 0
        tokenizer_count = 0
        for step in self.steps:
            definition = REGISTRY.get(step.name)
            if definition is None:
                raise _unknown_step(step.name)
            definition = VERSIONS.get((step.name, step.version))
            if definition is None:
                raise ConfigError(
                    f"pipeline step {step.name!r} version {step.version} is not available "
                    f"(this embedsearch has version {REGISTRY[step.name].version}); upgrade embedsearch"
                )
            if step.artifact is not None:
                if not definition.fitted:
                    raise ConfigError(f"pipeline step {step.name!r} learns nothing from the corpus but names an artifact")
                name, digest = step.artifact.get("name"), step.artifact.get("sha256")
                if not (isinstance(name, str) and ARTIFACT_NAME.fullmatch(name) and isinstance(digest, str)
                        and re.fullmatch(r"[0-9a-f]{64}", digest)):
                    raise ConfigError(f"pipeline step {step.name!r} has a malformed artifact reference {dict(step.artifact)!r}")
            step_phase = _PHASE[definition.kind]
            if step_phase < phase:
                raise ConfigError(f"pipeline step {step.name!r} ({definition.kind}) cannot come after the tokenizer")
            phase = step_phase
            tokenizer_count += definition.kind == TOKENIZE
        if tokenizer_count != 1:
            raise ConfigError(f"a pipeline needs exactly one tokenizer step, this one has {tokenizer_count}")

    @classmethod
    def of(cls, *names: str | tuple[str, Mapping[str, Any]]) -> Pipeline:
        """Build a pipeline from step names, or ``(name, options)`` pairs, at their current versions."""
        steps = []
        for item in names:
            name, options = (item, {}) if isinstance(item, str) else item
            definition = REGISTRY.get(name)
            if definition is None:
                raise _unknown_step(name)
            steps.append(Step(name, definition.version, dict(options)))
        return cls(tuple(steps))

    def to_dict(self) -> dict[str, Any]:
        return {"format": PIPELINE_FORMAT, "steps": [step.to_dict() for step in self.steps]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Pipeline:
        if not isinstance(data, Mapping) or data.get("format") != PIPELINE_FORMAT or not isinstance(data.get("steps"), list):
            raise ConfigError(f"not a pipeline description of format {PIPELINE_FORMAT}: {data!r}")
        try:
            steps = tuple(
                Step(s["name"], int(s["version"]), dict(s.get("options", {})),
                     dict(s["artifact"]) if s.get("artifact") is not None else None)
                for s in data["steps"]
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"malformed pipeline step in {data!r}") from exc
        return cls(steps)

    def describe(self) -> str:
        """One line for humans: ``nfkc → sentences → lowercase → word``."""
        parts = []
        for step in self.steps:
            options = ",".join(f"{k}={_show(v)}" for k, v in step.options.items())
            text = f"{step.name}({options})" if options else step.name
            if step.definition.fitted:
                text += "[learned]" if step.artifact else "[to learn]"
            parts.append(text)
        return " → ".join(parts)

    def display(self) -> Callable[[str], str] | None:
        """The function that shows one of this pipeline's tokens as text (the inverses of its steps
        that have one, last step first: a jamo store's ㅎㅏㄱㄱㅛ- is shown 학교), or ``None`` when the
        tokens are already for reading (every pipeline without such a step)."""
        inverses = [DISPLAY[step.name] for step in reversed(self.steps) if step.name in DISPLAY]
        return _chain(inverses) if inverses else None

    # --- fitted steps --------------------------------------------------------------------------

    @property
    def artifact_names(self) -> list[str]:
        """Names of the artifacts this pipeline needs, in step order."""
        return [step.artifact["name"] for step in self.steps if step.artifact is not None]

    def unfitted(self) -> list[int]:
        """Indices of the fitted steps that have not learned their model yet."""
        return [i for i, step in enumerate(self.steps) if step.definition.fitted and step.artifact is None]

    def artifact_name(self, index: int) -> str:
        step = self.steps[index]
        return f"{index}-{step.name}{step.definition.artifact_suffix}"

    def with_artifact(self, index: int, data: bytes) -> Pipeline:
        """This pipeline with step ``index`` fitted: its artifact reference records ``data``'s hash."""
        step = self.steps[index]
        if not step.definition.fitted:
            raise ConfigError(f"pipeline step {step.name!r} learns nothing from the corpus")
        reference = {"name": self.artifact_name(index), "sha256": sha256_hex(data)}
        steps = list(self.steps)
        steps[index] = replace(step, artifact=reference)
        return Pipeline(tuple(steps))

    def check(self) -> None:
        """Validate every step's options in this process (raises :class:`ConfigError`), before
        worker processes build the steps, where an error could only end the pool. Tokenizers and
        fitted steps are left to their build: they may load large models (Kiwi, SentencePiece)."""
        for step in self.steps:
            if not step.definition.fitted and step.definition.kind != TOKENIZE:
                step.definition.build(step.options)

    def compile(self, artifacts: Mapping[str, bytes] | None = None) -> CompiledPipeline:
        """Build the step functions. A fitted step needs its artifact's bytes in ``artifacts``."""
        return CompiledPipeline(self, artifacts or {})


def _show(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return f"[{len(value)} words]" if len(value) > 6 else "+".join(map(str, value))
    return str(value)


class CompiledPipeline:
    """A pipeline with its step functions built, ready to run many times.

    ``upto`` builds only the steps before that index (ingest's fitting passes use it to see what a
    fitted step will be given). If any step writes placeholders (``<url>``...), the tokenizer runs
    on the text between them and each placeholder becomes one token, whatever the tokenizer.
    """

    def __init__(self, pipeline: Pipeline, artifacts: Mapping[str, bytes] | None = None, *, upto: int | None = None) -> None:
        artifacts = artifacts or {}
        self.pipeline = pipeline
        self._before: list[tuple[str, StepFunction]] = []
        self._tokenize: StepFunction | None = None
        self._after: list[StepFunction] = []
        self._labels: list[str] = []
        self.protects_placeholders = False
        steps = pipeline.steps if upto is None else pipeline.steps[:upto]
        for step in steps:
            definition = step.definition
            if definition.fitted:
                function = definition.build(step.options, _artifact_bytes(step, artifacts))
            else:
                function = definition.build(step.options)
            self.protects_placeholders |= definition.placeholders
            self._labels.append(step.name)
            if definition.kind in (TEXT, SEGMENT):
                self._before.append((definition.kind, function))
            elif definition.kind == TOKENIZE:
                self._tokenize = function
            else:
                self._after.append(function)
        self._shape = _one_segmenter_shape(self._before)

    def segments(self, text: str) -> list[str]:
        """Raw text -> the segments the tokenizer is given (after every text and segment step)."""
        if self._shape is not None:  # text steps, one segmenter, text steps: one comprehension
            first, split, then = self._shape
            return [then(part) for part in split(first(text))]
        segments = [text]
        for kind, function in self._before:
            if kind == TEXT:
                segments = [function(s) for s in segments]
            else:
                segments = [part for s in segments for part in function(s)]
        return segments

    def _split_tokens(self, segment: str) -> list[str]:
        tokenize = self._tokenize
        assert tokenize is not None  # noqa: S101 - internal invariant, not user input
        if not self.protects_placeholders or "<" not in segment:
            return tokenize(segment)
        # A tokenizer that can keep placeholders in context (Korean morphemes: 2024년에 → <date> 에,
        # the particle recognised) offers ``with_placeholders``; others run between placeholders.
        own = getattr(tokenize, "with_placeholders", None)
        return own(segment) if own is not None else tokenize_around_placeholders(tokenize, segment)

    def process(self, text: str) -> list[list[str]]:
        """Raw text -> sentences (lists of tokens); empty sentences are dropped."""
        if self._tokenize is None:
            raise ConfigError("this partial pipeline stops before its tokenizer: use segments()")
        split = self._split_tokens if self.protects_placeholders else self._tokenize
        if not self._after:  # the common case, kept to one comprehension (ingest spends its time here)
            return [tokens for tokens in map(split, self.segments(text)) if tokens]
        sentences = []
        for segment in self.segments(text):
            tokens = split(segment)
            for function in self._after:
                tokens = function(tokens)
            if tokens:
                sentences.append(tokens)
        return sentences

    @property
    def batches(self) -> bool:
        """Whether the tokenizer can take many segments at once on threads (Kiwi morphemes)."""
        return self._tokenize is not None and hasattr(self._tokenize, "batch")

    def process_many(self, texts: list[str], threads: int) -> list[list[str]]:
        """``[s for t in texts for s in process(t)]``, with the tokenizer run as one threaded batch."""
        segments = [segment for text in texts for segment in self.segments(text)]
        sentences = []
        for tokens in self._tokenize.batch(segments, threads, self.protects_placeholders):  # type: ignore[union-attr]
            for function in self._after:
                tokens = function(tokens)
            if tokens:
                sentences.append(tokens)
        return sentences

    def tokens(self, text: str) -> list[str]:
        """Raw text -> one flat list of tokens (how query words are prepared)."""
        return [token for sentence in self.process(text) for token in sentence]

    def trace(self, text: str) -> list[tuple[str, list[Any]]]:
        """What each step makes of ``text``: ``(step name, segments or token lists)`` after each step."""
        out: list[tuple[str, list[Any]]] = []
        labels = iter(self._labels)
        segments = [text]
        for kind, function in self._before:
            segments = [function(s) for s in segments] if kind == TEXT else [p for s in segments for p in function(s)]
            out.append((next(labels), list(segments)))
        if self._tokenize is None:
            return out
        sentences = [self._split_tokens(s) for s in segments]
        out.append((next(labels), [list(s) for s in sentences]))
        for function in self._after:
            sentences = [function(s) for s in sentences]
            out.append((next(labels), [list(s) for s in sentences]))
        return out

    def first_empty_step(self, text: str) -> str | None:
        """The first step after which nothing of ``text`` is left (for error messages), if any."""
        for label, result in self.trace(text):
            if not any(item and (not isinstance(item, str) or not item.isspace()) for item in result):
                return label
        return None


def _chain(functions: list[Callable[[Any], Any]]) -> Callable[[Any], Any]:
    """The functions applied one after another (a text step chain, or display inverses)."""
    if not functions:
        return lambda text: text
    if len(functions) == 1:
        return functions[0]

    def chained(text: str) -> str:
        for function in functions:
            text = function(text)
        return text

    return chained


def _one_segmenter_shape(before: list[tuple[str, StepFunction]]) -> tuple[StepFunction, StepFunction, StepFunction] | None:
    """(text steps before, the segmenter, text steps after) when there is exactly one segmenter:
    the usual shape (nfkc → sentences → lowercase), run with fewer intermediate lists."""
    kinds = [kind for kind, _ in before]
    if kinds.count(SEGMENT) != 1:
        return None
    at = kinds.index(SEGMENT)
    return _chain([f for _, f in before[:at]]), before[at][1], _chain([f for _, f in before[at + 1 :]])


def _artifact_bytes(step: Step, artifacts: Mapping[str, bytes]) -> bytes:
    if step.artifact is None:
        raise ConfigError(
            f"pipeline step {step.name!r} learns a model from the corpus first: ingest does that "
            "(to see its effect on a text, give `tokenize` a --corpus or --store made with it)"
        )
    name = step.artifact["name"]
    data = artifacts.get(name)
    if data is None:
        raise ConfigError(f"pipeline step {step.name!r} needs its learned model {name!r}, which was not given")
    if sha256_hex(data) != step.artifact["sha256"]:
        raise SourceError(f"the learned model {name!r} of step {step.name!r} does not match its recorded SHA-256")
    return data


def english_words() -> Pipeline:
    """The default English word pipeline: NFKC, sentence split, lowercase, Unicode words."""
    return Pipeline.of("nfkc", "sentences", "lowercase", "word")


def parse_steps(spec: str) -> Pipeline:
    """Parse ``"nfkc,lowercase,word,length:min_chars=2"`` (CLI form) into a pipeline.

    Options follow ``:`` separated by ``;``; list values are separated by ``+``
    (``morphemes:drop_pos=J+E``).
    """
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
    """(name, kind, version, description) of every registered step, for help texts; options and
    their defaults end the description."""
    listed = []
    for d in sorted(REGISTRY.values(), key=lambda d: (_PHASE[d.kind], d.name)):
        description = d.description
        if d.defaults:
            description += " [" + "; ".join(f"{k}={_show(v) if v not in ('', []) else '(none)'}" for k, v in d.defaults.items()) + "]"
        if d.fitted:
            description += " (learned from the corpus at ingest)"
        listed.append((d.name, d.kind, d.version, description))
    return listed
