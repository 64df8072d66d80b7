"""Load on `embedsearch serve` against what a user would write today, in one run on one store.

(a) `embedsearch serve` (its default workers);
(b) the same ASGI stack (Starlette + uvicorn, same workers) serving gensim `KeyedVectors.most_similar`
    over the same vectors (a plain endpoint run in the thread pool, as a FastAPI `def` endpoint is);
(c) word2vec-api's way: Flask's own threaded server over gensim.

`wrk` (Debian's) drives each over loopback: `similar` k=10 at 1, 16 and 64 connections, each request
a different word (frequent words, rotating), then a batch of 100 words per request at 1 connection.
Reported: requests/s, p50 and p99 latency (of completed requests; wrk's --timeout is 2 s and a
timed-out request counts as an error), and errors (non-2xx, socket errors, timeouts).
For (a) also: the batch's own 100 words as 100 single requests on one keep-alive connection against
the one batch request (and whether their results are equal); 1,000 connections held for 60 s by
benchmarks/_loadgen.py, which counts every request and its outcome (client timeout 10 s), with the
server's resident memory sampled every 0.5 s; 20 republishes under 64 connections.

    flock /tmp/BENCH_LOCK python benchmarks/serve_load.py --store /tmp/text8_store

The store is any store; the figures in docs/serving.md are on the text8 store (`embedsearch ingest
../shared/data/en/wiki2015_text8style.txt -o corpus && embedsearch train corpus -o store --dim 100
--epochs 5`). Bounded in time: about (3 servers x 3 levels + 3 batches) x (--seconds + 1) s.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, locked, machine, machine_line  # noqa: E402

from embedsearch.store.generations import is_published  # noqa: E402

GENSIM_APP = textwrap.dedent('''
    """Servers (b) and (c): gensim KeyedVectors.most_similar behind Starlette/uvicorn or Flask."""
    import json, os, sys
    import numpy as np
    from gensim.models import KeyedVectors
    sys.path.insert(0, os.environ["EMBEDSEARCH_REPO"])
    import embedsearch

    with embedsearch.open_store(os.environ["BENCH_STORE"]) as store:
        words = store.vocabulary()
        vectors = np.array(store.vectors)
    kv = KeyedVectors(vectors.shape[1])
    kv.add_vectors(words, vectors)
    kv.fill_norms()

    def similar(word, k):
        return {"query": word, "neighbors": [{"word": w, "score": float(s)} for w, s in kv.most_similar(word, topn=k)]}

    if os.environ["BENCH_KIND"] == "asgi":
        from starlette.applications import Starlette
        from starlette.concurrency import run_in_threadpool
        from starlette.requests import Request
        from starlette.responses import JSONResponse
        from starlette.routing import Route

        async def one(request: Request):
            return JSONResponse(await run_in_threadpool(similar, request.query_params["q"], int(request.query_params.get("k", 10))))

        async def batch(request: Request):
            body = await request.json()
            k = int(body.get("k", 10))
            return JSONResponse({"results": await run_in_threadpool(lambda: [similar(w, k) for w in body["queries"]])})

        app = Starlette(routes=[Route("/v1/similar", one), Route("/v1/similar/batch", batch, methods=["POST"])])
    else:
        from flask import Flask, jsonify, request

        app = Flask("w2vapi")

        @app.route("/v1/similar")
        def one():
            return jsonify(similar(request.args["q"], int(request.args.get("k", 10))))

        @app.route("/v1/similar/batch", methods=["POST"])
        def batch():
            body = request.get_json()
            return jsonify({"results": [similar(w, int(body.get("k", 10))) for w in body["queries"]]})

        if __name__ == "__main__":
            import logging
            logging.getLogger("werkzeug").setLevel(logging.ERROR)
            app.run(host="127.0.0.1", port=int(os.environ["BENCH_PORT"]), threaded=True)
''')

WRK_GET = '''
local words = {%s}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", "/v1/similar?k=10&q=" .. words[(i %% #words) + 1])
end
'''

WRK_POST = '''
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '%s'
'''


# Each server's stderr goes to a file, so that a server that dies says why (pid -> log path).
SERVER_LOGS: dict[int, Path] = {}


def _tail(path: Path | None, lines: int = 15) -> str:
    if path is None or not path.exists():
        return ""
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_up(url: str, process: subprocess.Popen[bytes], timeout: float = 120.0) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if process.poll() is not None:
            raise SystemExit(f"error: the server for {url} exited with {process.returncode}"
                             + (f"; its last words:\n{_tail(SERVER_LOGS.get(process.pid))}" if SERVER_LOGS.get(process.pid) else ""))
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return time.perf_counter() - start
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"error: {url} did not answer within {timeout:.0f} s")


TABLE_SECONDS: dict[str, float | None] = {}


def start_server(kind: str, store: Path, workers: int, tmp: Path, reload_seconds: float = 0) -> tuple[subprocess.Popen[bytes], str, float]:
    port = free_port()
    env = {**os.environ, "EMBEDSEARCH_REPO": str(REPO), "BENCH_STORE": str(store), "BENCH_PORT": str(port),
           "PYTHONPATH": str(REPO), "BENCH_KIND": kind.rstrip("1")}
    if kind.endswith("1"):  # (b) with one BLAS thread per worker, as embedsearch serve runs by default
        env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    if kind.startswith("embedsearch"):
        command = [sys.executable, str(REPO / "cli.py"), "serve", "-s", f"s={store}", "--port", str(port),
                   "--workers", str(workers), "--reload-seconds", str(reload_seconds)]
        if kind == "embedsearch-search":
            command.append("--no-neighbour-table")
        probe = f"http://127.0.0.1:{port}/ready"
    else:
        app = tmp / "gensim_app.py"
        app.write_text(GENSIM_APP, encoding="utf-8")
        if kind.startswith("asgi"):
            command = [sys.executable, "-m", "uvicorn", "gensim_app:app", "--app-dir", str(tmp), "--port", str(port),
                       "--workers", str(workers), "--log-level", "warning", "--no-access-log"]
        else:
            command = [sys.executable, str(app)]
        probe = f"http://127.0.0.1:{port}/v1/similar?q=the&k=1"
    log = tmp / f"server-{kind}-{port}.log"
    with log.open("wb") as errors:
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=errors, preexec_fn=more_files)
    SERVER_LOGS[process.pid] = log
    ready = wait_up(probe, process)
    if kind == "embedsearch":  # measured once its neighbour table is built (it answers without one before)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/stores") as response:
                listed = json.load(response)["stores"][0]
            if listed.get("neighbour_table") in ("ready", None):
                TABLE_SECONDS[kind] = listed.get("neighbour_table_seconds")
                break
            time.sleep(0.5)
    return process, f"http://127.0.0.1:{port}", ready


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def fmt(ms: float | None) -> str:
    """A latency for the table; "-" where wrk had none (no request completed in time)."""
    return "-" if ms is None else f"{ms:.1f}"


def parse_duration(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


def more_files() -> None:
    """Room for a thousand sockets on each side (wrk's and the server's), where the hard limit allows."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 8192 if hard == resource.RLIM_INFINITY else min(8192, hard)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (uvicorn's workers), in MB."""
    total = 0
    pids = [pid]
    try:
        pids += [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        pass
    for one in pids:
        try:
            for line in Path(f"/proc/{one}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def republish(store: Path, times: int, seconds: float) -> int:
    """Publish ``store`` again ``times`` times over ``seconds``, through the store's own publish (a new
    generation and the atomic switch of its CURRENT pointer), as `reindex` and `rerank train` do."""
    from embedsearch.store.index import IndexOptions
    from embedsearch.store.reindex import reindex

    done = 0
    for _ in range(times):
        reindex(store, IndexOptions("flat"))
        done += 1
        time.sleep(seconds / times)
    return done


def wrk(url: str, script: Path, connections: int, seconds: float, timeout: float = 2.0) -> dict[str, Any]:
    threads = 1 if connections == 1 else 2
    command = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s", "--latency", "--timeout", f"{timeout:g}s",
               "-s", str(script), url]
    output = subprocess.run(command, capture_output=True, text=True, check=True, preexec_fn=more_files).stdout
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", output, re.M))
    done = re.search(r"(\d+) requests in", output)
    socket = {kind: int(n) for kind, n in re.findall(r"(connect|read|write|timeout) (\d+)", output)}
    errors = sum(socket.values())
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "connections": connections,
        "qps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),  # type: ignore[union-attr]
        "p50_ms": parse_duration(latency["50"]) if "50" in latency else None,
        "p99_ms": parse_duration(latency["99"]) if "99" in latency else None,
        "requests": int(done.group(1)) if done else 0,
        "errors": errors + (int(non2xx.group(1)) if non2xx else 0),
        "socket_errors": socket,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
    }


