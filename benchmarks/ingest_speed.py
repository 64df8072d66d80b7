"""Ingest speed: ``embedsearch.ingest`` on 2 workers vs a one-process reference, English and Korean.

Two comparisons, each on the same input file in the same run, runs alternating (ours, reference,
ours, reference, ...), medians reported, MB/s = input megabytes / median wall-clock seconds:

* **English**: the default pipeline (NFKC → sentence split → lowercase → Unicode words) on the
  first 20 MB of ``../shared/data/en/wiki2015_plain_40MB.txt`` with 2 worker processes, vs
  ``gensim.utils.simple_preprocess`` (lowercase, alphabetic tokens of 2-15 characters) on every
  line in one process. Both sides read the file and write one line of space-separated tokens per
  input unit to a file; ours also splits sentences, counts the vocabulary and writes corpus.json.
  This pipeline runs through ``embedsearch/text/fast_english.py``, which writes byte for byte
  what the steps write (tests check it) with whole-chunk passes over ASCII text.
* **Korean**: the ``--lang ko`` pipeline (NFC → sentences → lowercase → Kiwi morphemes with
  lemmas, particles/endings/punctuation dropped) on the first 10 MB of
  ``../shared/data/ko/kowiki_40MB.txt`` with 2 worker processes, vs a single-threaded loop of
  ``Kiwi().tokenize(line)`` writing the morpheme forms. Both sides load the Kiwi model inside the
  timed region (ours once per worker process, the reference once).
* **Korean, MeCab backend** (``--korean-backend mecab``, only if python-mecab-ko is installed): the
  same pipeline with MeCab/mecab-ko-dic as the analyser, 2 workers, vs a single-threaded
  ``MeCab().parse(line)`` loop; its MB/s next to the Kiwi rows shows what the faster backend buys.

Ours is the whole ``ingest`` call: starting the workers, reading, chunking, tokenizing, writing
``corpus.txt`` and ``corpus.json`` atomically. Workers are processes forked from a fork server
(started on the first run, reused by the next ones, as in any long-lived Python process; a
one-shot CLI run pays it once); a Kiwi pipeline runs in one process whose Kiwi has one thread
per worker, sharing the model.

Run (from the repository root; ~5 minutes on 2 cores):

    python benchmarks/ingest_speed.py --workdir /tmp/bench_ingest --json-out /tmp/bench_ingest/ingest_speed.json
"""
from __future__ import annotations

import argparse
import gc
import time
from pathlib import Path

from _common import REPO, machine, machine_line, markdown_table, median, require_file, workdir, write_json

import embedsearch
from embedsearch.text.presets import PipelineOptions, build_pipeline

DATA = REPO.parent / "shared" / "data"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--en-input", type=Path, default=DATA / "en" / "wiki2015_plain_40MB.txt")
    parser.add_argument("--ko-input", type=Path, default=DATA / "ko" / "kowiki_40MB.txt")
    parser.add_argument("--en-mb", type=float, default=20, help="English: first N MB (default: %(default)s)")
    parser.add_argument("--ko-mb", type=float, default=10, help="Korean: first N MB (default: %(default)s)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per side (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--only", choices=["en", "ko", "mecab"], help="run one comparison only")
    parser.add_argument("--workdir", help="where the inputs and outputs go (default: a new temporary directory under /tmp)")
    parser.add_argument("--json-out", help="also write the results as JSON to this path")
    return parser.parse_args()


def head_of(source: Path, megabytes: float, target: Path) -> Path:
    """The first ``megabytes`` MB of ``source``, cut at the last line end, as a file of its own."""
    with open(source, "rb") as handle:
        data = handle.read(int(megabytes * 1_000_000))
    target.write_bytes(data[: data.rfind(b"\n") + 1])
    return target


def gensim_reference(source: Path, output: Path) -> None:
    from gensim.utils import simple_preprocess

    with open(source, encoding="utf-8", errors="replace") as lines, open(output, "w", encoding="utf-8") as out:
        for line in lines:
            tokens = simple_preprocess(line)
            if tokens:
                out.write(" ".join(tokens) + "\n")


def kiwi_reference(source: Path, output: Path) -> None:
    from kiwipiepy import Kiwi

    kiwi = Kiwi(num_workers=1)
    with open(source, encoding="utf-8", errors="replace") as lines, open(output, "w", encoding="utf-8") as out:
        for line in lines:
            if line.strip():
                out.write(" ".join(token.form for token in kiwi.tokenize(line)) + "\n")


def mecab_reference(source: Path, output: Path) -> None:
    from mecab import MeCab

    tagger = MeCab()
    with open(source, encoding="utf-8", errors="replace") as lines, open(output, "w", encoding="utf-8") as out:
        for line in lines:
            if line.strip():
                out.write(" ".join(m.surface for m in tagger.parse(line)) + "\n")


