"""Cold and warm `similar` of two checkouts of embedsearch, paired: is a change as fast as before?

Each checkout answers from its own store (an older checkout may not read a newer store's layout:
give it the same vectors written by that checkout). Cold: a new process runs
``python CHECKOUT/cli.py similar -s STORE WORD``, start to exit, output captured; the two checkouts
alternate, run after run, over 15 common words, so that load on a shared machine falls on both
alike; each run's CPU time (user + system, from the kernel's accounting of the child) is kept
too, as it depends much less on the machine's load than wall time. Warm: a process per side opens the store, asks 300 words once, then times 3 rounds of
them; the median per process, 5 processes per side, alternating. Reported: the medians, their
ratio, and the median of the per-pair ratios (after / before).

The timed processes cache bytecode (as after a normal install) under the work directory, like
``query_speed.py``: an inherited PYTHONDONTWRITEBYTECODE would make every run compile each
checkout's modules from source, and time the compiler (``--no-bytecode-cache`` measures that case).

    git -C . worktree add /tmp/before e5ccc8c   # or any older commit
    python benchmarks/query_before_after.py --before /tmp/before --before-store OLD_STORE \\
        --after . --after-store NEW_STORE --runs 21 --lock /tmp/BENCH_LOCK
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import locked, machine, machine_line, markdown_table, median, write_json

WORDS = "king paris computer music river einstein france guitar philosophy water london science war dog city".split()

WARM = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
import embedsearch
store = embedsearch.open_store(sys.argv[2])
words = store.vocabulary()[100:400]
for word in words:
    store.similar(word, k=10)
times = []
for _ in range(3):
    for word in words:
        started = time.perf_counter()
        store.similar(word, k=10)
        times.append(time.perf_counter() - started)
print(json.dumps(sorted(times)[len(times) // 2]))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, required=True, help="checkout of the earlier code")
    parser.add_argument("--before-store", type=Path, required=True, help="a store that code reads")
    parser.add_argument("--after", type=Path, required=True, help="checkout of the later code")
    parser.add_argument("--after-store", type=Path, required=True, help="the same vectors as a store the later code reads")
    parser.add_argument("--runs", type=int, default=21, help="cold runs per side (default: %(default)s)")
    parser.add_argument("--warm-processes", type=int, default=5, help="warm processes per side (default: %(default)s)")
    parser.add_argument("--no-bytecode-cache", action="store_true",
                        help="PYTHONDONTWRITEBYTECODE=1: every run compiles the checkout's modules from source")
    parser.add_argument("--lock", type=Path, default=None, help="flock this file while timing (shared machines)")
    parser.add_argument("--json-out", default=None)
    args = parser.parse_args()

    sides = {"before": (args.before.resolve(), args.before_store.resolve()),
             "after": (args.after.resolve(), args.after_store.resolve())}
    with tempfile.TemporaryDirectory(prefix="query-before-after-") as work:
        measure(args, sides, Path(work))


def measure(args: argparse.Namespace, sides: dict[str, tuple[Path, Path]], work: Path) -> None:
    base = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    base.update({"PYTHONDONTWRITEBYTECODE": "1"} if args.no_bytecode_cache else {"PYTHONPYCACHEPREFIX": str(work / "pycache")})
    envs = {name: {**base, "PYTHONPATH": str(tree)} for name, (tree, _) in sides.items()}

    def cold(name: str, word: str) -> tuple[float, float]:
        """Wall and CPU seconds of one cold query."""
        tree, store = sides[name]
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run([sys.executable, str(tree / "cli.py"), "similar", "-s", str(store), word],
                       capture_output=True, check=True, env=envs[name])
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        return wall, (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)

    def warm(name: str) -> float:
        tree, store = sides[name]
        done = subprocess.run([sys.executable, "-c", WARM, str(tree), str(store)], capture_output=True, text=True,
                              check=True, env=envs[name])
        return float(json.loads(done.stdout))

    for name in sides:
        cold(name, WORDS[0])  # bytecode cached, store files in the page cache
    cold_times: dict[str, list[float]] = {name: [] for name in sides}
    cold_cpu: dict[str, list[float]] = {name: [] for name in sides}
    warm_times: dict[str, list[float]] = {name: [] for name in sides}
    with locked(args.lock):
        for run in range(args.runs):
            for name in sides:
                wall, cpu = cold(name, WORDS[run % len(WORDS)])
                cold_times[name].append(wall)
                cold_cpu[name].append(cpu)
        for _ in range(args.warm_processes):
            for name in sides:
                warm_times[name].append(warm(name))

    pair_ratio = median([a / b for a, b in zip(cold_times["after"], cold_times["before"])])
    c_med = {name: median(times) for name, times in cold_times.items()}
    cpu_med = {name: median(times) for name, times in cold_cpu.items()}
    cpu_pair_ratio = median([a / b for a, b in zip(cold_cpu["after"], cold_cpu["before"])])
    w_med = {name: median(times) for name, times in warm_times.items()}
    info = machine()
    print(machine_line(info))
    print(markdown_table(
        ["query", "before", "after", "after / before"],
        [[f"cold `similar`, new process: median of {args.runs} pairs (s)", f"{c_med['before']:.3f}",
          f"{c_med['after']:.3f}", f"{c_med['after'] / c_med['before']:.3f} (median pair ratio {pair_ratio:.3f})"],
         ["the same runs: CPU time, user + system (s)", f"{cpu_med['before']:.3f}", f"{cpu_med['after']:.3f}",
          f"{cpu_med['after'] / cpu_med['before']:.3f} (median pair ratio {cpu_pair_ratio:.3f})"],
         [f"warm `similar`, in process: median of {args.warm_processes} processes (ms)",
          f"{w_med['before'] * 1000:.3f}", f"{w_med['after'] * 1000:.3f}", f"{w_med['after'] / w_med['before']:.3f}"]]))
    write_json(args.json_out, {"machine": info, "sides": {k: [str(p) for p in v] for k, v in sides.items()},
                               "bytecode_cached": not args.no_bytecode_cache,
                               "cold_s": cold_times, "cold_cpu_s": cold_cpu, "warm_s": warm_times, "cold_median_s": c_med, "warm_median_s": w_med,
                               "cold_ratio": c_med["after"] / c_med["before"], "cold_median_pair_ratio": pair_ratio,
                               "cold_cpu_median_s": cpu_med, "cold_cpu_median_pair_ratio": cpu_pair_ratio,
                               "warm_ratio": w_med["after"] / w_med["before"]})


if __name__ == "__main__":
    main()
