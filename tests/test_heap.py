"""heap.widen and heap.narrow: glibc's fixed malloc thresholds widened, then put back."""
from __future__ import annotations

import os
import platform
import subprocess
import sys
import textwrap

import pytest

from embedsearch import heap

glibc = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                           reason="glibc's mallopt is Linux/glibc only")


class _FakeLibc:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int]] = []

    def mallopt(self, parameter: int, value: int) -> int:
        self.calls.append(("mallopt", parameter, value))
        return 1

    def malloc_trim(self, pad: int) -> int:
        self.calls.append(("malloc_trim", pad, 0))
        return 1


@pytest.fixture
def fake_libc(monkeypatch: pytest.MonkeyPatch) -> _FakeLibc:
    libc = _FakeLibc()
    monkeypatch.setattr(heap, "_glibc", lambda: libc)
    for name in ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_"):
        monkeypatch.delenv(name, raising=False)
    return libc


def test_fixed_thresholds_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    assert heap.fixed_thresholds() is None
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
    assert heap.fixed_thresholds() == {heap._M_TRIM_THRESHOLD: 65536, heap._M_MMAP_THRESHOLD: 128 * 1024}
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "262144")
    assert heap.fixed_thresholds() == {heap._M_TRIM_THRESHOLD: 65536, heap._M_MMAP_THRESHOLD: 262144}
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "lots")  # glibc ignores what it cannot parse
    assert heap.fixed_thresholds() is None


def test_nothing_changes_where_glibc_adapts_by_itself(fake_libc: _FakeLibc) -> None:
    assert heap.widen() is False
    heap.narrow()
    assert fake_libc.calls == []


def test_widened_once_for_nested_blocks_and_restored_by_the_last(fake_libc: _FakeLibc,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
    widen = [("mallopt", heap._M_MMAP_THRESHOLD, heap.ROOMY_MMAP_THRESHOLD),
             ("mallopt", heap._M_TRIM_THRESHOLD, heap.ROOMY_TRIM_THRESHOLD)]
    restore = [("mallopt", heap._M_MMAP_THRESHOLD, 128 * 1024), ("mallopt", heap._M_TRIM_THRESHOLD, 65536),
               ("malloc_trim", 0, 0)]
    assert heap.widen()
    assert heap.widen()
    assert fake_libc.calls == widen
    heap.narrow()
    assert fake_libc.calls == widen
    heap.narrow()
    assert fake_libc.calls == widen + restore


def test_restored_when_the_block_raises(fake_libc: _FakeLibc, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
    with pytest.raises(RuntimeError):
        assert heap.widen()
        try:
            raise RuntimeError("chunk failed")
        finally:
            heap.narrow()
    assert fake_libc.calls[-1] == ("malloc_trim", 0, 0)
    assert heap._depth == 0


_FAULTS = textwrap.dedent("""
    import ctypes, resource
    from embedsearch.heap import narrow, widen

    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = (ctypes.c_size_t,)
    libc.free.argtypes = (ctypes.c_void_p,)

    def faults():
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(100):
            buffer = libc.malloc(1 << 20)
            ctypes.memset(buffer, 1, 1 << 20)
            libc.free(buffer)
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

    outside = faults()
    widen()
    inside = faults()
    narrow()
    print(outside, inside, faults())
""")


@glibc
def test_a_megabyte_buffer_stops_faulting_its_pages_in_again() -> None:
    """In a process started as Dask starts its workers, each freed 1 MB buffer is unmapped and the
    next one faults its 256 pages in again; inside the block it stays in the heap; after the block
    the process is back to the thresholds its environment set."""
    env = {**os.environ, "MALLOC_TRIM_THRESHOLD_": "65536"}
    result = subprocess.run([sys.executable, "-c", _FAULTS], env=env, capture_output=True, text=True, check=True)
    outside, inside, after = map(int, result.stdout.split())
    assert outside > 100 * 200
    assert inside < 2_000
    assert after > 100 * 200


def test_widen_and_narrow_are_counted(fake_libc: _FakeLibc, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cluster widens once per ingest pass a worker holds and narrows when it drops the pass."""
    heap.narrow()  # nothing widened: nothing to put back
    assert fake_libc.calls == []
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
    assert heap.widen() and heap.widen()
    heap.narrow()
    assert [call[0] for call in fake_libc.calls] == ["mallopt", "mallopt"]
    heap.narrow()
    assert [call[0] for call in fake_libc.calls] == ["mallopt"] * 4 + ["malloc_trim"]
    assert heap._depth == 0


def test_widen_says_when_there_is_nothing_to_widen(fake_libc: _FakeLibc) -> None:
    assert heap.widen() is False
    assert fake_libc.calls == []
