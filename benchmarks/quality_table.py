"""Embedding quality table: train configurations with `embedsearch train`, score them with `embedsearch evaluate`.

For each configuration (and each seed) this runs, through the CLI, exactly the commands a user would:

    embedsearch train CORPUS -o STORE --workers 2 --seed SEED [CONFIG ARGS] --json
    embedsearch evaluate analogies STORE questions-words.txt --method 3cosadd --restrict 30000 --json
    embedsearch evaluate analogies STORE questions-words.txt --method 3cosmul --restrict 30000 --json
    embedsearch evaluate pairs STORE wordsim353.tsv simlex999.txt EN-MEN-TR-3k.txt EN-RW-STANFORD.txt --json
    embedsearch evaluate pairs STORE EN-RW-STANFORD.txt --subwords --json        # fastText stores only
    embedsearch analogy -s STORE man king woman -k 200 --json                     # rank of `queen`

and reports training time (the `seconds` train reports: the training itself, without ingest or
writing the store), Google analogy accuracy (3CosAdd and 3CosMul, questions and answers among the
30,000 most frequent words, as in word2vec.c and gensim), Spearman's rho on WordSim-353,
SimLex-999, MEN and Stanford Rare Words (pairs with a word out of vocabulary are skipped and
counted; fastText stores also get RW with those pairs scored through subwords), and the rank of
`queen` for `man : king :: woman : ?` (issue 2's check) among all words, and among the 30,000 most
frequent words (the candidates the analogy benchmark allows).

A configuration is ``LABEL=ARGS``: ARGS are `embedsearch train` options (empty: the defaults).
Without ``--config`` three rows run: the project's defaults (Word2Vec CBOW, 200 dims, window 8,
sample 1e-4, 15 epochs), and Word2Vec skip-gram and FastText skip-gram at 100 dims, window 5,
sample 1e-3, 5 epochs (the previous defaults). Multi-threaded training is not
bit-reproducible, so ``--seeds 1,2,3`` repeats each configuration and the table gives the median
(fastText takes no seed: its repeats are plain reruns).

``--postprocess center,abtt:1,abtt:2`` also scores each trained store post-processed each of those
ways, without training again: a hard-linked copy of the store gets `embedsearch reindex -s COPY
--postprocess SPEC` (which never writes through the links), then the same evaluations; its row is
labelled ``LABEL+SPEC`` and repeats the training time of the store it came from.

``--lock PATH`` takes an exclusive ``flock`` on PATH around each training command (the shared
machine's benchmark lock), so a wait for the lock is never counted as training time; evaluations
are not timed and run without it. Results are written
per run as JSON under WORKDIR/runs; ``--reuse`` keeps finished runs, so an interrupted table can
be completed. Stores stay under WORKDIR/stores.

Run (from the repository root; about 18 minutes for the default three rows on 2 cores):

    python benchmarks/quality_table.py --workdir /tmp/quality --corpus /tmp/bench/corpus \\
        --json-out /tmp/quality/table.json --md-out /tmp/quality/table.md
    python benchmarks/quality_table.py --workdir /tmp/quality --seeds 1,2,3 --config "defaults=" \\
        --config "sg-w10=--arch skipgram --dim 100 --window 10 --epochs 5" --config "cbow-300d=--dim 300"
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sqlite3
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import (
    DEFAULT_INPUT,
    REPO,
    locked,
    machine,
    machine_line,
    markdown_table,
    require_file,
    workdir,
    write_json,
)

EVAL = REPO.parent / "shared" / "data" / "eval" / "en"
ANALOGIES = "questions-words.txt"
PAIRS = [("WS353", "wordsim353.tsv"), ("SimLex", "simlex999.txt"), ("MEN", "faruqui/EN-MEN-TR-3k.txt"),
         ("RW", "faruqui/EN-RW-STANFORD.txt")]
OLD_DEFAULTS = "--dim 100 --window 5 --sample 1e-3 --negative 5 --epochs 5 --alpha 0.025"  # the defaults before issue 4's table
DEFAULT_CONFIGS = ["defaults=", f"w2v-skipgram-100d-5ep=--arch skipgram {OLD_DEFAULTS}",
                   f"fasttext-skipgram-100d-5ep=--model fasttext --arch skipgram {OLD_DEFAULTS}"]
QUEEN_K = 10      # answers kept in the results
QUEEN_POOL = 200  # queen's rank is found among this many answers, and among those of them in the --restrict most frequent


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    parser.add_argument("--input", type=Path, default=DEFAULT_INPUT, help="raw text to ingest when --corpus is not given")
    parser.add_argument("--corpus", type=Path, help="a tokenized corpus directory from `embedsearch ingest` "
                        "(default: ingest --input into WORKDIR/corpus with the default pipeline)")
    parser.add_argument("--eval-dir", type=Path, default=EVAL, help="folder with questions-words.txt, wordsim353.tsv, "
                        "simlex999.txt and faruqui/ (default: ../shared/data/eval/en)")
    parser.add_argument("--workdir", help="where the corpus, stores and per-run results go (default: a new /tmp directory)")
    parser.add_argument("--config", action="append", metavar="LABEL=ARGS",
                        help="a configuration: a label and `embedsearch train` options; repeatable "
                             "(default: the three default rows)")
    parser.add_argument("--model", choices=["word2vec", "fasttext", "glove", "ppmi-svd"],
                        help="train this model: adds `--model MODEL` to every configuration; without --config, "
                             "one row of MODEL's defaults")
    parser.add_argument("--seeds", default="1", help="comma-separated seeds; each configuration runs once per seed (default: 1)")
    parser.add_argument("--workers", type=int, default=2, help="training threads (default: 2)")
    parser.add_argument("--restrict", type=int, default=30000, help="analogy vocabulary restriction (default: 30000)")
    parser.add_argument("--postprocess", default="", metavar="SPECS",
                        help="comma-separated post-processing variants (center, abtt:D) to score on every trained store")
    parser.add_argument("--quick-variants", action="store_true",
                        help="post-processing variants: 3CosAdd analogies and the pair sets only (no 3CosMul, no queen rank)")
    parser.add_argument("--lock", type=Path, help="take an exclusive flock on this file around each training command")
    parser.add_argument("--reuse", action="store_true", help="keep runs whose results are already in WORKDIR/runs")
    parser.add_argument("--from-stores", action="store_true",
                        help="a run without a result but with a finished store (e.g. the evaluation failed): take its "
                             "training record from the store's metadata instead of training again")
    parser.add_argument("--evaluate-only", action="store_true",
                        help="with --reuse: re-run the evaluations of existing stores, not their training")
    parser.add_argument("--embedsearch", default=None,
                        help="the embedsearch command (default: the one next to this Python, else `python cli.py`)")
    parser.add_argument("--json-out", help="write all results as JSON to this path")
    parser.add_argument("--md-out", help="write the markdown tables to this path")
    return parser.parse_args()


def embedsearch_command(explicit: str | None) -> list[str]:
    if explicit:
        return shlex.split(explicit)
    script = Path(sys.executable).with_name("embedsearch")
    return [str(script)] if script.exists() else [sys.executable, str(REPO / "cli.py")]


class Runner:
    def __init__(self, base: list[str], lock: Path | None) -> None:
        self.base = base
        self.lock = lock
        self.shown: list[str] = []

    def run_json(self, args: list[str], timed: bool = True) -> tuple[Any, float]:
        """Run `embedsearch -q ARGS` (under the lock if ``timed``); return its JSON output and its wall time."""
        command = [*self.base, "-q", *args]
        self.shown.append(shlex.join(["embedsearch", *args]))
        print("  $ " + self.shown[-1], file=sys.stderr, flush=True)
        with locked(self.lock if timed else None):
            started = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True)
            wall = time.perf_counter() - started
        if done.returncode != 0:
            sys.exit(f"error: {shlex.join(command)} exited with {done.returncode}:\n{done.stderr.strip()}")
        return json.loads(done.stdout), wall


def parse_configs(specs: list[str] | None) -> list[tuple[str, list[str]]]:
    configs = []
    for spec in specs or DEFAULT_CONFIGS:
        label, sep, args = spec.partition("=")
        if not sep or not label.strip() or "/" in label:
            sys.exit(f"error: --config {spec!r}: expected LABEL=ARGS (ARGS may be empty), label without '/'")
        configs.append((label.strip(), shlex.split(args)))
    return configs


def ensure_corpus(args: argparse.Namespace, runner: Runner, work: Path) -> Path:
    if args.corpus:
        if not (args.corpus / "corpus.json").is_file():
            sys.exit(f"error: {args.corpus} is not a corpus directory (no corpus.json); make one with `embedsearch ingest`")
        return args.corpus
    corpus = work / "corpus"
    if not (corpus / "corpus.json").is_file():
        runner.run_json(["ingest", str(require_file(args.input)), "-o", str(corpus), "--json"])
    return corpus


def rank_of(word: str, words: list[str]) -> int | None:
    return words.index(word) + 1 if word in words else None


def frequency_rows(store: Path, words: list[str]) -> list[int]:
    """Each word's row in the store, which is its frequency rank (rows are sorted by corpus count)."""
    import sqlite3

    current = store / "CURRENT"  # a store publishes generations: its files are in the one CURRENT names
    live = store / current.read_text(encoding="utf-8").strip() if current.is_file() else store
    with contextlib.closing(sqlite3.connect(f"file:{live / 'meta.sqlite'}?mode=ro", uri=True)) as db:
        rows = dict(db.execute(f"SELECT word, id FROM words WHERE word IN ({','.join('?' * len(words))})", words))
    return [rows[w] for w in words]


