"""Korean embedding quality: morphemes vs raw space-separated units, on Korean WordSim-353.

Two stores are trained on the same Korean Wikipedia text with the same training settings
(skip-gram, 100 dims, window 5, 5 epochs, min-count 5, 2 workers, seed 1); only the ingest
pipeline differs:

* **morphemes**: ``--lang ko`` (NFC → sentences → lowercase → Kiwi morphemes, verb/adjective
  lemmas, particles, endings and punctuation dropped);
* **raw eojeol**: ``whitespace`` only: the space-separated units as they stand (학교에서, 학교는 ...).

Each is scored on ``kor_ws353.csv`` (323 pairs; CSV with BOM, no header: word1,word2,score) with
``store.similarity(w1, w2)``, which runs each store's own pipeline on the words (a word that
becomes several morphemes is the mean of their vectors). A pair with a word the store does not
know is out of vocabulary (OOV): Spearman's rho (``scipy.stats.spearmanr``) is given over the
pairs the store covers, and over all pairs with OOV pairs scored 0 (which does not reward a store
for knowing fewer words).

Run (from the repository root; ~15 minutes on 2 cores):

    python benchmarks/korean_quality.py --workdir /tmp/bench_korean --json-out /tmp/bench_korean/korean_quality.json
"""
from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

from _common import REPO, machine, machine_line, markdown_table, require_file, workdir, write_json

import embedsearch
from embedsearch.errors import QueryError
from embedsearch.text.pipeline import Pipeline
from embedsearch.text.presets import PipelineOptions, build_pipeline
from embedsearch.store.generations import is_published

DATA = REPO.parent / "shared" / "data"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", type=Path, default=DATA / "ko" / "kowiki_40MB.txt")
    parser.add_argument("--pairs", type=Path, default=DATA / "eval" / "ko" / "kor2vec" / "kor_ws353.csv")
    parser.add_argument("--workdir", help="where corpora and stores go (default: a new temporary directory under /tmp)")
    parser.add_argument("--reuse", action="store_true", help="reuse corpora and stores already in --workdir")
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--min-count", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json-out", help="also write the results as JSON to this path")
    return parser.parse_args()


def read_pairs(path: Path) -> list[tuple[str, str, float]]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return [(row[0].strip(), row[1].strip(), float(row[2])) for row in csv.reader(handle) if len(row) >= 3 and row[0].strip()]


def score(store_path: Path, pairs: list[tuple[str, str, float]]) -> dict:
    from scipy.stats import spearmanr

    gold: list[float] = []
    ours: list[float] = []
    gold_all: list[float] = []
    ours_all: list[float] = []
    oov = 0
    with embedsearch.open_store(store_path) as store:
        for first, second, human in pairs:
            try:
                similarity = store.similarity(first, second).score
            except QueryError:  # UnknownWordError, or nothing left after the pipeline
                oov += 1
                gold_all.append(human)
                ours_all.append(0.0)
                continue
            gold.append(human)
            ours.append(similarity)
            gold_all.append(human)
            ours_all.append(similarity)
        words = len(store)
    return {
        "pairs": len(pairs), "covered": len(gold), "oov": oov, "vocabulary": words,
        "spearman_covered": float(spearmanr(gold, ours).statistic) if len(gold) > 2 else float("nan"),
        "spearman_all_oov0": float(spearmanr(gold_all, ours_all).statistic),
    }


def build(name: str, pipeline: Pipeline, args: argparse.Namespace, work: Path) -> dict:
    corpus_path, store_path = work / f"{name}_corpus", work / f"{name}_store"
    started = time.perf_counter()
    if args.reuse and (corpus_path / "corpus.json").is_file():
        corpus = embedsearch.open_corpus(corpus_path)
    else:
        print(f"{name}: ingest ({pipeline.describe()}) ...", flush=True)
        corpus = embedsearch.ingest([args.input], corpus_path, pipeline=pipeline, workers=args.workers, overwrite=True)
    ingest_seconds = time.perf_counter() - started
    started = time.perf_counter()
    if not (args.reuse and is_published(store_path)):
        print(f"{name}: train ({corpus.stats.tokens:,} tokens) ...", flush=True)
        config = embedsearch.TrainConfig(arch="skipgram", dim=args.dim, window=5, sample=1e-3, negative=5, epochs=args.epochs,
                                         min_count=args.min_count, workers=args.workers, seed=1)
        embedsearch.train(corpus, store_path, config=config, overwrite=True)
    train_seconds = time.perf_counter() - started
    return {"pipeline": pipeline.describe(), "corpus_tokens": corpus.stats.tokens,
            "corpus_vocabulary": corpus.stats.vocabulary, "ingest_seconds": round(ingest_seconds, 1),
            "train_seconds": round(train_seconds, 1), "store": str(store_path)}


def main() -> None:
    args = parse_args()
    require_file(args.input)
    pairs = read_pairs(require_file(args.pairs))
    work = workdir(args.workdir, "embedsearch-korean-")
    info = machine()
    print(f"machine: {machine_line(info)}")
    stores = {
        "morphemes": build_pipeline(PipelineOptions(lang="ko")),
        "raw eojeol": Pipeline.of("whitespace"),
    }
    results = {}
    for name, pipeline in stores.items():
        built = build(name.replace(" ", "_"), pipeline, args, work)
        built.update(score(Path(built["store"]), pairs))
        results[name] = built
    rows = [[f"{name}: `{r['pipeline']}`", f"{r['corpus_tokens']:,}", f"{r['vocabulary']:,}",
             f"{r['covered']}/{r['pairs']} ({r['oov']} OOV)", f"**{r['spearman_covered']:.3f}**", f"{r['spearman_all_oov0']:.3f}"]
            for name, r in results.items()]
    print()
    print(f"Machine: {machine_line(info)}. Input: {args.input.name} ({args.input.stat().st_size / 1e6:.0f} MB); "
          f"pairs: {args.pairs.name}. Same training for both: skip-gram, dim {args.dim}, window 5, {args.epochs} epochs, "
          f"min-count {args.min_count}, {args.workers} workers, seed 1.")
    print()
    print(markdown_table(["store (pipeline)", "corpus tokens", "vocabulary", "pairs scored", "Spearman (covered pairs)",
                          "Spearman (all pairs, OOV = 0)"], rows))
    write_json(args.json_out, {"machine": info, "input": str(args.input), "pairs_file": str(args.pairs), "results": results})


if __name__ == "__main__":
    main()
