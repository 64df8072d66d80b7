"""Interleaved A/B of rerank latency: two reranked stores (e.g. store-target and learned-target),
the same words alternating between them, contexts encoded afresh, wall-clock and CPU ms. Run it
under the machine's lock:

    flock /tmp/BENCH_LOCK python benchmarks/rerank_latency_ab.py STORE_A STORE_B
"""
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import embedsearch  # noqa: E402

a = embedsearch.open_store(sys.argv[1]); b = embedsearch.open_store(sys.argv[2])
words = a.vocabulary()[100:1100:5]
for s in (a, b): s.similar(words[0], k=10, rerank=True)
res = {"store": ([], []), "learned": ([], [])}
for _ in range(2):
    for w in words:
        for label, s in (("store", a), ("learned", b)):
            s.reranker._slots.clear()
            t, c = time.perf_counter(), time.process_time()
            s.similar(w, k=10, rerank=True, rerank_k=50)
            res[label][0].append(1000 * (time.perf_counter() - t)); res[label][1].append(1000 * (time.process_time() - c))
for label, (wall, cpu) in res.items():
    print(label, f"wall median {statistics.median(wall):.2f} ms, CPU median {statistics.median(cpu):.2f} ms, n={len(wall)}", flush=True)
