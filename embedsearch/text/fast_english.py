"""A faster route to the same output for the default English pipeline, used by ingest.

Why: ``nfkc → sentences → lowercase → word`` run step by step spends most of its time in the word
regex, which visits every character in Python's regex engine, and in building and joining a
string per token; ingest on two cores could not reach 2.5x ``gensim.utils.simple_preprocess``
(README, Benchmarks). English Wikipedia is ~90% pure-ASCII sentences, and on ASCII each step
reduces to a few passes that CPython runs in C over a whole chunk at once:

* NFKC and NFC leave ASCII unchanged; ``lower`` and ``casefold`` are ``A-Z → a-z``: one
  ``bytes.translate``, which also folds the characters the sentence splitter looks at.
* A sentence ends at ``[.!?]``, an optional closing quote or bracket, then whitespace: one regex
  substitution marks those places with an end-of-sentence token.
* A word is ``[a-z0-9_]+`` joined by single inner ``-`` or ``'``: a second ``translate`` turns every
  other character into a space, two regexes drop the joiners that are not between two word
  characters, and ``str.split`` yields the words, which are counted, collected and joined.

Non-ASCII lines go through the pipeline's own steps (normalise, split into sentences); their
sentences that are ASCII (or become ASCII once dashes, typographic quotes and similar separators
are written as commas, see ``SEPARATORS``) join the fast route, the rest are lowercased and
tokenized by the pipeline's own step functions. The result is byte for byte what
``CompiledPipeline.process`` gives, line by line; ``tests/test_text_fast.py`` checks that on real
Wikipedia text and on generated text with every character class that matters (non-ASCII letters,
marks, separators, quotes and joiners, every whitespace and line-break character, URLs, e-mails,
numbers), and ``tests/test_corpus.py`` checks that ingest writes the same corpus either way.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .pipeline import Pipeline
from .steps import split_sentences

_UNICODE_STEPS = ("nfkc", "nfc")

# Two marks the input cannot contain (a chunk with NUL or \x01 characters of its own takes the
# step-by-step route): \x01 ends a sentence, \x00 stands for one non-ASCII sentence, whose tokens
# come from the pipeline's own steps. Both are written as tokens of their own (spaces around them),
# so that ``bytes.split`` sees them.
_END = b"\x01"
_FOREIGN = b"\x00"

# Inside a line (str.splitlines has already cut at every line break) ASCII whitespace is space, tab
# and \x1f. The first table lowercases, makes all whitespace a space, and folds the characters the
# sentence splitter looks at to one of each kind: ! and ? to ".", closing " ) ] to ")" (the
# closing ' stays: it is also a joiner). All of them become spaces later anyway.
_PREPARE = bytes(
    i + 32 if 65 <= i <= 90 else 32 if i in b"\t\x1f" else 46 if i in b"!?" else 41 if i in b'")]' else i
    for i in range(256)
)
# Where the sentence splitter cuts (steps._SENTENCE_CUT: an end mark, an optional closing quote or
# bracket, then whitespace), the end of the sentence is marked.
_CUT = re.compile(rb"\.[)']? ")
# Then everything but word characters, joiners and the marks becomes a space.
_KEEP = set(b"abcdefghijklmnopqrstuvwxyz0123456789_-'" + _END + _FOREIGN)
_SEPARATE = bytes(i if i in _KEEP else 32 for i in range(256))
# A joiner stays only between two word characters (``[a-z0-9_]+(?:[-'][a-z0-9_]+)*``). One regex per
# joiner: a pattern that starts with one literal character is searched for ~5x faster than one
# that starts with a character set. (Whether a joiner stays does not depend on the other kind:
# next to one, it is next to a non-word character either way.)
_STRAY_HYPHEN = re.compile(rb"-(?:(?![a-z0-9_])|(?<=[^a-z0-9_]-))")
_STRAY_APOSTROPHE = re.compile(rb"'(?:(?![a-z0-9_])|(?<=[^a-z0-9_]'))")
# Non-ASCII characters that every step treats like a comma: unchanged by NFKC and by case mapping,
# no word character, mark or joiner, no sentence end, closing quote or whitespace (a test checks
# each). A line or sentence whose only non-ASCII characters are these (dashes, typographic quotes,
# degree and math signs...: half the non-ASCII sentences of English Wikipedia) is tokenized like
# its copy with commas in their place, which is ASCII and can take the fast route. The closing
# quote ” is a sentence splitter's closing quote like ", and becomes that.
SEPARATORS = "–—−°×“‘«»·•±§©®€£¥¢‰†‡′░▒▓■□▪●○◆★☆→←↑↓↔⇒≈≠≤≥∞√∑∏∫÷¬¦¤¡¿"
_SEPARATOR = re.compile(f"[{SEPARATORS}]")


def plain(text: str) -> str:
    """``text`` with the separators above as commas, ” as " (ASCII if nothing else is non-ASCII)."""
    return _SEPARATOR.sub(",", text).replace("”", '"')


_BLOCK = 1 << 15
# Between sentences: one or more end marks (a sentence can be empty: "..." has no words).
_ENDS = re.compile(" \x01(?: \x01)* ")


@dataclass
class Chunk:
    """The sentences of some lines as ingest writes them: ``text`` holds one sentence per line, tokens
    separated by single spaces, UTF-8, each line ended by \\n; ``words`` are the distinct tokens."""

    text: bytes
    sentences: int
    tokens: int
    words: set[str]


