"""Rebuilding a store's index in place: same vectors and metadata, a new index, published atomically."""
from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

from ..fsutil import atomic_directory, crc32_file
from ..progress import ProgressCallback, ignore_progress
from . import layout
from .index import IndexOptions, build_index
from .reader import StoreFiles
from .schema import encode_meta


def reindex(
    path: str | os.PathLike[str],
    options: IndexOptions,
    *,
    progress: ProgressCallback = ignore_progress,
) -> dict[str, Any]:
    """Replace the index of the store at ``path``; returns the new index description.

    The new store is assembled in a temporary sibling (unchanged files hard-linked, or copied where
    links are impossible) and swapped in whole, so a failure leaves the old store as it was.
    """
    path = Path(path)
    files = StoreFiles(path)  # checks everything before we start
    try:
        vectors = files.vectors
        with atomic_directory(path, overwrite=True, what="store") as tmp:
            for child in path.iterdir():
                if child.name in (layout.INDEX, layout.META_DB) or not child.is_file():
                    continue
                try:
                    os.link(child, tmp / child.name)
                except OSError:
                    shutil.copy2(child, tmp / child.name)
            with sqlite3.connect(tmp / layout.META_DB) as target:
                files.db.backup(target)
            target.close()
            index_meta = build_index(vectors, tmp / layout.INDEX, kind=options, progress=progress)
            recorded = {name: entry for name, entry in files.meta["files"].items() if name != layout.INDEX}
            if (tmp / layout.INDEX).exists():
                recorded[layout.INDEX] = {"bytes": (tmp / layout.INDEX).stat().st_size, "crc32": crc32_file(tmp / layout.INDEX)}
            db = sqlite3.connect(tmp / layout.META_DB)
            try:
                with db:
                    for key, value in (("index", index_meta), ("files", recorded)):
                        db.execute("UPDATE meta SET value = ? WHERE key = ?", (encode_meta(value), key))
            finally:
                db.close()
    finally:
        files.close()
    return index_meta
