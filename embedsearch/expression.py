"""The query expression grammar: ``king - man + woman``, ``0.5*paris + rome``, ``new york``.

    expression := term (operator? term)*       adjacent terms without an operator are added
    term       := [number ["*"]] word
    operator   := "+" | "-"

An operator is a ``+`` or ``-`` that stands alone or starts a whitespace-separated chunk; inside a
word it is part of the word, so ``e-mail`` and ``state-of-the-art`` are single words. Nothing is
ever evaluated as code.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import ExpressionError

_NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


@dataclass(frozen=True)
class WeightedTerm:
    """One word of an expression (raw, before the store's pipeline) and its weight."""

    text: str
    weight: float


def _lex(expression: str) -> list[str]:
    """Split into words, ``*``, ``+`` and ``-`` (operators only where they start a chunk)."""
    lexemes: list[str] = []
    for chunk in expression.split():
        while chunk:
            if chunk[0] in "+-*":
                lexemes.append(chunk[0])
                chunk = chunk[1:]
                continue
            star = chunk.find("*")
            word, chunk = (chunk, "") if star < 0 else (chunk[:star], chunk[star:])
            lexemes.append(word)
    return lexemes


def parse_expression(expression: str) -> list[WeightedTerm]:
    """Parse an expression into weighted terms; raises :class:`ExpressionError` with the reason.

    A number is a weight only when ``*`` follows it (``0.5*paris``); otherwise it is a word, so
    ``1984`` and ``route 66`` query the vocabulary like any other words.
    """
    lexemes = _lex(expression)
    if not lexemes:
        raise ExpressionError("empty query: give a word, a phrase or an expression like 'king - man + woman'")
    terms: list[WeightedTerm] = []
    position = 0

    def word_at(index: int) -> str:
        if index >= len(lexemes):
            raise ExpressionError(f"{expression!r}: expected a word at the end")
        if lexemes[index] in ("+", "-", "*"):
            raise ExpressionError(f"{expression!r}: expected a word, found {lexemes[index]!r}")
        return lexemes[index]

    while position < len(lexemes):
        sign = 1.0
        while position < len(lexemes) and lexemes[position] in ("+", "-"):
            sign = -sign if lexemes[position] == "-" else sign
            position += 1
        word = word_at(position)
        weight = 1.0
        if position + 1 < len(lexemes) and lexemes[position + 1] == "*":
            if not _NUMBER.fullmatch(word):
                raise ExpressionError(f"{expression!r}: {word!r} before '*' is not a number")
            weight = float(word)
            position += 2
            word = word_at(position)
        terms.append(WeightedTerm(word, sign * weight))
        position += 1
    return terms


def is_plain(terms: list[WeightedTerm]) -> bool:
    """True for a bare word or phrase (every weight +1): its vector is the mean of its words."""
    return all(term.weight == 1.0 for term in terms)
