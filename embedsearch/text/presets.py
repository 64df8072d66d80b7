"""Language presets and the option-by-option pipeline builder behind ``ingest`` and ``tokenize``.

``PipelineOptions()`` is the default English pipeline (``nfkc → sentences → lowercase → word``);
``lang="ko"`` gives Korean morphemes with verb/adjective lemmas, particles, endings and
punctuation dropped (``nfc → sentences → lowercase → morphemes``: NFC, not NFKC, which would turn
ㅋㅋ into conjoining jamo); ``lang="auto"`` sends each sentence to one or the other by its script.
Every other option adds one step, in a fixed, sensible order:

    unicode → html → entities → unaccent → sentences → case → punct → tokenizer
    → stopwords → lemma → stem → length → phrases → word n-grams → jamo → char n-grams
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from .filters import BUILTIN_STOPWORDS, read_stopword_file
from .korean import KOREAN_DROP
from .pipeline import Pipeline
from .steps import PLACEHOLDER_NAMES

LANGS = ("en", "ko", "auto")
UNICODE_FORMS = ("nfkc", "nfc", "none")
CASES = ("lower", "casefold", "keep")
TOKENIZERS = ("word", "whitespace", "char", "morphemes", "by_script", "bpe", "unigram")
ENTITY_ACTIONS = ("placeholder", "remove")


@dataclass(frozen=True)
class PipelineOptions:
    """What a user can choose without writing steps by hand. ``None`` means: the language's default."""

    lang: str = "en"
    unicode: str | None = None
    case: str = "lower"
    strip_accents: bool = False
    html: bool = False
    entities: Sequence[str] = ()  # url, email, date, phone, num (or "all")
    entity_action: str = "placeholder"
    punct: bool = False
    sentences: bool = True
    tokenizer: str | None = None
    pos_tags: bool = False
    lemma: bool | None = None
    drop_pos: Sequence[str] | None = None
    korean_backend: str = "kiwi"
    stem: str | None = None
    builtin_stopwords: Sequence[str] = ()
    stopwords: Sequence[str] = ()
    stopword_files: Sequence[str] = ()
    min_chars: int = 1
    max_chars: int = 100
    phrases: int = 0
    phrase_min_count: int = 5
    phrase_threshold: float = 10.0
    word_ngrams: int = 1
    jamo: bool = False
    char_ngrams: tuple[int, int] | None = None
    vocab_size: int = 8000
    seed: int = 1

    def __post_init__(self) -> None:
        for name, value, allowed in (("lang", self.lang, LANGS), ("unicode", self.unicode, (*UNICODE_FORMS, None)),
                                     ("case", self.case, CASES), ("tokenizer", self.tokenizer, (*TOKENIZERS, None)),
                                     ("entity_action", self.entity_action, ENTITY_ACTIONS),
                                     ("korean_backend", self.korean_backend, ("kiwi", "mecab"))):
            if value not in allowed:
                shown = ", ".join(a for a in allowed if a is not None)
                raise ConfigError(f"{name} must be one of {shown}, got {value!r}")
        kinds = set(self.entity_kinds())
        if kinds - set(PLACEHOLDER_NAMES):
            raise ConfigError(f"entities are {', '.join(PLACEHOLDER_NAMES)} (or all), got {', '.join(sorted(kinds - set(PLACEHOLDER_NAMES)))}")
        if unknown := set(self.builtin_stopwords) - set(BUILTIN_STOPWORDS):
            raise ConfigError(f"built-in stopword lists are {', '.join(BUILTIN_STOPWORDS)}, got {', '.join(sorted(unknown))}")
        if not 0 <= self.phrases <= 4:
            raise ConfigError(f"phrases takes 0 (off) to 4 passes, got {self.phrases}")
        if self.word_ngrams < 1:
            raise ConfigError(f"word_ngrams must be at least 1, got {self.word_ngrams}")

    def entity_kinds(self) -> list[str]:
        kinds = [k.strip().lower() for k in self.entities if k.strip()]
        return list(PLACEHOLDER_NAMES) if "all" in kinds else kinds

    @property
    def resolved_tokenizer(self) -> str:
        return self.tokenizer or {"en": "word", "ko": "morphemes", "auto": "by_script"}[self.lang]


def build_pipeline(options: PipelineOptions | None = None) -> Pipeline:
    """The pipeline ``options`` describe (see the module docstring for the order of the steps)."""
    o = options or PipelineOptions()
    steps: list[str | tuple[str, Mapping[str, Any]]] = []
    unicode = o.unicode or ("nfkc" if o.lang == "en" else "nfc")
    if unicode != "none":
        steps.append(unicode)
    if o.html:
        steps.append("html")
    if kinds := o.entity_kinds():
        steps.append(("entities", {k: (o.entity_action if k in kinds else "keep") for k in PLACEHOLDER_NAMES}))
    if o.strip_accents:
        steps.append("unaccent")
    if o.sentences:
        steps.append("sentences")
    if o.case != "keep":
        steps.append("lowercase" if o.case == "lower" else "casefold")
    if o.punct:
        steps.append("punct")

    tokenizer = o.resolved_tokenizer
    korean = tokenizer in ("morphemes", "by_script")
    lemma = o.lemma if o.lemma is not None else o.lang in ("ko", "auto")
    if tokenizer in ("bpe", "unigram"):
        steps.append(("subword", {"model": tokenizer, "vocab_size": o.vocab_size, "seed": o.seed}))
    elif korean:
        drop = list(o.drop_pos) if o.drop_pos is not None else list(KOREAN_DROP)
        options: dict[str, Any] = {}
        if o.pos_tags:
            options["tags"] = True
        if lemma:
            options["lemma"] = True
        if drop:
            options["drop_pos"] = "+".join(drop)
        if o.korean_backend != "kiwi":
            options["backend"] = o.korean_backend
        steps.append((tokenizer, options))
    else:
        if o.pos_tags:
            raise ConfigError("part-of-speech tags come from the Korean morpheme analyser: use --tokenizer morphemes")
        steps.append(tokenizer)

    words = sorted({*o.stopwords, *(w for path in o.stopword_files for w in read_stopword_file(path))})
    if o.builtin_stopwords or words:
        stop: dict[str, Any] = {"lists": "+".join(o.builtin_stopwords)}
        if words:
            stop["words"] = words
        steps.append(("stopwords", stop))
    if o.lemma and o.lang == "ko" and not korean:
        raise ConfigError("Korean lemmas (먹었다 → 먹다) come from the morpheme analyser: use --tokenizer morphemes")
    if lemma and o.lang != "ko" and not (o.lemma is None and korean):
        steps.append(("lemma", {"language": "en"}))
    if o.stem:
        steps.append(("stem", {"language": o.stem}))
    if (o.min_chars, o.max_chars) != (1, 100):
        steps.append(("length", {"min_chars": o.min_chars, "max_chars": o.max_chars}))
    if o.phrases:
        steps.append(("phrases", {"passes": o.phrases, "min_count": o.phrase_min_count, "threshold": o.phrase_threshold}))
    if o.word_ngrams > 1:
        steps.append(("word_ngrams", {"min_n": 1, "max_n": o.word_ngrams}))
    if o.jamo:  # after every step that reads words as words (stopwords, length in syllables, phrases)
        steps.append("jamo")
    if o.char_ngrams:
        steps.append(("char_ngrams", {"min_n": o.char_ngrams[0], "max_n": o.char_ngrams[1]}))
    return Pipeline.of(*steps)
