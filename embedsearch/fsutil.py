"""Atomic directory publishing, shared by the corpus writer and the store writer."""
from __future__ import annotations

import contextlib
import mmap
import os
import shutil
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path

from .errors import StoreExistsError



def current_umask() -> int:
    """The process umask, read without changing it where the system allows (Linux: /proc)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: the classic read-by-setting (not thread-safe, but brief)
    os.umask(mask)
    return mask


def apply_umask(path: Path) -> None:
    """Give ``path`` the mode a plain ``open()``/``mkdir()`` would have: 0666/0777 less the umask.

    ``tempfile.mkstemp``/``mkdtemp`` create 0600/0700 whatever the umask, and renaming them into
    place would publish stores, corpora and exports that a colleague cannot read. Call this on a
    temporary file or directory before it is renamed to its final name (not recursive: files made
    inside a directory by ``open``/``mkdir`` already honour the umask).
    """
    base = 0o777 if Path(path).is_dir() else 0o666
    os.chmod(path, base & ~current_umask())


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


@contextlib.contextmanager
def atomic_directory(target: Path, *, overwrite: bool = False, what: str = "directory") -> Iterator[Path]:
    """Yield a temporary sibling of ``target`` to fill; on success it replaces ``target``.

    On any exception the temporary directory is removed and ``target`` is untouched. With
    ``overwrite``, an existing ``target`` is moved aside first and deleted only after the new one
    is in place, so a crash in between leaves either the old or the new directory, never neither.
    """
    target = Path(target).absolute()
    if target.exists() and not overwrite:
        raise StoreExistsError(f"{what} {target} already exists; pass --force (overwrite=True) to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        apply_umask(tmp)
        yield tmp
        for child in tmp.iterdir():
            fsync_path(child)
        fsync_path(tmp)
        old = None
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            os.rename(target, old / "previous")
        os.rename(tmp, target)
        fsync_path(target.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
