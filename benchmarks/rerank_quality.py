"""Does the LSTM reranker earn its place? Its job is the order of a word's neighbours, so it is
measured there: for the most similar quarter of each set's pairs (by the human score), the
partner's reciprocal rank and precision@1 among the query's top 50 by cosine, before and after
reranking; and the accuracy of `evaluate analogies --rerank` against plain 3CosAdd. Also LM
training throughput and rerank latency.

    # one store, two rerankers trained on copies of it (store targets, learned targets):
    python benchmarks/rerank_quality.py --store S --corpus C --targets store learned --epochs 1
    # rerankers already trained (`embedsearch rerank train`), each a LABEL=STORE:
    python benchmarks/rerank_quality.py --reranked store=/tmp/a learned=/tmp/b --latency

The blend weight of each reranker is chosen on development sets (SimVerb-3500, MTurk-771), as the
weight that ranks their most similar pairs' partners highest (mean reciprocal rank) among the
top 50; the test sets (SimLex-999, WordSim-353 similarity, MEN) and the analogy set never choose
anything. SimVerb is reported too, marked dev. The analogy rerank uses that same weight and the
top 50 candidates (``evaluate analogies --rerank`` defaults), fixed before measuring; then, since
analogies have their own weight, it is chosen on the even-numbered Google questions and scored on
the odd ones, beside the store's own analogy weight on the same odd half.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import numpy as np
from _common import REPO, locked, machine, machine_line, markdown_table, median, percentile, require_file, workdir, write_json

from embedsearch.rerank.weights import DEFAULT_ANALOGY_WEIGHT

EVAL = REPO.parent / "shared" / "data" / "eval" / "en"  # from a worktree, pass --eval-dir /work/shared/data/eval/en
TEST = {"SimLex-999": "faruqui/EN-SIMLEX-999.txt", "WS353-SIM": "faruqui/EN-WS-353-SIM.txt", "MEN": "faruqui/EN-MEN-TR-3k.txt"}
DEVELOPMENT = {"SimVerb-3500": "faruqui/EN-SimVerb-3500.txt", "MTurk-771": "faruqui/EN-MTurk-771.txt"}
REPORTED = [*TEST, "SimVerb-3500"]
WEIGHTS = [0.0, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0]
# The analogy weight's grid: the analogy fit sums three fits, so its useful weights are smaller.
ANALOGY_WEIGHTS = [0.0, 0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.075, 0.1]
TOP = 50


def read_pairs(path: Path) -> list[tuple[str, str, float]]:
    pairs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.replace(",", "\t").split()
        if len(parts) >= 3:
            try:
                pairs.append((parts[0], parts[1], float(parts[2])))
            except ValueError:
                continue  # a header
    return pairs


def ranking_data(store, pairs: list[tuple[str, str, float]], k: int) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """For the most similar quarter of the pairs (by gold score), in both directions: the cosines
    and fits of a's top-k neighbours by cosine, and where b is among them (pairs where b is not
    in the top k are left out: reranking cannot reach them)."""
    golds = np.array([g for _, _, g in pairs])
    cut = np.quantile(golds, 0.75)
    found = []
    for a, b, gold in pairs:
        if gold < cut:
            continue
        for query, target in ((a, b), (b, a)):
            words = [store.pipeline.tokens(w) for w in (query, target)]
            if any(len(w) != 1 for w in words):
                continue
            rows = store.rows_for([w[0] for w in words])
            if len(rows) != 2:
                continue
            neighbors = store.similar(words[0][0], k=k).neighbors
            names = [n.word for n in neighbors]
            if words[1][0] not in names:
                continue
            found_rows = store.rows_for(names)
            fit = store.reranker.fit([rows[words[0][0]]], [found_rows[n] for n in names])
            if fit.contexts == 0:
                continue
            found.append((np.array([n.score for n in neighbors]), fit.scores, names.index(words[1][0])))
    return found


def ranks(data: list[tuple[np.ndarray, np.ndarray, int]], weight: float) -> np.ndarray:
    out = []
    for cosine, fit, at in data:
        final = cosine + weight * fit
        out.append(1 + int((final > final[at]).sum()))
    return np.array(out)


def mrr(data, weight: float) -> float:
    return float(np.mean(1 / ranks(data, weight))) if data else float("nan")


def precision_at_1(data, weight: float) -> float:
    return float(np.mean(ranks(data, weight) == 1)) if data else float("nan")


def analogy_data(store, restrict: int = 30_000, k: int = TOP):
    """Every Google analogy question's top-k 3CosAdd candidates with their fits (evaluate's own path)."""
    from embedsearch.evaluate import _Vocabulary, rerank_candidates

    limit = min(restrict, len(store))
    vocabulary = _Vocabulary(store, limit)
    asked, skipped = [], 0
    for line in require_file(EVAL / "questions-words.txt").read_text(encoding="utf-8").splitlines():
        if not line or line[0] in ":#":
            continue
        rows = [vocabulary.single_row(w) for w in line.split()]
        if len(rows) != 4 or any(r is None for r in rows):
            skipped += 1
            continue
        asked.append(([rows[0]], [rows[1]], [rows[2]], rows[3]))
    candidates = np.asarray(store.vectors[:limit], dtype=np.float32)
    return rerank_candidates(store, candidates, asked, "3cosadd", k), skipped


def analogy_accuracy(found, weight: float) -> float:
    return float(np.mean([f.answer >= 0 and f.predict(weight) == f.rows[f.answer] for f in found]))


def analogy_split(found, stored: float) -> dict:
    """The analogy weight chosen on the even-numbered questions (dev), scored on the odd ones (test):
    alternate questions, so both halves hold every section in the same proportion. Also the test
    half at the store's own analogy weight (what `analogy --rerank` uses unless told)."""
    dev, test = found[0::2], found[1::2]
    by_weight = {w: analogy_accuracy(dev, w) for w in ANALOGY_WEIGHTS}
    chosen = max(by_weight, key=lambda w: (by_weight[w], -w))
    return {"dev_questions": len(dev), "test_questions": len(test), "weight": chosen, "dev_by_weight": by_weight,
            "test_plain": analogy_accuracy(test, 0.0), "test_reranked": analogy_accuracy(test, chosen),
            "stored_weight": stored, "test_stored": analogy_accuracy(test, stored)}


