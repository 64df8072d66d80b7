"""Subword tokenizers (BPE and unigram) with SentencePiece, trained on the corpus: a fitted step.

Ingest trains the model on the text segments the tokenizer will see (after every normaliser),
with a seed, and keeps the serialized model (a protobuf, not code) as the step's artifact; the
store carries the same bytes, so query words are split exactly like the corpus. SentencePiece's
own normalisation is switched off (``identity``): the pipeline's steps do that job, visibly.
Tokens are SentencePiece pieces: ``▁`` marks the start of a word (``▁new``, ``▁yo``, ``rk``).
"""
from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from typing import Any

from ..errors import ConfigError, EmptyCorpusError
from .steps import TOKENIZE, FitInput, StepFunction, check_options, int_option, register

_DEFAULTS = {"model": "unigram", "vocab_size": 8000, "character_coverage": 0.9995, "seed": 1,
             "sample_sentences": 1_000_000}


def _options(options: Mapping[str, Any]) -> dict[str, Any]:
    opts = check_options("subword", options, _DEFAULTS)
    if opts["model"] not in ("unigram", "bpe"):
        raise ConfigError(f"step 'subword': model must be unigram or bpe, got {opts['model']!r}")
    int_option("subword", "vocab_size", opts["vocab_size"], 16, 10_000_000)
    int_option("subword", "seed", opts["seed"], 0)
    int_option("subword", "sample_sentences", opts["sample_sentences"], 1)
    coverage = opts["character_coverage"]
    if isinstance(coverage, bool) or not isinstance(coverage, (int, float)) or not 0.9 <= coverage <= 1.0:
        raise ConfigError(f"step 'subword': character_coverage must be in [0.9, 1], got {coverage!r}")
    return opts


def _sentencepiece() -> Any:
    try:
        import sentencepiece
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise ConfigError("the subword step needs sentencepiece: pip install sentencepiece") from exc
    return sentencepiece


def _fit(options: Mapping[str, Any], data: FitInput) -> bytes:
    opts = _options(options)
    if data.lines == 0:
        raise EmptyCorpusError("the subword model has nothing to learn from: the steps before it left no text")
    spm = _sentencepiece()
    spm.set_random_generator_seed(int(opts["seed"]))
    model = io.BytesIO()

    def lines() -> Iterator[str]:
        # An iterator, not input=path: the model records its input file name, which would make
        # the same corpus give different model bytes in different directories.
        with open(data.path, encoding="utf-8") as handle:
            for line in handle:
                yield line.rstrip("\n")

    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=lines(),
            model_writer=model,
            model_type=opts["model"],
            vocab_size=int(opts["vocab_size"]),
            hard_vocab_limit=False,  # a small corpus gets a smaller vocabulary instead of an error
            character_coverage=float(opts["character_coverage"]),
            input_sentence_size=int(opts["sample_sentences"]),
            shuffle_input_sentence=True,
            normalization_rule_name="identity",
            num_threads=1,  # one thread: the same model on every machine, whatever its cores
            bos_id=-1,
            eos_id=-1,
            minloglevel=2,
        )
    except RuntimeError as exc:
        raise ConfigError(f"SentencePiece could not train on the corpus: {exc}") from exc
    return model.getvalue()


@register(
    "subword",
    kind=TOKENIZE,
    version=1,
    description="SentencePiece subwords trained on the corpus: model=unigram or bpe, vocab_size, seed (▁new ▁yo rk)",
    defaults=_DEFAULTS,
    fit=_fit,
    artifact_suffix=".model",
)
def _subword(options: Mapping[str, Any], artifact: bytes) -> StepFunction:
    _options(options)
    spm = _sentencepiece()
    try:
        processor = spm.SentencePieceProcessor(model_proto=artifact)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"the SentencePiece model is malformed ({exc})") from exc
    encode = processor.encode

    def pieces(text: str) -> list[str]:
        return [piece for piece in encode(text, out_type=str) if piece and not piece.isspace()]

    return pieces
