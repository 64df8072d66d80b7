"""A load generator that counts every request: N keep-alive connections, each sending GET requests
one after another for a fixed time, every request with its own client timeout.

Why not wrk for this: wrk's timeout figure is not a count of requests. Every 2 s it adds one for
each connection whose current request is older than --timeout (a request stuck for 10 s is counted
several times, and a connection still connecting counts from the start of the run), and it says
nothing of which requests failed how. Here each request ends in exactly one of: answered 2xx,
answered with another status (counted by status), timed out (no complete answer within --timeout;
the connection is then closed and reopened, as a client would), or a socket error (connect, reset,
closed), counted by kind. Requests still in flight when the time is up are waited for (up to their
timeout) and counted like the others.

    python benchmarks/_loadgen.py --url http://127.0.0.1:8000 --paths paths.txt --connections 1000 \\
        --seconds 60 --timeout 10

prints one JSON document: requests, qps, p50/p99/max latency (ms, of answered requests), failures
by kind, connections opened.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
from collections import Counter
from urllib.parse import urlsplit


def more_files(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


async def run(host: str, port: int, paths: list[bytes], connections: int, seconds: float, timeout: float,
              ramp: float) -> dict:
    latencies: list[float] = []
    failures: Counter[str] = Counter()
    failed_at: list[tuple[float, int]] = []  # (seconds into the run, requests this connection had answered before)
    opened = 0
    deadline = 0.0

    async def connect() -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        nonlocal opened
        try:
            async with asyncio.timeout(timeout):
                pair = await asyncio.open_connection(host, port)
            opened += 1
            return pair
        except TimeoutError:
            failures["connect timeout"] += 1
        except OSError as exc:
            failures[f"connect error ({exc.__class__.__name__})"] += 1
        await asyncio.sleep(0.1)  # do not spin on a refusing server
        return None

    async def client(number: int) -> None:
        await asyncio.sleep(ramp * number / connections)
        i = number
        pair = None
        served = 0
        while time.perf_counter() < deadline:
            if pair is None:
                pair = await connect()
                if pair is None:
                    continue
            reader, writer = pair
            request = b"GET " + paths[i % len(paths)] + b" HTTP/1.1\r\nHost: bench\r\n\r\n"
            i += connections
            start = time.perf_counter()
            try:
                async with asyncio.timeout(timeout):
                    writer.write(request)
                    head = await reader.readuntil(b"\r\n\r\n")
                    status = int(head[9:12])
                    length = 0
                    for line in head.split(b"\r\n")[1:]:
                        if line[:15].lower() == b"content-length:":
                            length = int(line[15:])
                    await reader.readexactly(length)
                latencies.append(time.perf_counter() - start)
                served += 1
                if not 200 <= status < 300:
                    failures[f"HTTP {status}"] += 1
                if b"connection: close" in head.lower():
                    writer.close()
                    pair = None
            except TimeoutError:
                failures["timeout"] += 1
            except (asyncio.IncompleteReadError, ConnectionError, OSError) as exc:
                failures[f"socket error ({exc.__class__.__name__})"] += 1
            else:
                continue
            failed_at.append((round(start - began, 2), served))
            served = 0
            writer.close()  # a failed request: this connection is done; open another
            pair = None
        if pair is not None:
            pair[1].close()

    began = time.perf_counter()
    deadline = began + ramp + seconds
    await asyncio.gather(*(client(n) for n in range(connections)))
    elapsed = time.perf_counter() - began - ramp
    latencies.sort()

    def pick(q: float) -> float | None:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else None

    answered = len(latencies)
    failed = sum(failures.values())
    return {"connections": connections, "seconds": seconds, "timeout_s": timeout, "ramp_s": ramp,
            "requests": answered + failures["timeout"] + sum(v for k, v in failures.items() if k.startswith("socket")),
            "answered": answered, "qps": answered / elapsed, "p50_ms": pick(0.50), "p99_ms": pick(0.99),
            "max_ms": latencies[-1] * 1000 if latencies else None, "failed": failed,
            "failures": dict(failures), "connections_opened": opened, "failed_at": failed_at[:2000]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--paths", required=True, help="A file of request paths, one a line, asked in turn.")
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--timeout", type=float, default=10.0, help="Client timeout per request, in seconds.")
    parser.add_argument("--ramp", type=float, default=0.0, help="Open the connections over this many seconds (0: all at once).")
    args = parser.parse_args()
    more_files(args.connections + 256)
    url = urlsplit(args.url)
    with open(args.paths, encoding="utf-8") as handle:
        paths = [line.strip().encode("utf-8") for line in handle if line.strip()]
    try:
        from uvloop import run as run_loop  # the client's own cost per request, lower
    except ImportError:
        run_loop = asyncio.run
    result = run_loop(run(url.hostname or "127.0.0.1", url.port or 80, paths, args.connections, args.seconds,
                             args.timeout, args.ramp))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
