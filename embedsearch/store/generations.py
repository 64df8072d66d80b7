"""A store directory: immutable generations, published with one atomic switch, one writer at a time.

::

    STORE/
      .embedsearch-store     marker: what makes a directory recognisably a store (never guessed)
      CURRENT                the live generation's name; replaced atomically (written aside, renamed)
      g000007/               the live generation: meta.sqlite, vectors.npy, [index.faiss, ...]
      g000006/               the one before, kept so that a reader that has just read CURRENT still opens it
      .lock                  writers hold an exclusive ``flock`` on it for the whole of their work
      .build-g000008-XXXX/   a generation being assembled
      .scratch-XXXX/         a writer's scratch space (e.g. fastText's output)

A generation is never changed once CURRENT has named it; a writer assembles the next one aside and
renames CURRENT over to it. A reader reads CURRENT once and opens every file of that generation
(see :mod:`.reader`), so it sees the old store or the new one, never a mix; an open store keeps its
file descriptors and memory maps, so it keeps answering after later publishes pruned its files.

Only a writer holding the lock builds, so anything named ``.build-*`` or ``.scratch-*`` that the
next writer finds was left by a writer that died (kill -9, power loss), and is swept.

Stores written before generations (format 1: the files directly in STORE/) are still read; the
first update publishes a generation and removes the old top-level files.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import stat
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import StoreBusyError, StoreError, StoreExistsError
from ..fsutil import apply_umask, fsync_path
from . import layout

_GENERATION = re.compile(r"g(\d{6,9})")
_MARKER_BYTES = 4096
_held: dict[str, list[int]] = {}  # store (real path) -> [lock fd, depth]: the lock is re-entrant in a process
_held_guard = threading.Lock()


def _marker_text() -> str:
    return json.dumps({"embedsearch": "store", "layout": layout.LAYOUT_VERSION}) + "\n"


def _read_small(path: Path, limit: int) -> bytes | None:
    """The first ``limit`` bytes of a regular file at ``path``; ``None`` if it is absent, a link or not a file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return os.read(fd, limit)
    finally:
        os.close(fd)


