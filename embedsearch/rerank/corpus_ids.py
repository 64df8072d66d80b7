"""A tokenized corpus as arrays of store rows, one array per line (sentence or chunk of one)."""
from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from itertools import repeat
from pathlib import Path

import numpy as np

from ..progress import Progress, ProgressCallback, ignore_progress
from .model import OOV

_REPORT_BYTES = 8 << 20


def iter_line_ids(text_path: str | os.PathLike[str], row_of: Mapping[str, int], *, stage: str = "read",
                  progress: ProgressCallback = ignore_progress, max_tokens: int | None = None) -> Iterator[np.ndarray]:
    """Yield each non-empty line of a corpus file (tokens separated by spaces, as ``ingest``
    writes them) as int32 store rows, :data:`~embedsearch.rerank.model.OOV` for words outside
    the vocabulary. Stops after ``max_tokens`` tokens if given."""
    path = Path(text_path)
    total = path.stat().st_size
    get = row_of.get
    done = reported = tokens = 0
    # The corpus is ours, written as UTF-8 by ingest: any decoding error means a damaged file.
    with open(path, encoding="utf-8", errors="strict", newline="\n") as handle:
        for line in handle:
            done += len(line.encode("utf-8")) if not line.isascii() else len(line)
            words = line.split()
            if words:
                if max_tokens is not None and tokens + len(words) > max_tokens:
                    words = words[: max_tokens - tokens]
                tokens += len(words)
                # map() with a repeated default runs the lookups in C: ~1.5x a generator expression.
                yield np.array(list(map(get, words, repeat(OOV))), dtype=np.int32)
            if done - reported >= _REPORT_BYTES:
                reported = done
                progress(Progress(stage, done / 1e6, total / 1e6, "MB"))
            if max_tokens is not None and tokens >= max_tokens:
                break
    progress(Progress(stage, done / 1e6, total / 1e6, "MB", f"{tokens:,} tokens", final=True))