def one_run(runner: Runner, corpus: Path, eval_dir: Path, store: Path, train_args: list[str],
            restrict: int, train_record: dict[str, Any] | None, full: bool = True) -> dict[str, Any]:
    runner.shown = []
    reused = train_record is not None
    if train_record is None:
        result, wall = runner.run_json(["train", str(corpus), "-o", str(store), *train_args, "--force", "--json"])
        train_record = {"command": runner.shown[-1], "seconds": result["seconds"], "wall_seconds": round(wall, 1),
                        "words": result["words"], "corpus_words": result["corpus_words"], "config": result["config"]}
    record: dict[str, Any] = {"train": train_record, "analogy": {}, "pairs": {}, "queen": {}}
    for method in ("3cosadd", "3cosmul") if full else ("3cosadd",):
        answer, _ = runner.run_json(["evaluate", "analogies", "-s", str(store), str(eval_dir / ANALOGIES), "--method", method,
                                     "--restrict", str(restrict), "--json"], timed=False)
        record["analogy"][method] = {part: answer[part] for part in ("total", "semantic", "syntactic")}
    answer, _ = runner.run_json(["evaluate", "pairs", "-s", str(store), *(str(eval_dir / f) for _, f in PAIRS), "--json"], timed=False)
    for (name, _), scores in zip(PAIRS, answer):
        record["pairs"][name] = scores
    if train_record["config"].get("model") == "fasttext":
        answer, _ = runner.run_json(["evaluate", "pairs", "-s", str(store), str(eval_dir / PAIRS[-1][1]), "--subwords", "--json"], timed=False)
        record["pairs"]["RW+subwords"] = answer[0]
    for method in ("3cosadd", "3cosmul") if full else ():
        answer, _ = runner.run_json(["analogy", "-s", str(store), "man", "king", "woman", "-k", str(QUEEN_POOL),
                                     "--method", method, "--json"], timed=False)
        words = [n["word"] for n in answer["neighbors"]]
        frequent = [w for w, row in zip(words, frequency_rows(store, words)) if row < restrict]
        record["queen"][method] = {"rank": rank_of("queen", words), "rank_in_restricted": rank_of("queen", frequent),
                                   "top": words[:QUEEN_K], "top_restricted": frequent[:QUEEN_K]}
    record["commands"] = ([train_record["command"]] if reused else []) + runner.shown
    return record


