"""Single-query speed and recall@10 of exact (flat) vs approximate (HNSW, IVF) search, in one run.

Inputs: a synthetic store of 1M x 100 *embedding-like* vectors (clustered, low intrinsic dimension,
as real embeddings are; isotropic Gaussian data is the wrong test for graph indexes), and
optionally a real store (e.g. the one train_speed.py leaves in /tmp/bench/store).

For each index and search setting: median latency of single queries (one word's vector, k=10,
the word itself excluded as `similar` does) over the same sampled words, QPS = 1 / median, and
recall@10 against exact search. The speed-up column is QPS relative to flat on the same store.

    python benchmarks/index_speed.py                       # 1M synthetic store
    python benchmarks/index_speed.py --real /tmp/bench/store --json-out /tmp/index_speed.json
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from _common import machine, machine_line, markdown_table, median, workdir, write_json

import embedsearch
from embedsearch.store import write_store
from embedsearch.store.index import IndexOptions, exact_top_k
from embedsearch.store.reindex import reindex


def embedding_like(count: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    latent_dim, clusters = 16, 1000
    centres = rng.standard_normal((clusters, latent_dim))
    rows = np.empty((count, dim), dtype=np.float32)
    mixing = rng.standard_normal((latent_dim, dim))
    for start in range(0, count, 100_000):
        stop = min(start + 100_000, count)
        latent = centres[rng.integers(0, clusters, stop - start)] + 0.5 * rng.standard_normal((stop - start, latent_dim))
        rows[start:stop] = latent @ mixing + 0.1 * rng.standard_normal((stop - start, dim))
    return rows


def measure(store: embedsearch.Store, rows: np.ndarray, truth: np.ndarray, setting: dict[str, int]) -> tuple[float, float]:
    """(median seconds per query, recall@10) for single queries of the given rows."""
    store.set_search(**setting)
    vectors = store.vectors
    times, hits = [], 0
    for row, expected in zip(rows, truth):
        query = np.asarray(vectors[row : row + 1], dtype=np.float32)
        started = time.perf_counter()
        _, ids = store.search_vectors(query, 11)
        times.append(time.perf_counter() - started)
        found = [i for i in ids[0] if i != row][:10]
        hits += len(set(found) & set(int(i) for i in expected if i != row))
    store.set_search()
    return median(times), hits / (10 * len(rows))


def bench_store(path: Path, label: str, queries: int, settings: dict[str, list[dict[str, int]]],
                nlist: int | None) -> list[list[str]]:
    with embedsearch.open_store(path) as store:
        vectors = np.asarray(store.vectors)
        rng = np.random.default_rng(7)
        rows = np.sort(rng.choice(len(store), size=queries, replace=False))
        _, truth = exact_top_k(vectors, vectors[rows], 11)
        truth = np.array([[i for i in t if i != r][:10] for r, t in zip(rows, truth)])
    table: list[list[str]] = []
    flat_seconds = None
    for kind in ("flat", "hnsw", "ivf"):
        started = time.perf_counter()
        meta = reindex(path, IndexOptions(kind=kind, nlist=nlist, ef_construction=100 if kind == "hnsw" else None))
        build = time.perf_counter() - started
        print(f"{label}: built {kind} in {build:.1f} s; tuned {meta.get('params')}, recall {meta.get('recall_at_10')}",
              flush=True)
        with embedsearch.open_store(path) as store:
            for setting in settings[kind]:
                seconds, recall = measure(store, rows, truth, setting)
                flat_seconds = flat_seconds or seconds
                name = ", ".join(f"{k}={v}" for k, v in setting.items()) or "exact"
                table.append([label, kind, name, f"{build:.0f}", f"{seconds * 1e3:.3f}", f"{1 / seconds:,.0f}",
                              f"{recall:.3f}", f"{flat_seconds / seconds:.1f}x"])
                print(" | ".join(table[-1]), flush=True)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--words", type=int, default=1_000_000, help="synthetic store size")
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--real", type=Path, default=None, help="also benchmark a copy of this real store")
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--json-out", default=None)
    args = parser.parse_args()
    work = workdir(args.workdir, "index-speed-")
    info = machine()
    settings = {
        "flat": [{}],
        "hnsw": [{"ef_search": e} for e in (16, 32, 64, 128, 256)],
        "ivf": [{"nprobe": p} for p in (1, 4, 16, 64, 128)],
    }
    synthetic = work / "synthetic"
    if not (synthetic / "meta.sqlite").exists():
        vectors = embedding_like(args.words, args.dim)
        write_store(synthetic, words=[f"w{i}" for i in range(args.words)], counts=[1] * args.words, vectors=vectors,
                    model={"kind": "synthetic"}, pipeline=None, overwrite=True)
        del vectors
    table = bench_store(synthetic, f"synthetic {args.words:,} x {args.dim}", args.queries, settings, None)
    if args.real:
        import shutil

        copy = work / "real"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(args.real, copy)
        with embedsearch.open_store(copy) as store:
            label = f"real {len(store):,} x {store.dim}"
        table += bench_store(copy, label, args.queries, settings, None)
    header = ["store", "index", "search setting", "build s", "median ms/query", "QPS", "recall@10", "QPS vs flat"]
    print()
    print(f"Single-query search, k=10, {args.queries} sampled words per store; {machine_line(info)}")
    print()
    print(markdown_table(header, table))
    write_json(args.json_out, {"machine": info, "header": header, "rows": table})


if __name__ == "__main__":
    main()
