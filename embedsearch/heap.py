"""glibc's malloc thresholds, widened while ingest chunks run in a process that fixed them small.

Dask's nanny starts every worker process with ``MALLOC_TRIM_THRESHOLD_=65536`` (so that freed memory
goes back to the system at once). Setting any of glibc's ``MALLOC_*_THRESHOLD_`` variables also
turns off its adaptive mmap threshold, which otherwise grows to fit a program's buffers: ingest
allocates and frees buffers of a few 100 KB to 1 MB per chunk, each of which is then a fresh
``mmap`` (over the fixed 128 KiB threshold) and its pages are faulted in again, and the heap top
is trimmed after nearly every chunk. Measured on the English default pipeline: 57,000 page faults
per 10 MB against 11,000 without the variable, and up to 17% more CPU.

:func:`widen` sets the two thresholds to the ceiling glibc's adaptive rule would reach
(32 MiB mmap, 64 MiB trim); the last matching :func:`narrow` puts back what the environment asked
for and returns the freed memory (``malloc_trim``), so that the worker's memory once the work is
done is what Dask expects. The cluster widens for an ingest pass, from a worker's first task of the
pass to the pass's end (per task was not enough: at 1-2 chunks a task, trimming after each task
faulted the pages in again for the next).
Nothing changes where the environment sets none of those variables (glibc adapts by itself), or
off glibc.
"""
from __future__ import annotations

import ctypes
import os
import platform
import threading
from typing import Any

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_GLIBC_MMAP_DEFAULT = 128 * 1024  # glibc's DEFAULT_MMAP_THRESHOLD_MIN, its start value
_GLIBC_TRIM_DEFAULT = 128 * 1024
ROOMY_MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's adaptive ceiling on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX)
ROOMY_TRIM_THRESHOLD = 2 * ROOMY_MMAP_THRESHOLD  # the adaptive rule keeps trim at twice mmap
_ENV_VARIABLES = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_")

_lock = threading.Lock()
_depth = 0
_libc: Any = None

__all__ = ["ROOMY_MMAP_THRESHOLD", "ROOMY_TRIM_THRESHOLD", "fixed_thresholds", "narrow", "widen"]


def fixed_thresholds() -> dict[int, int] | None:
    """The thresholds this process's environment fixed, as ``{mallopt parameter: bytes}`` (one it
    does not name at glibc's start value), or None when it names neither or gives a value glibc
    would not take (glibc then ignores the variable and still adapts)."""
    if not any(name in os.environ for name in _ENV_VARIABLES):
        return None
    values: dict[int, int] = {}
    for name, parameter, default in (("MALLOC_TRIM_THRESHOLD_", _M_TRIM_THRESHOLD, _GLIBC_TRIM_DEFAULT),
                                     ("MALLOC_MMAP_THRESHOLD_", _M_MMAP_THRESHOLD, _GLIBC_MMAP_DEFAULT)):
        raw = os.environ.get(name)
        try:
            values[parameter] = default if raw is None else int(raw)
        except ValueError:
            return None
    return values


def _glibc() -> Any:
    global _libc
    if _libc is None:
        if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
            _libc = False
        else:
            try:
                libc = ctypes.CDLL(None)
                libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
                libc.malloc_trim.argtypes = (ctypes.c_size_t,)
                _libc = libc
            except (OSError, AttributeError):
                _libc = False
    return _libc


def widen() -> bool:
    """Widen glibc's fixed malloc thresholds until the matching :func:`narrow` (see the module
    docstring). Counted: the first call widens, the last :func:`narrow` puts them back. False,
    and nothing to narrow, where there is nothing to widen."""
    global _depth
    fixed = fixed_thresholds()
    libc = _glibc() if fixed is not None else False
    if not libc:
        return False
    with _lock:
        if _depth == 0:
            libc.mallopt(_M_MMAP_THRESHOLD, ROOMY_MMAP_THRESHOLD)
            libc.mallopt(_M_TRIM_THRESHOLD, ROOMY_TRIM_THRESHOLD)
        _depth += 1
    return True


def narrow() -> None:
    """End one :func:`widen` that returned True; the last one restores what the environment set
    and returns the freed memory to the system."""
    global _depth
    with _lock:
        if _depth == 0:
            return
        _depth -= 1
        if _depth == 0:
            fixed = fixed_thresholds() or {_M_MMAP_THRESHOLD: _GLIBC_MMAP_DEFAULT, _M_TRIM_THRESHOLD: _GLIBC_TRIM_DEFAULT}
            libc = _glibc()
            libc.mallopt(_M_MMAP_THRESHOLD, fixed[_M_MMAP_THRESHOLD])
            libc.mallopt(_M_TRIM_THRESHOLD, fixed[_M_TRIM_THRESHOLD])
            libc.malloc_trim(0)

