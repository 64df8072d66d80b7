"""A tokenized corpus as arrays of store rows, read in blocks of whole lines."""
from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path

import numpy as np

from ..progress import Progress, ProgressCallback, ignore_progress
from ..spans import span_lines
from .model import OOV

_REPORT_BYTES = 8 << 20
BLOCK_TOKENS = 1 << 20


@dataclass(frozen=True)
class IdBlock:
    """Consecutive lines (sentences, or chunks of one) as store rows: ``ids`` holds their tokens
    end to end, ``lengths`` how many belong to each line."""

    ids: np.ndarray
    lengths: np.ndarray

    def line_of_each_token(self) -> np.ndarray:
        return np.repeat(np.arange(len(self.lengths)), self.lengths)

    def position_in_line(self) -> np.ndarray:
        starts = np.cumsum(self.lengths) - self.lengths
        return np.arange(len(self.ids)) - np.repeat(starts, self.lengths)


def blocks_of(lines: Iterable[np.ndarray]) -> Iterator[IdBlock]:
    """Blocks of about BLOCK_TOKENS tokens from arrays of rows, one per line."""
    pending: list[np.ndarray] = []
    size = 0
    for line in lines:
        pending.append(np.asarray(line, dtype=np.int32))
        size += len(line)
        if size >= BLOCK_TOKENS:
            yield IdBlock(np.concatenate(pending), np.array([len(p) for p in pending], dtype=np.int64))
            pending, size = [], 0
    if pending:
        yield IdBlock(np.concatenate(pending), np.array([len(p) for p in pending], dtype=np.int64))


def iter_id_blocks(text_path: str | os.PathLike[str], row_of: Mapping[str, int], *, span: tuple[int, int] | None = None,
                   stage: str = "read", progress: ProgressCallback = ignore_progress) -> Iterator[IdBlock]:
    """The non-empty lines of a corpus file (tokens separated by spaces, as ``ingest`` writes them)
    as blocks of store rows, :data:`~embedsearch.rerank.model.OOV` for words outside the vocabulary.

    ``span`` = ``(start, end)`` reads only the lines that start at a byte offset in that range, so
    spans that tile the file read every line exactly once.
    """
    path = Path(text_path)
    total = path.stat().st_size
    start, end = span if span is not None else (0, total)
    get = row_of.get
    words: list[str] = []
    lengths: list[int] = []

    def block() -> IdBlock:
        # One map() over the whole block runs the lookups in C, with no per-line numpy call.
        return IdBlock(np.array(list(map(get, words, repeat(OOV))), dtype=np.int32), np.array(lengths, dtype=np.int64))

    reported = start
    for position, line in span_lines(path, start, end):
        split = line.split()
        if split:
            words.extend(split)
            lengths.append(len(split))
        if len(words) >= BLOCK_TOKENS:
            yield block()
            words, lengths = [], []
        if position - reported >= _REPORT_BYTES:
            reported = position
            progress(Progress(stage, position / 1e6, total / 1e6, "MB"))
    if words:
        yield block()
    if span is None:
        progress(Progress(stage, total / 1e6, total / 1e6, "MB", final=True))
