"""Korean embedding quality: morphemes (Kiwi, MeCab) vs raw eojeol vs FastText on morphemes and on jamo.

Six rows, all trained on the same Korean Wikipedia text (``kowiki_40MB.txt``) with the same
training settings (skip-gram, 100 dims; window, epochs, negatives, sample, learning rate and
min-count shared; ``--window``, ``--arch``, ``--add-context`` etc. change them for every row at
once); only the ingest pipeline and the model differ:

* ``w2v-kiwi``: Word2Vec on ``--lang ko`` (NFC → sentences → lowercase → Kiwi morphemes with
  verb/adjective lemmas; particles, endings and punctuation dropped);
* ``w2v-mecab``: the same with ``--korean-backend mecab`` (MeCab, mecab-ko-dic);
* ``w2v-eojeol``: ``whitespace`` only: the space-separated units as they stand (학교에서, 학교는 ...);
* ``ft-kiwi``: FastText on the Kiwi morphemes (character n-grams ``--minn``..``--maxn`` over syllables);
* ``ft-jamo``: FastText on the Kiwi morphemes decomposed into jamo (``--lang ko --jamo``: 학교 →
  ㅎㅏㄱㄱㅛ-, Park et al. 2018), n-grams ``--jamo-minn``..``--jamo-maxn`` over jamo;
* ``svd-kiwi``: PPMI-SVD on the Kiwi morphemes (its own defaults, docs/count-models.md, with the
  shared dimension, window and min-count).

Each corpus is ingested once (``<workdir>/<pipeline>_corpus``) and reused by every row and seed.
The jamo corpus is derived from the Kiwi one instead of running Kiwi over the input again: ``jamo``
is a map of each token that comes after the tokenizer, so decomposing every token of the Kiwi
corpus gives the lines ``ingest --lang ko --jamo`` writes, and the derived corpus records that
pipeline (checked on the input's first documents before use; ``--ingest-jamo`` ingests it whole).
Scores, every word through the store's own pipeline:

* ``kor_ws353.csv`` (323 pairs): Spearman over the pairs the store covers, and over all pairs with
  uncovered pairs scored 0 (``store.similarity``: a word of several morphemes is the mean of their
  vectors; a FastText store covers every pair through its subwords);
* kor2vec ``kor_analogy_semantic.txt`` / ``kor_analogy_syntactic.txt`` (420 / 840, ``#`` sections)
  and SungjoonPark's ``word_analogy_korean.txt`` (10,000, ``:`` sections): 3CosAdd over the whole
  vocabulary, top-1 accuracy and the top-30 hit rate ratsgo's book reports, as a share of *all*
  questions (a question the store cannot ask, for a word out of vocabulary or an answer that is not
  one vocabulary word, counts as a miss, so stores that know fewer words are not rewarded); the
  share of questions asked is given too. A question word of several morphemes is the mean of their
  vectors; an answer the pipeline makes equal to a question word (밥 밥을 물 물을 → 밥 밥 물 물 once
  particles are dropped) can never be given (inputs are excluded) and counts as wrong.

Each row is trained once per ``--seeds`` value; the table gives medians (Word2Vec's seed seeds its
RNG, but 2 worker threads make runs vary anyway; fastText takes no seed, so its "seeds" are repeat
runs). Train time is wall time on a shared machine under ``nice``: indicative only.

Rows run in separate processes (in parallel, or extra seeds later) are joined into one table by
``python benchmarks/korean_quality.py --combine [--base SETTINGS] a.json b.json ...`` (runs of a
row at the same settings pooled; rows at settings other than ``--base``, a prefix of the settings
tag such as ``d100_w5_e5``, get their own labelled line).

Run (from the repository root; ingest ~5-10 min per pipeline, each training run a few minutes):

    nice -n 19 python benchmarks/korean_quality.py --workdir /tmp/korean15 --reuse --seeds 1 2 3 \\
        --json-out /tmp/korean15/korean_quality.json
"""
from __future__ import annotations

import argparse
import csv
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import REPO, locked, machine, machine_line, markdown_table, require_file, workdir, write_json

import embedsearch
from embedsearch.errors import QueryError
from embedsearch.evaluate import evaluate_analogies
from embedsearch.store.generations import is_published
from embedsearch.text.pipeline import Pipeline
from embedsearch.text.presets import PipelineOptions, build_pipeline