def timed(function, *args) -> float:
    gc.collect()
    started = time.perf_counter()
    function(*args)
    return time.perf_counter() - started


def compare(name: str, source: Path, pipeline: embedsearch.Pipeline, reference, work: Path, runs: int,
            workers: int) -> dict:
    mb = source.stat().st_size / 1e6
    ours: list[float] = []
    theirs: list[float] = []

    def run_ours() -> None:
        embedsearch.ingest([source], work / f"{name}_corpus", pipeline=pipeline, workers=workers, overwrite=True)

    for run in range(runs):
        ours.append(timed(run_ours))
        theirs.append(timed(reference, source, work / f"{name}_reference.txt"))
        print(f"  {name} run {run + 1}: ours {ours[-1]:.2f} s, reference {theirs[-1]:.2f} s", flush=True)
    corpus = embedsearch.open_corpus(work / f"{name}_corpus")
    result = {
        "input": str(source), "megabytes": round(mb, 2), "pipeline": pipeline.describe(), "workers": workers,
        "ours_seconds": ours, "reference_seconds": theirs, "ours_median": median(ours), "reference_median": median(theirs),
        "ours_mb_s": mb / median(ours), "reference_mb_s": mb / median(theirs), "ratio": median(theirs) / median(ours),
        "corpus_tokens": corpus.stats.tokens, "corpus_vocabulary": corpus.stats.vocabulary,
    }
    return result


def main() -> None:
    args = parse_args()
    work = workdir(args.workdir, "embedsearch-ingest-")
    info = machine()
    try:
        import kiwipiepy

        info["kiwipiepy"] = kiwipiepy.__version__
    except ImportError:
        info["kiwipiepy"] = None
    print(f"machine: {machine_line(info)}; kiwipiepy {info['kiwipiepy']}")
    results: dict[str, dict] = {}
    if args.only in (None, "en"):
        source = head_of(require_file(args.en_input), args.en_mb, work / "en_input.txt")
        print(f"English: {source.stat().st_size / 1e6:.1f} MB from {args.en_input}", flush=True)
        results["en"] = compare("en", source, build_pipeline(PipelineOptions()), gensim_reference, work, args.runs, args.workers)
        results["en"].update(reference="gensim.utils.simple_preprocess, 1 process", target=2.5)
    if args.only in (None, "ko"):
        source = head_of(require_file(args.ko_input), args.ko_mb, work / "ko_input.txt")
        print(f"Korean: {source.stat().st_size / 1e6:.1f} MB from {args.ko_input}", flush=True)
        results["ko"] = compare("ko", source, build_pipeline(PipelineOptions(lang="ko")), kiwi_reference, work, args.runs,
                                args.workers)
        results["ko"].update(reference="kiwipiepy Kiwi.tokenize loop, 1 thread", target=1.8)
    try:
        import mecab  # noqa: F401

        has_mecab = True
    except ImportError:
        has_mecab = False
    if args.only in (None, "mecab") and has_mecab:
        source = head_of(require_file(args.ko_input), args.ko_mb, work / "ko_input.txt")
        pipeline = build_pipeline(PipelineOptions(lang="ko", korean_backend="mecab"))
        results["mecab"] = compare("mecab", source, pipeline, mecab_reference, work, args.runs, args.workers)
        results["mecab"].update(reference="python-mecab-ko MeCab.parse loop, 1 thread", target=None)
    rows = []
    for name, r in results.items():
        rows.append([
            {"en": "English default pipeline", "ko": "Korean morphemes (--lang ko)",
             "mecab": "Korean morphemes, MeCab backend (--lang ko --korean-backend mecab)"}[name],
            f"first {r['megabytes']:.1f} MB of {Path(r['input']).name.replace('_input', '')}",
            f"{r['ours_mb_s']:.2f} MB/s ({r['ours_median']:.1f} s)",
            f"{r['reference']}: {r['reference_mb_s']:.2f} MB/s ({r['reference_median']:.1f} s)",
            f"**{r['ratio']:.2f}×**", f"≥ {r['target']}×" if r["target"] else "(none)",
            ("yes" if r["ratio"] >= r["target"] else "**no**") if r["target"] else "",
        ])
    print()
    print(f"Machine: {machine_line(info)}, kiwipiepy {info['kiwipiepy']}. Medians of {args.runs} alternating runs; "
          f"ours = `embedsearch.ingest(workers={args.workers})`: {args.workers} worker processes, or for a Kiwi "
          f"pipeline one process with {args.workers} Kiwi threads sharing the model.")
    print()
    print(markdown_table(["comparison", "input", "ours", "reference", "speed-up", "target", "met"], rows))
    write_json(args.json_out, {"machine": info, "runs": args.runs, "results": results})


if __name__ == "__main__":
    main()