def has_marker(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` carries the store marker that :func:`store_writing` writes."""
    data = _read_small(Path(path) / layout.MARKER, _MARKER_BYTES)
    try:
        marker = json.loads(data.decode("utf-8")) if data else None
    except (UnicodeDecodeError, ValueError):
        return False
    return isinstance(marker, dict) and marker.get("embedsearch") == "store"


def is_legacy_store(path: str | os.PathLike[str]) -> bool:
    """A format-1 store (files directly in the directory, no marker), recognised by its metadata."""
    path = Path(path)
    if has_marker(path) or not _is_regular(path / layout.META_DB) or has_marker(path.absolute().parent):
        return False  # (a generation inside a store is not a store of its own)
    from .reader import StoreFiles

    try:
        StoreFiles(path, verify=False).close()
    except StoreError:
        return False
    return True


def is_store(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a store embedsearch made (marker, or a readable format-1 store)."""
    return has_marker(path) or is_legacy_store(path)


def is_published(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a store with something to read (not one whose first build never finished)."""
    try:
        return (has_marker(path) and read_current(path) is not None) or is_legacy_store(path)
    except StoreError:
        return False


def _is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def read_current(path: str | os.PathLike[str]) -> str | None:
    """The live generation's name from ``CURRENT``; ``None`` if no generation was ever published."""
    path = Path(path)
    data = _read_small(path / layout.CURRENT, 64)
    if data is None:
        if os.path.lexists(path / layout.CURRENT):
            raise StoreError(f"{path / layout.CURRENT} is not a regular file")
        return None
    name = data.decode("ascii", errors="replace").strip()
    if not _GENERATION.fullmatch(name):
        raise StoreError(f"{path / layout.CURRENT}: does not name a generation")
    return name


def live_directory(path: str | os.PathLike[str]) -> Path:
    """The directory holding the store's live files: its current generation, or the store itself (format 1)."""
    path = Path(path)
    name = read_current(path)
    if name is None:
        if has_marker(path) and not _is_regular(path / layout.META_DB):
            raise StoreError(f"{path} holds no published store yet (its first build did not finish); "
                             f"build it again with `embedsearch train ... -o {path}`")
        return path
    generation = path / name
    try:
        mode = os.lstat(generation).st_mode
    except FileNotFoundError:
        raise StoreError(f"{generation} is missing (CURRENT names it)") from None
    if not stat.S_ISDIR(mode):
        raise StoreError(f"{generation} is not a directory inside the store")
    return generation


def current_generation(path: str | os.PathLike[str]) -> str:
    """A token that changes with every publish to the store at ``path`` (cheap: reads one small file).

    A server compares it between requests to notice that a store was republished.
    """
    path = Path(path)
    name = read_current(path)
    if name is not None:
        return name
    try:
        st = os.lstat(path / layout.META_DB)
    except FileNotFoundError:
        raise StoreError(f"no store at {path}") from None
    return f"legacy-{st.st_ino}-{st.st_mtime_ns}"


@dataclass
class StoreWrite:
    """A writer's hold on a store directory (see :func:`store_writing`)."""

    path: Path
    created: bool  # the directory did not exist (or held no store) before this writer

    @contextlib.contextmanager
    def scratch(self) -> Iterator[Path]:
        """A scratch directory inside the store (on its file system), removed after the block, and
        swept by the next writer if this one dies."""
        scratch = Path(tempfile.mkdtemp(prefix=layout.SCRATCH_PREFIX, dir=self.path))
        try:
            yield scratch
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def live(self) -> Path | None:
        """The live directory, or ``None`` if nothing is published yet."""
        if read_current(self.path) is None and not _is_regular(self.path / layout.META_DB):
            return None
        return live_directory(self.path)

    @contextlib.contextmanager
    def building(self) -> Iterator[Path]:
        """Yield a new generation's directory to fill; on success it becomes the live one."""
        number = self._next_number()
        build = Path(tempfile.mkdtemp(prefix=f"{layout.BUILD_PREFIX}g{number:06d}-", dir=self.path))
        try:
            yield build
            self._publish(build, f"g{number:06d}")
        except BaseException:
            shutil.rmtree(build, ignore_errors=True)
            raise

    def _next_number(self) -> int:
        numbers = [int(m.group(1)) for p in self.path.iterdir() if (m := _GENERATION.fullmatch(p.name))]
        return max(numbers, default=0) + 1

    def _publish(self, build: Path, name: str) -> None:
        apply_umask(build, directory=True)  # mkdtemp made it 0700: readers other than the owner need it
        for child in build.iterdir():
            fsync_path(child)
        fsync_path(build)
        os.rename(build, self.path / name)
        pointer = self.path / f".{layout.CURRENT}.{os.getpid()}.tmp"
        fd = os.open(pointer, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o666)
        try:
            os.write(fd, f"{name}\n".encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        previous = read_current(self.path)
        os.replace(pointer, self.path / layout.CURRENT)  # the one atomic switch
        fsync_path(self.path)
        self._prune(keep={name, previous})

    def _prune(self, keep: set[str | None]) -> None:
        """Remove generations older than the previous one, and format-1 files a first publish superseded."""
        for child in self.path.iterdir():
            if _GENERATION.fullmatch(child.name) and child.name not in keep:
                shutil.rmtree(child, ignore_errors=True)
            elif child.name in layout.LEGACY_FILES and _is_regular(child):
                child.unlink(missing_ok=True)


def _sweep(path: Path) -> None:
    """Remove what writers that died left behind: only called with the store's lock held."""
    for child in path.iterdir():
        if child.name.startswith((layout.BUILD_PREFIX, layout.SCRATCH_PREFIX)) or child.name.startswith(f".{layout.CURRENT}."):
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)


def _acquire(path: Path) -> None:
    import fcntl

    key = os.path.realpath(path)
    with _held_guard:
        if key in _held:
            _held[key][1] += 1
            return
        fd = os.open(path / layout.LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode("ascii", errors="replace").strip()
            os.close(fd)
            who = f" (pid {holder})" if holder.isdigit() else ""
            raise StoreBusyError(f"store {path} is being written by another embedsearch process{who}; "
                                 "try again when it has finished") from None
        except OSError:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        _held[key] = [fd, 1]
    _sweep(path)


def _release(path: Path) -> None:
    key = os.path.realpath(path)
    with _held_guard:
        entry = _held.get(key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] == 0:
            del _held[key]
            os.close(entry[0])  # closing the descriptor releases the flock


def _is_empty_dir(path: Path) -> bool:
    try:
        return path.is_dir() and not path.is_symlink() and not any(path.iterdir())
    except OSError:
        return False


@contextlib.contextmanager
def store_writing(path: str | os.PathLike[str], *, create: bool = False, overwrite: bool = False) -> Iterator[StoreWrite]:
    """Hold the writer's lock on the store at ``path`` for the duration of the block.

    ``create``: the block will publish a whole new store. An existing published store is replaced
    only with ``overwrite``; an existing directory that is not a store is never replaced (an empty
    one is used). Without ``create`` the store must exist. A second writer on the same store fails
    at once with :class:`StoreBusyError`. If the block fails before it published anything in a
    directory this call created, the directory is removed again.
    """
    path = Path(path).absolute()
    made = False
    if create:
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            raise StoreExistsError(f"{path} exists and is not a store directory; refusing to replace it")
        if path.is_dir():
            if has_marker(path):
                if read_current(path) is not None and not overwrite:
                    raise StoreExistsError(f"store {path} already exists; pass --force (overwrite=True) to replace it")
            elif is_legacy_store(path):
                if not overwrite:
                    raise StoreExistsError(f"store {path} already exists; pass --force (overwrite=True) to replace it")
            elif not _is_empty_dir(path):
                raise StoreExistsError(f"{path} exists and is not an embedsearch store; refusing to replace it "
                                       "(--force only replaces stores embedsearch made): choose another output")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                path.mkdir()
            except FileExistsError:
                raise StoreExistsError(f"{path} appeared while preparing it; refusing to replace it") from None
            made = True
        if not has_marker(path):
            _write_marker(path)
    elif not is_store(path):
        if not path.exists():
            raise StoreError(f"no store at {path}")
        raise StoreError(f"{path} is not an embedsearch store")
    elif not has_marker(path):
        _write_marker(path)  # a format-1 store: its first update moves it to generations
    try:
        _acquire(path)
    except BaseException:
        if made:
            shutil.rmtree(path, ignore_errors=True)
        raise
    write = StoreWrite(path, created=made)
    try:
        yield write
    except BaseException:
        if made and read_current(path) is None:
            _release(path)
            shutil.rmtree(path, ignore_errors=True)
        raise
    finally:
        _release(path)


def _write_marker(path: Path) -> None:
    marker = path / layout.MARKER
    tmp = path / f"{layout.MARKER}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(_marker_text())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, marker)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise StoreError(f"cannot write to the store {path}: {exc.strerror}") from exc
        raise


def containing_store(path: str | os.PathLike[str]) -> Path | None:
    """The store that ``path`` (a file or directory, existing or not) lies inside, if any."""
    current = Path(os.path.realpath(Path(path).absolute()))
    for candidate in (current, *current.parents):
        if candidate.is_dir() and (has_marker(candidate) or _is_regular(candidate / layout.META_DB) and is_legacy_store(candidate)):
            return candidate
    return None