def same_results(url: str, words: list[str]) -> bool:
    """Whether the batch of ``words`` answers exactly what the single requests answer (k=10)."""
    from urllib.parse import quote

    request = urllib.request.Request(url + "/v1/similar/batch", data=json.dumps({"queries": words, "k": 10}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        batch = json.load(response)["results"]
    singles = []
    for word in words:
        with urllib.request.urlopen(f"{url}/v1/similar?k=10&q={quote(word)}") as response:
            singles.append(json.load(response))
    return batch == singles


def hold(url: str, pid: int, tmp: Path, words: list[str], connections: int, seconds: float, timeout: float) -> dict[str, Any]:
    """``connections`` keep-alive clients for ``seconds``, every request counted (benchmarks/_loadgen.py,
    client timeout ``timeout``), and the server's resident memory sampled every 0.5 s."""
    import threading

    paths = tmp / "hold_paths.txt"
    paths.write_text("".join(f"/v1/similar?k=10&q={w}\n" for w in words), encoding="utf-8")
    samples: list[float] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append(rss_mb(pid))
            done.wait(0.5)

    before = rss_mb(pid)
    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        output = subprocess.run([sys.executable, str(Path(__file__).resolve().parent / "_loadgen.py"), "--url", url,
                                 "--paths", str(paths), "--connections", str(connections), "--seconds", f"{seconds:g}",
                                 "--timeout", f"{timeout:g}"], capture_output=True, text=True, check=True,
                                preexec_fn=more_files).stdout
    finally:
        done.set()
        sampler.join()
    result = json.loads(output)
    result.pop("failed_at", None)
    result.update(rss_before_mb=before, rss_peak_mb=max(samples, default=before), rss_after_mb=rss_mb(pid))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", type=Path, required=True, help="Store to serve (the docs' figures: the text8 store).")
    parser.add_argument("--seconds", type=float, default=8.0, help="Seconds of load per measurement (after 1 s of warm-up).")
    parser.add_argument("--connections", default="1,16,64")
    parser.add_argument("--workers", type=int, default=1, help="Worker processes for (a) and (b) (embedsearch serve's default: 1).")
    parser.add_argument("--servers", default="embedsearch,embedsearch-search,asgi,asgi1,flask",
                        help="embedsearch-search is (a) without its neighbour table (every query searched, micro-batched); "
                             "asgi1 is (b) with OPENBLAS_NUM_THREADS=1, the BLAS setting (a) runs with.")
    parser.add_argument("--hold-connections", type=int, default=1000, help="(a) only: connections held open ... (0: skip)")
    parser.add_argument("--hold-seconds", type=float, default=60.0, help="... for this long, counting failures and memory.")
    parser.add_argument("--hold-timeout", type=float, default=10.0,
                        help="The client's timeout per request while holding them (a request answered later is a failure).")
    parser.add_argument("--republishes", type=int, default=20,
                        help="(a) only: republish a copy of the store this many times under 64 connections (0: skip).")
    parser.add_argument("--json", type=Path, default=Path(tempfile.gettempdir()) / "serve_load.json",
                        help="Also write the results here (default: %(default)s).")
    parser.add_argument("--lock", type=Path, default=None,
                        help="Hold this flock while measuring (e.g. /tmp/BENCH_LOCK), unless run under `flock` already.")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("error: wrk not found (Debian: apt-get install wrk)")
    if not is_published(args.store):
        raise SystemExit(f"error: {args.store} is not a store")
    sys.path.insert(0, str(REPO))
    import embedsearch

    with embedsearch.open_store(args.store) as store:
        vocabulary = store.vocabulary()
    # Frequent words past the stop words, in a fixed order: every request asks a different one.
    words = [w for w in vocabulary[100:1100] if w.isalpha() and w.isascii()][:500]
    batch = json.dumps({"queries": words[:100], "k": 10})
    levels = [int(c) for c in args.connections.split(",")]
    names = {"embedsearch": "(a) embedsearch serve", "embedsearch-search": "(a') the same, no neighbour table",
             "asgi": "(b) Starlette/uvicorn + gensim",
             "asgi1": "(b') the same, 1 BLAS thread", "flask": "(c) Flask threaded + gensim"}
    results: dict[str, Any] = {"machine": machine(), "store": str(args.store), "words": len(vocabulary),
                               "seconds": args.seconds, "workers": args.workers, "servers": {}}
    with locked(args.lock), tempfile.TemporaryDirectory(prefix="serve_load-") as tmp_text:
        tmp = Path(tmp_text)
        get_script, post_script, warm_script = tmp / "get.lua", tmp / "post.lua", tmp / "warm.lua"
        get_script.write_text(WRK_GET % ",".join(f'"{w}"' for w in words), encoding="utf-8")
        post_script.write_text(WRK_POST % batch, encoding="utf-8")
        warm_script.write_text(WRK_GET % ",".join(f'"{w}"' for w in words[::-1]), encoding="utf-8")
        single100_script = tmp / "single100.lua"
        single100_script.write_text(WRK_GET % ",".join(f'"{w}"' for w in words[:100]), encoding="utf-8")
        for kind in args.servers.split(","):
            process, url, ready = start_server(kind, args.store, args.workers, tmp)
            try:
                entry: dict[str, Any] = {"ready_seconds": ready, "table_seconds": TABLE_SECONDS.get(kind),
                                         "similar": [], "batch": None}
                for connections in levels:
                    wrk(url, warm_script, connections, 1)
                    entry["similar"].append(wrk(url, get_script, connections, args.seconds))
                    print(kind, entry["similar"][-1], file=sys.stderr, flush=True)
                    time.sleep(0.5)
                entry["batch"] = wrk(url + "/v1/similar/batch", post_script, 1, args.seconds)
                if kind == "embedsearch":
                    # The comparison the batch target is about: the batch's own 100 words as single
                    # requests, one after another on one keep-alive connection, against the batch.
                    entry["single100"] = wrk(url, single100_script, 1, args.seconds)
                    entry["batch_same_results"] = same_results(url, words[:100])
                if kind == "embedsearch" and args.hold_connections:
                    entry["hold"] = hold(url, process.pid, tmp, words, args.hold_connections, args.hold_seconds,
                                         args.hold_timeout)
                results["servers"][kind] = entry
                args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")  # kept if a later step fails
            finally:
                stop(process)
        if "embedsearch" in args.servers.split(",") and args.republishes:
            copy = tmp / "republished" / "store"
            shutil.copytree(args.store, copy)
            process, url, _ = start_server("embedsearch", copy, args.workers, tmp, reload_seconds=0.25)
            try:
                seconds = max(args.seconds, args.republishes * 0.5)
                import threading

                published: list[int] = []
                thread = threading.Thread(target=lambda: published.append(republish(copy, args.republishes, seconds - 1)))
                thread.start()
                # Every request counted, with the same stated client timeout as the hold (wrk's 2 s
                # timeout count is per connection and per 2 s check, not per request).
                load = hold(url, process.pid, tmp, words, 64, seconds, args.hold_timeout)
                thread.join()
                with urllib.request.urlopen(url + "/ready") as response:
                    reloaded = json.load(response)
                results["servers"]["embedsearch"]["republish"] = {**load, "republishes": published[0] if published else 0,
                                                                  "reloads_seen": reloaded.get("reloads")}
            finally:
                stop(process)
    args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(machine_line(results["machine"]))
    print(f"store {args.store}: {len(vocabulary):,} words; {args.seconds:g} s per cell; workers {args.workers}")
    print(f"{'server':34} {'conns':>5} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for kind, entry in results["servers"].items():
        for row in entry["similar"] + [{**entry["batch"], "connections": "b100"}]:
            print(f"{names[kind]:34} {row['connections']!s:>5} {row['qps']:9.1f} {fmt(row['p50_ms']):>8} "
                  f"{fmt(row['p99_ms']):>8} {row['errors']:7d}")
    servers = results["servers"]
    if "embedsearch" in servers and "asgi" in servers:
        for ours, theirs in zip(servers["embedsearch"]["similar"], servers["asgi"]["similar"]):
            ratio = f"{ours['qps'] / theirs['qps']:.2f}x" if theirs["qps"] > 0 else "(b) completed none"
            print(f"(a)/(b) at {ours['connections']} connections: {ratio} the requests/s")
    if "embedsearch" in servers and "asgi1" in servers:
        for ours, theirs in zip(servers["embedsearch"]["similar"], servers["asgi1"]["similar"]):
            print(f"(a)/(b') at {ours['connections']} connections: {ours['qps'] / max(theirs['qps'], 1e-9):.2f}x the requests/s")
    def counted(load: dict[str, Any]) -> str:
        """One load-generator run as a line: every request counted, failures by kind, latencies."""
        kinds = ", ".join(f"{n} {k}" for k, n in load["failures"].items()) or "none"
        return (f"(client timeout {load['timeout_s']:g} s): {load['requests']:,} requests, {load['failed']} failed ({kinds}), "
                f"{load['qps']:.0f} req/s, p50 {fmt(load['p50_ms'])} ms, p99 {fmt(load['p99_ms'])} ms, "
                f"max {fmt(load['max_ms'])} ms")

    if "embedsearch" in servers and servers["embedsearch"].get("hold"):
        held = servers["embedsearch"]["hold"]
        print(f"(a) {held['connections']} connections for {args.hold_seconds:g} s {counted(held)}; "
              f"{held['connections_opened']} connections opened; server RSS {held['rss_before_mb']:.0f} MB before, "
              f"{held['rss_peak_mb']:.0f} MB peak, {held['rss_after_mb']:.0f} MB after")
    if "embedsearch" in servers and servers["embedsearch"].get("republish"):
        rep = servers["embedsearch"]["republish"]
        print(f"(a) {rep['republishes']} republishes under 64 connections {counted(rep)}; "
              f"the server reopened the store {rep['reloads_seen']} times; RSS peak {rep['rss_peak_mb']:.0f} MB")
    if "embedsearch" in servers:
        ours = servers["embedsearch"]
        single = ours.get("single100") or ours["similar"][0]
        hundred_singles = 100 / max(single["qps"], 1e-9) * 1000
        one_batch = 1 / max(ours["batch"]["qps"], 1e-9) * 1000
        print(f"(a) the batch's 100 words as 100 single requests, one after another on one keep-alive connection: "
              f"{hundred_singles:.1f} ms ({single['qps']:,.0f} req/s, p50 {fmt(single['p50_ms'])} ms); as one batch "
              f"request: {one_batch:.2f} ms (p50 {fmt(ours['batch']['p50_ms'])} ms) = {hundred_singles / one_batch:.1f}x faster; "
              f"same results: {'yes' if ours.get('batch_same_results') else 'NO'}")
    args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(f"results: {args.json}")


if __name__ == "__main__":
    main()
