"""Batch export of the top-10 neighbours of every vocabulary word, against two references, in one run.

- ours: ``embedsearch.batch.neighbors_of(store, k=10)``, consumed fully (what `export neighbors` runs);
- bare BLAS: one blocked pass of ``Q @ V.T`` + ``argpartition`` over the same unit vectors, computing
  the same top-10 ids and scores and nothing else (the floor for exact search on this machine);
- search alone: the same exact searches ours runs (``exact_top_k``, FAISS k-NN on both cores, 1,024
  queries a call) without building result objects, to show what the Python side adds;
- gensim: a loop of ``KeyedVectors.most_similar(word, topn=10)`` on the same vectors (how users do it
  today, gensim issue 2987). It takes minutes for a whole vocabulary, so it runs on a random sample
  of words and the time is scaled to the vocabulary; the sample size is printed.

Ours, search alone and BLAS are timed alternately, median of several runs; the load average before
each run is printed, since another process on a 2-core machine slows the multi-threaded runs most.

    python benchmarks/export_speed.py --store /tmp/bench/store
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from _common import machine, machine_line, markdown_table, median, write_json

import embedsearch
from embedsearch.batch import DEFAULT_BATCH, neighbors_of
from embedsearch.store.generations import is_published
from embedsearch.store.index import exact_top_k


def bare_blas(vectors: np.ndarray, k: int, block: int = 256) -> int:
    count = 0
    for start in range(0, len(vectors), block):
        scores = vectors[start : start + block] @ vectors.T
        scores[np.arange(len(scores)), np.arange(start, start + len(scores))] = -np.inf  # not the word itself
        width = scores.shape[1]
        top = np.argpartition(scores, width - k, axis=1)[:, width - k :]  # the k largest, no negated copy
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1)
        count += len(np.take_along_axis(top, order, axis=1))
    return count


def ours(store: embedsearch.Store, k: int) -> int:
    return sum(1 for _ in neighbors_of(store, k=k))


def search_alone(vectors: np.ndarray, k: int) -> int:
    count = 0
    for start in range(0, len(vectors), DEFAULT_BATCH):
        _, ids = exact_top_k(vectors, vectors[start : start + DEFAULT_BATCH], k + 1)  # + the word itself
        count += len(ids)
    return count


def load() -> str:
    with open("/proc/loadavg", encoding="ascii") as handle:
        return handle.read().split()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=Path, default=Path("/tmp/bench/store"))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--gensim-sample", type=int, default=3000)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--json-out", default=None)
    args = parser.parse_args()
    if not is_published(args.store):
        raise SystemExit(f"error: no store at {args.store}; build one with benchmarks/train_speed.py or embedsearch train")
    info = machine()
    store = embedsearch.open_store(args.store)
    vectors = np.ascontiguousarray(store.vectors, dtype=np.float32)
    words = store.vocabulary()
    print(f"store {args.store}: {len(words):,} words x {store.dim}", flush=True)
    timings: dict[str, list[float]] = {"ours": [], "search": [], "blas": []}
    jobs = (("ours", lambda: ours(store, args.k)), ("search", lambda: search_alone(vectors, args.k)),
            ("blas", lambda: bare_blas(vectors, args.k)))
    for run in range(args.runs):
        for name, job in jobs:
            before = load()
            started = time.perf_counter()
            produced = job()
            timings[name].append(time.perf_counter() - started)
            print(f"run {run + 1}: {name} {timings[name][-1]:.2f} s ({produced:,} words; load before {before})",
                  flush=True)

    from gensim.models import KeyedVectors

    kv = KeyedVectors(store.dim)
    kv.add_vectors(words, vectors)
    kv.fill_norms()
    sample = np.random.default_rng(3).choice(len(words), size=min(args.gensim_sample, len(words)), replace=False)
    kv.most_similar(words[0], topn=args.k)
    per_word_runs = []
    for _ in range(3):  # median of 3 passes over the sample, so one noisy pass cannot flatter our ratio
        started = time.perf_counter()
        for row in sample:
            kv.most_similar(words[row], topn=args.k)
        per_word_runs.append((time.perf_counter() - started) / len(sample))
    per_word = median(per_word_runs)
    gensim_total = per_word * len(words)
    print(f"gensim: {per_word * 1e3:.2f} ms per word on {len(sample):,} sampled words -> {gensim_total:.0f} s for all",
          flush=True)

    ours_s, search_s, blas_s = median(timings["ours"]), median(timings["search"]), median(timings["blas"])
    rows = [
        ["embedsearch `neighbors_of` (what `export neighbors --all` runs)", f"{ours_s:.2f}",
         f"{len(words) / ours_s:,.0f}", "1.0x"],
        ["its exact search alone (FAISS k-NN, no result objects)", f"{search_s:.2f}", f"{len(words) / search_s:,.0f}",
         f"{search_s / ours_s:.2f}x"],
        ["bare BLAS pass (same top-10)", f"{blas_s:.2f}", f"{len(words) / blas_s:,.0f}", f"{blas_s / ours_s:.2f}x"],
        [f"gensim most_similar loop (scaled from {len(sample):,} words)", f"{gensim_total:.0f}",
         f"{1 / per_word:,.0f}", f"{gensim_total / ours_s:.3f}x"],
    ]
    header = ["top-10 neighbours of every word", "seconds", "words/s", "time relative to ours"]
    print()
    print(f"{len(words):,} words x {store.dim}, k={args.k}; median of {args.runs} alternating runs; {machine_line(info)}")
    print()
    print(markdown_table(header, rows))
    print(f"\nours vs gensim loop: {gensim_total / ours_s:.1f}x faster (target >= 20x); "
          f"ours vs bare BLAS: {ours_s / blas_s:.2f}x its time (target <= 1.5x)")
    write_json(args.json_out, {"machine": info, "ours_s": ours_s, "search_s": search_s, "blas_s": blas_s,
                               "gensim_per_word_s": per_word,
                               "gensim_total_s": gensim_total, "words": len(words), "runs": timings,
                               "gensim_per_word_runs": per_word_runs})


if __name__ == "__main__":
    main()
