"""Korean morphemes with Kiwi (kiwipiepy: no JVM) or MeCab, and a tokenizer that picks by script.

``morphemes`` splits Korean text into morphemes (나는 밥을 먹었다 → 나 는 밥 을 먹 었 다), optionally
with part-of-speech tags (먹/VV), verb and adjective lemmas (먹 → 먹다), and dropping whole
parts of speech: particles 조사 (J*) and endings 어미 (E*) are Korean's stopwords.

MeCab (python-mecab-ko with mecab-ko-dic) is an optional backend, about 3x faster per core; its
lemmas are the stem + 다 (irregular stems come from the dictionary's analysis: 걸어서 → 걷다).

One Kiwi object is made per process, on first use, and shared by every pipeline in it: the model
takes about a second and a few hundred MB to load. Ingest gives a Kiwi pipeline one process whose
Kiwi runs each chunk's sentences on one thread per core, sharing the model (measured ~1.95x a
single thread on 2 cores, where two worker processes, a model each, reach ~1.7x); other
pipelines (MeCab included) get worker processes, each loading its analyser once, in its
initializer, never per chunk.
"""
from __future__ import annotations

import functools
import os
import re
import threading
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError, install_hint
from .steps import (
    PLACEHOLDER_NAMES,
    PLACEHOLDER_RE,
    TOKENIZE,
    StepFunction,
    bool_option,
    check_options,
    list_option,
    register,
    tokenize_around_placeholders,
    word_pattern,
)

# Punctuation and symbol tags of the Sejong set as Kiwi uses them; SL (Latin), SH (Hanja) and SN
# (numbers) are words and stay.
PUNCTUATION_TAGS = ("SF", "SP", "SS", "SE", "SO", "SW", "SB")
PARTICLES_AND_ENDINGS = ("J", "E")
KOREAN_DROP = PARTICLES_AND_ENDINGS + PUNCTUATION_TAGS
_LEMMA_TAGS = ("VV", "VA", "VX", "VCP", "VCN")
_SUFFIX_TAGS = ("XSV", "XSA")  # 공부하다 → 공부 + 하다: the verb-making suffix gets its 다 too
_lock = threading.Lock()


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


# Threads of the process's Kiwi. One string at a time always runs on the calling thread; the
# threads serve batches (ingest's), so by default there is one per core.
_kiwi_threads = _cores()


def use_kiwi_threads(threads: int) -> None:
    """Give the process's Kiwi this many threads for batches. Affects the analyser made next."""
    global _kiwi_threads
    if threads != _kiwi_threads:
        _kiwi_threads = threads
        kiwi.cache_clear()


@functools.cache
def kiwi() -> Any:
    """The process's Kiwi analyser, made on first use and shared by every pipeline in the process."""
    try:
        from kiwipiepy import Kiwi
    except ImportError as exc:
        raise ConfigError(
            f"Korean morphemes need kiwipiepy: {install_hint('ko')}, or pip install kiwipiepy"
        ) from exc
    with _lock:
        return Kiwi(num_workers=_kiwi_threads)


@functools.cache
def mecab() -> Any:
    """The process's MeCab analyser with mecab-ko-dic (python-mecab-ko), the optional faster backend."""
    try:
        from mecab import MeCab
    except ImportError as exc:
        raise ConfigError(f"the mecab backend needs python-mecab-ko: {install_hint('mecab')}") from exc
    with _lock:
        return MeCab()


# mecab-ko-dic names two punctuation classes differently; mapped to Kiwi's (Sejong) names, the same
# drop_pos lists work with both backends.
_MECAB_TAGS = {"SC": "SP", "SY": "SW"}


def _mecab_analyse(text: str) -> list[tuple[str, str]]:
    """(form, tag) pairs; inflected words are split into their morphemes (걸어서 → 걷/VV 어서/EC)."""
    out = []
    for morpheme in mecab().parse(text):
        feature = morpheme.feature
        if feature.expression and feature.type in ("Inflect", "Preanalysis"):
            for part in feature.expression.split("+"):
                pieces = part.split("/")
                if len(pieces) >= 2 and pieces[0]:
                    out.append((pieces[0], _MECAB_TAGS.get(pieces[1], pieces[1])))
        else:
            tag = feature.pos or "UN"
            out.append((morpheme.surface, _MECAB_TAGS.get(tag, tag)))
    return out


_MORPHEME_DEFAULTS = {"tags": False, "lemma": False, "drop_pos": "", "backend": "kiwi"}

# Placeholders (<url>...) go to the analyser as Latin words, which it tags SL and leaves whole, so
# the text around them is analysed in context (<date>에 → the particle 에 is recognised).
_SENTINELS = {name: f"ZQX{name.upper()}XQZ" for name in PLACEHOLDER_NAMES}
_RESTORE = {sentinel: f"<{name}>" for name, sentinel in _SENTINELS.items()}


def _hide_placeholders(text: str) -> str:
    return PLACEHOLDER_RE.sub(lambda match: f" {_SENTINELS[match.group()[1:-1]]} ", text)


