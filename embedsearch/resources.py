"""Resource estimates made before large allocations, so a job that cannot fit fails at once, with figures.

A run that asks for more memory than the machine has would otherwise die minutes later with a
``MemoryError`` traceback, be killed by the kernel, or swap the machine to a halt; one that needs
more disk than is free would fill it. :func:`check_memory` and :func:`check_disk` compare an
estimate with what is available and raise :class:`~embedsearch.errors.ResourceError` naming both.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from .errors import ResourceError

GIB = 2**30


def available_memory() -> int:
    """Bytes the kernel says can be allocated without swapping (``MemAvailable``); 8 GiB if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 8 * GIB


def size_text(n: float) -> str:
    """``n`` bytes for people: ``3.2 GiB``, ``512 MiB``, ``12 KiB``."""
    for unit, scale in (("TiB", 2**40), ("GiB", GIB), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{int(n)} bytes"


def check_memory(needed: float, what: str, hint: str = "") -> None:
    """Raise :class:`ResourceError` if ``needed`` bytes exceed the available memory."""
    have = available_memory()
    if needed > have:
        message = f"{what} needs ~{size_text(needed)} of memory; this machine has {size_text(have)} available"
        raise ResourceError(message + (f"; {hint}" if hint else ""))


def check_disk(directory: str | os.PathLike[str], needed: float, what: str, hint: str = "") -> None:
    """Raise :class:`ResourceError` if the file system of ``directory`` has less than ``needed`` bytes free."""
    path = Path(directory).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        free = shutil.disk_usage(path).free
    except OSError:
        return
    if needed > free:
        message = f"{what} needs ~{size_text(needed)} of disk space; {path} has {size_text(free)} free"
        raise ResourceError(message + (f"; {hint}" if hint else ""))
