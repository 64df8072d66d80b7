"""Ingest and batch export on a Dask distributed cluster (the ``cluster`` extra: ``pip install '.[cluster]'``).

``ingest(..., cluster=ADDRESS)`` runs the same chunks through the same worker code as the local
process pool (``corpus._process_chunk``), on the cluster's workers, and writes the results in input
order: the corpus is byte-for-byte the corpus a local run writes. ``neighbors_of(..., cluster=...)``
splits the queries of a batch export into the same batches the local export searches, one task a
batch, so the neighbours are identical too.

How work reaches the workers:

- **Worker settings** (the pipeline and its fitted models) travel once per pass as a task of their
  own (recomputable, unlike scattered data, if every worker holding it dies); each worker compiles
  the pipeline once per pass (loading Kiwi, SentencePiece... there) and keeps it, with the set of
  words it has already reported, for that pass's chunks.
- **Inputs**, ``inputs="auto"`` (the default): before each pass every worker stats the plain input
  files at the client's absolute paths; a file every worker sees with the client's size and
  modification time travels as (path, offset, length) and the workers read it themselves (one
  machine, or a shared filesystem); any other file is read by the client and shipped as bytes.
  ``inputs="shared"``: the same, but a file some worker cannot see as the client does fails the run
  before any work, naming the file and the worker. ``inputs="bytes"``: always ship the bytes; the
  workers need no access to the sources. Workers re-check a file's size and modification time
  before reading it (a worker that joined later, a file changed mid-run): a mismatch fails the run,
  naming the file and the worker. Compressed files, stdin, JSONL, CSV and Wikipedia dumps are
  always shipped as chunks.
- **Export** reads the store on the workers from its path (a shared filesystem): each worker opens
  it once and checks it is the generation the client opened.

A worker that dies mid-run is replaced and its chunks are redone elsewhere (Dask reschedules the
tasks of a lost worker; ``distributed.scheduler.allowed-failures`` bounds how often); if a chunk
cannot be done, the run fails with an error and, since the corpus is written through an atomic
directory, leaves no partial corpus. Every message from a worker names the worker.

Security: Dask moves tasks and results with pickle; use a cluster on a network you trust (the
store's no-pickle rule is about files, which stay pickle-free).
"""
from __future__ import annotations

import collections
import contextlib
import os
import stat
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from . import heap
from .errors import ConfigError, EmbedsearchError, SourceError, StoreError, install_hint
from .progress import Progress, ProgressCallback, ignore_progress

if TYPE_CHECKING:
    from .batch import NeighborList
    from .query import Store
    from .sources import Chunk

ENV_ADDRESS = "EMBEDSEARCH_CLUSTER"
ENV_INPUTS = "EMBEDSEARCH_CLUSTER_INPUTS"
INPUT_MODES = ("auto", "bytes", "shared")
_CONNECT_TIMEOUT = "10s"
_KEPT_STATES = 4  # per worker: compiled pipelines of the latest passes (two ingests may share a cluster)

__all__ = ["ENV_ADDRESS", "ENV_INPUTS", "INPUT_MODES", "ClusterOptions", "cluster_workers", "connected"]


@dataclass(frozen=True)
class ClusterOptions:
    """Where to run: a scheduler address (``tcp://host:8786``) or a connected ``distributed.Client``,
    and how inputs reach the workers (``auto``, ``bytes`` or ``shared``, see the module docstring)."""

    address: Any
    inputs: str = "auto"

    def __post_init__(self) -> None:
        if self.inputs not in INPUT_MODES:
            raise ConfigError(f"cluster inputs must be one of {', '.join(INPUT_MODES)}, got {self.inputs!r}")


def options(cluster: Any) -> ClusterOptions:
    """A :class:`ClusterOptions` from an address, a Client or options (inputs from ``EMBEDSEARCH_CLUSTER_INPUTS``)."""
    if isinstance(cluster, ClusterOptions):
        return cluster
    return ClusterOptions(cluster, os.environ.get(ENV_INPUTS) or "auto")


