"""``embedsearch verify``: the whole-file checks that opening a store leaves out because they read everything.

Opening checks what is cheap (see :mod:`.reader`); this reads every byte: the CRC-32 of each
file against the metadata, SQLite's own integrity check of ``meta.sqlite``, the learned models'
SHA-256, that every vector is finite and unit length (or zero), and that every stored context
names a real word.
"""
from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import StoreError
from ..progress import Progress, ProgressCallback, ignore_progress
from . import layout
from .reader import StoreFiles

_BLOCK_ROWS = 65_536
_NORM_TOLERANCE = 1e-3


@dataclass
class VerifyReport:
    """What :func:`verify_store` checked, and every problem it found (none: the store is sound)."""

    path: Path
    generation: str | None
    words: int
    dim: int
    files: dict[str, int] = field(default_factory=dict)  # name -> bytes, each checked against its CRC-32
    checks: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_store(path: str | os.PathLike[str], *, progress: ProgressCallback = ignore_progress) -> VerifyReport:
    """Check every byte of the store at ``path``. Problems found after opening are collected in the
    report; a store that does not even open raises :class:`StoreError` as opening always does."""
    files = StoreFiles(Path(path))
    try:
        report = VerifyReport(Path(path), files.generation, files.words, files.dim)
        report.checks.append("opened: metadata schema and checksum, words table, file sizes")
        sizes = files.file_sizes()
        total = len(files.meta["files"]) + 3
        for step, name in enumerate(files.meta["files"], 1):
            progress(Progress("verify", step, total, "checks", name))
            try:
                files.verify_file(name)
                report.files[name] = sizes.get(name, 0)
            except StoreError as exc:
                report.problems.append(str(exc))
        report.checks.append(f"CRC-32 of {len(files.meta['files'])} file(s)")
        progress(Progress("verify", total - 2, total, "checks", layout.META_DB))
        _check_database(files, report)
        progress(Progress("verify", total - 1, total, "checks", "vectors"))
        _check_vectors(files, report)
        _check_extra_arrays(files, report)
        _check_contexts(files, report)
        progress(Progress("verify", total, total, "checks", "done", final=True))
        return report
    finally:
        files.close()


def _check_database(files: StoreFiles, report: VerifyReport) -> None:
    name = files.directory / layout.META_DB
    try:
        result = [row[0] for row in files.db.execute("PRAGMA integrity_check").fetchall()]  # type: ignore[union-attr]
    except sqlite3.DatabaseError as exc:
        report.problems.append(f"{name}: {exc}")
        return
    if result != ["ok"]:
        report.problems.append(f"{name}: SQLite integrity check failed ({'; '.join(map(str, result[:3]))})")
    (malformed,) = files.db.execute("SELECT count(*) FROM words WHERE typeof(word) != 'text' "  # type: ignore[union-attr]
                                    "OR typeof(count) != 'integer' OR count < 0").fetchone()
    if malformed:
        report.problems.append(f"{name}: {malformed} word row(s) with a word that is not text or a count that is not "
                               "a whole number >= 0")
    try:
        files.artifacts  # noqa: B018 - loading checks every learned model's SHA-256
    except StoreError as exc:
        report.problems.append(str(exc))
    report.checks.append("SQLite integrity check; learned models' SHA-256")


def _check_vectors(files: StoreFiles, report: VerifyReport) -> None:
    vectors = files.vectors
    for start in range(0, len(vectors), _BLOCK_ROWS):
        block = np.asarray(vectors[start:start + _BLOCK_ROWS], dtype=np.float64)
        finite = np.isfinite(block).all(axis=1)
        if not finite.all():
            row = start + int(np.flatnonzero(~finite)[0])
            report.problems.append(f"{files.directory / layout.VECTORS}: row {row} holds NaN or infinity")
            return
        norms = np.linalg.norm(block, axis=1)
        bad = (np.abs(norms - 1.0) > _NORM_TOLERANCE) & (norms != 0.0)
        if bad.any():
            row = start + int(np.flatnonzero(bad)[0])
            report.problems.append(f"{files.directory / layout.VECTORS}: row {row} is not unit length (norm {norms[row - start]:.4f})")
            return
    report.checks.append(f"{len(vectors):,} vectors finite and unit length")


def _check_extra_arrays(files: StoreFiles, report: VerifyReport) -> None:
    for name in files.meta["files"]:
        if not name.endswith(".npy") or name == layout.VECTORS:
            continue
        try:
            array = files.array(name)
        except StoreError as exc:
            report.problems.append(str(exc))
            continue
        for start in range(0, len(array), _BLOCK_ROWS):
            if not np.isfinite(np.asarray(array[start:start + _BLOCK_ROWS])).all():
                report.problems.append(f"{files.directory / name}: holds NaN or infinity (from row {start})")
                break
        else:
            report.checks.append(f"{name}: every value finite")


def _check_contexts(files: StoreFiles, report: VerifyReport) -> None:
    described = files.meta.get("contexts")
    if not described:
        return
    from ..rerank.contexts import read_contexts

    window = int(described["window"])
    try:
        for start in range(0, files.words, 4096):
            read_contexts(files.db, range(start, min(start + 4096, files.words)), window, vocabulary=files.words)
    except StoreError as exc:
        report.problems.append(str(exc))
        return
    report.checks.append("stored contexts: every row's checksum and word ids")
