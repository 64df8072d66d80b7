"""The ``embedsearch`` command line (a thin layer over the library; see ``app``).

Each command's module is imported when the command is first asked for (``app.COMMAND_MODULES``).
"""
from .app import main

__all__ = ["main"]
