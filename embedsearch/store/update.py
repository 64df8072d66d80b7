"""Adding to an existing store: a new version assembled aside and swapped in whole.

Unchanged files are hard-linked into the new version (copied where links are impossible) and the
metadata database is copied with SQLite's backup API; the caller adds files and metadata; on
success the new directory replaces the old one atomically, on failure the old store is untouched.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..fsutil import crc32_file
from . import layout
from .generations import store_writing
from .reader import StoreFiles
from .schema import encode_meta, migrate
from .writer import seal_meta


class StoreUpdate:
    """The new version being assembled: write files under :attr:`directory` with :meth:`new_file`,
    then :meth:`record_file` them; change metadata with :meth:`set_meta`; ``db`` is its
    ``meta.sqlite`` (already migrated to the current schema)."""

    def __init__(self, directory: Path, db: sqlite3.Connection, files: dict[str, Any], vectors: Any,
                 meta: dict[str, Any] | None = None) -> None:
        self.directory = directory
        self.db = db
        self.vectors = vectors  # the live store's memory-mapped rows (unchanged by an update)
        self.meta = dict(meta or {})  # the live store's metadata, as opened and checked
        self._files = files

    def new_file(self, name: str) -> Path:
        """A path for file ``name`` in the new version. An old version's file there is a hard link
        to the live store, so it is unlinked first: writing through it would change the live store."""
        path = self.directory / name
        path.unlink(missing_ok=True)
        return path

    def record_file(self, name: str) -> None:
        path = self.directory / name
        self._files[name] = {"bytes": path.stat().st_size, "crc32": crc32_file(path)}

    def forget_file(self, name: str) -> None:
        """Drop file ``name`` from the new version and from the metadata."""
        (self.directory / name).unlink(missing_ok=True)
        self._files.pop(name, None)

    def set_meta(self, key: str, value: Any) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, encode_meta(value)))


@contextlib.contextmanager
def updating_store(path: str | os.PathLike[str]) -> Iterator[StoreUpdate]:
    """Yield a :class:`StoreUpdate` for the store at ``path``, checked before anything changes.

    The writer's lock is held throughout (a second writer fails at once, see
    :func:`~.generations.store_writing`); the new version is a new generation, published only if the
    block succeeds, with its metadata checksums sealed last.
    """
    path = Path(path)
    with store_writing(path) as writing:
        files = StoreFiles(path)
        try:
            recorded = dict(files.meta["files"])
            with writing.building() as tmp:
                for name in recorded:
                    try:
                        os.link(files.directory / name, tmp / name, follow_symlinks=False)
                    except OSError:
                        shutil.copy2(files.directory / name, tmp / name)
                target = sqlite3.connect(tmp / layout.META_DB)
                try:
                    files.db.backup(target)
                finally:
                    target.close()
                import sqlite_utils  # write side only, as in the writer

                migrated = sqlite_utils.Database(tmp / layout.META_DB)
                try:
                    migrate(migrated)
                finally:
                    migrated.close()
                db = sqlite3.connect(tmp / layout.META_DB)
                try:
                    with db:
                        update = StoreUpdate(tmp, db, recorded, files.vectors, files.meta)
                        yield update
                        update.set_meta("files", recorded)
                        seal_meta(db)
                finally:
                    db.close()
        finally:
            files.close()
