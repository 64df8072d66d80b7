"""Atomic files and directories for what embedsearch writes (corpora, exports), and the checks that
keep outputs away from inputs and from inside stores."""
from __future__ import annotations

import contextlib
import mmap
import os
import shutil
import tempfile
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO

from .errors import ConfigError, StoreExistsError


def fsync_path(path: Path) -> None:
    """Flush a file or directory to disk (directories matter for renames on Linux)."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) if path.is_dir() else os.O_RDONLY
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def crc32_file(path: Path) -> str:
    """CRC-32 of a file as 8 hex digits: catches truncation and corruption.

    Computed over a read-only memory map, which spares the copies of buffered reads: ~3.4 GB/s
    from the page cache here (27 MB in 8 ms), against ~1.5 GB/s reading 8 MB blocks.
    """
    with open(path, "rb") as handle:
        if os.fstat(handle.fileno()).st_size == 0:
            return f"{zlib.crc32(b''):08x}"
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            return f"{zlib.crc32(mapped):08x}"


_TMP_TAG = ".embedsearch-tmp-"  # in every temporary sibling's name: what makes it recognisably ours
_OWNER = ".owner"  # inside a temporary directory: its builder holds an exclusive flock on it
_ORPHAN_AGE = 60.0  # seconds


def _try_lock(fd: int) -> bool:
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def sweep_leftovers(target: Path) -> list[Path]:
    """Remove temporary siblings of ``target`` that an embedsearch process died while writing.

    Only names this module makes for ``target`` are looked at, and only those whose writer is gone
    (their flock can be taken): a run in progress, or anyone else's file, is never touched.
    """
    target = Path(target).absolute()
    removed = []
    prefix = f".{target.name}{_TMP_TAG}"
    try:
        siblings = [p for p in target.parent.iterdir() if p.name.startswith(prefix)]
    except OSError:
        return removed
    for candidate in siblings:
        is_dir = candidate.is_dir() and not candidate.is_symlink()
        owner = candidate / _OWNER if is_dir else candidate
        try:
            fd = os.open(owner, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            # A replaced directory being deleted when its writer died has no owner file; one that
            # is still being created gets it within microseconds, so only old ones are taken.
            if is_dir and time.time() - candidate.lstat().st_mtime > _ORPHAN_AGE:
                shutil.rmtree(candidate, ignore_errors=True)
                removed.append(candidate)
            continue
        except OSError:
            continue
        try:
            if not _try_lock(fd):
                continue  # its writer is alive
            if is_dir:
                shutil.rmtree(candidate, ignore_errors=True)
            else:
                candidate.unlink(missing_ok=True)
            removed.append(candidate)
        finally:
            os.close(fd)
    return removed


def _held_temporary(target: Path, *, directory: bool) -> tuple[Path, int]:
    """A new temporary sibling of ``target`` and the descriptor holding its owner's flock."""
    prefix = f".{target.name}{_TMP_TAG}{os.getpid()}-"
    if directory:
        path = Path(tempfile.mkdtemp(prefix=prefix, dir=target.parent))
        fd = os.open(path / _OWNER, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
    else:
        fd, name = tempfile.mkstemp(prefix=prefix, dir=target.parent)
        path = Path(name)
    _try_lock(fd)
    return path, fd


def apply_umask(path: Path, *, directory: bool) -> None:
    """Give ``path`` the mode a plain ``open``/``mkdir`` would have (tempfile makes 0600/0700)."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, (0o777 if directory else 0o666) & ~mask)


def refuse_output(output: Path, *, inputs: Iterable[str | os.PathLike[str]] = (), what: str = "output") -> None:
    """Refuse an output path inside a store (stores change only through their own publish) or equal
    to one of ``inputs`` (an output is never an input)."""
    from .store.generations import containing_store

    output = Path(output).absolute()
    store = containing_store(output)
    if store is not None:
        raise ConfigError(f"{what} {output} is inside the store {store}: a store changes only through "
                          "embedsearch's own commands; write somewhere else")
    for source in inputs:
        if str(source) == "-":
            continue
        try:
            same = os.path.exists(output) and os.path.samefile(output, source)
        except OSError:
            same = False
        if same or os.path.realpath(output) == os.path.realpath(source):
            raise ConfigError(f"{what} {output} is also an input; write to another file")


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str], *, overwrite: bool = True,
                inputs: Iterable[str | os.PathLike[str]] = ()) -> Iterator[IO[bytes]]:
    """A binary file written to a temporary sibling and renamed into place on success.

    The output may not lie inside a store nor be one of ``inputs``; an existing file is replaced
    only with ``overwrite``. A writer killed mid-way leaves a recognisable sibling that the next
    write of the same path removes.
    """
    target = Path(path).absolute()
    refuse_output(target, inputs=inputs)
    if not overwrite and os.path.lexists(target):
        raise StoreExistsError(f"{target} already exists; pass --force to replace it")
    if target.is_dir():
        raise ConfigError(f"{target} is a directory; give a file name")
    target.parent.mkdir(parents=True, exist_ok=True)
    sweep_leftovers(target)
    tmp, fd = _held_temporary(target, directory=False)
    try:
        with os.fdopen(os.dup(fd), "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        apply_umask(tmp, directory=False)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_directory(target: Path, *, overwrite: bool = False, what: str = "directory",
                     replaceable: Callable[[Path], bool] | None = None) -> Iterator[Path]:
    """Yield a temporary sibling of ``target`` to fill; on success it replaces ``target``.

    On any exception the temporary directory is removed and ``target`` is untouched. With
    ``overwrite``, an existing ``target`` is replaced only if ``replaceable(target)`` recognises it
    as one embedsearch made (or it is empty): it is moved aside first and deleted only after the new
    one is in place, so a crash in between leaves either the old or the new directory, never
    neither. A run killed mid-way leaves a recognisable sibling that the next run on ``target`` removes.
    """
    target = Path(target).absolute()
    refuse_output(target, what=what)
    if target.exists() or target.is_symlink():
        if not overwrite:
            raise StoreExistsError(f"{what} {target} already exists; pass --force (overwrite=True) to replace it")
        empty = target.is_dir() and not target.is_symlink() and not any(target.iterdir())
        if not empty and (replaceable is None or target.is_symlink() or not replaceable(target)):
            raise StoreExistsError(f"{target} exists and is not a {what} embedsearch made; refusing to replace it "
                                   "(--force only replaces what embedsearch made): choose another output")
    target.parent.mkdir(parents=True, exist_ok=True)
    sweep_leftovers(target)
    tmp, fd = _held_temporary(target, directory=True)
    try:
        yield tmp
        apply_umask(tmp, directory=True)
        for child in tmp.iterdir():
            fsync_path(child)
        fsync_path(tmp)
        if not os.path.lexists(target):
            os.rename(tmp, target)
        elif _exchange(tmp, target):  # one atomic swap: readers see the old directory or the new one
            pass
        else:
            aside, aside_fd = _held_temporary(target, directory=True)
            try:
                os.rename(target, aside / "previous")
                os.rename(tmp, target)
            finally:
                os.close(aside_fd)
            tmp = aside
        fsync_path(target.parent)
        os.unlink(target / _OWNER)
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)  # the replaced directory
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        os.close(fd)


def _exchange(first: Path, second: Path) -> bool:
    """Atomically swap two directory entries (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported."""
    import ctypes
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    result = renameat2(at_fdcwd, os.fsencode(first), at_fdcwd, os.fsencode(second), rename_exchange)
    return result == 0
