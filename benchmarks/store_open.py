"""Memory and start-up of a big flat store: resident memory after open, and a cold CLI `similar`.

Targets (issue 5): resident memory after opening a flat store <= 1.2x the bytes of its vectors;
a cold `embedsearch similar` on a 1M-word store answers in <= 1 s.

- Memory: a child process imports embedsearch, opens the store, then asks 1 and 10 `similar`
  queries; VmRSS (and its file-backed part, RssFile: pages of the memory-mapped vectors) is read
  from /proc/self/status after each step and compared with the size of vectors.npy.
- Start-up: wall time of the `embedsearch similar` command as a user runs it, each run a new
  process, in two states: "cold cache" (the store's files dropped from the page cache with
  posix_fadvise(DONTNEED) first, only those files, nothing else on the machine) and "warm cache"
  (the same command again right after). The floor, `python -c "import embedsearch"`, is shown too.

    python benchmarks/index_speed.py --workdir /tmp/i5/idx ...   # leaves a 1M flat store there
    python benchmarks/store_open.py --store /tmp/i5/idx/synthetic --word w12345
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from _common import machine, machine_line, markdown_table, median, write_json

from embedsearch.store.generations import is_published, live_directory

CHILD = r"""
import json, sys
def status():
    fields = {}
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile"):
                fields[key] = int(value.split()[0]) * 1024
    return fields
steps = {"python": status()}
import embedsearch
steps["imported"] = status()
store = embedsearch.open_store(sys.argv[1])
steps["opened"] = status()
store.similar(sys.argv[2], k=10)
steps["1 query"] = status()
for _ in range(9):
    store.similar(sys.argv[2], k=10)
steps["10 queries"] = status()
print(json.dumps({"steps": steps, "index": store.info().index["kind"], "words": len(store)}))
"""


def drop_from_page_cache(store: Path) -> None:
    """Evict this store's files (and nothing else) from the page cache, so the next read is cold."""
    for path in store.rglob("*"):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode:
        sys.exit(f"error: {' '.join(command)} failed:\n{done.stderr}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--word", default="w12345", help="a vocabulary word to query")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json-out", default=None)
    args = parser.parse_args()
    if not is_published(args.store):
        sys.exit(f"error: no store at {args.store}")
    info = machine()
    vector_bytes = (live_directory(args.store) / "vectors.npy").stat().st_size

    child = json.loads(subprocess.run([sys.executable, "-c", CHILD, str(args.store), args.word], capture_output=True,
                                      text=True, check=True).stdout)
    if child["index"] != "flat":
        sys.exit(f"error: {args.store} has a {child['index']} index; this benchmark is about flat stores")
    mib = 2**20
    memory_rows = [[step, f"{v['VmRSS'] / mib:,.0f}", f"{v['RssFile'] / mib:,.0f}", f"{v['RssAnon'] / mib:,.0f}",
                    f"{v['VmRSS'] / vector_bytes:.2f}x"] for step, v in child["steps"].items()]

    executable = Path(sys.executable).parent / "embedsearch"
    command = [str(executable), "similar", "-s", str(args.store), args.word, "-k", "10"]
    floor = [sys.executable, "-c", "import embedsearch"]
    times: dict[str, list[float]] = {"cold cache": [], "warm cache": [], "import floor": []}
    for run in range(args.runs):
        drop_from_page_cache(args.store)
        times["cold cache"].append(timed(command))
        times["warm cache"].append(timed(command))
        times["import floor"].append(timed(floor))
        print(f"run {run + 1}: " + ", ".join(f"{k} {v[-1]:.3f} s" for k, v in times.items()), flush=True)
    start_rows = [[f"`embedsearch similar {args.word}`, {name}" if name != "import floor" else
                   '`python -c "import embedsearch"` (floor)', f"{median(v):.3f}", f"{min(v):.3f}", f"{max(v):.3f}"]
                  for name, v in times.items()]

    print()
    print(f"{child['words']:,}-word flat store, vectors.npy {vector_bytes / mib:,.0f} MiB; {machine_line(info)}")
    print()
    print(markdown_table(["after", "VmRSS MiB", "of which file-backed (mapped vectors)", "anonymous",
                          "VmRSS / vectors bytes"], memory_rows))
    print()
    print(markdown_table(["new process each run", "median s", "min s", "max s"], start_rows))
    opened = child["steps"]["opened"]["VmRSS"] / vector_bytes
    print(f"\nresident after open: {opened:.2f}x the vectors (target <= 1.2x); cold-cache `similar`: "
          f"{median(times['cold cache']):.2f} s (target <= 1 s)")
    write_json(args.json_out, {"machine": info, "vector_bytes": vector_bytes, "memory": child, "times": times,
                               "command": command})


if __name__ == "__main__":
    main()
