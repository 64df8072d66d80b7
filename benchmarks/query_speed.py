"""Query speed: embedsearch's store vs gensim ``KeyedVectors`` holding the same vectors.

What is measured, on a store built from the input (skip-gram, dim 100, 5 epochs, min-count 5) whose
words and unit vectors are exported once to gensim's native format (``KeyedVectors.save``):

* cold: wall time of a new process, start to exit, output captured: ``embedsearch similar -s STORE
  WORD`` vs ``python -c`` loading the KeyedVectors with ``mmap='r'`` and printing
  ``most_similar(WORD, topn=10)``. One warm-up run each (file cache warm), then alternating runs.
* warm: per-query latency inside one process, ``store.similar(word, k=10)`` vs
  ``kv.most_similar(word, topn=10)`` over the same frequent words, after a warm-up pass,
  alternating per query.

It also checks that both sides return the same top 10 (mismatches are reported, not fatal), shows
what the cold ``embedsearch`` process spends its import time on (``python -X importtime``), and
prints ``embedsearch analogy man king woman`` with both methods.

Run (from the repository root; reuse the store train_speed.py kept, or omit --store to build one):

    python benchmarks/query_speed.py --store /tmp/bench/store --workdir /tmp/bench --json-out /tmp/bench/query_speed.json
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _common import (DEFAULT_INPUT, machine, machine_line, markdown_table, median, percentile, require_file, workdir,
                     write_json)

import embedsearch

COLD_WORDS = "king paris computer music river einstein france guitar philosophy water london science war dog city".split()
GENSIM_CLI = """import sys
from gensim.models import KeyedVectors
kv = KeyedVectors.load(sys.argv[1], mmap="r")
for word, score in kv.most_similar(sys.argv[2], topn=10):
    print(f"{word} {score:.4f}")
"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", type=Path, default=DEFAULT_INPUT, help="text file to build the store from (default: %(default)s)")
    parser.add_argument("--store", type=Path, help="reuse this store instead of building one from --input")
    parser.add_argument("--workdir", help="where the built store and exported vectors go (default: a new temporary directory under /tmp)")
    parser.add_argument("--cold-runs", type=int, default=15, help="new processes per side (default: %(default)s)")
    parser.add_argument("--warm-words", type=int, default=300, help="frequent words queried in-process (default: %(default)s)")
    parser.add_argument("--warm-rounds", type=int, default=3, help="timed passes over the warm words (default: %(default)s)")
    parser.add_argument("--json-out", help="also write the results as JSON to this path")
    return parser.parse_args()


def build_store(source: Path, work: Path) -> Path:
    print(f"building a store from {source} in {work} (not timed; takes minutes) ...", flush=True)
    corpus = embedsearch.ingest([str(source)], work / "corpus", overwrite=True)
    # Pinned to the settings the README's figures were measured with, not to today's defaults.
    config = embedsearch.TrainConfig(arch="skipgram", dim=100, window=5, sample=1e-3, negative=5, epochs=5, min_count=5,
                                     workers=2)
    return embedsearch.train(corpus, work / "store", config=config, overwrite=True).store


def export_keyed_vectors(store_path: Path, target: Path) -> Path:
    from gensim.models import KeyedVectors

    with embedsearch.open_store(store_path) as store:
        words = store.words_of(range(len(store)))
        vectors = np.array(store.vectors, dtype=np.float32)
    kv = KeyedVectors(vector_size=vectors.shape[1], count=0, dtype=np.float32)
    kv.add_vectors(words, vectors)
    target.parent.mkdir(parents=True, exist_ok=True)
    kv.save(str(target))
    return target


