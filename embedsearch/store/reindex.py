"""Rebuilding a store's index in place: same vectors and metadata, a new index, published atomically."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..progress import ProgressCallback, ignore_progress
from . import layout
from .index import IndexOptions, build_index
from .update import updating_store


def reindex(
    path: str | os.PathLike[str],
    options: IndexOptions,
    *,
    progress: ProgressCallback = ignore_progress,
) -> dict[str, Any]:
    """Replace the index of the store at ``path``; returns the new index description.

    The new store is assembled aside (see :func:`~embedsearch.store.update.updating_store`) and
    swapped in whole, so a failure leaves the old store as it was.
    """
    with updating_store(Path(path)) as update:
        target = update.new_file(layout.INDEX)  # an old index is unlinked, never written through
        index_meta = build_index(update.vectors, target, kind=options, progress=progress)
        if target.exists():
            update.record_file(layout.INDEX)
        else:
            update.forget_file(layout.INDEX)  # exact search needs no index file
        update.set_meta("index", index_meta)
    return index_meta
