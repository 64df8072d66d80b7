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
        ("- king", [("king", -1.0)]),
        ("1e6*a", [("a", 1e6)]),
    ],
)
def test_parses(expression, expected):
    assert terms(expression) == expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("", "empty query"),
        ("   ", "empty query"),
        ("king -", "at column 7: expected a word after '-' at column 6, found the end"),
        ("0.5*", "at column 5: expected a word after '\\*' at column 4, found the end"),
        ("*x", "at column 1: '\\*' needs a number"),
        ("a * b", "at column 1: 'a' before '\\*' is not a number"),
        ("__import__('os') * x", "is not a number"),
        # Failed before: two operators in a row were read as a double negation ("king - - man" = king + man).
        ("king - - man", "at column 8: expected a word after '-' at column 6, found another operator '-'"),
        ("- - king", "at column 3: expected a word"),
        ("king + + man", "at column 8"),
        ("king + * man", "at column 8: '\\*' needs a number"),
        ("0.5 * * king", "at column 7"),
        # Failed before: 1e400 parsed as inf and every score came out NaN.
        ("1e400*king", "at column 1: weight 1e400 is out of range"),
        ("2e6*king", "out of range"),
        ("nan*king", "'nan' before '\\*' is not a number"),
        ("inf*king", "'inf' before '\\*' is not a number"),
        ("x" * 10_001, "query too long"),
        (" + ".join(["w"] * 1001), "too many terms"),
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