def latency(store, words: list[str], rounds: int) -> dict[str, float]:
    """Per-query ms of similar (top 10) without and with --rerank (top 50 reranked), each word's
    contexts encoded afresh (the reranker's cache is cleared) so the figure is a first query's.
    Wall-clock and the process's CPU time, all threads (which a loaded machine inflates far less)."""
    plain, reranked, plain_cpu, reranked_cpu = [], [], [], []
    store.similar(words[0], k=10, rerank=True)  # loads the reranker (once per process)
    for _ in range(rounds):
        for word in words:
            started, cpu = time.perf_counter(), time.process_time()
            store.similar(word, k=10)
            plain.append(1000 * (time.perf_counter() - started))
            plain_cpu.append(1000 * (time.process_time() - cpu))
            store.reranker._slots.clear()
            started, cpu = time.perf_counter(), time.process_time()
            store.similar(word, k=10, rerank=True, rerank_k=TOP)
            reranked.append(1000 * (time.perf_counter() - started))
            reranked_cpu.append(1000 * (time.process_time() - cpu))
    return {"plain_median_ms": median(plain), "rerank_median_ms": median(reranked),
            "rerank_p95_ms": percentile(reranked, 95), "plain_cpu_median_ms": median(plain_cpu),
            "rerank_cpu_median_ms": median(reranked_cpu), "rerank_cpu_p95_ms": percentile(reranked_cpu, 95)}


