"""Reading word2vec text and binary files: embedsearch's readers against gensim's loader, same files.

    python benchmarks/w2v_reader.py --words 200000 --dim 100 --runs 3 --lock /tmp/BENCH_LOCK

Makes one random-vector file of each format (with gensim's writer), then times, in the same run:
ours = the row readers `embedsearch import` uses (parse + validate every row into the growing
memory-mapped array, no store build); gensim = ``KeyedVectors.load_word2vec_format``. Medians of
``--runs``; each timed phase holds the lock.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import locked, machine, machine_line, markdown_table, median, workdir, write_json  # noqa: E402


def ours(path: Path, binary: bool, scratch: Path) -> int:
    from embedsearch.formats import ImportReport, _binary_rows, _Rows, _text_rows

    report = ImportReport(path, "word2vec-bin" if binary else "word2vec")
    with open(path, "rb") as handle:
        rows_iter = _binary_rows(handle, path, report, False) if binary else _text_rows(handle, path, "word2vec", report, False)
        rows: _Rows | None = None
        for word, vector in rows_iter:
            if rows is None:
                rows = _Rows(scratch, len(vector), 1 << 16)
            rows.add(word, vector)
    return len(rows.words) if rows else 0


def theirs(path: Path, binary: bool) -> int:
    from gensim.models import KeyedVectors

    return len(KeyedVectors.load_word2vec_format(str(path), binary=binary))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=200_000)
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--lock", type=Path, default=None)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    from gensim.models import KeyedVectors

    work = workdir(args.workdir, "w2v-reader-")
    rng = np.random.default_rng(1)
    keyed = KeyedVectors(args.dim)
    keyed.add_vectors([f"w{i}" for i in range(args.words)], rng.standard_normal((args.words, args.dim), dtype=np.float32))
    files = {False: work / "vectors.txt", True: work / "vectors.bin"}
    for binary, path in files.items():
        keyed.save_word2vec_format(str(path), binary=binary)
    results = {}
    for binary, path in files.items():
        name = "binary" if binary else "text"
        times: dict[str, list[float]] = {"ours": [], "gensim": []}
        for _ in range(args.runs):
            for who in ("ours", "gensim"):
                scratch = work / f"scratch-{who}"
                scratch.mkdir(exist_ok=True)
                with locked(args.lock):
                    started = time.perf_counter()
                    count = ours(path, binary, scratch) if who == "ours" else theirs(path, binary)
                    times[who].append(time.perf_counter() - started)
                assert count == args.words, (who, count)
                for leftover in scratch.glob("*.npy"):
                    leftover.unlink()
        results[name] = {"bytes": path.stat().st_size, **{k: median(v) for k, v in times.items()}, "runs": times}
    info = machine()
    rows = [[name, f"{r['bytes'] / 1e6:.0f} MB", f"{r['ours']:.2f} s", f"{r['gensim']:.2f} s", f"{r['gensim'] / r['ours']:.2f}x"]
            for name, r in results.items()]
    print(f"{args.words:,} words x {args.dim} dims; medians of {args.runs}; {machine_line(info)}")
    print(markdown_table(["format", "file", "embedsearch", "gensim", "gensim / ours"], rows))
    write_json(args.json, {"machine": info, "words": args.words, "dim": args.dim, "results": results})


if __name__ == "__main__":
    main()