def _link_arrays(source: str, target: str) -> None:
    """Hard-link the big arrays, copy the rest (the lock file and the metadata stay the copy's own)."""
    if source.endswith((".npy", ".faiss")):
        os.link(source, target)
    else:
        shutil.copy2(source, target)


def postprocessed_run(runner: Runner, base: dict[str, Any], store: Path, spec: str, corpus: Path, eval_dir: Path,
                      restrict: int, full: bool) -> dict[str, Any]:
    """The evaluations of ``store`` post-processed with ``spec``, on a hard-linked copy (reindex writes
    new files and never through the links, so the trained store stays as it was)."""
    variant = store.with_name(f"{store.name}+{spec}")
    if variant.exists():
        shutil.rmtree(variant)
    shutil.copytree(store, variant, copy_function=_link_arrays)
    runner.run_json(["reindex", "-s", str(variant), "--postprocess", spec, "--json"], timed=False)
    reindexed = runner.shown[-1]
    record = one_run(runner, corpus, eval_dir, variant, [], restrict, base["train"], full)
    record["commands"].insert(1, reindexed)
    return record


def train_record_from_store(store: Path, corpus: Path, train_args: list[str]) -> dict[str, Any]:
    """What `train --json` reported, from the store's own metadata (training time, sizes, parameters)."""
    current = store / "CURRENT"
    live = store / current.read_text(encoding="utf-8").strip() if current.is_file() else store
    with contextlib.closing(sqlite3.connect(f"file:{live / 'meta.sqlite'}?mode=ro", uri=True)) as db:
        meta = {key: json.loads(value) for key, value in db.execute("SELECT key, value FROM meta")}
    model = meta["model"]
    command = shlex.join(["embedsearch", "train", str(corpus), "-o", str(store), *train_args, "--force", "--json"])
    return {"command": command, "seconds": model["train_seconds"], "wall_seconds": None, "words": meta["words"],
            "corpus_words": model["corpus_words"], "config": model["params"], "from_store": True}