def cold_env(work: Path) -> dict[str, str]:
    """The environment of the timed processes: bytecode cached (as after a normal install), but under
    ``work``, never in the repository; an inherited PYTHONDONTWRITEBYTECODE would make every new
    process recompile embedsearch's modules (installed packages ship their .pyc files anyway)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    return env


def timed_process(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    return time.perf_counter() - started, done.stdout


def import_profile(command: list[str], env: dict[str, str], top: int = 8) -> dict[str, list[tuple[str, float]]]:
    """Where a new process running ``command`` spends its import time (``-X importtime``), in seconds:
    the slowest top-level imports (cumulative) and the packages whose own modules cost most (self)."""
    env = dict(env, PYTHONPROFILEIMPORTTIME="1")
    stderr = subprocess.run(command, capture_output=True, text=True, env=env, check=True).stderr
    cumulative, packages = [], {}
    for line in stderr.splitlines():
        parts = line.split("|")
        if not (line.startswith("import time:") and len(parts) == 3 and parts[1].strip().isdigit()):
            continue
        own, total, name = int(parts[0].split(":")[1]) / 1e6, int(parts[1]) / 1e6, parts[2].rstrip()
        if not name.startswith("  "):  # top level: not imported by another module
            cumulative.append((name.strip(), total))
        root = name.strip().split(".")[0]
        packages[root] = packages.get(root, 0.0) + own
    return {"top_level_cumulative": sorted(cumulative, key=lambda item: -item[1])[:top],
            "package_self": sorted(packages.items(), key=lambda item: -item[1])[:top]}


def main() -> None:
    args = parse_args()
    work = workdir(args.workdir, "embedsearch-query-bench-")
    source = None if args.store else require_file(args.input.resolve())
    store_path = args.store.resolve() if args.store else build_store(source, work)
    info = machine()
    kv_path = export_keyed_vectors(store_path, work / "gensim" / "vectors.kv")
    from gensim.models import KeyedVectors

    store = embedsearch.open_store(store_path)
    kv = KeyedVectors.load(str(kv_path), mmap="r")
    meta = store.info()
    described = f"store {store_path}: {len(store):,} words, dim {store.dim}, from {meta.corpus['sources'] if meta.corpus else '?'}"
    print(f"machine: {machine_line(info)}\ninput: {described}")

    # --- cold: one new process per query ---------------------------------------------------------
    exe = Path(sys.executable).parent / "embedsearch"
    ours_cmd = [str(exe) if exe.exists() else shutil.which("embedsearch") or "embedsearch", "similar", "-s", str(store_path)]
    gensim_cmd = [sys.executable, "-c", GENSIM_CLI, str(kv_path)]
    candidates = [w for w in store.words_of(range(min(len(store), 5 * args.warm_words))) if store.pipeline.tokens(w) == [w]]
    frequent = candidates[50 : 50 + args.warm_words] or candidates[: args.warm_words]  # skip the commonest function words
    words = [w for w in COLD_WORDS if w in store] or frequent[:15]
    env = cold_env(work)
    timed_process(ours_cmd + [words[0]], env), timed_process(gensim_cmd + [words[0]], env)  # warm-up: file cache, .pyc
    cold: dict[str, list[float]] = {"ours": [], "gensim": []}
    for run in range(args.cold_runs):
        word = words[run % len(words)]
        cold["ours"].append(timed_process(ours_cmd + [word], env)[0])
        cold["gensim"].append(timed_process(gensim_cmd + [word], env)[0])
    print(f"cold runs (s): ours {[round(t, 3) for t in cold['ours']]}\n               gensim {[round(t, 3) for t in cold['gensim']]}")
    imports = import_profile(ours_cmd + [words[0]], env)
    for kind, items in imports.items():
        print(f"`embedsearch similar` imports, {kind.replace('_', ' ')} (s): " + ", ".join(f"{n} {t:.3f}" for n, t in items))

    # --- warm: per-query latency in this process -------------------------------------------------
    for word in frequent:
        store.similar(word, k=10), kv.most_similar(word, topn=10)
    warm: dict[str, list[float]] = {"ours": [], "gensim": []}
    for _ in range(args.warm_rounds):
        for word in frequent:
            started = time.perf_counter()
            store.similar(word, k=10)
            middle = time.perf_counter()
            kv.most_similar(word, topn=10)
            warm["ours"].append((middle - started) * 1e3)
            warm["gensim"].append((time.perf_counter() - middle) * 1e3)

    # --- same answers? ---------------------------------------------------------------------------
    mismatches = []
    checked = words + frequent[:35]
    for word in checked:
        ours = [n.word for n in store.similar(word, k=10).neighbors]
        theirs = [w for w, _ in kv.most_similar(word, topn=10)]
        if ours != theirs:
            mismatches.append({"word": word, "ours": ours, "gensim": theirs, "same_set": set(ours) == set(theirs)})
    print(f"top-10 agreement: {len(checked) - len(mismatches)}/{len(checked)} identical")
    for m in mismatches:
        print(f"  MISMATCH {m['word']} (same set: {m['same_set']}): ours {m['ours']} / gensim {m['gensim']}")

    # --- the acceptance check: man : king :: woman : queen ------------------------------
    analogies: dict[str, dict] = {}
    missing = [w for w in ("man", "king", "woman", "queen") if w not in store]
    if missing:
        print(f"\nanalogy check skipped: {', '.join(missing)} not in the store")
    for method in ("3cosadd", "3cosmul") if not missing else ():
        output = subprocess.run(ours_cmd[:1] + ["analogy", "-s", str(store_path), "man", "king", "woman", "--method", method],
                                capture_output=True, text=True, check=True).stdout
        top5 = [n.word for n in store.analogy("man", "king", "woman", k=5, method=method).neighbors]
        analogies[method] = {"cli_output": output, "top5": top5, "queen_in_top5": "queen" in top5}
        print(f"\nembedsearch analogy -s STORE man king woman --method {method}:\n{output.rstrip()}\n"
              f"queen in top 5: {'yes' if 'queen' in top5 else 'NO'}")
    reference = {} if missing else {
        "3cosadd": kv.most_similar(positive=["king", "woman"], negative=["man"], topn=5),
        "3cosmul": kv.most_similar_cosmul(positive=["king", "woman"], negative=["man"], topn=5)}
    for method, answer in reference.items():
        print(f"gensim {method} top 5: {', '.join(w for w, _ in answer)}")
    store.close()

    # --- report ----------------------------------------------------------------------------------
    c_med = {side: median(v) for side, v in cold.items()}
    w_med = {side: median(v) for side, v in warm.items()}
    w_p90 = {side: percentile(v, 90) for side, v in warm.items()}
    rows = [
        ["cold `similar`, new process: median s", f"{c_med['ours']:.3f}", f"{c_med['gensim']:.3f}",
         f"{c_med['ours'] / c_med['gensim']:.2f}", "<= 0.35 s and <= 0.2x"],
        ["cold `similar`, new process: p90 s", f"{percentile(cold['ours'], 90):.3f}",
         f"{percentile(cold['gensim'], 90):.3f}", f"{percentile(cold['ours'], 90) / percentile(cold['gensim'], 90):.2f}", ""],
        ["warm `similar`, in process: median ms", f"{w_med['ours']:.2f}", f"{w_med['gensim']:.2f}",
         f"{w_med['ours'] / w_med['gensim']:.2f}", "<= 1.0x"],
        ["warm `similar`, in process: p90 ms", f"{w_p90['ours']:.2f}", f"{w_p90['gensim']:.2f}",
         f"{w_p90['ours'] / w_p90['gensim']:.2f}", ""],
    ]
    table = markdown_table(["query, top 10", "embedsearch", "gensim KeyedVectors (mmap)", "ratio", "target"], rows)
    title = (f"Queries on {len(store):,} words x {store.dim} dims; cold: {args.cold_runs} alternating new processes per side "
             f"after one warm-up, .pyc cached; warm: {len(frequent)} frequent words x {args.warm_rounds} rounds; {machine_line(info)}")
    print(f"\n{title}\n\n{table}")
    targets = {"cold_seconds": c_med["ours"] <= 0.35, "cold_ratio": c_med["ours"] <= 0.2 * c_med["gensim"],
               "warm_ratio": w_med["ours"] <= w_med["gensim"]}
    print("targets: " + ", ".join(f"{name} {'met' if ok else 'NOT met'}" for name, ok in targets.items()))
    write_json(args.json_out, {
        "benchmark": "query_speed", "machine": info, "store": str(store_path), "words": len(store), "dim": store.dim,
        "input": str(source) if source else (meta.corpus or {}).get("sources"), "cold_seconds": cold, "warm_ms": warm,
        "cold_median_seconds": c_med, "warm_median_ms": w_med, "warm_p90_ms": w_p90, "targets": targets,
        "top_imports_seconds": imports, "mismatches": mismatches, "checked_words": len(checked),
        "analogies": analogies, "gensim_analogies": {m: [w for w, _ in a] for m, a in reference.items()}, "markdown": table,
    })


if __name__ == "__main__":
    main()
