"""The expression grammar: ``king - man + woman``, weights, and clear errors, never eval."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from embedsearch.errors import ExpressionError
from embedsearch.expression import parse_expression


def terms(expression):
    return [(t.text, t.weight) for t in parse_expression(expression)]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("king", [("king", 1.0)]),
        ("new york", [("new", 1.0), ("york", 1.0)]),
        ("king - man + woman", [("king", 1.0), ("man", -1.0), ("woman", 1.0)]),
        ("king -man +woman", [("king", 1.0), ("man", -1.0), ("woman", 1.0)]),
        ("0.5*paris + rome", [("paris", 0.5), ("rome", 1.0)]),
        ("2 * paris - 0.5*london", [("paris", 2.0), ("london", -0.5)]),
        ("-0.5*x", [("x", -0.5)]),
        ("1e-3*a", [("a", 0.001)]),
        ("e-mail state-of-the-art", [("e-mail", 1.0), ("state-of-the-art", 1.0)]),
        ("1984", [("1984", 1.0)]),
        ("route 66", [("route", 1.0), ("66", 1.0)]),
        ("- - king", [("king", 1.0)]),
    ],
)
def test_parses(expression, expected):
    assert terms(expression) == expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("", "empty query"),
        ("   ", "empty query"),
        ("king -", "expected a word at the end"),
        ("0.5*", "expected a word at the end"),
        ("*x", "expected a word, found '\\*'"),
        ("a * b", "'a' before '\\*' is not a number"),
        ("__import__('os') * x", "is not a number"),
    ],
)
def test_errors(expression, message):
    with pytest.raises(ExpressionError, match=message):
        parse_expression(expression)


@given(st.text(alphabet=st.sampled_from(list("ab1.*+- e")), max_size=30))
def test_any_input_parses_or_raises_expression_error(text):
    try:
        parsed = parse_expression(text)
    except ExpressionError:
        return
    assert parsed and all(t.text and t.text not in "+-*" for t in parsed)