def fmt_rank(rank: int | None) -> str:
    return f">{QUEEN_POOL}" if rank is None else str(rank)


def summary_row(label: str, args: list[str], runs: list[dict[str, Any]]) -> dict[str, Any]:
    def med(values: list[float]) -> float:
        return statistics.median(values)

    config = runs[0]["train"]["config"]
    row: dict[str, Any] = {
        "label": label, "args": shlex.join(args), "runs": len(runs),
        "settings": settings(config),
        "train_seconds": med([r["train"]["seconds"] for r in runs]),
        "words": runs[0]["train"]["words"],
        "analogy_3cosadd": med([r["analogy"]["3cosadd"]["total"]["accuracy"] for r in runs]),
        "analogy_3cosmul": (med([r["analogy"]["3cosmul"]["total"]["accuracy"] for r in runs])
                            if all("3cosmul" in r["analogy"] for r in runs) else None),
        "analogy_answered": runs[0]["analogy"]["3cosadd"]["total"]["answered"],
        "queen_ranks_3cosadd": [r["queen"]["3cosadd"]["rank"] for r in runs if r["queen"]],
        "queen_ranks_3cosmul": [r["queen"]["3cosmul"]["rank"] for r in runs if r["queen"]],
        "queen_ranks_3cosadd_restricted": [r["queen"]["3cosadd"].get("rank_in_restricted", "n/a") for r in runs if r["queen"]],
    }
    for name in [p for p, _ in PAIRS] + ["RW+subwords"]:
        if name in runs[0]["pairs"]:
            row[name] = med([r["pairs"][name]["spearman"] for r in runs])
            row[f"{name}_pairs"] = runs[0]["pairs"][name]["pairs"]
    return row


