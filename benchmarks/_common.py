"""Helpers shared by the benchmark scripts: input path, machine description, statistics, output."""
from __future__ import annotations

import contextlib
import fcntl
import json
import math
import platform
import statistics
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_INPUT = REPO.parent / "shared" / "data" / "en" / "wiki2015_text8style.txt"


def require_file(path: Path) -> Path:
    """Exit with a clear message (not a traceback) when the input file is absent."""
    if not path.is_file():
        sys.exit(f"error: input file {path} not found; pass --input PATH (the default is ../shared/data/en/...)")
    return path


def workdir(path: str | None, prefix: str) -> Path:
    """The given work directory (created if needed), or a fresh temporary one under /tmp."""
    if path is None:
        return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    target = Path(path).resolve()
    if target == REPO or REPO in target.parents:
        sys.exit(f"error: --workdir {target} is inside the repository; use a path under /tmp")
    target.mkdir(parents=True, exist_ok=True)
    return target


def machine() -> dict[str, Any]:
    """CPU model, core count and the versions that matter for these numbers."""
    import os

    import faiss
    import gensim
    import numpy

    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "python": platform.python_version(),
        "gensim": gensim.__version__,
        "faiss": faiss.__version__,
        "numpy": numpy.__version__,
        "code": code_state(),
    }


def code_state() -> dict[str, Any]:
    """Which embedsearch was measured: the commit, and a hash of uncommitted changes if any."""
    import hashlib
    import subprocess

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True).stdout.strip()

    diff = git("diff", "HEAD", "--", "embedsearch")
    return {"commit": git("rev-parse", "--short", "HEAD") or "unknown",
            "uncommitted_sha1": hashlib.sha1(diff.encode()).hexdigest()[:10] if diff else None}


def machine_line(info: dict[str, Any]) -> str:
    code = info.get("code") or {}
    dirty = f" + uncommitted changes {code['uncommitted_sha1']}" if code.get("uncommitted_sha1") else ""
    return (f"{info['cpu']}, {info['cores']} cores; Python {info['python']}, gensim {info['gensim']}, "
            f"faiss {info['faiss']}, numpy {info['numpy']}; embedsearch {code.get('commit', '?')}{dirty}")


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def write_json(path: str | None, data: dict[str, Any]) -> None:
    if path:
        Path(path).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        print(f"results written to {path}")


@contextlib.contextmanager
def locked(path: Path | None) -> Iterator[None]:
    """Hold an exclusive flock on ``path`` for one phase (nothing if no lock file was given), so
    benchmarks sharing a machine never time each other."""
    if path is None:
        yield
        return
    with open(path, "a", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
