"""The query expression grammar: ``king - man + woman``, ``0.5*paris + rome``, ``new york``.

    expression := term (operator? term)*       adjacent terms without an operator are added
    term       := [number "*"] word
    operator   := "+" | "-"                    at most one between two terms (or before the first)

An operator is a ``+`` or ``-`` that stands alone or starts a whitespace-separated chunk; inside a
word it is part of the word, so ``e-mail`` and ``state-of-the-art`` are single words. Nothing is
ever evaluated as code. A malformed expression raises :class:`ExpressionError` naming the column
(1-based, in characters) where it goes wrong: ``king - - man``, ``king -``, ``* king``, ``a * b``.
Weights are finite numbers of magnitude at most :data:`MAX_WEIGHT` (``1e400`` or ``nan`` are errors).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .errors import ExpressionError

_NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_CHUNK = re.compile(r"\S+")
# A weight beyond this says nothing a smaller one would not (the query vector is normalised), and
# a float32 vector times it must stay finite.
MAX_WEIGHT = 1e6
# Longer expressions are not queries but accidents (a file pasted into the shell); refusing them
# keeps every later step (pipeline, spelling suggestions) bounded.
MAX_EXPRESSION_CHARS = 10_000
MAX_TERMS = 1_000


@dataclass(frozen=True)
class WeightedTerm:
    """One word of an expression (raw, before the store's pipeline) and its weight."""

    text: str
    weight: float


def _lex(expression: str) -> list[tuple[str, int]]:
    """Split into words, ``*``, ``+`` and ``-`` (operators only where they start a chunk), each with
    its 1-based column."""
    lexemes: list[tuple[str, int]] = []
    for match in _CHUNK.finditer(expression):
        chunk, column = match.group(), match.start() + 1
        while chunk:
            if chunk[0] in "+-*":
                lexemes.append((chunk[0], column))
                chunk, column = chunk[1:], column + 1
                continue
            star = chunk.find("*")
            word, rest = (chunk, "") if star < 0 else (chunk[:star], chunk[star:])
            lexemes.append((word, column))
            chunk, column = rest, column + len(word)
    return lexemes


def parse_expression(expression: str) -> list[WeightedTerm]:
    """Parse an expression into weighted terms; raises :class:`ExpressionError` with the reason and column.

    A number is a weight only when ``*`` follows it (``0.5*paris``); otherwise it is a word, so
    ``1984`` and ``route 66`` query the vocabulary like any other words.
    """
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise ExpressionError(f"query too long: {len(expression):,} characters (at most {MAX_EXPRESSION_CHARS:,})")
    lexemes = _lex(expression)
    if not lexemes:
        raise ExpressionError("empty query: give a word, a phrase or an expression like 'king - man + woman'")
    shown = expression if len(expression) <= 60 else expression[:57] + "..."

    def fail(column: int, what: str) -> ExpressionError:
        return ExpressionError(f"bad expression {shown!r} at column {column}: {what}")

    def word_at(index: int, after: tuple[str, int] | None) -> str:
        where = f" after {after[0]!r} at column {after[1]}" if after else ""
        if index >= len(lexemes):
            end = len(expression.rstrip()) + 1
            raise fail(end, f"expected a word{where}, found the end")
        text, column = lexemes[index]
        if text in ("+", "-"):
            raise fail(column, f"expected a word{where}, found another operator {text!r}")
        if text == "*":
            raise fail(column, "'*' needs a number before it, as in 0.5*paris")
        return text

    terms: list[WeightedTerm] = []
    position = 0
    while position < len(lexemes):
        sign, operator = 1.0, None
        if lexemes[position][0] in ("+", "-"):
            operator = lexemes[position]
            sign = -1.0 if operator[0] == "-" else 1.0
            position += 1
        word = word_at(position, operator)
        column = lexemes[position][1]
        weight = 1.0
        if position + 1 < len(lexemes) and lexemes[position + 1][0] == "*":
            if not _NUMBER.fullmatch(word):
                raise fail(column, f"{word!r} before '*' is not a number (weights look like 0.5*paris)")
            weight = float(word)
            if not math.isfinite(weight) or weight > MAX_WEIGHT:
                raise fail(column, f"weight {word} is out of range (at most {MAX_WEIGHT:g})")
            star = lexemes[position + 1]
            position += 2
            word = word_at(position, star)
        terms.append(WeightedTerm(word, sign * weight))
        if len(terms) > MAX_TERMS:
            raise ExpressionError(f"too many terms in the query (at most {MAX_TERMS:,})")
        position += 1
    return terms


def is_plain(terms: list[WeightedTerm]) -> bool:
    """True for a bare word or phrase (every weight +1): its vector is the mean of its words."""
    return all(term.weight == 1.0 for term in terms)