def settings(config: dict[str, Any]) -> str:
    """The settings that shaped a model, in words (each model records only its own)."""
    model = config["model"]
    if model == "glove":
        return (f"glove, {config['dim']}d, window {config['window']} (1/d), {config['epochs']} epochs, alpha {config['alpha']:g}, "
                f"x_max {config['x_max']:g}, {'W + W~' if config['add_context'] else 'W'}")
    if model == "ppmi-svd":
        return (f"ppmi-svd, {config['dim']}d, window {config['window']}, shift k={config['negative']}, cds {config['cds']:g}, "
                f"eig {config['eig']:g}{', w + c' if config['add_context'] else ''}")
    text = (f"{model} {config['arch']}, {config['dim']}d, window {config['window']}, "
            f"negative {config['negative']}, sample {config['sample']:g}, {config['epochs']} epochs, "
            f"alpha {config['alpha']:g}")
    if model == "fasttext":
        text += f", n-grams {config['minn']}-{config['maxn']}, {config['bucket']:,} buckets"
    text += ", w + c" if config.get("add_context") else ""
    if config.get("combine") not in (None, "none"):
        text += (f"; + {config['combine']} {config['combine_dim']}d, window {config['combine_window']}, "
                 f"{config['combine_weight']:g} of each cosine")
    return text


def markdown(rows: list[dict[str, Any]], seeds: list[int]) -> str:
    header = ["configuration", "settings", "train s", "analogy 3CosAdd", "analogy 3CosMul", "WS353", "SimLex", "MEN", "RW",
              "queen rank (3CosAdd)", f"queen rank, top {RESTRICT[0] // 1000}k words"]
    table = []
    for row in rows:
        rw = f"{row['RW']:.3f}"
        if "RW+subwords" in row:
            rw += f" ({row['RW+subwords']:.3f} with subwords)"
        table.append([f"{row['label']} `{row['args']}`" if row["args"] else f"{row['label']} (defaults)", row["settings"],
                      f"{row['train_seconds']:.0f}", f"{row['analogy_3cosadd']:.1%}",
                      "–" if row["analogy_3cosmul"] is None else f"{row['analogy_3cosmul']:.1%}",
                      f"{row['WS353']:.3f}", f"{row['SimLex']:.3f}", f"{row['MEN']:.3f}", rw,
                      ", ".join(fmt_rank(r) for r in row["queen_ranks_3cosadd"]) or "–",
                      ", ".join(fmt_rank(r) for r in row["queen_ranks_3cosadd_restricted"]) or "–"])
    first = rows[0]
    note = (f"Medians over {len(seeds)} run(s) per row (seeds {', '.join(map(str, seeds))}); queen ranks listed per run. "
            f"Analogy: {first['analogy_answered']:,} of 19,544 questions within the {RESTRICT[0]:,} most frequent words. "
            f"Pairs scored (others out of vocabulary): WS353 {first['WS353_pairs']}, SimLex {first['SimLex_pairs']}, "
            f"MEN {first['MEN_pairs']}, RW {first['RW_pairs']}.")
    return markdown_table(header, table) + "\n\n" + note + "\n"


RESTRICT = [30000]


