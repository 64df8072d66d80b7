"""Single-query speed and recall@10 of exact (flat) vs approximate (HNSW, IVF) search, in one run.

Inputs: a synthetic store of 1M x 100 *embedding-like* vectors (clustered, low intrinsic dimension,
as real embeddings are; isotropic Gaussian data is the wrong test for graph indexes), and
optionally a real store (e.g. the one train_speed.py leaves in /tmp/bench/store).

For each index and search setting: median latency of single queries (one word's vector, k=10,
the word itself excluded as `similar` does) over the same sampled words, QPS = 1 / median, and
recall@10 against exact search. The speed-up column is QPS relative to flat on the same store.

Each store is also described by two numbers that separate embedding-like from isotropic data: the
share of variance in its top 10% of principal components, and the mean cosine of a word's 1st and
10th exact neighbours (isotropic Gaussian 1M x 100: ~10% and ~0.4; trained word vectors: far more
structure). They are printed next to the real store's, so the synthetic data can be judged.

On a shared machine, ``--lock FILE`` takes an exclusive ``flock`` on FILE around each phase (making
the store, then each index kind) and releases it in between, so one run never holds it for long.

    python benchmarks/index_speed.py                       # 1M synthetic store
    python benchmarks/index_speed.py --real /tmp/bench/store --json-out /tmp/index_speed.json
    python benchmarks/index_speed.py --workdir /tmp/i5/idx --lock /tmp/BENCH_LOCK --real /tmp/i5/store

The synthetic store is left behind with a flat index (in --workdir) for benchmarks/store_open.py.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from _common import (
    locked,
    machine,
    machine_line,
    markdown_table,
    median,
    workdir,
    write_json,
)

import embedsearch
from embedsearch.store import write_store
from embedsearch.store.index import IndexOptions, exact_top_k
from embedsearch.store.reindex import reindex
from embedsearch.store.generations import is_published


def embedding_like(count: int, dim: int, seed: int = 0) -> np.ndarray:
    """Clustered rows of low intrinsic dimension with a decaying spectrum, plus isotropic noise.

    The parameters were chosen so that, at the text8 store's size (67,873 rows), the data has the
    real store's spectrum (top 10 of 100 principal components: 52% of the variance, both) and
    similar neighbour cosines (1st/10th neighbour of the 500 most frequent words: about 0.70/0.63 here,
    0.77/0.66 real). An earlier version (16 latent dims, 1,000 tight clusters, almost no noise) was
    far easier than real vectors: 79% of the variance in 10 components.
    """
    rng = np.random.default_rng(seed)
    latent_dim, clusters, spread, noise = 32, 1000, 0.7, 0.5
    scale = (1 + np.arange(latent_dim)) ** -0.3  # later latent directions matter less, as in real spectra
    centres = rng.standard_normal((clusters, latent_dim)) * scale
    mixing = rng.standard_normal((latent_dim, dim))
    level = np.sqrt((scale**2).sum() * (1 + spread**2))  # typical size of one coordinate of latent @ mixing
    rows = np.empty((count, dim), dtype=np.float32)
    for start in range(0, count, 100_000):
        stop = min(start + 100_000, count)
        latent = centres[rng.integers(0, clusters, stop - start)] + spread * rng.standard_normal((stop - start, latent_dim)) * scale
        rows[start:stop] = latent @ mixing + noise * level * rng.standard_normal((stop - start, dim))
    return rows


def structure(vectors: np.ndarray, rows: np.ndarray, truth_scores: np.ndarray) -> dict[str, float]:
    """How embedding-like the data is: variance share of the top 10% principal components (on a
    20k-row sample) and the mean cosine of the 1st and 10th exact neighbours of the query rows."""
    sample = np.asarray(vectors[np.sort(np.random.default_rng(5).choice(len(vectors), min(20_000, len(vectors)),
                                                                        replace=False))], dtype=np.float64)
    spectrum = np.linalg.svd(sample - sample.mean(axis=0), compute_uv=False) ** 2
    top = max(1, vectors.shape[1] // 10)
    return {"pca_top10pct_share": float(spectrum[:top].sum() / spectrum.sum()),
            "nn1_cos": float(truth_scores[:, 0].mean()), "nn10_cos": float(truth_scores[:, 9].mean())}


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
        hits += len(set(found) & {int(i) for i in expected if i != row})
    store.set_search()
    return median(times), hits / (10 * len(rows))


def bench_store(path: Path, label: str, queries: int, settings: dict[str, list[dict[str, int]]],
                nlist: int | None, lock: Path | None) -> tuple[list[list[str]], dict[str, float]]:
    with locked(lock), embedsearch.open_store(path) as store:
        vectors = np.asarray(store.vectors)
        rng = np.random.default_rng(7)
        rows = np.sort(rng.choice(len(store), size=queries, replace=False))
        scores, truth = exact_top_k(vectors, vectors[rows], 11)
        own = truth == rows[:, None]
        # Drop each word itself (or the 11th hit when the word is not among its own 11).
        keep = np.where(own.any(axis=1)[:, None], ~own, np.arange(11) < 10)
        truth = truth[keep].reshape(len(rows), 10)
        shape = structure(vectors, rows, scores[keep].reshape(len(rows), 10))
    print(f"{label}: top-10% PCA variance share {shape['pca_top10pct_share']:.2f}, mean cosine of 1st/10th "
          f"neighbour {shape['nn1_cos']:.2f}/{shape['nn10_cos']:.2f}", flush=True)
    table: list[list[str]] = []
    flat_seconds = None
    for kind in ("flat", "hnsw", "ivf"):
        with locked(lock):
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
    with locked(lock):
        reindex(path, IndexOptions(kind="flat"))  # leave the store flat (and small) for store_open.py
    return table, shape


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--words", type=int, default=1_000_000, help="synthetic store size")
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--real", type=Path, default=None, help="also benchmark a copy of this real store")
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--json-out", default=None)
    parser.add_argument("--lock", type=Path, default=None, help="flock this file around each phase")
    args = parser.parse_args()
    work = workdir(args.workdir, "index-speed-")
    info = machine()
    settings = {
        "flat": [{}],
        "hnsw": [{"ef_search": e} for e in (16, 32, 64, 128, 256)],
        "ivf": [{"nprobe": p} for p in (1, 4, 16, 64, 128)],
    }
    synthetic = work / "synthetic"
    if not is_published(synthetic):
        with locked(args.lock):
            started = time.perf_counter()
            vectors = embedding_like(args.words, args.dim)
            write_store(synthetic, words=[f"w{i}" for i in range(args.words)], counts=[1] * args.words,
                        vectors=vectors, model={"kind": "synthetic"}, pipeline=None, overwrite=True)
            del vectors
            print(f"wrote the synthetic store {synthetic} in {time.perf_counter() - started:.0f} s", flush=True)
    shapes: dict[str, dict[str, float]] = {}
    label = f"synthetic {args.words:,} x {args.dim}"
    table, shapes[label] = bench_store(synthetic, label, args.queries, settings, None, args.lock)
    if args.real:
        import shutil

        copy = work / "real"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(args.real, copy)
        with embedsearch.open_store(copy) as store:
            label = f"real {len(store):,} x {store.dim}"
        rows, shapes[label] = bench_store(copy, label, args.queries, settings, None, args.lock)
        table += rows
    header = ["store", "index", "search setting", "build s", "median ms/query", "QPS", "recall@10", "QPS vs flat"]
    print()
    print(f"Single-query search, k=10, {args.queries} sampled words per store; {machine_line(info)}")
    print()
    print(markdown_table(header, table))
    print()
    print(markdown_table(["store", "top-10% PCA variance share", "mean cos 1st neighbour", "mean cos 10th neighbour"],
                         [[name, f"{v['pca_top10pct_share']:.2f}", f"{v['nn1_cos']:.2f}", f"{v['nn10_cos']:.2f}"]
                          for name, v in shapes.items()]))
    write_json(args.json_out, {"machine": info, "header": header, "rows": table, "structure": shapes})


if __name__ == "__main__":
    main()
