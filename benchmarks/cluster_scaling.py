"""What running on a Dask cluster costs: ingest (English, Korean) and batch export on a LocalCluster
of 1 and 2 workers against the local path at the same number of workers, in one run.

For each worker count W (1, 2), runs alternate (local, cluster, local, cluster, ...), medians are
reported, and ratio = cluster median / local median (1.00: no cost; the target is <= 1.10):

* **English ingest**: the default pipeline on the first ``--en-mb`` MB of
  ``../shared/data/en/wiki2015_plain_40MB.txt``. Local: ``ingest(workers=W)`` (W = 1: in-process;
  W = 2: the process pool). Cluster: ``ingest(cluster=client)`` on ``LocalCluster(n_workers=W,
  threads_per_worker=1)``, inputs ``auto`` (the default: the workers see the file, so they read
  their byte ranges themselves) and, as a second row, ``bytes`` (the client reads and ships every
  chunk). Both on workers as Dask starts them (``dask``: its nanny sets MALLOC_TRIM_THRESHOLD_=65536)
  and, as a third row, with that variable unset (``no-trim``); since the workers widen glibc's
  thresholds for an ingest pass themselves (embedsearch/heap.py) the two should agree.
  For the cluster side the client process's own CPU time is reported too: what one client, which
  reads (bytes), ships, writes in order and unions the vocabulary, can feed.
* **Korean ingest**: the ``--lang ko`` pipeline (Kiwi morphemes) on the first ``--ko-mb`` MB of
  ``../shared/data/ko/kowiki_40MB.txt``, inputs ``auto``. Local at W = 2 runs one process with a
  2-thread Kiwi; the cluster runs W one-thread workers (one Kiwi each) and, at W = 2, also one
  worker with 2 threads (the local layout, on a cluster).
* **Batch export**: top-10 neighbours of every word of a ``--words`` x ``--dim`` store of random
  unit vectors (exact index). Local: ``neighbors_of`` with FAISS on W threads. Cluster: the same
  batches searched on W one-thread workers (their FAISS on 1 thread each), results streamed back.

Every cluster output is checked identical to the local one (corpus files, neighbour lists). The
cluster is started before timing (a cluster is a long-lived service); what is timed is the whole
``ingest`` / export call, including connecting to nothing new, shipping the settings, compiling the
pipeline on each worker (Kiwi's model load included, on both sides) and gathering results.

Run under the machine-wide benchmark lock (~8 minutes on 2 cores; ``--tasks en`` alone ~1 minute):

    flock /tmp/BENCH_LOCK python benchmarks/cluster_scaling.py --workdir /tmp/bench_cluster --json-out /tmp/bench_cluster/cluster_scaling.json
"""
from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
from _common import REPO, machine, machine_line, markdown_table, median, require_file, workdir, write_json

import embedsearch
from embedsearch.batch import neighbors_of
from embedsearch.cluster import ClusterOptions
from embedsearch.store import write_store
from embedsearch.text.pipeline import english_words
from embedsearch.text.presets import PipelineOptions, build_pipeline

DATA = REPO.parent / "shared" / "data"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--en-input", type=Path, default=DATA / "en" / "wiki2015_plain_40MB.txt")
    parser.add_argument("--ko-input", type=Path, default=DATA / "ko" / "kowiki_40MB.txt")
    parser.add_argument("--en-mb", type=float, default=10)
    parser.add_argument("--ko-mb", type=float, default=2)
    parser.add_argument("--words", type=int, default=30_000, help="export: vocabulary size (default: %(default)s)")
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3, help="timed runs per side (default: %(default)s)")
    parser.add_argument("--max-workers", type=int, default=2)
    parser.add_argument("--tasks", default="en,ko,export", help="which of en, ko, export to run (default: %(default)s)")
    parser.add_argument("--workdir", help="inputs and outputs (default: a new temporary directory under /tmp)")
    parser.add_argument("--json-out", help="also write the results as JSON to this path")
    return parser.parse_args()


def head_of(source: Path, megabytes: float, target: Path) -> Path:
    with open(require_file(source), "rb") as handle:
        data = handle.read(int(megabytes * 1_000_000))
    target.write_bytes(data[: data.rfind(b"\n") + 1])
    return target


