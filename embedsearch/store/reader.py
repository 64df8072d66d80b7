"""Opening a store for queries: light (numpy, sqlite3, and faiss only when searching) and checked.

Every check that can fail on a damaged or foreign store runs here, before any query, and fails
with a :class:`StoreError` naming the file: a wrong answer or a crash inside FAISS is never the
way a user learns that a file was truncated.
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import StoreError
from ..fsutil import crc32_file
from . import layout
from .index import Searcher, open_searcher
from .schema import MIN_READABLE_VERSION, SCHEMA_VERSION

class StoreFiles:
    """The checked, open files of a store: metadata, memory-mapped vectors, and the index on demand."""

    def __init__(self, path: str | os.PathLike[str], *, verify: bool = True) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise StoreError(f"no store at {self.path} (make one with `embedsearch train` or `embedsearch quickstart`)")
        db_path = self.path / layout.META_DB
        if not db_path.is_file():
            raise StoreError(f"{self.path} is not a store: {layout.META_DB} is missing")
        try:
            self.db = sqlite3.connect(f"{db_path.absolute().as_uri()}?mode=ro", uri=True, check_same_thread=False)
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            rows = self.db.execute("SELECT key, value FROM meta").fetchall()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{db_path}: not a readable embedsearch metadata database ({exc})") from exc
        if version > SCHEMA_VERSION:
            raise StoreError(f"{db_path}: schema version {version} is newer than this embedsearch supports ({SCHEMA_VERSION}); upgrade embedsearch")
        if version < MIN_READABLE_VERSION:
            raise StoreError(f"{db_path}: schema version {version} is older than this embedsearch reads ({MIN_READABLE_VERSION}) and needs migrating")
        self.schema_version = version
        try:
            self.meta: dict[str, Any] = {key: json.loads(value) for key, value in rows}
        except json.JSONDecodeError as exc:
            raise StoreError(f"{db_path}: malformed metadata value ({exc})") from exc
        fmt = self.meta.get("format_version")
        if fmt != layout.FORMAT_VERSION:
            raise StoreError(f"{db_path}: store format {fmt!r} is not supported (this embedsearch reads format {layout.FORMAT_VERSION})")
        try:
            self.words = int(self.meta["words"])
            self.dim = int(self.meta["dim"])
            files = self.meta["files"]
            self.index_meta: dict[str, Any] = dict(self.meta["index"])
        except (KeyError, TypeError, ValueError) as exc:
            raise StoreError(f"{db_path}: metadata is incomplete (missing or bad {exc})") from exc
        (table_rows,) = self.db.execute("SELECT count(*) FROM words").fetchone()
        if table_rows != self.words:
            raise StoreError(f"{db_path}: the words table has {table_rows} rows, the metadata says {self.words}")
        # Every file the writer recorded is checked, the optional ones (e.g. subwords.npy) included.
        for name in dict.fromkeys([*layout.CHECKED_FILES, *files]):
            self._check_file(name, files.get(name), verify)
        self._artifacts: dict[str, bytes] | None = None
        self._check_artifacts(db_path, verify)
        self.vectors = self._open_vectors()
        self._searcher: Searcher | None = None

    def _check_file(self, name: str, expected: dict[str, Any] | None, verify: bool) -> None:
        if not isinstance(name, str) or "/" in name or "\\" in name or name.startswith("."):
            raise StoreError(f"{self.path / layout.META_DB}: invalid file name {name!r} in the metadata")
        path = self.path / name
        if not path.is_file():
            raise StoreError(f"{path} is missing")
        if not expected:
            raise StoreError(f"{self.path / layout.META_DB}: no size or checksum recorded for {name}")
        size = path.stat().st_size
        if size != expected["bytes"]:
            raise StoreError(f"{path}: {size:,} bytes, expected {expected['bytes']:,} (truncated or replaced)")
        if verify and crc32_file(path) != expected["crc32"]:
            raise StoreError(f"{path}: checksum mismatch (the file is corrupt or was changed after the store was built)")

    def _artifact_references(self, db_path: Path) -> dict[str, str]:
        """name → SHA-256 of every learned model the saved pipeline names."""
        pipeline = self.meta.get("pipeline") or {}
        try:
            return {s["artifact"]["name"]: s["artifact"]["sha256"] for s in pipeline.get("steps", []) if s.get("artifact")}
        except (AttributeError, KeyError, TypeError) as exc:
            raise StoreError(f"{db_path}: malformed pipeline in the metadata ({exc})") from exc

    def _check_artifacts(self, db_path: Path, verify: bool) -> None:
        referenced = self._artifact_references(db_path)
        if not referenced:
            return
        if self.schema_version < 2:
            raise StoreError(f"{db_path}: the pipeline names learned models, but schema version {self.schema_version} cannot hold them")
        try:
            stored = dict(self.db.execute("SELECT name, sha256 FROM artifacts").fetchall())
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{db_path}: the artifacts table is unreadable ({exc})") from exc
        for name, digest in referenced.items():
            if name not in stored:
                raise StoreError(f"{db_path}: the learned model {name!r} of the pipeline is missing from the artifacts table")
            if stored[name] != digest:
                raise StoreError(f"{db_path}: the learned model {name!r} is not the one the pipeline was made with (SHA-256 differs)")
        if verify:
            self._artifacts = self._load_artifacts(db_path, referenced)

    def _load_artifacts(self, db_path: Path, referenced: dict[str, str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        for name, digest in referenced.items():
            row = self.db.execute("SELECT data FROM artifacts WHERE name = ?", (name,)).fetchone()
            data = bytes(row[0]) if row and row[0] is not None else b""
            if hashlib.sha256(data).hexdigest() != digest:
                raise StoreError(f"{db_path}: the learned model {name!r} is corrupt (checksum mismatch)")
            found[name] = data
        return found

    @property
    def artifacts(self) -> dict[str, bytes]:
        """The models the pipeline's fitted steps learned (name → bytes), each checked against its SHA-256.

        Give them to ``Pipeline.compile(artifacts=...)``; an empty dict for pipelines without fitted steps.
        """
        if self._artifacts is None:
            db_path = self.path / layout.META_DB
            self._artifacts = self._load_artifacts(db_path, self._artifact_references(db_path))
        return self._artifacts

    def _open_vectors(self) -> np.ndarray:
        path = self.path / layout.VECTORS
        try:
            vectors = np.load(path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise StoreError(f"{path}: not a readable .npy array ({exc})") from exc
        if vectors.dtype != np.dtype(layout.VECTOR_DTYPE) or vectors.shape != (self.words, self.dim):
            raise StoreError(
                f"{path}: holds {vectors.dtype} {vectors.shape}, expected float32 ({self.words}, {self.dim})"
            )
        return vectors

    def array(self, name: str) -> np.ndarray:
        """An extra array the writer recorded (e.g. ``subwords.npy``), memory-mapped, without pickle."""
        if name not in self.meta.get("files", {}):
            raise StoreError(f"{self.path} has no {name}")
        try:
            return np.load(self.path / name, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise StoreError(f"{self.path / name}: not a readable .npy array ({exc})") from exc

    @property
    def searcher(self) -> Searcher:
        """Nearest-neighbour search as the metadata describes it (FAISS is imported only if approximate)."""
        if self._searcher is None:
            self._searcher = open_searcher(self.path / layout.INDEX, self.index_meta, self.vectors)
        return self._searcher

    def file_sizes(self) -> dict[str, int]:
        return {p.name: p.stat().st_size for p in sorted(self.path.iterdir()) if p.is_file()}

    def close(self) -> None:
        self.db.close()
        self._searcher = None