def _morpheme_function(name: str, options: Mapping[str, Any], *, lazy: bool = False) -> StepFunction:
    opts = check_options(name, options, _MORPHEME_DEFAULTS)
    tags = bool_option(name, "tags", opts["tags"])
    lemma = bool_option(name, "lemma", opts["lemma"])
    drop = tuple(tag.upper() for tag in list_option(opts["drop_pos"]))
    if any(not re.fullmatch(r"[A-Z_]+", tag) for tag in drop):
        raise ConfigError(f"step {name!r}: drop_pos takes part-of-speech tag prefixes like J, E, SF; got {opts['drop_pos']!r}")
    backend = opts["backend"]
    if backend not in ("kiwi", "mecab"):
        raise ConfigError(f"step {name!r}: backend must be kiwi or mecab, got {backend!r}")
    if not lazy:
        # load the model now (in an ingest worker: in its initializer), and fail early without the package
        kiwi() if backend == "kiwi" else mecab()

    def with_mecab(text: str, restore: dict[str, str] | None = None) -> list[str]:
        out = []
        for form, tag in _mecab_analyse(text):
            if restore and form in restore:
                out.append(restore[form])
                continue
            if drop and tag.startswith(drop):
                continue
            if lemma and tag.startswith(_LEMMA_TAGS + _SUFFIX_TAGS):
                form = form + "다"
            if tags:
                form = f"{form}/{tag}"
            if form and not form.isspace():
                out.append(form.replace(" ", "_"))
        return out

    def with_kiwi(text: str, restore: dict[str, str] | None = None, analysed: Any = None) -> list[str]:
        out = []
        for token in kiwi().tokenize(text) if analysed is None else analysed:
            if restore and token.form in restore:
                out.append(restore[token.form])
                continue
            tag = token.tag
            if drop and tag.startswith(drop):
                continue
            form = token.form
            if lemma and tag.startswith(_LEMMA_TAGS):
                form = token.lemma
            elif lemma and tag.startswith(_SUFFIX_TAGS):
                form += "다"
            if tags:
                form = f"{form}/{tag.split('-', 1)[0]}"
            if form and not form.isspace():
                out.append(form.replace(" ", "_"))
        return out

    analyse = with_mecab if backend == "mecab" else with_kiwi

    def morphemes(text: str) -> list[str]:
        return analyse(text)

    def with_placeholders(text: str) -> list[str]:
        return analyse(_hide_placeholders(text), _RESTORE)

    def batch(texts: list[str], threads: int, placeholders: bool) -> list[list[str]]:
        """Many segments at once on ``threads`` Kiwi threads sharing one model: ~1.95x a single
        thread on 2 cores where two processes with a model each reach ~1.7x (the model's working
        set is shared in cache instead of duplicated). Same output as one call per segment."""
        hidden = [bool(placeholders and "<" in t and PLACEHOLDER_RE.search(t)) for t in texts]
        inputs = [_hide_placeholders(t) if h else t for t, h in zip(texts, hidden)]
        if _kiwi_threads < threads:
            use_kiwi_threads(threads)
        analysed = kiwi().tokenize(inputs)
        return [with_kiwi(t, _RESTORE if h else None, a) for t, h, a in zip(inputs, hidden, analysed)]

    morphemes.with_placeholders = with_placeholders  # type: ignore[attr-defined]
    if backend == "kiwi":
        morphemes.batch = batch  # type: ignore[attr-defined]
    return morphemes


@register(
    "morphemes",
    kind=TOKENIZE,
    version=1,
    description="Korean morphemes with Kiwi (backend=mecab: MeCab with mecab-ko-dic, faster); tags=true gives 먹/VV, "
    "lemma=true gives 먹다 for verbs and adjectives, drop_pos=J+E drops particles and endings",
    defaults=_MORPHEME_DEFAULTS,
)
def _morphemes(options: Mapping[str, Any]) -> StepFunction:
    return _morpheme_function("morphemes", options)


_HANGUL = re.compile("[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")
_LETTER = re.compile(r"[^\W\d_]")


def hangul_share(text: str) -> float:
    """Share of Hangul among the letters of ``text`` (0 when it has no letters)."""
    letters = len(_LETTER.findall(text))
    return len(_HANGUL.findall(text)) / letters if letters else 0.0


@register(
    "by_script",
    kind=TOKENIZE,
    version=1,
    description="mixed-language text: segments mostly in Hangul go to morphemes (same options), others to word",
    defaults={**_MORPHEME_DEFAULTS, "min_hangul": 0.5},
)
def _by_script(options: Mapping[str, Any]) -> StepFunction:
    opts = check_options("by_script", options, {**_MORPHEME_DEFAULTS, "min_hangul": 0.5})
    threshold = float(opts.pop("min_hangul"))
    if not 0.0 < threshold <= 1.0:
        raise ConfigError(f"step 'by_script': min_hangul must be in (0, 1], got {threshold}")
    korean = _morpheme_function("by_script", opts, lazy=True)  # Kiwi is loaded at the first Korean segment
    words = word_pattern().findall

    def is_korean(text: str) -> bool:
        return bool(_HANGUL.search(text)) and hangul_share(text) >= threshold

    def tokenize(text: str) -> list[str]:
        return korean(text) if is_korean(text) else words(text)

    def with_placeholders(text: str) -> list[str]:
        if is_korean(text):
            return korean.with_placeholders(text)  # type: ignore[attr-defined]
        return tokenize_around_placeholders(words, text)

    tokenize.with_placeholders = with_placeholders  # type: ignore[attr-defined]
    return tokenize
