"""Worker processes: how they start, and that they never outlive the process that asked for them.

Every process pool of the package comes from :func:`process_pool`. It is safe to call from any
launch style: a script without ``if __name__ == "__main__"``, ``python -c``, ``python -`` (stdin),
a notebook or an interactive shell. Workers run only functions of this package, so nothing makes
them import the caller's ``__main__`` module (which would run the caller's script again in every
worker and break the pool).

A worker dies with its parent, even when the parent is killed with ``SIGKILL`` (no ``finally``
runs then): on Linux the kernel sends it ``SIGKILL`` when the process that forked it ends
(``PR_SET_PDEATHSIG``; the fork server, which itself exits as soon as the parent does), and on
every platform a watchdog thread ends it within :data:`WATCHDOG_SECONDS` of its parent's death.
Each worker also limits BLAS/OpenMP to one thread (``threadpoolctl``): the pool is the
parallelism, and a BLAS pool per worker would fight it for the cores.
"""
from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.context
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

WATCHDOG_SECONDS = 0.5
_PR_SET_PDEATHSIG = 1

__all__ = ["WATCHDOG_SECONDS", "blas_threads", "limit_blas_threads", "process_pool", "worker_context"]


def worker_context() -> multiprocessing.context.BaseContext:
    """How worker processes start: never plain fork, which is unsafe whatever threads the caller
    has started (BLAS, OpenMP). Where available, a fork server: a clean single-threaded process,
    started once with the package's ingest code imported, forks each worker in milliseconds (spawn
    starts a new interpreter per worker, ~0.2 s, which is a fifth of a 20 MB ingest). Elsewhere,
    spawn.

    Workers never import the caller's ``__main__``: they need only this package, and re-running
    the caller's script in a worker (what spawn and fork-server children do by default) breaks the
    pool when the script has no ``__main__`` guard, and costs time even when it has one."""
    global _context
    if _context is None:
        _install_main_filter()
        if "forkserver" in multiprocessing.get_all_start_methods():
            multiprocessing.get_context("forkserver").set_forkserver_preload(["embedsearch.corpus"])
            _context = _ForkServerContext()
        else:
            _context = _SpawnContext()
    return _context


class _ForkServerProcess(multiprocessing.context.ForkServerProcess if sys.platform != "win32" else object):  # type: ignore[misc]
    @staticmethod
    def _Popen(process_obj: Any) -> Any:
        with _without_main():
            return multiprocessing.context.ForkServerProcess._Popen(process_obj)  # type: ignore[attr-defined]


class _SpawnProcess(multiprocessing.context.SpawnProcess):  # type: ignore[misc]
    @staticmethod
    def _Popen(process_obj: Any) -> Any:
        with _without_main():
            return multiprocessing.context.SpawnProcess._Popen(process_obj)


class _ForkServerContext(multiprocessing.context.ForkServerContext if sys.platform != "win32" else object):  # type: ignore[misc]
    Process = _ForkServerProcess


class _SpawnContext(multiprocessing.context.SpawnContext):
    Process = _SpawnProcess


@contextlib.contextmanager
def _without_main() -> Iterator[None]:
    _launching.without_main = True
    try:
        yield
    finally:
        _launching.without_main = False


_context: multiprocessing.context.BaseContext | None = None
_launching = threading.local()
_MAIN_KEYS = ("init_main_from_path", "init_main_from_name")


def _install_main_filter() -> None:
    """Wrap ``multiprocessing.spawn.get_preparation_data`` (once) so that processes started by
    :func:`worker_context`, and only those (a flag of the launching thread), are told nothing about
    the caller's ``__main__``. Every other process of the program starts exactly as before."""
    from multiprocessing import spawn

    if getattr(spawn.get_preparation_data, "_embedsearch", False):
        return
    original = spawn.get_preparation_data

    def get_preparation_data(name: str) -> dict[str, Any]:
        data = original(name)
        if getattr(_launching, "without_main", False):
            for key in _MAIN_KEYS:
                data.pop(key, None)
        return data

    get_preparation_data._embedsearch = True  # type: ignore[attr-defined]
    spawn.get_preparation_data = get_preparation_data


def process_pool(workers: int, *, initializer: Callable[..., Any] | None = None,
                 initargs: tuple[Any, ...] = ()) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes bound to this process's life, each with one BLAS thread;
    ``initializer(*initargs)`` then runs in each worker, as with :class:`ProcessPoolExecutor`."""
    return ProcessPoolExecutor(workers, mp_context=worker_context(), initializer=_start_worker,
                               initargs=(os.getpid(), initializer, initargs))


def _start_worker(owner: int, initializer: Callable[..., Any] | None, initargs: tuple[Any, ...]) -> None:
    # Ctrl-C reaches the whole process group: the parent alone answers it (one line, exit 130) and
    # ends the pool; a worker that raised KeyboardInterrupt too would print a traceback of its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    bind_to_parent(owner)
    limit_blas_threads(1)
    if initializer is not None:
        initializer(*initargs)


_BLAS_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def limit_blas_threads(threads: int) -> None:
    """Cap this process's BLAS/OpenMP pools at ``threads``: those already loaded through
    ``threadpoolctl``, those loaded later (numpy imported in a worker after start) through the
    environment variables they read when they load."""
    for name in _BLAS_ENV:
        os.environ[name] = str(threads)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # a dependency, but a worker must not die for want of it
        return
    threadpool_limits(limits=threads)


@contextlib.contextmanager
def blas_threads(threads: int) -> Iterator[None]:
    """Within the block, BLAS/OpenMP pools use at most ``threads`` threads (restored after).

    Loops of small matrix products (the reranker's LSTM steps: 64 x 128 blocks) run several
    times faster on one BLAS thread than on two, which spin against each other and against any
    other work for the cores (measured in docs/threads.md)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=threads):
        yield


def bind_to_parent(owner: int) -> None:
    """End this process when ``owner`` (the process that made the pool) or this process's parent ends."""
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent or not _alive(owner):  # the parent died before the signal was armed
        os._exit(1)
    threading.Thread(target=_watch, args=(owner, parent), name="embedsearch-parent-watchdog", daemon=True).start()


def _watch(owner: int, parent: int) -> None:
    while True:
        time.sleep(WATCHDOG_SECONDS)
        if os.getppid() != parent or not _alive(owner):
            os._exit(1)


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, killed but not yet reaped, counts as dead on Linux)."""
    if sys.platform == "win32":  # os.kill would terminate it there; the parent-pid check remains
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True
