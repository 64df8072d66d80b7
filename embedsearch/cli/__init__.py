"""The ``embedsearch`` command line (a thin layer over the library; see ``app``)."""
from . import ask, build, rerank, tools, verify  # noqa: F401  (importing them registers their commands)
from .app import main

__all__ = ["main"]