def _ascii_run(text: str) -> tuple[str, set[str], int, int]:
    """ASCII ``text`` (sentences joined by `` \\x01 ``) -> (one line per non-empty sentence, without the
    last \\n; the distinct tokens; how many tokens; how many of those are end marks).

    The character work is done on bytes (256-entry tables) over the whole text. The token work is
    done on str (CPython splits, hashes and joins str faster than bytes) in blocks of ~32 KB:
    a chunk's tokens as str objects take several MB, and three passes over them (split, set,
    join) run ~1.7x faster when each block's tokens are still in the CPU cache."""
    data = _CUT.sub(b" \x01 ", text.encode("ascii").translate(_PREPARE))
    data = b" " + data.translate(_SEPARATE)  # the space: every joiner has a left neighbour
    data = _STRAY_APOSTROPHE.sub(b" ", _STRAY_HYPHEN.sub(b" ", data))
    words: set[str] = set()
    joined: list[str] = []
    count = start = 0
    size = len(data)
    while start < size:
        end = data.find(b" ", start + _BLOCK)  # a block ends at a space, never inside a token
        if end < 0:
            end = size
        tokens = data[start:end].decode("ascii").split()
        if tokens:
            words.update(tokens)
            count += len(tokens)
            joined.append(" ".join(tokens))
        start = end
    lines = _ENDS.sub("\n", " ".join(joined)).strip(" \x01\n")
    return lines, words, count, data.count(_END)


class FastEnglish:
    """The fast route for one pipeline of the supported shape (see :func:`fast_english`)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.compiled = pipeline.compile()  # the step-by-step route, for input with \x00 or \x01
        functions = [step.definition.build(step.options) for step in pipeline.steps]
        self._normalise: Callable[[str], str] | None = functions[0] if len(functions) == 4 else None
        self._case: Callable[[str], str] = functions[-2]
        self._tokenize: Callable[[str], list[str]] = functions[-1]

    def process_lines(self, lines: Sequence[str], max_tokens: int) -> Chunk:
        """What ``compiled.process`` makes of each line, sentences longer than ``max_tokens`` cut
        into pieces of ``max_tokens``, written as ingest writes them."""
        parts: list[str] = []  # ASCII lines and ASCII sentences of other lines, "\x00" for the rest
        foreign: list[list[str]] = []  # tokens of the non-ASCII sentences
        normalise, case, tokenize = self._normalise, self._case, self._tokenize
        for line in lines:
            if line.isascii():
                parts.append(line)
                continue
            if normalise is not None:
                line = normalise(line)
            if (ascii_line := plain(line)).isascii():
                parts.append(ascii_line)
                continue
            for sentence in split_sentences(line):
                if (ascii_sentence := plain(sentence)).isascii():  # the original, if it is ASCII
                    parts.append(ascii_sentence)
                    continue
                tokens = tokenize(case(sentence))
                if tokens:
                    foreign.append(tokens)
                    parts.append("\x00")
        text = " \x01 ".join(parts)
        marks = text.count("\x00")
        if marks != len(foreign) or text.count("\x01") != len(parts) - 1:  # the input has its own
            return self._step_by_step(lines, max_tokens)
        lines_out, words, count, ends = _ascii_run(text)
        words.discard("\x01")
        count -= ends + marks
        if not lines_out:
            return Chunk(b"", 0, 0, set())
        sentences = lines_out.count("\n") + 1
        out = lines_out.encode("ascii")
        if foreign:
            words.discard("\x00")
            # errors="replace" as ingest writes any text (tokens hold no lone surrogates anyway)
            written = [" ".join(tokens).encode("utf-8", errors="replace") for tokens in foreign]
            pieces = out.split(_FOREIGN)
            out = b"".join([piece for pair in zip(pieces, written) for piece in pair] + [pieces[-1]])
            for tokens in foreign:
                words.update(tokens)
                count += len(tokens)
        if len(out) >= 2 * max_tokens and max(map(len, out.split(b"\n"))) >= 2 * max_tokens:
            # some sentence may have more than max_tokens tokens: cut those into pieces
            cut = [b" ".join(part[i : i + max_tokens]) for part in map(bytes.split, out.split(b"\n"))
                   for i in range(0, len(part), max_tokens)]
            out, sentences = b"\n".join(cut), len(cut)
        return Chunk(out + b"\n", sentences, count, words)

    def _step_by_step(self, lines: Sequence[str], max_tokens: int) -> Chunk:
        found = [s[i : i + max_tokens] for line in lines for s in self.compiled.process(line)
                 for i in range(0, len(s), max_tokens)]
        text = "".join(" ".join(s) + "\n" for s in found).encode("utf-8", errors="replace")
        words = {t for s in found for t in s}
        return Chunk(text, len(found), sum(map(len, found)), words)


def fast_english(pipeline: Pipeline) -> FastEnglish | None:
    """The fast route for ``pipeline`` if it is ``[nfkc|nfc] → sentences → lowercase|casefold → word``
    at version 1 without options (the default English pipeline and its close variants), else ``None``."""
    if any(step.version != 1 or step.options or step.artifact for step in pipeline.steps):
        return None
    names = [step.name for step in pipeline.steps]
    if names and names[0] in _UNICODE_STEPS:
        names = names[1:]
    if names != ["sentences", "lowercase", "word"] and names != ["sentences", "casefold", "word"]:
        return None
    return FastEnglish(pipeline)
