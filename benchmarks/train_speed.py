"""Training speed: ``embedsearch.train`` vs raw gensim ``Word2Vec(corpus_file=...)``.

What is measured: the wall-clock time of one full call on each side, on the same tokenized corpus
and with exactly the parameters embedsearch passes to gensim (see
``embedsearch/training/word2vec.py``). Ours includes everything ``train`` does after it is called:
opening the corpus, counting its words, training, sampling contexts, normalising the vectors and
writing the store (vectors, FAISS index, SQLite metadata). Raw gensim is just the ``Word2Vec(...)``
constructor, which builds the vocabulary and trains. The input file is ingested once with
``embedsearch.ingest`` first (not timed), so both sides read the same ``corpus.txt``. Runs
alternate ours, gensim, ours, gensim, ... and the medians are reported, with words/s = corpus
words x epochs / seconds and the ratio ours/raw speed.

Identical training runs on this 2-core machine spread by up to 20%, far more than the difference
under test, so the script also times the two parts where the sides differ: the phase before
training (gensim's one-thread vocabulary scan against ours, a count by one process per worker),
timed alone, and what ours does after training (sampling contexts, writing the store), measured
in every run.
It prints the ratio those parts imply with the training itself equal, as it is the same gensim code.

The last store ours wrote is kept at ``<workdir>/store`` for ``query_speed.py --store``.

Run (from the repository root; takes ~20 minutes with the defaults on 2 cores):

    python benchmarks/train_speed.py --workdir /tmp/bench --json-out /tmp/bench/train_speed.json
"""
from __future__ import annotations

import argparse
import gc
import importlib
import os
import resource
import time
from pathlib import Path

from _common import DEFAULT_INPUT, machine, machine_line, markdown_table, median, require_file, workdir, write_json

