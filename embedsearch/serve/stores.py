"""The stores a server answers from: opened in the background, reopened when republished.

A store directory is republished atomically (``reindex``, ``rerank train``, ``train --force``). The
server notices it by :func:`_store_token` (polled every few seconds), opens the new store in a
worker thread, warms it with a query, and only then swaps it in (:meth:`Stores._swap`, one dict
assignment under a lock): until that moment the old store keeps answering, and requests that
already hold the old one finish on it (it is closed at the first poll after the last of them
ends, or a grace period later if one of them timed out with its work still running in a thread). A store that fails to open (e.g. caught half-published) is retried at the next poll;
the old one stays in service meanwhile.
"""
from __future__ import annotations

import asyncio
import gc
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import EmbedsearchError, StoreError
from ..query import Store, open_store
from ..store.generations import current_generation
from .engine import NeighbourTable, Vocabulary

log = logging.getLogger("embedsearch.serve")


def _store_token(path: Path) -> Any:
    """A cheap value that changes whenever the store at ``path`` is republished (the generation its
    CURRENT names: one small file read); ``None`` while it cannot be read."""
    try:
        return current_generation(path)
    except (StoreError, OSError):
        return None


class _SharedExclusive:
    """Many queries at once, or one that changes the store object's search parameter alone."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            while self._writer:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            while self._writer:
                self._cond.wait()
            self._writer = True
            while self._readers:
                self._cond.wait()
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


@dataclass
class Served:
    """One open generation of a named store."""

    name: str
    path: Path
    store: Store
    token: Any
    opened_at: float
    vocabulary: Vocabulary
    lock: _SharedExclusive
    table: NeighbourTable | None = None
    # Requests holding this generation now; ``abandoned``: one gave up (timed out or was cancelled)
    # while its work may still run in a thread, so the generation waits out the grace period.
    users: int = 0
    abandoned: bool = False

    @contextmanager
    def search_params(self, ef_search: int | None, nprobe: int | None) -> Iterator[Store]:
        """The store, with a per-request ``ef_search``/``nprobe`` for the duration (others wait)."""
        if ef_search is None and nprobe is None:
            with self.lock.shared():
                yield self.store
            return
        with self.lock.exclusive():
            self.store.set_search(ef_search=ef_search, nprobe=nprobe)
            try:
                yield self.store
            finally:
                self.store.set_search()


# Stores up to this many words get a neighbour table (NeighbourTable), built after they are ready.
TABLE_MAX_WORDS = 200_000


def open_served(name: str, path: Path, *, table: bool = True) -> Served:
    """Open and warm a store: after this, a query costs no first-use reads (vocabulary, pipeline).
    With ``table``, a flat store of up to ``TABLE_MAX_WORDS`` words starts building its neighbour
    table in the background (it serves without one meanwhile)."""
    token = _store_token(path)
    store = open_store(path)
    try:
        first = store.words_of([0])[0] if len(store) else None
        if first is not None:
            # Store keeps its vocabulary in memory from its second search on: pay that now, not in a request.
            for _ in range(2):
                store.similar(first, k=1)
    except EmbedsearchError:
        pass  # a store whose first word cannot be queried still serves the others
    except BaseException:
        store.close()
        raise
    served = Served(name, path, store, token, time.time(), Vocabulary(store), _SharedExclusive())
    info = store.search_info
    if table and info.exact and info.index == "flat" and 0 < len(store) <= TABLE_MAX_WORDS:
        served.table = NeighbourTable(store)
        served.table.thread = threading.Thread(target=_build_quietly, args=(served,), name=f"embedsearch-table-{name}",
                                               daemon=True)
        served.table.thread.start()
    return served


def _build_quietly(served: Served) -> None:
    try:
        assert served.table is not None
        served.table.build()
        log.info("store %s: neighbour table of %d words built in %.1f s", served.name, len(served.store), served.table.seconds or 0)
    except Exception:  # noqa: BLE001 - without a table the store still answers, by search
        log.exception("store %s: the neighbour table could not be built", served.name)


class NotReady(Exception):
    pass


class UnknownStore(KeyError):
    """No store of that name is served."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class Stores:
    """Named stores: ``get`` the current one; ``open_all`` at start; ``check`` for republished ones."""

    def __init__(self, paths: dict[str, Path], *, grace_seconds: float = 60.0, tables: bool = True) -> None:
        if not paths:
            raise ValueError("at least one store is needed")
        self.paths = dict(paths)
        self.default = next(iter(self.paths))
        self.grace_seconds = grace_seconds
        self._current: dict[str, Served] = {}
        self._errors: dict[str, str] = {}
        self._lock = threading.Lock()
        self._retired: list[tuple[float, Served]] = []
        self.reloads = 0
        self.tables = tables

    @property
    def ready(self) -> bool:
        return all(name in self._current for name in self.paths)

    def status(self) -> dict[str, Any]:
        return {name: ("ready" if name in self._current else ("error: " + self._errors[name] if name in self._errors
                                                              else "opening")) for name in self.paths}

    def get(self, name: str | None) -> Served:
        name = self.default if name is None else name
        if name not in self.paths:
            raise UnknownStore(name)
        served = self._current.get(name)
        if served is None:
            raise NotReady(self._errors.get(name) or f"store {name!r} is still opening")
        return served

    @contextmanager
    def lease(self, name: str | None) -> Iterator[Served]:
        """The current generation of store ``name``, held for one request: a retired generation is
        closed as soon as no request holds it (at the watcher's next poll), not a grace period later."""
        with self._lock:
            served = self.get(name)
            served.users += 1
        try:
            yield served
        except (asyncio.CancelledError, asyncio.TimeoutError):
            served.abandoned = True
            raise
        finally:
            with self._lock:
                served.users -= 1

    def open_all(self) -> None:
        for name, path in self.paths.items():
            self._open(name, path)

    def _open(self, name: str, path: Path) -> bool:
        try:
            served = open_served(name, path, table=self.tables)
        except (EmbedsearchError, OSError) as exc:  # OSError: caught mid-publish, a file vanished under the open
            message = str(exc) if isinstance(exc, EmbedsearchError) else f"{exc.strerror or exc}"
            if self._errors.get(name) != message:  # once per distinct failure, not at every poll
                log.warning("store %s (%s) did not open: %s", name, path, message)
            self._errors[name] = message
            return False
        self._swap(name, served)
        return True

    def _swap(self, name: str, served: Served) -> None:
        """THE swap point: from this assignment on, new requests get ``served``; the old generation
        finishes what it holds and is closed after the grace period."""
        # The store's vocabulary is tens of thousands of long-lived strings: keep them out of the
        # garbage collector's full passes, which otherwise walk them all (a multi-ms pause each).
        gc.freeze()
        with self._lock:
            old = self._current.get(name)
            self._current[name] = served
            self._errors.pop(name, None)
            if old is not None:
                if old.table is not None and not old.table.ready:
                    old.table.cancel()  # a newer generation is here: its table is the one worth building
                self._retired.append((time.monotonic() + self.grace_seconds, old))
                self.reloads += 1
                log.info("store %s reopened (%s)", name, served.path)

    def check(self) -> None:
        """Reopen every store whose token changed since it was opened (run in a worker thread)."""
        for name, path in self.paths.items():
            current = self._current.get(name)
            if current is None and name not in self._errors:
                # Still being opened for the first time (open_all, in its own thread): opening it
                # here as well would open it twice and count the second swap as a reload.
                continue
            token = _store_token(path)
            if token is None or (current is not None and token == current.token):
                continue
            self._open(name, path)
        self._close_retired()

    def _close_retired(self, force: bool = False) -> None:
        """Close the retired generations that no request holds (or whose grace period is over)."""
        now = time.monotonic()
        with self._lock:
            def due(deadline: float, served: Served) -> bool:
                return force or deadline <= now or (served.users == 0 and not served.abandoned)

            closing = [s for t, s in self._retired if due(t, s)]
            self._retired = [(t, s) for t, s in self._retired if not due(t, s)]
        for served in closing:
            if served.table is not None:
                served.table.cancel()
                if served.table.thread is not None:
                    served.table.thread.join(5)  # it stops at its next block of rows; then nothing reads the store
            served.store.close()

    def close(self) -> None:
        self._close_retired(force=True)
        with self._lock:
            current, self._current = list(self._current.values()), {}
        for served in current:
            if served.table is not None:
                served.table.cancel()
                if served.table.thread is not None:
                    served.table.thread.join(5)  # it stops at its next block of rows
            served.store.close()
