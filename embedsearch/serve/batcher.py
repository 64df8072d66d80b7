"""Concurrent ``similar`` requests answered together: one search call (one matrix product) for all.

No timer and no added wait: a request that finds the batcher idle is searched at once, alone. While a
search runs (in a worker thread, numpy/BLAS without the GIL), the requests that arrive queue up,
and the next search takes all of them (up to ``max_batch``) as one ``[n, dim]`` query block. At one
connection this is exactly one query per search; at 64 it is one search per few dozen queries, and
a matrix-matrix product reads the vectors once for the whole block where one search per request
would read them once per request.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool

from .engine import Composed, similar_many
from .stores import Served


@dataclass
class _Pending:
    served: Served
    item: Composed
    k: int
    future: asyncio.Future[Any]


class MicroBatcher:
    def __init__(self, max_batch: int = 256) -> None:
        self.max_batch = max_batch
        self._pending: list[_Pending] = []
        self._running = False
        self.searches = 0
        self.queries = 0

    async def similar(self, served: Served, item: Composed, k: int) -> Any:
        """The ``SimilarResult`` for ``item`` (or raises its ``EmbedsearchError``)."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append(_Pending(served, item, k, future))
        if not self._running:
            self._running = True
            asyncio.ensure_future(self._drain())
        result = await future
        if isinstance(result, BaseException):
            raise result
        return result

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
                groups: dict[int, list[_Pending]] = {}
                for entry in batch:
                    groups.setdefault(id(entry.served), []).append(entry)
                for entries in groups.values():
                    await self._run(entries)
        finally:
            self._running = False

    async def _run(self, entries: list[_Pending]) -> None:
        served = entries[0].served

        def search() -> list[Any]:
            with served.lock.shared():
                return similar_many(served.store, [e.item for e in entries], [e.k for e in entries])

        try:
            results: list[Any] = await run_in_threadpool(search)
        except BaseException as exc:  # noqa: BLE001 - every waiting request gets the failure, none hangs
            results = [exc] * len(entries)
        self.searches += 1
        self.queries += len(entries)
        for entry, result in zip(entries, results):
            if not entry.future.done():
                entry.future.set_result(result)
