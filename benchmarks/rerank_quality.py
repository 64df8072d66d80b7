"""Does the LSTM reranker help? Spearman of cosine vs cosine + weight * fit on word-pair sets,
LM training throughput, and rerank latency, on a store trained from the text8-style corpus.

    python benchmarks/rerank_quality.py --workdir /tmp/bench_rerank --epochs 2 --minutes 14   # builds all
    python benchmarks/rerank_quality.py --store S --corpus C --minutes 10      # an existing store

A pair (a, b) scores cosine(a, b) + weight * fit(a, b), fit being the mean of b's fit in a's stored
contexts and a's fit in b's. The weight is chosen on development sets (SimVerb-3500, MTurk-771)
that are not among the reported ones (SimLex-999, WordSim-353 similarity and relatedness, MEN),
so the reported gain is not tuned on the sets it is reported for.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _common import (
    DEFAULT_INPUT,
    REPO,
    machine,
    machine_line,
    markdown_table,
    median,
    percentile,
    require_file,
    workdir,
    write_json,
)

EVAL = REPO.parent / "shared" / "data" / "eval" / "en" / "faruqui"
REPORTED = {"SimLex-999": "EN-SIMLEX-999.txt", "WS353-SIM": "EN-WS-353-SIM.txt", "WS353-REL": "EN-WS-353-REL.txt",
            "MEN": "EN-MEN-TR-3k.txt"}
DEVELOPMENT = {"SimVerb-3500": "EN-SimVerb-3500.txt", "MTurk-771": "EN-MTurk-771.txt"}
WEIGHTS = [0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5]


def run(*args: str) -> None:
    print("+ embedsearch " + " ".join(args), flush=True)
    subprocess.run([sys.executable, str(REPO / "cli.py"), *args], check=True)


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


def pair_scores(store, pairs: list[tuple[str, str, float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Gold scores, cosines and fits of the pairs whose words are both in the store with contexts."""
    from embedsearch.errors import QueryError

    reranker = store.reranker
    gold, cosine, fit = [], [], []
    skipped = 0
    for a, b, score in pairs:
        words = [store.pipeline.tokens(w) for w in (a, b)]
        rows = store.rows_for([w[0] for w in words if w])
        if any(len(w) != 1 or w[0] not in rows for w in words):
            skipped += 1
            continue
        first, second = rows[words[0][0]], rows[words[1][0]]
        try:
            f = reranker.pair_fit(first, second)
        except QueryError:
            skipped += 1
            continue
        gold.append(score)
        cosine.append(float(store.vectors[first] @ store.vectors[second]))
        fit.append(f)
    return np.array(gold), np.array(cosine), np.array(fit), skipped


def spearman(gold: np.ndarray, model: np.ndarray) -> float:
    from scipy import stats

    return float(stats.spearmanr(gold, model).correlation)


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


def mean_reciprocal_rank(data: list[tuple[np.ndarray, np.ndarray, int]], weight: float) -> float:
    ranks = []
    for cosine, fit, at in data:
        final = cosine + weight * fit
        ranks.append(1 + int((final > final[at]).sum()))
    return float(np.mean([1 / r for r in ranks]))