def train(label: str, base: Path, corpus: Path, work: Path, targets: str, epochs: float, minutes: float | None) -> Path:
    import embedsearch

    path = work / f"store_{label}"
    if path.exists():
        shutil.rmtree(path)
    shutil.copytree(base, path)
    result = embedsearch.train_reranker(path, corpus, embedsearch.RerankConfig(targets=targets, epochs=epochs,
                                                                               minutes=minutes), progress=_progress())
    print(f"trained {label}: {result.tokens:,} tokens in {result.seconds:.0f} s, {result.tokens_per_second:,.0f} tokens/s, "
          f"held-out loss {result.validation_loss_before:.3f} -> {result.validation_loss_after:.3f}", flush=True)
    return path


def measure(label: str, path: Path, with_latency: bool) -> dict:
    import embedsearch

    with embedsearch.open_store(path) as store:
        manifest = store.meta["reranker"]
        ranking = {name: ranking_data(store, read_pairs(EVAL / file), TOP) for name, file in {**DEVELOPMENT, **TEST}.items()}
        dev = [item for name in DEVELOPMENT for item in ranking[name]]
        dev_mrr = {w: mrr(dev, w) for w in WEIGHTS}
        chosen = max(dev_mrr, key=lambda w: (dev_mrr[w], -w))
        found, skipped = analogy_data(store)
        timing = None
        if with_latency:
            words = store.vocabulary()[100:1100:5]
            with locked(Path("/tmp/BENCH_LOCK")):
                timing = latency(store, words, 3)
    sets = {}
    for name in REPORTED:
        data = ranking[name]
        sets[name] = {"queries": len(data), "mrr_cosine": mrr(data, 0.0), "mrr_reranked": mrr(data, chosen),
                      "p1_cosine": precision_at_1(data, 0.0), "p1_reranked": precision_at_1(data, chosen)}
    analogies = {"questions": len(found), "skipped": skipped, "plain": analogy_accuracy(found, 0.0),
                 "reranked": analogy_accuracy(found, chosen), "gold_in_top": float(np.mean([f.answer >= 0 for f in found])),
                 "by_weight_not_used_to_choose": {w: analogy_accuracy(found, w) for w in WEIGHTS},
                 "split": analogy_split(found, float(manifest.get("analogy_weight", DEFAULT_ANALOGY_WEIGHT)))}
    return {"label": label, "store": str(path), "targets": manifest.get("targets", "store"), "weight": chosen,
            "dev_mrr": dev_mrr, "sets": sets, "analogies": analogies, "latency": timing,
            "training": {k: manifest.get(k) for k in ("tokens", "seconds", "validation_loss", "config")}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=Path, default=None, help="a store to copy and train rerankers on")
    parser.add_argument("--corpus", type=Path, default=None, help="the store's tokenized corpus")
    parser.add_argument("--targets", nargs="+", default=["store", "learned"], choices=["store", "learned"])
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--minutes", type=float, default=None)
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--reranked", nargs="+", default=[], metavar="LABEL=STORE", help="stores with a reranker, used as they are")
    parser.add_argument("--latency", action="store_true", help="also time rerank latency (under the bench lock)")
    parser.add_argument("--eval-dir", type=Path, default=EVAL, help="the English evaluation sets (default: %(default)s)")
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args()
    globals()["EVAL"] = args.eval_dir

    stores: list[tuple[str, Path]] = [(item.split("=", 1)[0], Path(item.split("=", 1)[1])) for item in args.reranked]
    if args.store is not None:
        if args.corpus is None:
            parser.error("--store needs --corpus")
        work = workdir(args.workdir, "embedsearch-rerank-")
        stores += [(t, train(t, args.store, args.corpus, work, t, args.epochs, args.minutes)) for t in args.targets]
    if not stores:
        parser.error("give --store and --corpus, or --reranked LABEL=STORE")
    results = [measure(label, path, args.latency) for label, path in stores]

    info = machine()
    print(f"\nmachine: {machine_line(info)}")
    header = ["set", "role", "ranking queries", "MRR cosine"]
    for r in results:
        header += [f"MRR {r['label']} (w={r['weight']:g})", "gain"]
    header += ["P@1 cosine"] + [f"P@1 {r['label']}" for r in results]
    rows = []
    for name in REPORTED:
        first = results[0]["sets"][name]
        row = [name, "dev" if name in DEVELOPMENT else "test", str(first["queries"]), f"{first['mrr_cosine']:.3f}"]
        for r in results:
            s = r["sets"][name]
            row += [f"{s['mrr_reranked']:.3f}", f"{100 * (s['mrr_reranked'] / s['mrr_cosine'] - 1):+.0f}%"]
        row += [f"{first['p1_cosine']:.3f}"] + [f"{r['sets'][name]['p1_reranked']:.3f}" for r in results]
        rows.append(row)
    print(markdown_table(header, rows))
    print()
    a_rows = [[r["label"], f"{r['weight']:g}", f"{r['analogies']['questions']:,}", f"{100 * r['analogies']['plain']:.2f}%",
               f"{100 * r['analogies']['reranked']:.2f}%", f"{100 * (r['analogies']['reranked'] - r['analogies']['plain']):+.2f}",
               f"{100 * r['analogies']['gold_in_top']:.1f}%"] for r in results]
    print(markdown_table(["reranker", "weight", "questions", "3CosAdd", f"--rerank (top {TOP})", "points",
                          f"answer in top {TOP}"], a_rows))
    print()
    s_rows = []
    for r in results:
        split = r["analogies"]["split"]
        for label, weight, accuracy in ((f"chosen on dev ({split['dev_questions']:,} even questions)", split["weight"],
                                         split["test_reranked"]),
                                        ("the store's analogy weight", split["stored_weight"], split["test_stored"])):
            s_rows.append([r["label"], label, f"{weight:g}", f"{split['test_questions']:,}",
                           f"{100 * split['test_plain']:.2f}%", f"{100 * accuracy:.2f}%",
                           f"{100 * (accuracy - split['test_plain']):+.2f}"])
    print(markdown_table(["reranker", "analogy weight", "w", "test questions (odd)", "3CosAdd", "--rerank", "points"], s_rows))
    for r in results:
        print(f"\n{r['label']}: dev MRR by weight " + ", ".join(f"{w:g}: {m:.4f}" for w, m in r["dev_mrr"].items()))
        print(f"{r['label']}: dev-half analogy accuracy by weight " + ", ".join(
            f"{w:g}: {100 * a:.2f}" for w, a in r["analogies"]["split"]["dev_by_weight"].items()))
        print(f"{r['label']}: analogy accuracy by weight (NOT used to choose) " + ", ".join(
            f"{w:g}: {100 * a:.2f}" for w, a in r["analogies"]["by_weight_not_used_to_choose"].items()))
        if r["latency"]:
            t = r["latency"]
            print(f"{r['label']}: rerank latency (similar top 10 from top {TOP}, 200 words x 3): plain "
                  f"{t['plain_median_ms']:.2f} ms, reranked {t['rerank_median_ms']:.2f} ms median, {t['rerank_p95_ms']:.2f} ms p95; "
                  f"CPU time: plain {t['plain_cpu_median_ms']:.2f} ms, reranked {t['rerank_cpu_median_ms']:.2f} ms median, "
                  f"{t['rerank_cpu_p95_ms']:.2f} ms p95")
    write_json(args.json, {"machine": info, "results": results})


def _progress():
    last = [0.0]

    def report(event) -> None:
        now = time.monotonic()
        if event.final or now - last[0] > 30:
            last[0] = now
            print(f"{event.stage}: {event.done:,.1f}/{event.total or 0:,.1f} {event.unit} {event.message}", flush=True)
    return report


if __name__ == "__main__":
    sys.exit(main())