def _connect(address: str) -> Any:
    try:
        from distributed import Client
    except ImportError:
        raise ConfigError(f"running on a cluster needs Dask distributed: {install_hint('cluster')}") from None
    try:
        client = Client(address, timeout=_CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ConfigError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    try:
        _check_workers(client, address)
    except BaseException:
        client.close()
        raise
    return client


@contextlib.contextmanager
def connected(cluster: Any) -> Iterator[ClusterOptions]:
    """``cluster`` as :class:`ClusterOptions` holding a connected ``distributed.Client``: for an
    address, a client of its own, closed when the block ends (nothing left reconnecting to a
    scheduler that has gone); a Client given by the caller stays the caller's to close."""
    given = options(cluster)
    if not isinstance(given.address, str):
        yield given
        return
    client = _connect(given.address)
    try:
        yield replace(given, address=client)
    finally:
        client.close()


def client_for(cluster: Any) -> Any:
    """The connected ``distributed.Client`` of ``cluster`` (from :func:`connected`, or the caller's)."""
    address = options(cluster).address
    if isinstance(address, str):
        raise TypeError("client_for needs a connected Client: use `with connected(address) as cluster:`")
    return address


def _worker_info(dask_worker: Any) -> tuple[str, int]:
    from . import __version__

    return __version__, dask_worker.state.nthreads


def _check_workers(client: Any, address: str) -> dict[str, tuple[str, int]]:
    """Every worker runs this embedsearch version (a different one could tokenize differently)."""
    from . import __version__

    try:
        info = client.run(_worker_info)
    except ImportError as exc:
        raise ConfigError(f"embedsearch is not importable on a worker of {address}: install it there ({exc})") from None
    other = {worker: version for worker, (version, _) in info.items() if version != __version__}
    if other:
        worker, version = next(iter(other.items()))
        raise ConfigError(f"worker {worker} runs embedsearch {version}, this process {__version__}: "
                          "install the same version on every worker")
    return info


def cluster_workers(cluster: Any) -> int:
    """How many tasks the cluster runs at once (its workers' threads); fails if it has no worker."""
    if isinstance(options(cluster).address, str):
        with connected(cluster) as on:
            return cluster_workers(on)
    client = client_for(cluster)
    threads = sum(client.nthreads().values())
    if threads < 1:
        raise ConfigError(f"the Dask cluster at {client.scheduler.address} has no workers")
    return threads


def _worker_address() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return "?"


def _on_worker(exc: EmbedsearchError) -> EmbedsearchError:
    """The same error, its message naming the worker it happened on."""
    message = f"{exc} (on Dask worker {_worker_address()})"
    try:
        return type(exc)(message)
    except TypeError:
        return EmbedsearchError(message)


# --- ingest ----------------------------------------------------------------------------------

_states: collections.OrderedDict[str, tuple[Any, Any, Any, set[str]]] = collections.OrderedDict()
# One chunk at a time per worker process: the worker globals of corpus.py describe one pass. Run
# workers with one thread each (``dask worker --nthreads 1``), or, for Korean, as many threads as
# cores: Kiwi then runs each chunk on all of them, as the local path does.
_state_lock = threading.Lock()
_widened: set[str] = set()  # passes whose state holds a heap.widen()


def _settings(settings: Any) -> Any:
    return settings


Identity = tuple[int, int]  # a file's size and modification time (ns): what the client and a worker compare


def _file_identity(path: str) -> Identity:
    """Open ``path`` for reading (so that it is known to be readable) and return its size and mtime."""
    with open(path, "rb") as handle:
        info = os.fstat(handle.fileno())
    if not stat.S_ISREG(info.st_mode):
        raise IsADirectoryError(21, "not a regular file", path)
    return info.st_size, info.st_mtime_ns


def _identities(paths: list[str]) -> list[Identity | str]:
    """Worker side (``client.run``): each path's identity, or why this worker cannot read it."""
    found: list[Identity | str] = []
    for path in paths:
        try:
            found.append(_file_identity(path))
        except OSError as exc:
            found.append(exc.strerror or str(exc))
    return found


def _describe(identity: Identity) -> str:
    import datetime

    size, mtime = identity
    when = datetime.datetime.fromtimestamp(mtime / 1e9, datetime.timezone.utc).isoformat(timespec="microseconds")
    return f"{size:,} bytes, modified {when}"


def _check_files(files: dict[str, Identity]) -> None:
    """Worker side, before reading a group's ranges: each file is still the one the client saw."""
    for path, expected in files.items():
        try:
            found = _file_identity(path)
        except OSError as exc:
            raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from None
        if found != expected:
            raise SourceError(f"{path} is not the file the client read ({_describe(found)} here, "
                              f"{_describe(expected)} there): it changed during the ingest, or this worker sees "
                              "another file at that path")


def _packed(result: Any) -> tuple[Any, str | None]:
    """A chunk's result with its new words as one string: pickled (and unpickled by the client) as
    one object, not one per word. Only when the words cannot be mistaken (none empty, none with a
    line break); otherwise the list travels as is."""
    words = result.words
    if not words:
        return result, None
    joined = "\n".join(words)
    if joined.count("\n") != len(words) - 1 or not all(words):
        return result, None
    return replace(result, words=[]), joined


def _unpacked(item: tuple[Any, str | None]) -> Any:
    result, joined = item
    if joined is not None:
        result.words = joined.split("\n")
    return result


def _run_chunks(key: str, settings: Any, chunks: list[Chunk], files: dict[str, Identity]) -> list[Any]:
    """Worker side: compile the pass's pipeline once per worker (corpus._init_worker), then run
    exactly the local worker code on each chunk of the group, in order. ``files``: the identities
    of the files whose ranges this group reads here."""
    from . import corpus

    with _state_lock:
        state = _states.get(key)
        if state is None:
            from distributed import get_worker

            nthreads = get_worker().state.nthreads
            threaded = nthreads > 1 and corpus._threaded_tokenizer(settings)
            corpus._init_worker(replace(settings, threads=nthreads) if threaded else settings)
            state = (corpus._worker_pipeline, corpus._worker_settings, corpus._worker_fast, corpus._worker_seen)
            _states[key] = state
            # Dask's workers fix glibc's malloc thresholds small (heap.py): wide for the pass.
            if heap.widen():
                _widened.add(key)
            while len(_states) > _KEPT_STATES:
                _drop_state(next(iter(_states)))
        else:
            corpus._worker_pipeline, corpus._worker_settings, corpus._worker_fast, corpus._worker_seen = state
        try:
            _check_files(files)
            return [_packed(corpus._process_chunk(chunk)) for chunk in chunks]
        except EmbedsearchError as exc:
            raise _on_worker(exc) from None


def _forget(key: str) -> None:
    """Worker side, at the end of a pass: drop its compiled pipeline and the words it reported."""
    with _state_lock:
        _drop_state(key)


def _drop_state(key: str) -> None:
    """Under _state_lock: forget a pass's state and end its widening of the heap."""
    _states.pop(key, None)
    if key in _widened:
        _widened.discard(key)
        heap.narrow()


def _where(chunk: Chunk) -> str:
    if chunk.kind == "range":
        return f"{chunk.source}, bytes {chunk.payload[1]:,}-{chunk.payload[1] + chunk.payload[2]:,}"
    return f"{chunk.source}, line {chunk.first_line}" if chunk.first_line else chunk.source


class _Group:
    """Consecutive chunks sent as one task; its results are gathered once and handed out in order."""

    def __init__(self) -> None:
        self.chunks: list[Chunk] = []
        self.files: dict[str, Identity] = {}
        self.bytes = 0
        self.future: Any = None
        self.results: list[Any] | None = None
        self.where = ""


class _ChunkFuture:
    """One chunk's result (what ``_run_pass`` waits on); failures read as embedsearch errors."""

    def __init__(self, executor: ChunkExecutor, group: _Group, index: int) -> None:
        self._executor = executor
        self._group = group
        self._index = index

    def result(self) -> Any:
        from distributed import KilledWorker

        group = self._group
        if group.future is None:  # not sent yet (the input's last chunks): send it now
            self._executor._flush()
        if group.results is None:
            try:
                group.results = group.future.result()
            except KilledWorker as exc:
                raise EmbedsearchError(f"ingest stopped: the Dask workers running the chunks from {group.where} died "
                                       f"(too many times: {exc}); no corpus was written") from None
            except EmbedsearchError:
                raise
            except Exception as exc:  # noqa: BLE001 - a lost scheduler, a cancelled task: name them plainly
                if type(exc).__name__ in ("CancelledError", "FutureCancelledError", "CommClosedError"):
                    raise EmbedsearchError(f"ingest stopped: lost the Dask cluster while running the chunks from "
                                           f"{group.where} ({type(exc).__name__}: {exc}); no corpus was written") from None
                raise
            group.future.release()
        assert group.results is not None  # noqa: S101 - set just above
        done, group.results[self._index] = group.results[self._index], None  # handed out once: free it
        return _unpacked(done)


# A task carries consecutive chunks up to this many bytes (and at most _GROUP_CHUNKS of them): a
# task costs the client and scheduler a few milliseconds, which would be a large share of a 300 KB
# English chunk's ~20 ms of work; but no fewer than 4 tasks per worker, so that none idles long at
# the end. The first tasks are smaller (1, 2, 4... chunks), so that the workers start at once.
# The chunks themselves, and so the corpus, are those of a local run.
_GROUP_BYTES = 4 << 20
_GROUP_CHUNKS = 8


class ChunkExecutor:
    """What corpus._run_pass needs of an executor (``submit``, ``shutdown``), on a Dask cluster."""

    def __init__(self, cluster: Any, settings: Any, files: Sequence[str] = (), workers: int | None = None) -> None:
        self._options = options(cluster)
        self._client = client_for(self._options)
        workers = workers or cluster_workers(self._options)
        #: plain files the workers read themselves, by absolute path: their identity as the client sees it
        self.by_path: dict[str, Identity] = self._readable_files(files) if self._options.inputs != "bytes" else {}
        # a task, not scattered data: recomputed if every worker holding it dies
        self._settings = self._client.submit(_settings, settings, pure=False)
        try:
            total = sum(os.path.getsize(f) for f in files if f != "-")
        except OSError:
            total = 0
        self._group_bytes = max(1, min(_GROUP_BYTES, total // (4 * workers))) if total else _GROUP_BYTES
        from .corpus import _chunk_bytes

        per_group = min(_GROUP_CHUNKS, -(-self._group_bytes // _chunk_bytes(list(files))) + 1)
        #: chunks in flight (read by corpus._run_pass): as many groups as a local pool has chunks
        self.window = (2 * workers + 2) * per_group
        self._group_chunks = 1  # doubles with each task sent, up to _GROUP_CHUNKS
        self._group = _Group()
        self._sent: list[_Group] = []

    def _readable_files(self, files: Sequence[str]) -> dict[str, Identity]:
        """The plain files every worker can read at the client's absolute path, as the client sees
        them (same size and modification time). ``shared``: all of them, or fail naming the file
        and the worker; ``auto``: those, the others are shipped."""
        mine: dict[str, Identity] = {}
        for name in files:
            if name == "-":
                continue
            path = os.path.abspath(name)
            try:
                mine[path] = _file_identity(path)
            except OSError:
                continue  # the reader reports it when it comes to it
        if not mine:
            return {}
        paths = list(mine)
        replies = self._client.run(_identities, paths)
        readable: dict[str, Identity] = {}
        for index, path in enumerate(paths):
            theirs = {worker: found[index] if isinstance(found[index], str) else tuple(found[index])
                      for worker, found in replies.items()}
            differ = {worker: found for worker, found in theirs.items() if found != mine[path]}
            if not differ:
                readable[path] = mine[path]
                continue
            if self._options.inputs == "shared":
                worker, found = sorted(differ.items())[0]
                why = found if isinstance(found, str) else f"it sees {_describe(found)}, this process {_describe(mine[path])}"
                raise SourceError(f"Dask worker {worker} cannot read {path} as this process does ({why}); "
                                  "--cluster-inputs shared needs every input at the same path on every worker "
                                  "(auto ships the files the workers cannot read, bytes ships them all)")
        return readable

    @staticmethod
    def _read(path: str, start: int, length: int) -> bytes:
        try:
            with open(path, "rb") as handle:
                handle.seek(start)
                data = handle.read(length)
        except OSError as exc:
            raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from exc
        if len(data) != length:
            raise SourceError(f"{path} changed while it was being read")
        return data

    def _ship(self, chunk: Chunk) -> Chunk:
        from .sources import Chunk

        if chunk.kind != "range":
            return chunk
        path, start, length = chunk.payload
        absolute = os.path.abspath(path)
        identity = self.by_path.get(absolute)
        if identity is not None:
            self._group.files[absolute] = identity
            return replace(chunk, payload=(absolute, start, length))
        data = self._read(path, start, length)
        return Chunk("bytes", data, chunk.source, chunk.first_line, chunk.continues_line, chunk.field)

    def submit(self, fn: Any, chunk: Chunk) -> _ChunkFuture:
        from . import corpus

        if fn is not corpus._process_chunk:
            raise TypeError("the cluster executor runs ingest chunks only")
        group = self._group
        if not group.chunks:
            group.where = _where(chunk)
        group.chunks.append(self._ship(chunk))
        group.bytes += chunk.size()
        wrapped = _ChunkFuture(self, group, len(group.chunks) - 1)
        if group.bytes >= self._group_bytes or len(group.chunks) >= self._group_chunks:
            self._flush()
        return wrapped

    def _flush(self) -> None:
        group = self._group
        if not group.chunks:
            return
        group.future = self._client.submit(_run_chunks, self._settings.key, self._settings, group.chunks, group.files,
                                           pure=False)
        group.chunks = []
        self._group = _Group()
        self._group_chunks = min(2 * self._group_chunks, _GROUP_CHUNKS)
        self._sent = [g for g in self._sent if g.results is None]
        self._sent.append(group)

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        for group in self._sent:
            if cancel_futures and group.results is None:
                group.future.cancel()
        self._sent = []
        key = self._settings.key
        self._settings.release()
        try:
            self._client.run(_forget, key)
        except Exception:  # noqa: BLE001, S110 - best effort: a lost cluster has nothing left to forget
            pass


def chunk_executor(cluster: Any, settings: Any, files: Sequence[str] = (), workers: int | None = None) -> ChunkExecutor:
    return ChunkExecutor(cluster, settings, files, workers)


# --- batch export ----------------------------------------------------------------------------

_stores: collections.OrderedDict[tuple[str, str | None], Store] = collections.OrderedDict()
_stores_lock = threading.Lock()


def _worker_store(path: str, generation: str | None, search_param: int | None) -> Store:
    from .query import open_store

    with _stores_lock:
        store = _stores.get((path, generation))
        if store is None:
            try:
                store = open_store(path)
            except EmbedsearchError as exc:
                raise _on_worker(exc) from None
            opened = store._files.generation
            if opened != generation:
                store.close()
                raise _on_worker(StoreError(f"store {path} changed during the export (the client opened generation "
                                            f"{generation}, this worker found {opened}); run the export again"))
            _stores[(path, generation)] = store
            while len(_stores) > 2:
                _stores.popitem(last=False)[1].close()
    store._search_param = search_param
    return store


def _search_rows(path: str, generation: str | None, search_param: int | None, start: int, stop: int, k: int) -> Any:
    from .batch import search_rows

    return search_rows(_worker_store(path, generation, search_param), start, stop, k)


def _search_words(path: str, generation: str | None, search_param: int | None, words: list[str], k: int,
                  min_score: float | None) -> list[NeighborList]:
    from .batch import _word_batch

    return list(_word_batch(_worker_store(path, generation, search_param), words, k, min_score))


def neighbors(store: Store, cluster: Any, words: Iterable[str] | None, *, k: int, min_score: float | None,
              batch_size: int, progress: ProgressCallback = ignore_progress) -> Iterator[NeighborList]:
    """:func:`embedsearch.batch.neighbors_of` with each batch searched on a worker (same batches, same results)."""
    with connected(cluster) as on:
        yield from _neighbors(store, on, words, k=k, min_score=min_score, batch_size=batch_size, progress=progress)


def _neighbors(store: Store, cluster: ClusterOptions, words: Iterable[str] | None, *, k: int, min_score: float | None,
               batch_size: int, progress: ProgressCallback) -> Iterator[NeighborList]:
    from .batch import rows_to_lists

    client = client_for(cluster)
    window = 2 * cluster_workers(cluster) + 2
    path = os.path.abspath(store.path)
    generation = store._files.generation
    param = store._search_param
    pending: collections.deque[tuple[Any, Any]] = collections.deque()

    def collect(future: Any) -> Any:
        try:
            return future.result()
        except EmbedsearchError:
            raise
        except Exception as exc:  # noqa: BLE001
            if type(exc).__name__ in ("KilledWorker", "CancelledError", "FutureCancelledError", "CommClosedError"):
                raise EmbedsearchError(f"export stopped: lost Dask workers or the cluster ({type(exc).__name__}: {exc})") from None
            raise

    try:
        if words is None:
            vocabulary = store.vocabulary()
            total = len(vocabulary)
            for start in range(0, total, batch_size):
                stop = min(start + batch_size, total)
                pending.append((client.submit(_search_rows, path, generation, param, start, stop, min(k + 1, total),
                                              pure=False), (start, stop)))
                while len(pending) >= window or (stop == total and pending):
                    future, (first, last) = pending.popleft()
                    scores, ids = collect(future)
                    yield from rows_to_lists(vocabulary, first, last, scores, ids, k, min_score)
                    progress(Progress("export", last, total, "words", final=last == total))
            return
        done = 0
        batches: Iterator[list[str]] = _batches(words, batch_size)
        for batch in batches:
            pending.append((client.submit(_search_words, path, generation, param, batch, k, min_score, pure=False), len(batch)))
            if len(pending) >= window:
                future, size = pending.popleft()
                yield from collect(future)
                done += size
                progress(Progress("export", done, None, "words"))
        while pending:
            future, size = pending.popleft()
            yield from collect(future)
            done += size
        progress(Progress("export", done, done, "words", final=True))
    finally:
        for future, _ in pending:
            future.cancel()


def _batches(words: Iterable[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for word in words:
        batch.append(word)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