def random_store(path: Path, words: int, dim: int) -> Path:
    if not path.exists():
        rng = np.random.default_rng(7)
        vectors = rng.standard_normal((words, dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        write_store(path, words=[f"w{i}" for i in range(words)], counts=list(range(words + 1, 1, -1)),
                    vectors=vectors, model={"kind": "random"}, pipeline=english_words().to_dict())
    return path


def corpus_files(path: Path) -> dict[str, bytes]:
    found = {}
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        data = file.read_bytes()
        if file.name == "corpus.json":
            meta = json.loads(data)
            meta["stats"].pop("seconds")
            meta["stats"].pop("workers")
            data = json.dumps(meta, sort_keys=True).encode()
        found[str(file.relative_to(path))] = data
    return found


def worker_env(name: str) -> str | None:
    return os.environ.get(name)


def timed(function: Callable[[], Any]) -> float:
    gc.collect()
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def worker_cpu() -> float:
    return time.process_time()


def alternate(name: str, local: Callable[[], Any], cluster: Callable[[], Any], runs: int, client: Any,
              in_process: bool) -> dict[str, Any]:
    """Alternating runs; for the cluster side also the client process's CPU seconds (reading,
    shipping, writing the output in order, the vocabulary union): what one client can feed.

    CPU seconds, which a loaded machine disturbs far less than wall time: for the cluster, this
    process's (client and scheduler) plus every worker process's (their event loops included); for
    the local side only when it runs in this process (``in_process``: one worker; a process pool's
    workers are not this process's children, so their CPU is not counted)."""
    ours_local: list[float] = []
    ours_cluster: list[float] = []
    client_cpu: list[float] = []
    local_cpu: list[float] = []
    cluster_cpu: list[float] = []
    for run in range(runs):
        cpu = time.process_time()
        ours_local.append(timed(local))
        local_cpu.append(time.process_time() - cpu)
        before = client.run(worker_cpu)
        cpu = time.process_time()
        ours_cluster.append(timed(cluster))
        client_cpu.append(time.process_time() - cpu)
        after = client.run(worker_cpu)
        cluster_cpu.append(client_cpu[-1] + sum(after[w] - before[w] for w in after if w in before))
        print(f"  {name} run {run + 1}: local {ours_local[-1]:.2f} s, cluster {ours_cluster[-1]:.2f} s "
              f"(client CPU {client_cpu[-1]:.2f} s; CPU local {local_cpu[-1]:.2f} s, cluster {cluster_cpu[-1]:.2f} s)",
              flush=True)
    found = {"local_seconds": ours_local, "cluster_seconds": ours_cluster, "local_median": median(ours_local),
             "cluster_median": median(ours_cluster), "ratio": median(ours_cluster) / median(ours_local),
             "client_cpu_seconds": client_cpu, "client_cpu_median": median(client_cpu),
             "cluster_cpu_seconds": cluster_cpu, "cluster_cpu_median": median(cluster_cpu)}
    if in_process:
        found.update(local_cpu_seconds=local_cpu, local_cpu_median=median(local_cpu),
                     cpu_ratio=median(cluster_cpu) / median(local_cpu))
    return found


def main() -> None:
    import dask
    from distributed import Client, LocalCluster

    logging.getLogger("distributed").setLevel(logging.WARNING)
    args = parse_args()
    work = workdir(args.workdir, "embedsearch-cluster-")
    info = machine()
    import distributed
    import faiss

    info["distributed"] = distributed.__version__
    info["load_average_before"] = os.getloadavg()
    print(f"machine: {machine_line(info)}; distributed {info['distributed']}")
    en = head_of(args.en_input, args.en_mb, work / "en.txt")
    ko = head_of(args.ko_input, args.ko_mb, work / "ko.txt")
    store_path = random_store(work / f"store_{args.words}x{args.dim}", args.words, args.dim)
    pipelines = {"en": build_pipeline(PipelineOptions()), "ko": build_pipeline(PipelineOptions(lang="ko"))}
    sizes = {"en": en.stat().st_size / 1e6, "ko": ko.stat().st_size / 1e6}
    inputs = {"en": en, "ko": ko}
    rows: list[dict[str, Any]] = []
    threads_before = faiss.omp_get_max_threads()

    def ingest_rows(workers: int, client: Client, layout: str, which: tuple[str, ...], modes: tuple[str, ...]) -> None:
        for lang in which:
            for mode in modes:
                out_local, out_cluster = work / f"{lang}_local", work / f"{lang}_cluster"

                def local() -> None:
                    embedsearch.ingest([inputs[lang]], out_local, pipeline=pipelines[lang], workers=workers, overwrite=True)

                def cluster() -> None:
                    embedsearch.ingest([inputs[lang]], out_cluster, pipeline=pipelines[lang], overwrite=True,
                                       cluster=ClusterOptions(client, mode))

                name = f"{lang} ingest, {workers} worker(s), cluster {layout}, inputs {mode}"
                result = alternate(name, local, cluster, args.runs, client, workers == 1)
                same = corpus_files(out_local) == corpus_files(out_cluster)
                if not same:
                    raise SystemExit(f"error: {name}: the cluster's corpus differs from the local one")
                tokens = embedsearch.open_corpus(out_local).stats.tokens
                rows.append({"task": f"{lang} ingest", "workers": workers, "cluster": layout, "inputs": mode,
                             "megabytes": round(sizes[lang], 2), "tokens": tokens, "identical": same, **result,
                             "local_mb_s": sizes[lang] / result["local_median"],
                             "cluster_mb_s": sizes[lang] / result["cluster_median"]})

    def export_rows(workers: int, client: Client, layout: str) -> None:
        with embedsearch.open_store(store_path) as store:
            got: dict[str, list[Any]] = {}

            def local() -> None:
                faiss.omp_set_num_threads(workers)
                try:
                    got["local"] = list(neighbors_of(store, k=10))
                finally:
                    faiss.omp_set_num_threads(threads_before)

            def cluster() -> None:
                got["cluster"] = list(neighbors_of(store, k=10, cluster=client))

            name = f"export, {workers} worker(s), cluster {layout}"
            result = alternate(name, local, cluster, args.runs, client, False)
            if got["local"] != got["cluster"]:
                raise SystemExit(f"error: {name}: the cluster's neighbours differ from the local ones")
            rows.append({"task": "export top-10", "workers": workers, "cluster": layout, "inputs": "store path",
                         "words": args.words, "dim": args.dim, "identical": True, **result,
                         "local_words_s": args.words / result["local_median"],
                         "cluster_words_s": args.words / result["cluster_median"]})

    tasks = set(args.tasks.split(","))
    # (worker processes, threads each, worker environment, what runs there). "dask": Dask's defaults,
    # whose nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536; "no-trim": that variable unset
    # (docs/scaling.md: it costs English ingest workers ~46k page faults per 10 MB).
    layouts = [(1, 1, "dask", ("en", "en-bytes", "ko", "export")), (1, 1, "no-trim", ("en",))]
    if args.max_workers >= 2:
        layouts += [(2, 1, "dask", ("en", "en-bytes", "ko", "export")), (2, 1, "no-trim", ("en",)),
                    (1, 2, "dask", ("ko",))]
    for n_workers, threads, env, runs_here in layouts:
        wanted = [name for name in runs_here if name.split("-")[0] in tasks]
        if not wanted:
            continue
        workers = n_workers * threads
        layout = f"{n_workers}x{threads}"
        print(f"LocalCluster: {n_workers} worker process(es) x {threads} thread(s), worker env {env}", flush=True)
        environ = dict(os.environ)
        config = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None} if env == "no-trim" else {}
        with dask.config.set(config), LocalCluster(n_workers=n_workers, threads_per_worker=threads, processes=True,
                                                   dashboard_address=None, worker_dashboard_address=None) as cluster, \
                Client(cluster) as client:
            # the nanny sets its pre-spawn variables in this process too: put the environment back, so
            # that the local process pools started from here run as they would without Dask
            os.environ.clear()
            os.environ.update(environ)
            info.setdefault("worker_faiss_threads", client.run(faiss.omp_get_max_threads))
            trim = set(client.run(worker_env, "MALLOC_TRIM_THRESHOLD_").values())
            label = f"{layout} {env}"
            print(f"  workers' MALLOC_TRIM_THRESHOLD_: {trim}", flush=True)
            for name in wanted:
                if name == "en":
                    ingest_rows(workers, client, label, ("en",), ("auto",))
                elif name == "en-bytes":
                    ingest_rows(workers, client, label, ("en",), ("bytes",))
                elif name == "ko":
                    ingest_rows(workers, client, label, ("ko",), ("auto",))
                else:
                    export_rows(workers, client, label)

    table = []
    for row in rows:
        unit = f"{row['megabytes']} MB" if "megabytes" in row else f"{row['words']:,} x {row['dim']}"
        cpu = (f"{row['local_cpu_median']:.2f} / {row['cluster_cpu_median']:.2f} = {row['cpu_ratio']:.2f}"
               if "cpu_ratio" in row else f"- / {row['cluster_cpu_median']:.2f}")
        table.append([row["task"], unit, str(row["workers"]), row["cluster"], row["inputs"],
                      f"{row['local_median']:.2f}", f"{row['cluster_median']:.2f}", f"{row['ratio']:.2f}",
                      f"{row['client_cpu_median']:.2f}", cpu])
    print()
    print(f"machine: {machine_line(info)}; distributed {info['distributed']}; medians of {args.runs} runs")
    print(markdown_table(["task", "input", "workers", "cluster (procs x threads, worker env)", "inputs", "local s",
                          "cluster s", "cluster / local (wall)", "client CPU s",
                          "CPU s: local / cluster = ratio"], table))
    info["load_average_after"] = os.getloadavg()
    print(f"load average (1, 5, 15 min): {info['load_average_before']} before, {info['load_average_after']} after")
    write_json(args.json_out, {"machine": info, "runs": args.runs, "rows": rows})


if __name__ == "__main__":
    main()
