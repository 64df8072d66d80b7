"""Normalisers (``text`` steps): Unicode forms, case, accents, markup, entities, punctuation, spaces.

Every step here is idempotent (applying it twice changes nothing more; a property test checks it)
and keeps the letters of every script. Each registers under a stable name and version; see
``steps.py`` for the rules.
"""
from __future__ import annotations

import functools
import html
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError
from .marks import MARK_RANGES
from .steps import PLACEHOLDER_NAMES, PLACEHOLDER_RE, TEXT, StepFunction, check_options, register


@register("nfc", kind=TEXT, version=1, description="Unicode NFC normalisation (composed forms; keeps compatibility characters and Hangul jamo)")
def _nfc(options: Mapping[str, Any]) -> StepFunction:
    check_options("nfc", options, {})
    return functools.partial(unicodedata.normalize, "NFC")


@register("casefold", kind=TEXT, version=1, description="Unicode case folding (str.casefold: ß→ss, ς→σ); stronger than lowercase")
def _casefold(options: Mapping[str, Any]) -> StepFunction:
    check_options("casefold", options, {})
    return str.casefold


# Combining marks that are accents on Latin, Greek and Cyrillic letters. Marks of other scripts
# (Devanagari vowel signs, Hebrew points, Thai tone marks...) are letters' parts, not accents: kept.
_ACCENTS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


@register("unaccent", kind=TEXT, version=1, description="strip accents from Latin, Greek and Cyrillic letters (é→e); other scripts untouched")
def _unaccent(options: Mapping[str, Any]) -> StepFunction:
    check_options("unaccent", options, {})

    def unaccent(text: str) -> str:
        if text.isascii():
            return text
        return unicodedata.normalize("NFC", _ACCENTS.sub("", unicodedata.normalize("NFD", text)))

    return unaccent


# Leftover markup: comments, script/style blocks, and tags (a letter right after "<"). The entity
# placeholders (<url>...) look like tags and are not markup: they are kept.
_PLACEHOLDER_ALT = "|".join(PLACEHOLDER_NAMES)
_MARKUP = re.compile(
    r"<!--.*?(?:-->|$)"
    r"|<(script|style)\b[^>]*>.*?</\1\s*>"
    rf"|</?(?!(?:{_PLACEHOLDER_ALT})>)[A-Za-z][\w:.-]*(?:\s[^<>]*)?/?>",
    re.DOTALL | re.IGNORECASE,
)


@register("html", kind=TEXT, version=1, description="decode HTML entities (&amp; &#233;) and remove leftover tags and comments")
def _html(options: Mapping[str, Any]) -> StepFunction:
    check_options("html", options, {})

    def clean(text: str) -> str:
        # Repeated until nothing changes, so "&amp;lt;b&amp;gt;" ends as "" and the step is idempotent.
        for _ in range(8):
            if "&" not in text and "<" not in text:
                return text
            cleaned = _MARKUP.sub(" ", html.unescape(text))
            if cleaned == text:
                return text
            text = cleaned
        return text

    return clean


_MARK_CLASS = "".join(f"{re.escape(chr(low))}-{re.escape(chr(high))}" for low, high in MARK_RANGES)


@register(
    "punct",
    kind=TEXT,
    version=1,
    description="replace punctuation and symbols by spaces; letters of every script, marks and digits stay",
    defaults={"keep": ""},
)
def _punct(options: Mapping[str, Any]) -> StepFunction:
    opts = check_options("punct", options, {"keep": ""})
    keep = str(opts["keep"])
    if any(ch.isspace() for ch in keep):
        raise ConfigError("step 'punct': option keep lists characters to keep and cannot contain spaces")
    pattern = re.compile(rf"[^\w\s{_MARK_CLASS}{re.escape(keep)}]+" + ("" if "_" in keep else "|_+"))

    def remove(text: str) -> str:
        if "<" not in text:
            return pattern.sub(" ", text)
        parts = PLACEHOLDER_RE.split(text)
        placeholders = PLACEHOLDER_RE.findall(text)
        out = [pattern.sub(" ", parts[0])]
        for placeholder, part in zip(placeholders, parts[1:]):
            out.append(placeholder)  # kept whole; tokenizers split around placeholders anyway
            out.append(pattern.sub(" ", part))
        return "".join(out)

    return remove


