"""A tokenized corpus as arrays of store rows, read in blocks of whole lines."""
from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path

import numpy as np

from ..progress import Progress, ProgressCallback, ignore_progress
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


def iter_id_blocks(text_path: str | os.PathLike[str], row_of: Mapping[str, int], *, stage: str = "read",
                   progress: ProgressCallback = ignore_progress) -> Iterator[IdBlock]:
    """The non-empty lines of a corpus file (tokens separated by spaces, as ``ingest`` writes them)
    as blocks of store rows, :data:`~embedsearch.rerank.model.OOV` for words outside the vocabulary."""
    path = Path(text_path)
    total = path.stat().st_size
    get = row_of.get
    done = reported = 0
    words: list[str] = []
    lengths: list[int] = []

    def block() -> IdBlock:
        # One map() over the whole block runs the lookups in C, with no per-line numpy call.
        return IdBlock(np.array(list(map(get, words, repeat(OOV))), dtype=np.int32), np.array(lengths, dtype=np.int64))

    # The corpus is ours, written as UTF-8 by ingest: any decoding error means a damaged file.
    with open(path, encoding="utf-8", errors="strict", newline="\n") as handle:
        for line in handle:
            done += len(line) if line.isascii() else len(line.encode("utf-8"))
            split = line.split()
            if split:
                words.extend(split)
                lengths.append(len(split))
            if len(words) >= BLOCK_TOKENS:
                yield block()
                words, lengths = [], []
            if done - reported >= _REPORT_BYTES:
                reported = done
                progress(Progress(stage, done / 1e6, total / 1e6, "MB"))
    if words:
        yield block()
    progress(Progress(stage, done / 1e6, total / 1e6, "MB", final=True))