DATA = REPO.parent / "shared" / "data"
PIPELINES = {
    "kiwi": lambda: build_pipeline(PipelineOptions(lang="ko")),
    "mecab": lambda: build_pipeline(PipelineOptions(lang="ko", korean_backend="mecab")),
    "eojeol": lambda: Pipeline.of("whitespace"),
    "kiwijamo": lambda: build_pipeline(PipelineOptions(lang="ko", jamo=True)),
}
ROWS = {  # name: (corpus pipeline, model)
    "w2v-kiwi": ("kiwi", "word2vec"),
    "w2v-mecab": ("mecab", "word2vec"),
    "w2v-eojeol": ("eojeol", "word2vec"),
    "ft-kiwi": ("kiwi", "fasttext"),
    "ft-jamo": ("kiwijamo", "fasttext"),
    "svd-kiwi": ("kiwi", "ppmi-svd"),
}
LABELS = {
    "w2v-kiwi": "Word2Vec, Kiwi morphemes (`--lang ko`)",
    "w2v-mecab": "Word2Vec, MeCab morphemes (`--lang ko --korean-backend mecab`)",
    "w2v-eojeol": "Word2Vec, raw eojeol (`--pipeline whitespace`)",
    "ft-kiwi": "FastText, Kiwi morphemes",
    "ft-jamo": "FastText, Kiwi morphemes as jamo (`--lang ko --jamo`)",
    "svd-kiwi": "PPMI-SVD, Kiwi morphemes (`--model ppmi-svd`)",
}
ANALOGIES = {  # under <data>/eval/ko
    "kor2vec-sem": "kor2vec/kor_analogy_semantic.txt",
    "kor2vec-syn": "kor2vec/kor_analogy_syntactic.txt",
    "sjpark": "sungjoonpark/word_analogy_korean.txt",
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="the shared data folder (corpus and evaluation sets)")
    parser.add_argument("--input", type=Path, help="default: <data>/ko/kowiki_40MB.txt")
    parser.add_argument("--pairs", type=Path, help="default: <data>/eval/ko/kor2vec/kor_ws353.csv")
    parser.add_argument("--workdir", help="where corpora and stores go (default: a new temporary directory under /tmp)")
    parser.add_argument("--reuse", action="store_true", help="reuse corpora and stores already in --workdir")
    parser.add_argument("--rows", nargs="+", choices=list(ROWS), default=list(ROWS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[1])
    parser.add_argument("--arch", choices=["skipgram", "cbow"], default="skipgram",
                        help="Word2Vec and FastText rows (default: skip-gram, as the table's rows)")
    parser.add_argument("--add-context", action=argparse.BooleanOptionalAction, default=None,
                        help="store w + c (Word2Vec, PPMI-SVD); default: each model's own default")
    parser.add_argument("--w2v-combine", choices=["none", "ppmi-svd", "glove"], default=None,
                        help="Word2Vec rows: join a count model (window 10, a quarter of each cosine, as `train "
                        "--combine`); default: the architecture's default (none for skip-gram)")
    parser.add_argument("--combine-window", type=int, default=None,
                        help="Word2Vec rows joined with a count model: its window (default: train's, 10)")
    parser.add_argument("--combine-weight", type=float, default=None,
                        help="Word2Vec rows joined with a count model: its share of each cosine (default: train's, 0.25)")
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--window", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--negative", type=int, default=5)
    parser.add_argument("--sample", type=float, default=1e-3)
    parser.add_argument("--alpha", type=float, default=0.025)
    parser.add_argument("--min-count", type=int, default=5)
    parser.add_argument("--minn", type=int, default=3, help="FastText on morphemes: shortest n-gram (syllables)")
    parser.add_argument("--maxn", type=int, default=6)
    parser.add_argument("--jamo-minn", type=int, default=3, help="FastText on jamo: shortest n-gram (jamo)")
    parser.add_argument("--jamo-maxn", type=int, default=6)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--ingest-jamo", action="store_true", help="ingest the jamo corpus (default: derive it from Kiwi's)")
    parser.add_argument("--lock", type=Path, help="take an exclusive flock on this file around each ingest and training "
                        "(the machine's benchmark lock), so a wait for it is never counted in their seconds")
    parser.add_argument("--score-only", action="store_true", help="score stores already trained; train none")
    parser.add_argument("--json-out", help="also write the results as JSON to this path")
    args = parser.parse_args()
    args.input = args.input or args.data / "ko" / "kowiki_40MB.txt"
    args.pairs = args.pairs or args.data / "eval" / "ko" / "kor2vec" / "kor_ws353.csv"
    return args


def read_pairs(path: Path) -> list[tuple[str, str, float]]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return [(row[0].strip(), row[1].strip(), float(row[2])) for row in csv.reader(handle) if len(row) >= 3 and row[0].strip()]


def score_pairs(store: embedsearch.Store, pairs: list[tuple[str, str, float]]) -> dict:
    from scipy.stats import spearmanr

    gold: list[float] = []
    ours: list[float] = []
    gold_all: list[float] = []
    ours_all: list[float] = []
    oov = 0
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
    return {
        "pairs": len(pairs), "covered": len(gold), "oov": oov,
        "spearman_covered": float(spearmanr(gold, ours).statistic) if len(gold) > 2 else float("nan"),
        "spearman_all_oov0": float(spearmanr(gold_all, ours_all).statistic),
    }


def score_analogies(store: embedsearch.Store, data: Path) -> dict:
    out = {}
    for name, path in ANALOGIES.items():
        result = evaluate_analogies(store, data / "eval" / "ko" / path, restrict=None, top=30)
        total = result.total
        questions = total.questions
        out[name] = {"questions": questions, "asked": total.answered, "top1_all": total.correct / questions,
                     "top30_all": total.top_correct / questions, "top1_asked": total.accuracy,
                     "top30_asked": total.top_accuracy, "collapsed": result.collapsed,
                     "averaged_words": result.averaged_words}
    return out


def corpus_for(name: str, args: argparse.Namespace, work: Path,
               corpora: dict[str, embedsearch.Corpus]) -> tuple[embedsearch.Corpus, float | None]:
    path = work / f"{name}_corpus"
    if args.reuse and (path / "corpus.json").is_file():
        corpus = embedsearch.open_corpus(path)
        expected = PIPELINES[name]().to_dict()
        if corpus.pipeline.to_dict() != expected:
            raise SystemExit(f"{path} was made with another pipeline ({corpus.pipeline.describe()})")
        return corpus, None
    if name == "kiwijamo" and not args.ingest_jamo and "kiwi" not in corpora:
        corpora["kiwi"], _ = corpus_for("kiwi", args, work, corpora)  # before the lock: it takes the lock itself
    with locked(args.lock):
        return _make_corpus(name, path, args, corpora)


def _make_corpus(name: str, path: Path, args: argparse.Namespace,
                 corpora: dict[str, embedsearch.Corpus]) -> tuple[embedsearch.Corpus, float]:
    started = time.perf_counter()
    if name == "kiwijamo" and not args.ingest_jamo:
        print(f"{name}: derived from the Kiwi corpus ...", flush=True)
        corpus = derive_jamo_corpus(corpora["kiwi"], path, args.input)
    else:
        print(f"{name}: ingest ({PIPELINES[name]().describe()}) ...", flush=True)
        corpus = embedsearch.ingest([args.input], path, pipeline=PIPELINES[name](), workers=args.workers, overwrite=True)
    return corpus, time.perf_counter() - started


def derive_jamo_corpus(kiwi: embedsearch.Corpus, path: Path, source: Path, check_documents: int = 300) -> embedsearch.Corpus:
    """The corpus ``ingest --lang ko --jamo`` makes, from the Kiwi corpus: every token decomposed.
    Checked first: the Kiwi + jamo pipeline run on the input's first documents gives the first lines."""
    import json
    import shutil

    from embedsearch.text.jamo import decompose

    pipeline = PIPELINES["kiwijamo"]()
    if [s.to_dict() for s in pipeline.steps[:-1]] != [s.to_dict() for s in kiwi.pipeline.steps] or pipeline.steps[-1].name != "jamo":
        raise SystemExit(f"{kiwi.path} is not the Kiwi pipeline followed by jamo: ingest with --ingest-jamo")
    compiled = pipeline.compile()
    expected: list[str] = []
    with open(source, encoding="utf-8", errors="replace") as handle:
        for _, line in zip(range(check_documents), handle):
            if line.strip():
                expected.extend(" ".join(tokens) for tokens in compiled.process(line))
    if path.exists():
        shutil.rmtree(path)
    partial = path.with_name(path.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    with open(kiwi.text_path, encoding="utf-8") as src, open(partial / "corpus.txt", "w", encoding="utf-8") as out:
        for number, line in enumerate(src):
            decomposed = decompose(line)
            if number < len(expected) and decomposed.rstrip("\n") != expected[number]:
                raise SystemExit(f"derived line {number + 1} differs from what the jamo pipeline makes of the input: "
                                 "ingest with --ingest-jamo")
            out.write(decomposed)
    meta = json.loads((kiwi.path / "corpus.json").read_text(encoding="utf-8"))
    meta["pipeline"] = pipeline.to_dict()
    (partial / "corpus.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    partial.rename(path)
    return embedsearch.open_corpus(path)


def settings_tag(row: str, args: argparse.Namespace) -> str:
    if row == "svd-kiwi":  # PPMI-SVD takes only these of the shared settings
        tag = f"d{args.dim}_w{args.window}_m{args.min_count}"
    else:
        tag = f"d{args.dim}_w{args.window}_e{args.epochs}_n{args.negative}_s{args.sample:g}_a{args.alpha:g}_m{args.min_count}"
    if args.arch != "skipgram" and row != "svd-kiwi":
        tag += f"_{args.arch}"
    if args.add_context is not None and not row.startswith("ft-"):
        tag += "_wc" if args.add_context else "_w"
    if args.w2v_combine is not None and row.startswith("w2v-"):
        tag += f"_cmb-{args.w2v_combine}"
    if row.startswith("w2v-") and args.combine_window is not None:
        tag += f"_cw{args.combine_window}"
    if row.startswith("w2v-") and args.combine_weight is not None:
        tag += f"_cx{args.combine_weight:g}"
    if row == "ft-kiwi":
        tag += f"_ng{args.minn}-{args.maxn}"
    if row == "ft-jamo":
        tag += f"_ng{args.jamo_minn}-{args.jamo_maxn}"
    return tag


def train_row(row: str, corpus: embedsearch.Corpus, seed: int, args: argparse.Namespace, work: Path) -> tuple[Path, float | None]:
    _, model = ROWS[row]
    store_path = work / "stores" / f"{row}_{settings_tag(row, args)}_seed{seed}"
    if (args.reuse or args.score_only) and is_published(store_path):
        return store_path, None
    if args.score_only:
        raise SystemExit(f"no store {store_path}")
    minn, maxn = (args.jamo_minn, args.jamo_maxn) if row == "ft-jamo" else (args.minn, args.maxn)
    if model == "ppmi-svd":  # its own defaults (docs/count-models.md) but for the shared dim, window, min-count
        settings = dict(add_context=args.add_context)
    else:
        settings = dict(arch=args.arch, negative=args.negative, sample=args.sample, alpha=args.alpha, epochs=args.epochs,
                        minn=minn, maxn=maxn, add_context=None if model == "fasttext" else args.add_context)
        if model == "word2vec" and args.w2v_combine is not None:
            settings["combine"] = args.w2v_combine
        if model == "word2vec" and args.combine_window is not None:
            settings["combine_window"] = args.combine_window
        if model == "word2vec" and args.combine_weight is not None:
            settings["combine_weight"] = args.combine_weight
    config = embedsearch.TrainConfig(model=model, dim=args.dim, window=args.window, min_count=args.min_count,
                                     workers=args.workers, seed=seed, **settings)
    print(f"{row} seed {seed}: train ({corpus.stats.tokens:,} tokens) ...", flush=True)
    with locked(args.lock):
        started = time.perf_counter()
        embedsearch.train(corpus, store_path, config=config, overwrite=True)
        return store_path, time.perf_counter() - started


def size_mb(path: Path) -> float:
    out = subprocess.run(["du", "-sbL", str(path)], capture_output=True, text=True, check=True).stdout
    return int(out.split()[0]) / 1e6


def median_of(runs: list[dict], *keys: str) -> float:
    values = []
    for run in runs:
        value = run
        for key in keys:
            value = value[key]
        values.append(value)
    return statistics.median(values)


def table(results: dict[str, dict]) -> str:
    """The markdown table: one row per (row, settings), medians over its runs."""
    header = ["store", "tokens", "vocabulary", "store MB", "kor_ws353 ρ (covered)", "ρ, OOV as 0",
              "kor2vec sem top-1 / top-30", "kor2vec syn top-1 / top-30", "SungjoonPark top-1 / top-30",
              "questions asked (sem / syn / SJP)", "train s", "runs"]
    rows = []
    for key, r in results.items():
        row = key.split()[0]
        runs = r["runs"]
        times = [run["train_seconds"] for run in runs if run["train_seconds"] is not None]
        ws = runs[0]["ws353"]
        label = LABELS[row] + (f" [{r['settings']}]" if " " in key else "")
        cells = [label, f"{r['tokens']:,}", f"{median_of(runs, 'vocabulary'):,.0f}", f"{median_of(runs, 'store_mb'):,.0f}",
                 f"**{median_of(runs, 'ws353', 'spearman_covered'):.3f}** ({ws['covered']}/{ws['pairs']})",
                 f"{median_of(runs, 'ws353', 'spearman_all_oov0'):.3f}"]
        for name in ANALOGIES:
            cells.append(f"{100 * median_of(runs, 'analogies', name, 'top1_all'):.1f} / "
                         f"{100 * median_of(runs, 'analogies', name, 'top30_all'):.1f}")
        cells.append(" / ".join(f"{100 * runs[0]['analogies'][n]['asked'] / runs[0]['analogies'][n]['questions']:.0f}%"
                                for n in ANALOGIES))
        cells.append(f"{statistics.median(times):.0f}" if times else "(reused)")
        if len(runs) > 1:
            values = ", ".join(f"{run['ws353']['spearman_covered']:.3f}" for run in runs)
            cells.append(f"median of {len(runs)} (ρ {values})")
        else:
            cells.append("1 run")
        rows.append(cells)
    return markdown_table(header, rows)


def combine(paths: list[str], base: str | None) -> None:
    """One table from the JSON of several runs of this script (rows run in parallel, extra seeds):
    runs of the same row and settings are pooled; rows at other settings than ``base`` are labelled."""
    import json

    pooled: dict[str, dict] = {}
    for path in paths:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        for row, r in data["results"].items():
            settings = r["settings"]
            key = row if base is None or settings.startswith(base) else f"{row} {settings}"
            entry = pooled.setdefault(key, {**r, "runs": []})
            seen = {run["seed"] for run in entry["runs"]}
            entry["runs"].extend(run for run in r["runs"] if run["seed"] not in seen)
    order = {row: i for i, row in enumerate(ROWS)}
    results = dict(sorted(pooled.items(), key=lambda item: (" " in item[0], order[item[0].split()[0]], item[0])))
    for r in results.values():
        r["runs"].sort(key=lambda run: run["seed"])
    print(table(results))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--combine":
        rest = sys.argv[2:]
        base = None
        if rest[:1] == ["--base"]:
            base, rest = rest[1], rest[2:]
        combine(rest, base)
        return
    args = parse_args()
    require_file(args.input)
    pairs = read_pairs(require_file(args.pairs))
    for path in ANALOGIES.values():
        require_file(args.data / "eval" / "ko" / path)
    work = workdir(args.workdir, "embedsearch-korean-")
    info = machine()
    print(f"machine: {machine_line(info)}")
    results: dict[str, dict] = {}
    corpora: dict[str, embedsearch.Corpus] = {}
    for row in args.rows:
        name, _ = ROWS[row]
        if name not in corpora:
            corpora[name], seconds = corpus_for(name, args, work, corpora)
            if seconds is not None:
                print(f"{name}: ingested in {seconds:.0f} s")
        corpus = corpora[name]
        runs = []
        for seed in args.seeds:
            store_path, seconds = train_row(row, corpus, seed, args, work)
            with embedsearch.open_store(store_path) as store:
                run = {"seed": seed, "store": str(store_path), "train_seconds": seconds, "vocabulary": len(store),
                       "store_mb": size_mb(store_path), "ws353": score_pairs(store, pairs),
                       "analogies": score_analogies(store, args.data)}
            print(f"  {row} seed {seed}: kor_ws353 {run['ws353']['spearman_covered']:.3f} "
                  f"({run['ws353']['covered']}/{run['ws353']['pairs']}), "
                  + ", ".join(f"{k} {100 * v['top1_all']:.1f}/{100 * v['top30_all']:.1f}" for k, v in run["analogies"].items()),
                  flush=True)
            runs.append(run)
        results[row] = {"pipeline": corpus.pipeline.describe(), "tokens": corpus.stats.tokens,
                        "settings": settings_tag(row, args), "runs": runs}

    print()
    print(f"Machine: {machine_line(info)}. Input: {args.input.name} ({args.input.stat().st_size / 1e6:.0f} MB). "
          f"Same training for every row: {args.arch}, dim {args.dim}, window {args.window}, {args.epochs} epochs, "
          f"negative {args.negative}, sample {args.sample:g}, alpha {args.alpha:g}, min-count {args.min_count}, "
          f"{args.workers} workers; FastText n-grams {args.minn}-{args.maxn} syllables, {args.jamo_minn}-{args.jamo_maxn} jamo.")
    print()
    print(table(results))
    write_json(args.json_out, {"machine": info, "input": str(args.input), "args": {k: str(v) for k, v in vars(args).items()},
                               "results": results})


if __name__ == "__main__":
    main()