_INVISIBLE = re.compile("[\u00ad\u200b\u2060\ufeff]")
_SPACES = re.compile(r"\s+")


@register("spaces", kind=TEXT, version=1, description="collapse runs of whitespace to one space, trim, drop zero-width spaces and soft hyphens")
def _spaces(options: Mapping[str, Any]) -> StepFunction:
    check_options("spaces", options, {})

    def collapse(text: str) -> str:
        return _SPACES.sub(" ", _INVISIBLE.sub("", text)).strip()

    return collapse


# --- entities ------------------------------------------------------------------------------------

_AFTER = r"(?![A-Za-z0-9_])"  # an entity may be followed by Hangul ("2024년"), not by Latin letters or digits
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_ENTITY_PATTERNS = {
    "url": r"(?<![\w@])(?:https?://|ftp://|www\.)[^\s<>\"'(){}\[\]]*[^\s<>\"'(){}\[\].,;:!?]",
    "email": r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}" + _AFTER,
    "date": (
        r"(?<![\w.,/-])(?:"
        r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}"  # 2024-03-15, 2024.3.15
        r"|\d{1,2}[-/.]\d{1,2}[-/.]\d{4}"  # 15.03.2024, 3/15/2024
        r"|\d{4}\s*년\s*\d{1,2}\s*월(?:\s*\d{1,2}\s*일)?"  # 2024년 3월 15일
        r"|\d{1,2}\s*월\s*\d{1,2}\s*일"  # 3월 15일
        rf"|(?:\d{{1,2}}(?:st|nd|rd|th)?\s+)?{_MONTH}\.?\s+(?:\d{{1,2}}(?:st|nd|rd|th)?,?\s+)?\d{{4}}"  # 15 March 2024, March 15, 2024
        r")(?![A-Za-z0-9_])"
    ),
    "phone": (
        r"(?<![\w+.-])(?:"
        r"(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?|\d{2,4}-)\d{3,4}-\d{4}"  # 010-1234-5678, (555) 123-4567
        r"|\+\d{1,3}[ .-]?\d{1,4}[ .-]\d{3,4}[ .-]\d{4}"  # +82 10 1234 5678
        r"|\d{3}\.\d{3,4}\.\d{4}"  # 555.123.4567
        r")(?![A-Za-z0-9_-])"  # Hangul may follow: 010-1234-5678로
    ),
    "num": r"(?<![\w.,])[-+]?\d+(?:[.,]\d+)*%?" + _AFTER,
}
ENTITY_ACTIONS = ("placeholder", "remove", "keep")


@functools.cache
def _entity_regex(kinds: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?P<{kind}>{_ENTITY_PATTERNS[kind]})" for kind in kinds), re.IGNORECASE)


@register(
    "entities",
    kind=TEXT,
    version=1,
    description="recognise URLs, e-mails, dates, phone numbers, numbers: replace each by <url> <email> <date> "
    "<phone> <num>, or remove, or keep",
    defaults={kind: "placeholder" for kind in PLACEHOLDER_NAMES},
    placeholders=True,
)
def _entities(options: Mapping[str, Any]) -> StepFunction:
    opts = check_options("entities", options, {kind: "placeholder" for kind in PLACEHOLDER_NAMES})
    for kind, action in opts.items():
        if action not in ENTITY_ACTIONS:
            raise ConfigError(f"step 'entities': {kind} must be one of {', '.join(ENTITY_ACTIONS)}, got {action!r}")
    # Kinds are tried in this priority order at each position: a date is not read as numbers.
    active = tuple(kind for kind in PLACEHOLDER_NAMES if opts[kind] != "keep")
    if not active:
        return lambda text: text
    regex = _entity_regex(active)
    replacement = {kind: f" <{kind}> " if opts[kind] == "placeholder" else " " for kind in active}

    def replace(match: re.Match[str]) -> str:
        return replacement[match.lastgroup]  # type: ignore[index]

    def recognise(text: str) -> str:
        # Again until nothing changes: a replacement can expose a neighbour ("0,0¹@a.io": once the
        # number is gone, the rest reads as an e-mail), and the step must be idempotent.
        for _ in range(4):
            changed = regex.sub(replace, text)
            if changed == text:
                break
            text = changed
        return text

    return recognise
