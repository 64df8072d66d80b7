"""Progress events: the library reports long work through a callback and never prints."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    """One progress report: ``done`` of ``total`` (``None`` if unknown) ``unit`` in ``stage``."""

    stage: str
    done: float
    total: float | None
    unit: str
    message: str = ""
    final: bool = False


ProgressCallback = Callable[[Progress], None]


def ignore_progress(_: Progress) -> None:
    """The default callback: report nothing."""
