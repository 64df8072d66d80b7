"""Opening a store for queries: light (numpy, sqlite3, and faiss only when searching) and checked.

Every check that can fail on a damaged or foreign store runs here, before any query, and fails
with a :class:`StoreError` naming the file: a wrong answer or a crash inside FAISS is never the
way a user learns that a file was truncated.

What opening checks, cheaply (no whole-file reads: a 1M-word store opens in a fraction of a second):
the generation CURRENT names; that every store file is a regular file inside it (no symbolic link
is followed); the schema version and the tables' definitions; every metadata value's type and
range (:mod:`.metadata`) and the metadata's own checksum; the words table (ids exactly
``0..V-1``, its checksum recorded at publish); each file's size; the ``.npy`` headers. Whole-file
checksums are for :func:`verify_store` (``embedsearch verify``).

Every file is opened once, here, and held: a later publish that prunes this generation does not
disturb an open store, which keeps answering from what it opened.
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from ..errors import StoreError
from ..fsutil import crc32_file
from . import generations, layout
from .index import Searcher, open_searcher
from .metadata import WORDS_DIGEST_SQL, meta_digest, validate_meta, words_digest
from .schema import MIN_READABLE_VERSION, SCHEMA_VERSION

_PROC_FD = Path("/proc/self/fd")
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_OPEN_ATTEMPTS = 4  # a publish between reading CURRENT and opening its files: read CURRENT again


class StoreFiles:
    """The checked, open files of a store: metadata, memory-mapped vectors, and the index on demand."""

    def __init__(self, path: str | os.PathLike[str], *, verify: bool = True) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise StoreError(f"no store at {self.path} (make one with `embedsearch train` or `embedsearch quickstart`)")
        self._fds: dict[str, int] = {}
        self.db: Database | None = None
        for attempt in range(_OPEN_ATTEMPTS):
            before = self._generation_token()
            try:
                self._open(verify)
                return
            except StoreError:
                self._close_fds()
                if self.db is not None:
                    self.db.close()
                    self.db = None
                if attempt + 1 == _OPEN_ATTEMPTS or self._generation_token() == before:
                    raise

    def _generation_token(self) -> str | None:
        try:
            return generations.current_generation(self.path)
        except StoreError:
            return None

    # --- opening -------------------------------------------------------------------------------

    def _open(self, verify: bool) -> None:
        self.directory = generations.live_directory(self.path)
        self.generation = self.directory.name if self.directory != self.path else None
        self._marked = self.generation is not None  # layout 2 always records checksums; layout 1 never did
        try:
            dir_fd = os.open(self.directory, _DIR_FLAGS)
        except OSError as exc:
            raise StoreError(f"{self.directory}: not a readable store directory ({exc.strerror})") from exc
        try:
            self._dir_fd = dir_fd
            self._open_meta()
            self._check_words(verify)
            files = self.meta["files"]
            # Every file the writer recorded is opened and checked, the optional ones (e.g. subwords.npy) included.
            for name in dict.fromkeys([*layout.CHECKED_FILES, *files]):
                self._check_file(name, files.get(name))
        finally:
            os.close(dir_fd)
        self._artifacts: dict[str, bytes] | None = None
        self._check_artifacts(verify)
        self.vectors = self._open_vectors()
        self._searcher: Searcher | None = None
        self._arrays: dict[str, np.ndarray] = {}
        self.postprocess: np.ndarray | None = None  # train --postprocess: its parameters, checked here
        if self.meta.get("postprocess"):
            from .postprocess import check_params

            name = self.meta["postprocess"]["file"]
            self.postprocess = np.array(self.array(name))
            check_params(self.postprocess, self.meta["postprocess"], self.dim, str(self._name(name)))

    def _name(self, name: str) -> Path:
        """How messages name a store file: its path in the store, nothing outside it."""
        return self.directory / name

    def _open_regular(self, name: str) -> int:
        try:
            fd = os.open(name, _OPEN_FLAGS, dir_fd=self._dir_fd)
        except FileNotFoundError:
            raise StoreError(f"{self._name(name)} is missing") from None
        except OSError as exc:
            if os.path.islink(self._name(name)):
                raise StoreError(f"{self._name(name)} is a symbolic link: every store file must be a regular file "
                                 "inside the store") from None
            raise StoreError(f"{self._name(name)}: cannot open ({exc.strerror})") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise StoreError(f"{self._name(name)} is not a regular file")
        return fd

    def _fd_path(self, fd: int, name: str) -> str:
        """A path that opens exactly the file behind ``fd`` (Linux), else the checked name."""
        if _PROC_FD.is_dir():
            return str(_PROC_FD / str(fd))
        return str(self._name(name))

    def _open_meta(self) -> None:
        db_path = self._name(layout.META_DB)
        fd = self._open_regular(layout.META_DB)
        try:
            uri = f"file:{quote(self._fd_path(fd, layout.META_DB))}?mode=ro&immutable=1"
            self.db = Database(sqlite3.connect(uri, uri=True, check_same_thread=False), db_path)
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            rows = self.db.execute("SELECT key, value FROM meta").fetchall()
        except (sqlite3.DatabaseError, StoreError) as exc:
            raise StoreError(f"{db_path}: not a readable embedsearch metadata database ({_cause(exc)})") from exc
        finally:
            os.close(fd)  # SQLite holds its own descriptor of the same file
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise StoreError(f"{db_path}: schema version {version} is newer than this embedsearch supports ({SCHEMA_VERSION}); upgrade embedsearch")
        if version < MIN_READABLE_VERSION:
            raise StoreError(f"{db_path}: schema version {version} is older than this embedsearch reads ({MIN_READABLE_VERSION}) and needs migrating")
        self.schema_version = version
        meta: dict[str, Any] = {}
        for key, value in rows:
            if not isinstance(key, str) or not isinstance(value, str):
                raise StoreError(f"{db_path}: malformed metadata row {key!r}")
            try:
                meta[key] = json.loads(value, parse_constant=_no_constant)
            except (json.JSONDecodeError, ValueError, RecursionError) as exc:
                raise StoreError(f"{db_path}: malformed metadata value of {key!r} ({exc})") from exc
        fmt = meta.get("format_version")
        if fmt != layout.FORMAT_VERSION or isinstance(fmt, bool):
            raise StoreError(f"{db_path}: store format {fmt!r} is not supported (this embedsearch reads format {layout.FORMAT_VERSION})")
        validate_meta(meta, str(db_path))
        checksums = meta.get("checksums")
        if checksums is None and self._marked:
            raise StoreError(f"{db_path}: metadata 'checksums' is missing")
        if checksums is not None and meta_digest(meta) != checksums["meta"]:
            raise StoreError(f"{db_path}: the metadata does not match its checksum (corrupt or changed after publish)")
        self.meta = meta
        self.words = int(meta["words"])
        self.dim = int(meta["dim"])
        self.index_meta: dict[str, Any] = dict(meta["index"])

    def _check_words(self, verify: bool) -> None:
        db_path = self._name(layout.META_DB)
        assert self.db is not None  # noqa: S101 - set by _open_meta
        definitions = dict(self.db.execute("SELECT name, sql FROM sqlite_master WHERE tbl_name = 'words'").fetchall())
        (rows,) = self.db.execute("SELECT count(*) FROM words").fetchone()
        (low,) = self.db.execute("SELECT min(id) FROM words").fetchone()
        (high,) = self.db.execute("SELECT max(id) FROM words").fetchone()
        digest_row = self.db.execute(WORDS_DIGEST_SQL).fetchone() if verify and "checksums" in self.meta else None
        table = " ".join(str(definitions.get("words", "")).split())
        if not table.startswith('CREATE TABLE "words" ( "id" INTEGER PRIMARY KEY, "word" TEXT NOT NULL, "count" INTEGER NOT NULL'):
            raise StoreError(f"{db_path}: the words table is not the one embedsearch writes")
        if not any("UNIQUE" in str(sql) and '("word")' in str(sql) for sql in definitions.values()):
            raise StoreError(f"{db_path}: the words table has lost its unique index on words")
        if rows != self.words:
            raise StoreError(f"{db_path}: the words table has {rows} rows, the metadata says {self.words}")
        if low != 0 or high != self.words - 1:
            raise StoreError(f"{db_path}: word ids run from {low} to {high}, expected 0 to {self.words - 1}")
        if digest_row is not None:
            try:
                digest = words_digest(digest_row)
            except (TypeError, ValueError) as exc:
                raise StoreError(f"{db_path}: the words table holds values of the wrong type ({exc})") from exc
            if digest != self.meta["checksums"]["words"]:
                raise StoreError(f"{db_path}: the words table does not match its checksum (corrupt or changed after publish)")

    def _check_file(self, name: str, expected: dict[str, Any] | None) -> None:
        if not isinstance(name, str) or "/" in name or "\\" in name or name.startswith(".") or name == layout.META_DB:
            raise StoreError(f"{self._name(layout.META_DB)}: invalid file name {name!r} in the metadata")
        if not expected:
            raise StoreError(f"{self._name(layout.META_DB)}: no size or checksum recorded for {name}")
        fd = self._open_regular(name)
        self._fds[name] = fd
        size = os.fstat(fd).st_size
        if size != expected["bytes"]:
            raise StoreError(f"{self._name(name)}: {size:,} bytes, expected {expected['bytes']:,} (truncated or replaced)")

    def _artifact_references(self) -> dict[str, str]:
        """name → SHA-256 of every learned model the saved pipeline names (the schema checked their types)."""
        pipeline = self.meta.get("pipeline") or {}
        return {s["artifact"]["name"]: s["artifact"]["sha256"] for s in pipeline.get("steps", []) if s.get("artifact")}

    def _check_artifacts(self, verify: bool) -> None:
        db_path = self._name(layout.META_DB)
        referenced = self._artifact_references()
        if not referenced:
            return
        if self.schema_version < 2:
            raise StoreError(f"{db_path}: the pipeline names learned models, but schema version {self.schema_version} cannot hold them")
        stored = dict(self.db.execute("SELECT name, sha256 FROM artifacts").fetchall())  # type: ignore[union-attr]
        for name, digest in referenced.items():
            if name not in stored:
                raise StoreError(f"{db_path}: the learned model {name!r} of the pipeline is missing from the artifacts table")
            if stored[name] != digest:
                raise StoreError(f"{db_path}: the learned model {name!r} is not the one the pipeline was made with (SHA-256 differs)")
        if verify:
            self._artifacts = self._load_artifacts(referenced)

    def _load_artifacts(self, referenced: dict[str, str]) -> dict[str, bytes]:
        db_path = self._name(layout.META_DB)
        found: dict[str, bytes] = {}
        for name, digest in referenced.items():
            row = self.db.execute("SELECT data FROM artifacts WHERE name = ?", (name,)).fetchone()  # type: ignore[union-attr]
            data = bytes(row[0]) if row and isinstance(row[0], (bytes, memoryview)) else b""
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
            self._artifacts = self._load_artifacts(self._artifact_references())
        return self._artifacts

    def _load_npy(self, name: str) -> np.ndarray:
        try:
            array = np.load(self._fd_path(self._fds[name], name), mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise StoreError(f"{self._name(name)}: not a readable .npy array ({exc})") from exc
        if not isinstance(array, np.ndarray) or array.dtype.hasobject:
            raise StoreError(f"{self._name(name)}: not a numeric .npy array")
        return array

    def _open_vectors(self) -> np.ndarray:
        vectors = self._load_npy(layout.VECTORS)
        if vectors.dtype != np.dtype(layout.VECTOR_DTYPE) or vectors.shape != (self.words, self.dim):
            raise StoreError(
                f"{self._name(layout.VECTORS)}: holds {vectors.dtype} {vectors.shape}, expected float32 ({self.words}, {self.dim})"
            )
        return vectors

    def array(self, name: str) -> np.ndarray:
        """An extra array the writer recorded (e.g. ``subwords.npy``), memory-mapped, without pickle."""
        if name not in self._fds or not name.endswith(".npy"):
            raise StoreError(f"{self.path} has no {name}")
        if name not in self._arrays:
            self._arrays[name] = self._load_npy(name)
        return self._arrays[name]

    def file_path(self, name: str) -> str:
        """A path that opens the checked file ``name`` of the generation this store opened (for readers
        that take a path, like FAISS and ``np.load`` of an ``.npz``); valid until :meth:`close`."""
        if name not in self._fds:
            raise StoreError(f"{self._name(name)} is not recorded in the store's metadata")
        return self._fd_path(self._fds[name], name)

    @property
    def searcher(self) -> Searcher:
        """Nearest-neighbour search as the metadata describes it (FAISS is imported only if approximate)."""
        if self._searcher is None:
            if layout.INDEX in self._fds:
                path, crc32 = self.file_path(layout.INDEX), self.meta["files"][layout.INDEX]["crc32"]
            elif self.index_meta.get("kind") != "flat":
                raise StoreError(f"{self._name(layout.INDEX)} is not recorded in the store's metadata")
            else:
                path, crc32 = str(self._name(layout.INDEX)), None
            self._searcher = open_searcher(Path(path), self.index_meta, self.vectors, shown=self._name(layout.INDEX),
                                           crc32=crc32)
        return self._searcher

    def file_sizes(self) -> dict[str, int]:
        sizes = {layout.META_DB: os.stat(self._name(layout.META_DB), follow_symlinks=False).st_size
                 if os.path.lexists(self._name(layout.META_DB)) else 0}
        sizes.update({name: os.fstat(fd).st_size for name, fd in self._fds.items()})
        return dict(sorted(sizes.items()))

    def verify_file(self, name: str) -> None:
        """Whole-file CRC-32 of recorded file ``name`` against the metadata (reads all of it)."""
        if crc32_file(Path(self.file_path(name))) != self.meta["files"][name]["crc32"]:
            raise StoreError(f"{self._name(name)}: checksum mismatch (the file is corrupt or was changed after the store was built)")

    def _close_fds(self) -> None:
        for fd in self._fds.values():
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds = {}

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
        self._searcher = None
        self._close_fds()


class Rows(list):  # type: ignore[type-arg]
    """A query's rows, fetched whole (so a damaged page fails inside :meth:`Database.execute`)."""

    def fetchone(self) -> Any:
        return self[0] if self else None

    def fetchall(self) -> list[Any]:
        return list(self)


class Database:
    """A store's ``meta.sqlite``, read-only: every SQLite error becomes a :class:`StoreError` naming the
    file, wherever the query path meets it, never a traceback."""

    def __init__(self, connection: sqlite3.Connection, name: Path) -> None:
        self.connection = connection
        self.name = name

    def execute(self, sql: str, parameters: Any = ()) -> Rows:
        try:
            return Rows(self.connection.execute(sql, parameters).fetchall())
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.name}: unreadable ({exc}); `embedsearch verify` checks the whole store") from exc

    def backup(self, target: sqlite3.Connection) -> None:
        self.connection.backup(target)

    def close(self) -> None:
        self.connection.close()


def _cause(exc: BaseException) -> str:
    return str(exc.__cause__ or exc) if isinstance(exc, StoreError) else str(exc)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid metadata number")