import embedsearch


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", type=Path, default=DEFAULT_INPUT, help="text file to ingest (default: %(default)s)")
    parser.add_argument("--workdir", help="where the corpus and store go (default: a new temporary directory under /tmp)")
    parser.add_argument("--reuse-corpus", action="store_true", help="reuse <workdir>/corpus if it was ingested from --input")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per side (default: %(default)s)")
    parser.add_argument("--arch", choices=["skipgram", "cbow"], default="skipgram")
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--window", type=int, default=5)
    parser.add_argument("--sample", type=float, default=1e-3, help="pinned: the README's figures used 1e-3")
    parser.add_argument("--negative", type=int, default=5, help="pinned: the README's figures used 5")
    parser.add_argument("--min-count", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json-out", help="also write the results as JSON to this path")
    return parser.parse_args()


def get_corpus(source: Path, target: Path, reuse: bool) -> embedsearch.Corpus:
    if reuse and (target / "corpus.json").is_file():
        corpus = embedsearch.open_corpus(target)
        if corpus.sources == (str(source),):
            print(f"reusing corpus {target}")
            return corpus
    print(f"ingesting {source} -> {target} (not timed) ...", flush=True)
    return embedsearch.ingest([str(source)], target, overwrite=True)


def cpu_seconds() -> float:
    """User + system CPU time of this process, all threads (gensim trains in threads of this process)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_ours(corpus: embedsearch.Corpus, store: Path, config: embedsearch.TrainConfig) -> tuple[float, float, int, float]:
    """Wall and CPU seconds, vocabulary size, and the seconds spent outside the training backend
    (the vocabulary count and gensim's training are inside; sampling contexts and writing the store
    are outside)."""
    started, cpu = time.perf_counter(), cpu_seconds()
    result = embedsearch.train(corpus, store, config=config, overwrite=True)
    seconds = time.perf_counter() - started
    return seconds, cpu_seconds() - cpu, result.words, seconds - result.seconds


def run_raw(corpus: embedsearch.Corpus, config: embedsearch.TrainConfig) -> tuple[float, float, int, int]:
    from gensim.models import Word2Vec

    started, cpu = time.perf_counter(), cpu_seconds()
    # The settings embedsearch/training/word2vec.py passes; it splits this one call into its own vocabulary
    # count, build_vocab_from_freq and train, and adds progress callbacks.
    model = Word2Vec(
        corpus_file=str(corpus.text_path),
        vector_size=config.dim,
        window=config.window,
        min_count=config.min_count,
        sg=1 if config.arch == "skipgram" else 0,
        hs=0,
        negative=config.negative,
        sample=config.sample,
        epochs=config.epochs,
        alpha=config.alpha,
        min_alpha=config.min_alpha,
        workers=config.workers,
        seed=config.seed,
        compute_loss=config.compute_loss,
    )
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    words, corpus_words = len(model.wv), int(model.corpus_total_words)
    del model
    gc.collect()
    return seconds, cpu, words, corpus_words


def vocabulary_phase(corpus: embedsearch.Corpus, config: embedsearch.TrainConfig, runs: int) -> dict[str, float]:
    """Median seconds of the phase before training on each side, timed alone (it is short, so its
    own noise is small): gensim's single-threaded ``build_vocab(corpus_file=...)`` scan against
    ours, ``count_words`` with the training's workers + ``build_vocab_from_freq``. Both end with the same vocabulary."""
    from gensim.models import Word2Vec

    from embedsearch.training.vocab import count_words

    def model() -> Word2Vec:
        return Word2Vec(vector_size=config.dim, min_count=config.min_count, sample=config.sample, workers=config.workers,
                        seed=config.seed)

    times: dict[str, list[float]] = {"ours": [], "gensim": []}
    for _ in range(runs):
        started = time.perf_counter()
        counted = count_words(corpus.text_path, workers=config.workers)  # as train() calls it
        model().build_vocab_from_freq(counted.counts, corpus_count=counted.sentences)
        times["ours"].append(time.perf_counter() - started)
        started = time.perf_counter()
        model().build_vocab(corpus_file=str(corpus.text_path))
        times["gensim"].append(time.perf_counter() - started)
    return {side: median(values) for side, values in times.items()}


def main() -> None:
    args = parse_args()
    source = require_file(args.input.resolve())
    work = workdir(args.workdir, "embedsearch-train-bench-")
    info = machine()
    config = embedsearch.TrainConfig(arch=args.arch, dim=args.dim, window=args.window, min_count=args.min_count,
                                     epochs=args.epochs, sample=args.sample, negative=args.negative,
                                     workers=args.workers)
    print(f"machine: {machine_line(info)}")
    corpus = get_corpus(source, work / "corpus", args.reuse_corpus)
    print(f"input: {source.name} ({source.stat().st_size / 1e6:.0f} MB), {corpus.stats.tokens:,} tokens, "
          f"{corpus.stats.sentences:,} sentences; workdir {work}")
    print(f"config: {config.to_dict()}")

    for module in ("embedsearch.training.word2vec", "gensim.models"):  # so no side's first run pays for imports
        importlib.import_module(module)

    times: dict[str, list[float]] = {"ours": [], "gensim": []}
    cpu: dict[str, list[float]] = {"ours": [], "gensim": []}
    vocab: dict[str, int] = {}
    outside: list[float] = []  # ours: seconds outside the training backend (contexts, writing the store)
    corpus_words = corpus.stats.tokens
    for run in range(1, args.runs + 1):
        for side in ("ours", "gensim"):
            if side == "ours":
                seconds, used, vocab[side], extra = run_ours(corpus, work / "store", config)
                outside.append(extra)
            else:
                seconds, used, vocab[side], corpus_words = run_raw(corpus, config)
            times[side].append(seconds)
            cpu[side].append(used)
            print(f"run {run}: {side:6} {seconds:8.2f} s wall, {used:8.2f} s CPU "
                  f"(load average after: {os.getloadavg()[0]:.2f})", flush=True)

    if vocab["ours"] != vocab["gensim"]:
        print(f"WARNING: vocabulary sizes differ: ours {vocab['ours']}, gensim {vocab['gensim']}")
    med = {side: median(values) for side, values in times.items()}
    med_cpu = {side: median(values) for side, values in cpu.items()}
    speed = {side: corpus_words * config.epochs / med[side] for side in med}
    ratio = speed["ours"] / speed["gensim"]
    # Each ours/gensim pair ran back to back, so its ratio cancels slow changes in the machine's load.
    paired = median([g / o for o, g in zip(times["ours"], times["gensim"])])
    title = (f"Training, {config.arch}, dim {config.dim}, window {config.window}, {config.epochs} epochs, "
             f"min-count {config.min_count}, {config.workers} workers; {source.name}: {corpus_words:,} words, "
             f"vocabulary {vocab['ours']:,}; median of {args.runs} alternating runs; {machine_line(info)}")
    rows = [
        ["embedsearch `train` (incl. writing the store)", f"{med['ours']:.2f}", f"{speed['ours']:,.0f}",
         " / ".join(f"{t:.1f}" for t in times["ours"]), f"{med_cpu['ours']:.1f}", f"{ratio:.3f}"],
        ["raw gensim `Word2Vec(corpus_file=...)`", f"{med['gensim']:.2f}", f"{speed['gensim']:,.0f}",
         " / ".join(f"{t:.1f}" for t in times["gensim"]), f"{med_cpu['gensim']:.1f}", "1.000"],
    ]
    table = markdown_table(["", "median s", "words/s", "all runs (s)", "median CPU s", "speed vs gensim"], rows)
    print(f"\n{title}\n\n{table}\n\nratio ours/raw speed: {ratio:.3f} (target >= 0.97: {'met' if ratio >= 0.97 else 'NOT met'})")
    vocab_phase = vocabulary_phase(corpus, config, runs=3)
    implied = med["gensim"] / (med["gensim"] - vocab_phase["gensim"] + vocab_phase["ours"] + median(outside))
    print(f"median of per-pair speed ratios: {paired:.3f}; ours outside the training backend (contexts, "
          f"writing the store): median {median(outside):.2f} s")
    print(f"vocabulary before training, timed alone (median of 3): ours {vocab_phase['ours']:.2f} s, "
          f"gensim {vocab_phase['gensim']:.2f} s; the speed ratio these parts imply, with the training itself "
          f"taken as equal (the same gensim call): {implied:.3f}")
    print(f"CPU time ratio gensim/ours: {med_cpu['gensim'] / med_cpu['ours']:.3f} (less sensitive to other load than wall time)")
    print(f"store kept at {work / 'store'}")
    write_json(args.json_out, {
        "benchmark": "train_speed", "machine": info, "input": str(source), "corpus_words": corpus_words,
        "vocabulary": vocab, "config": config.to_dict(), "runs": times, "cpu_seconds": cpu, "median_seconds": med,
        "median_cpu_seconds": med_cpu,
        "words_per_second": speed, "speed_ratio": ratio, "paired_speed_ratio": paired,
        "ours_outside_backend_seconds": outside, "vocabulary_phase_seconds": vocab_phase,
        "implied_speed_ratio": implied, "store": str(work / "store"), "markdown": table,
    })


if __name__ == "__main__":
    main()