def main() -> None:
    args = parse_args()
    RESTRICT[0] = args.restrict
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    configs = parse_configs(args.config if args.config or not args.model else [f"{args.model}="])
    if args.model:
        configs = [(label, ["--model", args.model, *config_args]) for label, config_args in configs]
    work = workdir(args.workdir, "quality-")
    for path in [args.eval_dir / ANALOGIES, *(args.eval_dir / f for _, f in PAIRS)]:
        require_file(path)
    runner = Runner(embedsearch_command(args.embedsearch), args.lock)
    corpus = ensure_corpus(args, runner, work)
    (work / "runs").mkdir(exist_ok=True)
    (work / "stores").mkdir(exist_ok=True)

    rows, all_runs = [], {}
    for label, config_args in configs:
        runs = []
        for seed in seeds:
            name = f"{label}.seed{seed}"
            record_path, store = work / "runs" / f"{name}.json", work / "stores" / name
            train_args = ["--workers", str(args.workers), "--seed", str(seed), *config_args]
            previous = json.loads(record_path.read_text()) if args.reuse and record_path.is_file() else None
            if previous is not None and previous.get("args") != config_args:
                sys.exit(f"error: {record_path} was run with {shlex.join(previous.get('args', []))!r}, not "
                         f"{shlex.join(config_args)!r}; use another label or remove it")
            if previous is None and args.from_stores and (store / "CURRENT").is_file():
                previous = {"train": train_record_from_store(store, corpus, train_args)}
                print(f"{name}: training record taken from the store", file=sys.stderr, flush=True)
            if previous is not None and not args.evaluate_only and "analogy" in previous:
                record = previous
            else:
                print(f"{name}: {shlex.join(train_args)}", file=sys.stderr, flush=True)
                record = one_run(runner, corpus, args.eval_dir, store, train_args, args.restrict,
                                 previous["train"] if previous and store.is_dir() else None)
                record.update(label=label, seed=seed, args=config_args)
                record_path.write_text(json.dumps(record, indent=2) + "\n")
            runs.append(record)
            print(f"{name}: train {record['train']['seconds']:.0f} s, analogy {record['analogy']['3cosadd']['total']['accuracy']:.1%}"
                  f" / {record['analogy']['3cosmul']['total']['accuracy']:.1%}, "
                  + ", ".join(f"{p} {record['pairs'][p]['spearman']:.3f}" for p, _ in PAIRS)
                  + f", queen {fmt_rank(record['queen']['3cosadd']['rank'])}", file=sys.stderr, flush=True)
        rows.append(summary_row(label, config_args, runs))
        all_runs[label] = runs
        for spec in [s.strip() for s in args.postprocess.split(",") if s.strip()]:
            variant_label, variant_runs = f"{label}+{spec}", []
            for seed, base in zip(seeds, runs):
                name = f"{variant_label}.seed{seed}"
                record_path, store = work / "runs" / f"{name}.json", work / "stores" / f"{label}.seed{seed}"
                previous = json.loads(record_path.read_text()) if args.reuse and record_path.is_file() else None
                if previous is None or previous["train"] != base["train"]:
                    if not store.is_dir():
                        sys.exit(f"error: {store} is missing; train it again (without --reuse) to post-process it")
                    print(f"{name}: reindex --postprocess {spec}", file=sys.stderr, flush=True)
                    previous = postprocessed_run(runner, base, store, spec, corpus, args.eval_dir, args.restrict,
                                                 not args.quick_variants)
                    previous.update(label=variant_label, seed=seed, args=config_args, postprocess=spec)
                    record_path.write_text(json.dumps(previous, indent=2) + "\n")
                variant_runs.append(previous)
                print(f"{name}: analogy {previous['analogy']['3cosadd']['total']['accuracy']:.1%}, "
                      + ", ".join(f"{p} {previous['pairs'][p]['spearman']:.3f}" for p, _ in PAIRS), file=sys.stderr, flush=True)
            row = summary_row(variant_label, config_args, variant_runs)
            row["settings"] += f", postprocess {spec}"
            row["args"] = shlex.join([*config_args, "--postprocess", spec])
            rows.append(row)
            all_runs[variant_label] = variant_runs

    info = machine()
    table = markdown(rows, seeds)
    print(f"\nMachine: {machine_line(info)}\nCorpus: {corpus}\n")
    print(table)
    if args.md_out:
        Path(args.md_out).write_text(f"Machine: {machine_line(info)}\n\n{table}")
        print(f"markdown written to {args.md_out}")
    write_json(args.json_out, {"machine": info, "corpus": str(corpus), "seeds": seeds, "restrict": args.restrict,
                               "rows": rows, "runs": all_runs})


if __name__ == "__main__":
    main()
