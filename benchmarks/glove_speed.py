"""GloVe speed and quality: ``embedsearch train --model glove`` vs Stanford's C GloVe, same corpus, same settings.

Both sides read the same tokenized ``corpus.txt`` (from ``embedsearch ingest``) with the same
vocabulary (``--min-count``), window (symmetric, 1/d weighting), dimensions, iterations, x_max
(100), weighting exponent (0.75), learning rate (0.05), threads (``--workers``) and output
(word + context vectors, Stanford's ``-model 2``). Timed:

- ours: ``embedsearch.train(..., contexts=0)``: counting words and co-occurrences, shuffling,
  training (the ``seconds`` it reports), and separately the whole call with writing the store;
- the reference: ``vocab_count``, ``cooccur`` (``-memory 4``), ``shuffle`` and ``glove``
  (``-binary 0``, writing ``vectors.txt``), each timed; its total is the four steps.

Speed ratio = reference seconds / our seconds (>= 1 means ours is faster; the target is >= 0.8),
for the whole pipeline and for the training step alone (our epochs against ``glove``'s run, which
also reads its 45M-record input and writes its vectors). Quality: the reference's
``vectors.txt`` is imported with ``embedsearch.import_vectors`` under the corpus's own pipeline (so
a test word such as ``Jerusalem`` is lowercased for both stores alike; imported as typed, the
reference would skip every pair and question with a capital letter) and both stores are scored by
``embedsearch.evaluate``: Google analogies (3CosAdd, 30,000 most frequent words), WordSim-353,
SimLex-999 and MEN (Spearman). Targets: analogy within 1 point, each rho within 0.01.

The reference is not part of this project: ``--glove-bin DIR`` is the ``build`` directory of a
GloVe checkout that you compiled yourself; without it the reference row is skipped. ``--lock
PATH`` takes an exclusive flock on PATH around each timed side (not around evaluation), so the
machine's shared benchmark lock is held for one side at a time.

Run (from the repository root):

    python benchmarks/glove_speed.py --corpus /tmp/q15/corpus --glove-bin /path/to/GloVe/build \\
        --eval-dir ../shared/data/eval/en --workdir /tmp/q15/bench --lock /tmp/BENCH_LOCK \\
        --json-out /tmp/q15/bench/glove_speed.json --md-out /tmp/q15/bench/glove_speed.md
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import DEFAULT_INPUT, REPO, locked, machine, machine_line, markdown_table, median, require_file, workdir, write_json

import embedsearch
from embedsearch.evaluate import evaluate_analogies, evaluate_pairs
from embedsearch.formats import import_vectors

EVAL = REPO.parent / "shared" / "data" / "eval" / "en"  # from a worktree, pass --eval-dir /work/shared/data/eval/en
PAIRS = [("WS353", "wordsim353.tsv"), ("SimLex", "simlex999.txt"), ("MEN", "faruqui/EN-MEN-TR-3k.txt")]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    parser.add_argument("--input", type=Path, default=DEFAULT_INPUT, help="raw text to ingest when --corpus is not given")
    parser.add_argument("--corpus", type=Path, help="a corpus directory from `embedsearch ingest` (default: ingest --input)")
    parser.add_argument("--glove-bin", type=Path, help="Stanford GloVe's build directory (vocab_count, cooccur, shuffle, glove)")
    parser.add_argument("--workdir", help="where stores and the reference's files go (default: a new /tmp directory)")
    parser.add_argument("--eval-dir", type=Path, default=EVAL)
    parser.add_argument("--dim", type=int, default=50)
    parser.add_argument("--window", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--min-count", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runs", type=int, default=1, help="timed runs per side, alternating; medians reported")
    parser.add_argument("--lock", type=Path, help="hold an exclusive flock on this file while each side runs")
    parser.add_argument("--evaluate-only", action="store_true",
                        help="skip the timed runs: reuse WORKDIR/timings.json and the stores of an earlier run")
    parser.add_argument("--json-out")
    parser.add_argument("--md-out")
    return parser.parse_args()


def cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def run_ours(corpus: embedsearch.Corpus, store: Path, args: argparse.Namespace) -> dict[str, Any]:
    config = embedsearch.TrainConfig(model="glove", dim=args.dim, window=args.window, epochs=args.epochs,
                                     min_count=args.min_count, workers=args.workers, seed=args.seed)
    phases: dict[str, float] = {}
    cpu_before = cpu_seconds(resource.RUSAGE_SELF) + cpu_seconds(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()

    def progress(event: embedsearch.Progress) -> None:
        if event.final and event.stage not in phases:
            phases[event.stage] = round(time.perf_counter() - started, 2)

    result = embedsearch.train(corpus, store, config=config, overwrite=True, contexts=0, progress=progress)
    wall = time.perf_counter() - started
    cpu = cpu_seconds(resource.RUSAGE_SELF) + cpu_seconds(resource.RUSAGE_CHILDREN) - cpu_before  # with the counting processes
    return {"seconds": result.seconds, "cpu_seconds": round(cpu, 1), "wall_with_store": round(wall, 2),
            "train_epochs_seconds": round(sum(e.seconds for e in result.epochs), 2),
            "epoch_seconds": [e.seconds for e in result.epochs], "final_cost": result.epochs[-1].loss,
            "phases_done_at": phases, "words": result.words}


def run_reference(bin_dir: Path, corpus_txt: Path, out: Path, args: argparse.Namespace) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    steps = [
        ("vocab_count", [str(bin_dir / "vocab_count"), "-min-count", str(args.min_count), "-verbose", "0"], corpus_txt, out / "vocab.txt"),
        ("cooccur", [str(bin_dir / "cooccur"), "-memory", "4.0", "-vocab-file", str(out / "vocab.txt"), "-verbose", "0",
                     "-window-size", str(args.window), "-symmetric", "1", "-distance-weighting", "1"], corpus_txt, out / "cooc.bin"),
        ("shuffle", [str(bin_dir / "shuffle"), "-memory", "4.0", "-verbose", "0", "-seed", str(args.seed)],
         out / "cooc.bin", out / "cooc.shuf.bin"),
        ("glove", [str(bin_dir / "glove"), "-save-file", str(out / "vectors"), "-threads", str(args.workers), "-input-file",
                   str(out / "cooc.shuf.bin"), "-x-max", "100", "-alpha", "0.75", "-eta", "0.05", "-iter", str(args.epochs),
                   "-vector-size", str(args.dim), "-binary", "0", "-model", "2", "-vocab-file", str(out / "vocab.txt"),
                   "-verbose", "2", "-seed", str(args.seed)], None, None),
    ]
    seconds: dict[str, float] = {}
    log = ""
    cpu_before = cpu_seconds(resource.RUSAGE_CHILDREN)
    for name, command, stdin, stdout in steps:
        started = time.perf_counter()
        with open(stdin, "rb") if stdin else open("/dev/null", "rb") as fin, \
                open(stdout, "wb") if stdout else open(out / "glove.log", "wb") as fout:
            done = subprocess.run(command, stdin=fin, stdout=fout, stderr=subprocess.PIPE, cwd=out)
        seconds[name] = round(time.perf_counter() - started, 2)
        log = done.stderr.decode("utf-8", "replace")
        if done.returncode != 0:
            sys.exit(f"error: {name} exited with {done.returncode}: {log[-500:]}")
    costs = [float(line.rsplit("cost:", 1)[1]) for line in log.splitlines() if "cost:" in line]
    for name in ("cooc.bin", "cooc.shuf.bin"):
        (out / name).unlink(missing_ok=True)
    return {"seconds": round(sum(seconds.values()), 2), "steps": seconds,
            "cpu_seconds": round(cpu_seconds(resource.RUSAGE_CHILDREN) - cpu_before, 1), "final_cost": costs[-1] if costs else None}


def quality(store: Path, eval_dir: Path) -> dict[str, Any]:
    """Scores, and under ``scored`` how many questions and pairs each took part (to be compared)."""
    with embedsearch.open_store(store) as opened:
        analogies = evaluate_analogies(opened, eval_dir / "questions-words.txt", method="3cosadd", restrict=30000)
        scores: dict[str, Any] = {"analogy": analogies.total.accuracy}
        scored = {"analogy": analogies.total.answered}
        for name, file in PAIRS:
            pairs = evaluate_pairs(opened, eval_dir / file)
            scores[name] = pairs.spearman
            scored[name] = pairs.pairs
    scores["scored"] = scored
    return scores


def main() -> None:
    args = parse_args()
    work = workdir(args.workdir, "glove-speed-")
    corpus = embedsearch.open_corpus(args.corpus) if args.corpus else embedsearch.ingest(
        [require_file(args.input)], work / "corpus", overwrite=True)
    if args.glove_bin is None:
        print("no --glove-bin: the reference row is skipped", file=sys.stderr)
    ours_runs, ref_runs = [], []
    timings = work / "timings.json"
    if args.evaluate_only:
        saved = json.loads(timings.read_text(encoding="utf-8"))
        ours_runs, ref_runs = saved["ours"], saved["reference"]
    for run in range(0 if args.evaluate_only else args.runs):
        with locked(args.lock):
            print(f"run {run + 1}: ours ...", file=sys.stderr, flush=True)
            ours_runs.append(run_ours(corpus, work / "ours", args))
        print(f"  ours: {ours_runs[-1]}", file=sys.stderr, flush=True)
        if args.glove_bin is not None:
            with locked(args.lock):
                print(f"run {run + 1}: reference ...", file=sys.stderr, flush=True)
                ref_runs.append(run_reference(args.glove_bin, corpus.text_path, work / "reference", args))
            print(f"  reference: {ref_runs[-1]}", file=sys.stderr, flush=True)
    timings.write_text(json.dumps({"ours": ours_runs, "reference": ref_runs}, indent=2), encoding="utf-8")
    result: dict[str, Any] = {"machine": machine(), "corpus": str(corpus.path), "corpus_tokens": corpus.stats.tokens,
                              "settings": {k: getattr(args, k) for k in ("dim", "window", "epochs", "min_count", "workers", "seed")},
                              "ours": ours_runs, "reference": ref_runs,
                              "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)}
    ours_total = median([r["seconds"] for r in ours_runs])
    ours_train = median([r["train_epochs_seconds"] for r in ours_runs])
    ours_cpu = median([r.get("cpu_seconds", float("nan")) for r in ours_runs])
    rows = [["embedsearch glove", f"{ours_total:.1f}", f"{ours_train:.1f}", f"{ours_cpu:.0f}", "", "", ""]]
    result["quality"] = {"ours": quality(work / "ours", args.eval_dir)}
    if ref_runs:
        ref_total = median([r["seconds"] for r in ref_runs])
        ref_train = median([r["steps"]["glove"] for r in ref_runs])
        result["speed_ratio_total"] = round(ref_total / ours_total, 3)
        result["speed_ratio_training"] = round(ref_train / ours_train, 3)
        ref_cpu = median([r.get("cpu_seconds", float("nan")) for r in ref_runs])
        result["speed_ratio_cpu"] = round(ref_cpu / ours_cpu, 3)
        rows.append(["Stanford GloVe (C)", f"{ref_total:.1f}", f"{ref_train:.1f}", f"{ref_cpu:.0f}",
                     f"{result['speed_ratio_total']:.2f}", f"{result['speed_ratio_training']:.2f}", f"{result['speed_ratio_cpu']:.2f}"])
        reference_store = work / "reference_store"
        import_vectors(work / "reference" / "vectors.txt", reference_store, fmt="glove", pipeline=corpus.pipeline,
                       overwrite=True)
        result["quality"]["reference"] = quality(reference_store, args.eval_dir)
    speed = markdown_table(["side", "total s", "training s", "CPU s", "our speed / its (total)", "our speed / its (training)",
                            "its CPU / ours"], rows)
    names = ["analogy", *[n for n, _ in PAIRS]]
    qrows = [[side, *(f"{scores[n]:.1%}" if n == "analogy" else f"{scores[n]:.3f}" for n in names)]
             for side, scores in result["quality"].items()]
    if "reference" in result["quality"]:
        ours_q, ref_q = result["quality"]["ours"], result["quality"]["reference"]
        if ours_q["scored"] != ref_q["scored"]:  # the comparison is only fair on the same questions and pairs
            print(f"warning: the two sides scored different items: ours {ours_q['scored']}, "
                  f"reference {ref_q['scored']}", file=sys.stderr)
        qrows.append(["difference", *(f"{(ours_q[n] - ref_q[n]) * 100:+.1f} pt" if n == "analogy" else f"{ours_q[n] - ref_q[n]:+.3f}"
                                       for n in names)])
    table = (f"{machine_line(result['machine'])}\n\nSettings: {result['settings']}, corpus {corpus.stats.tokens:,} tokens; "
             f"medians of {args.runs} run(s).\n\n{speed}\n\n" + markdown_table(["vectors", "analogy (3CosAdd)", *names[1:]], qrows) + "\n")
    print(table)
    if args.md_out:
        Path(args.md_out).write_text(table, encoding="utf-8")
    write_json(args.json_out, result)


if __name__ == "__main__":
    main()
