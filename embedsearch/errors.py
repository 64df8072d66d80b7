"""The one exception hierarchy of embedsearch.

Library code raises these and nothing else for problems a user can fix (bad input, bad files,
unknown words). The CLI turns them into messages on stderr: ``exit_code`` 1 for bad data or an
unknown word, 2 for bad usage (an invalid option value, an unparsable expression).
"""
from __future__ import annotations

from collections.abc import Sequence


class EmbedsearchError(Exception):
    """Base class of every error embedsearch raises on purpose."""

    exit_code: int = 1


class UsageError(EmbedsearchError):
    """The caller asked for something that cannot be done as asked (bad option, bad syntax)."""

    exit_code = 2


class ConfigError(UsageError):
    """An invalid parameter value, e.g. ``dim=0`` or an unknown pipeline step."""


class ExpressionError(UsageError):
    """A query expression like ``king - man + woman`` that does not parse."""


class SourceError(EmbedsearchError):
    """An input source that cannot be read (missing file, unsupported format, bad bytes)."""


class EmptyCorpusError(EmbedsearchError):
    """Ingest produced no tokens, or training found no word above ``min_count``."""


class TrainingError(EmbedsearchError):
    """The training backend failed."""


class StoreError(EmbedsearchError):
    """A store that is missing, incomplete, corrupt or from an unsupported version."""


class StoreExistsError(StoreError):
    """Refusing to replace an existing store without ``overwrite=True``."""


class StoreBusyError(StoreError):
    """Another process is writing the store (writers are serialised; the later one fails at once)."""


class QueryError(EmbedsearchError):
    """A query that cannot be answered from this store's data (e.g. it cancels out to nothing)."""


class UnknownWordError(QueryError):
    """A query word is not in the store's vocabulary."""

    def __init__(self, word: str, suggestions: Sequence[str] = ()) -> None:
        self.word = word
        self.suggestions = list(suggestions)
        message = f"unknown word {word!r}: not in the vocabulary"
        if self.suggestions:
            message += "; close spellings: " + ", ".join(self.suggestions)
        super().__init__(message)
