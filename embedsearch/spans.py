"""Byte spans of a tokenized corpus file, read as whole lines, so worker processes can share a file.

A span ``(start, end)`` owns the lines that *start* at a byte offset in ``[start, end)``: spans that
tile the file read every line exactly once, whatever the line lengths, with no index of line
offsets. A span's first line may begin before ``end`` and run past it.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from .errors import SourceError

SPAN_BYTES = 16 << 20


def file_spans(path: str | os.PathLike[str], size: int = SPAN_BYTES) -> list[tuple[int, int, int]]:
    """``(index, start, end)`` for each ``size``-byte span of the file, in order; one span if empty."""
    total = Path(path).stat().st_size
    return [(i, start, min(start + size, total)) for i, start in enumerate(range(0, max(total, 1), size))]


def span_lines(path: str | os.PathLike[str], start: int = 0, end: int | None = None) -> Iterator[tuple[int, str]]:
    """``(offset after the line, line)`` for each line owned by the span, decoded, without its newline.

    Lines end at ``\\n`` only (as gensim's ``LineSentence`` and corpus-file training read them), so
    a stray ``\\r`` or form feed stays inside a line. The file is ours, written as UTF-8 by ingest:
    a decoding error means a damaged file and raises :class:`SourceError`.
    """
    path = Path(path)
    end = path.stat().st_size if end is None else end
    with open(path, "rb") as handle:
        if start > 0:
            handle.seek(start - 1)
            if handle.read(1) != b"\n":
                handle.readline()  # the line under way at ``start`` belongs to the span before
        position = handle.tell()
        while position < end:
            raw = handle.readline()
            if not raw:
                break
            position += len(raw)
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise SourceError(f"{path}: not valid UTF-8 at byte {position - len(raw) + exc.start}; "
                                  "the corpus is damaged, ingest it again") from exc
            yield position, line.rstrip("\n")