def latency(store, words: list[str], rounds: int) -> dict[str, float]:
    """Per-query ms of similar (top 10) without and with --rerank (top 50 reranked), each word's
    contexts encoded afresh (the reranker's cache is cleared) so the figure is a first query's."""
    plain, reranked = [], []
    for _ in range(rounds):
        for word in words:
            started = time.perf_counter()
            store.similar(word, k=10)
            plain.append(1000 * (time.perf_counter() - started))
            store.reranker._slots.clear()
            started = time.perf_counter()
            store.similar(word, k=10, rerank=True, rerank_k=50)
            reranked.append(1000 * (time.perf_counter() - started))
    return {"plain_median_ms": median(plain), "rerank_median_ms": median(reranked),
            "rerank_p95_ms": percentile(reranked, 95), "rerank_extra_median_ms": median(reranked) - median(plain)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", type=Path, default=DEFAULT_INPUT, help="raw text (default: the text8-style corpus)")
    parser.add_argument("--workdir", default=None, help="where corpus and store are built (under /tmp)")
    parser.add_argument("--store", type=Path, default=None, help="an existing store (copied; the copy gets the reranker)")
    parser.add_argument("--corpus", type=Path, default=None, help="the store's tokenized corpus")
    parser.add_argument("--minutes", type=float, default=10.0, help="reranker training budget")
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--epochs", type=float, default=1.0, help="reranker passes over the corpus (at most; see --minutes)")
    parser.add_argument("--skip-training", action="store_true", help="use the reranker already in --store")
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args()

    import embedsearch

    work = workdir(args.workdir, "embedsearch-rerank-")
    corpus = args.corpus or work / "corpus"
    if args.corpus is None and not (corpus / "corpus.json").exists():
        run("ingest", str(require_file(args.input)), "-o", str(corpus))
    store_path = work / "store"
    if args.store is not None and not args.skip_training:
        if store_path.exists():
            shutil.rmtree(store_path)
        shutil.copytree(args.store, store_path)
    elif args.store is not None:
        store_path = args.store
    elif not store_path.exists():
        # Pinned rather than the defaults, so the README's figures stay reproducible if they change.
        run("train", str(corpus), "-o", str(store_path), "--arch", "skipgram", "--dim", "100", "--window", "5",
            "--negative", "5", "--sample", "1e-3", "--epochs", "5", "--min-count", "5", "--seed", "1")
    training = None
    if not args.skip_training:
        result = embedsearch.train_reranker(store_path, corpus, embedsearch.RerankConfig(
            hidden=args.hidden, epochs=args.epochs, minutes=args.minutes), progress=_progress())
        training = {"steps": result.steps, "tokens": result.tokens, "seconds": result.seconds,
                    "tokens_per_second": round(result.tokens_per_second), "stopped_by": result.stopped_by,
                    "validation_loss_before": result.validation_loss_before,
                    "validation_loss_after": result.validation_loss_after}
        print(f"trained: {training}", flush=True)

    with embedsearch.open_store(store_path) as store:
        scored = {}
        for name, file in {**DEVELOPMENT, **REPORTED}.items():
            gold, cosine, fit, skipped = pair_scores(store, read_pairs(EVAL / file))
            scored[name] = (gold, cosine, fit, skipped)
        gains = {w: float(np.mean([spearman(g, c + w * f) - spearman(g, c) for g, c, f, _ in
                                   (scored[n] for n in DEVELOPMENT)])) for w in WEIGHTS}
        # The weight is chosen for what --rerank does, reorder a word's neighbours: the one that
        # ranks the development sets' most similar partners highest among the top 50.
        ranking = {name: ranking_data(store, read_pairs(EVAL / file), 50) for name, file in {**DEVELOPMENT, **REPORTED}.items()}
        dev_ranking = [item for name in DEVELOPMENT for item in ranking[name]]
        mrr = {w: mean_reciprocal_rank(dev_ranking, w) for w in WEIGHTS}
        chosen = max(mrr, key=lambda w: (mrr[w], -w))
        rows, results = [], {}
        for name in [*REPORTED, *DEVELOPMENT]:
            gold, cosine, fit, skipped = scored[name]
            base, blended, alone = spearman(gold, cosine), spearman(gold, cosine + chosen * fit), spearman(gold, fit)
            results[name] = {"pairs": len(gold), "skipped": skipped, "cosine": base, "reranked": blended,
                             "gain": blended - base, "fit_alone": alone}
            role = "dev" if name in DEVELOPMENT else "test"
            mrr_cosine, mrr_reranked = mean_reciprocal_rank(ranking[name], 0.0), mean_reciprocal_rank(ranking[name], chosen)
            results[name].update({"ranking_queries": len(ranking[name]), "mrr_cosine": mrr_cosine, "mrr_reranked": mrr_reranked})
            rows.append([name, role, f"{len(gold)}", f"{base:.3f}", f"{blended:.3f}", f"{blended - base:+.3f}", f"{alone:.3f}",
                         f"{len(ranking[name])}", f"{mrr_cosine:.3f}", f"{mrr_reranked:.3f}"])
        frequent = store.vocabulary()[100:1100:5]
        timing = latency(store, frequent, 3)

    info = machine()
    print(f"\nmachine: {machine_line(info)}")
    print(f"blend weight chosen on {', '.join(DEVELOPMENT)} (neighbour ranking): {chosen}")
    print("dev MRR by weight: " + ", ".join(f"{w}: {m:.4f}" for w, m in mrr.items()))
    print("dev Spearman gain by weight: " + ", ".join(f"{w}: {g:+.4f}" for w, g in gains.items()) + "\n")
    print(markdown_table(["set", "role", "pairs", "Spearman cosine", "Spearman cosine + w*fit", "gain", "fit alone",
                          "ranking queries", "MRR cosine", "MRR reranked"], rows))
    print(f"\nrerank latency (similar top-10 from top-50, {len(frequent)} words x 3): plain {timing['plain_median_ms']:.2f} ms, "
          f"reranked {timing['rerank_median_ms']:.2f} ms median, {timing['rerank_p95_ms']:.2f} ms p95")
    if training:
        print(f"LM training: {training['tokens_per_second']:,} tokens/s over {training['seconds']:.0f} s "
              f"({training['tokens']:,} tokens), held-out loss {training['validation_loss_before']:.3f} -> "
              f"{training['validation_loss_after']:.3f}")
    write_json(args.json, {"machine": info, "training": training, "weight": chosen, "dev_gains": gains, "dev_mrr": mrr,
                           "results": results, "latency": timing, "store": str(store_path)})


def _progress():
    last = [0.0]

    def report(event) -> None:
        now = time.monotonic()
        if event.final or now - last[0] > 30:
            last[0] = now
            print(f"{event.stage}: {event.done:,.1f}/{event.total or 0:,.1f} {event.unit} {event.message}", flush=True)
    return report


if __name__ == "__main__":
    main()
