"""Is embedsearch's GloVe update Stanford's? Both from glove.c's own start, on glove.c's own record order.

``glove`` (Stanford's C GloVe) is run on one thread for ``--epochs`` epochs with
``-save-init-param 1 -binary 1``, which writes its initial parameters (word and context vectors
and biases, in double) before training and its trained ones after. embedsearch's training kernel
(``embedsearch.training.glove._kernel``, the one ``train --model glove`` runs) then starts from
exactly those parameters, visits the records of the same shuffled file in the same order on one
thread, and the two sets of trained parameters are compared: maximum and mean absolute difference,
and the training cost after the last epoch, for the kernel in float64 (``glove.c``'s precision:
the difference should be rounding only) and in float32 (what ``train`` runs).

With several threads neither side is reproducible (Hogwild), and the two sides draw different
random numbers, so this is the way to compare the update itself; ``glove_speed.py`` compares
speed and quality of whole runs.

Stanford's GloVe is not part of this project: ``--glove-bin DIR`` is the ``build`` directory of a
GloVe checkout you compiled yourself. Run (from the repository root; ~1 minute per epoch here):

    python benchmarks/glove_same_update.py --corpus /tmp/t8/corpus --glove-bin /path/to/GloVe/build \\
        --workdir /tmp/glove_same --epochs 1
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
from _common import machine, machine_line, workdir, write_json

from embedsearch.training.glove import GRAD_CLIP, _kernel

RECORD = np.dtype([("word1", "<i4"), ("word2", "<i4"), ("value", "<f8")])  # glove.c's CREC


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    parser.add_argument("--corpus", type=Path, required=True, help="a corpus directory from `embedsearch ingest`")
    parser.add_argument("--glove-bin", type=Path, help="Stanford GloVe's build directory (vocab_count, cooccur, shuffle, glove)")
    parser.add_argument("--workdir", help="where the reference's files go (default: a new /tmp directory)")
    parser.add_argument("--dim", type=int, default=50)
    parser.add_argument("--window", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--min-count", type=int, default=5)
    parser.add_argument("--x-max", type=float, default=100.0)
    parser.add_argument("--weighting-alpha", type=float, default=0.75)
    parser.add_argument("--eta", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json-out")
    return parser.parse_args()


def run(command: list[str], stdin: Path | None, stdout: Path | None, cwd: Path) -> str:
    with open(stdin, "rb") if stdin else open("/dev/null", "rb") as fin, \
            open(stdout, "wb") if stdout else open(cwd / "glove.log", "wb") as fout:
        done = subprocess.run(command, stdin=fin, stdout=fout, stderr=subprocess.PIPE, cwd=cwd)
    log = done.stderr.decode("utf-8", "replace")
    if done.returncode != 0:
        sys.exit(f"error: {command[0]} exited with {done.returncode}: {log[-500:]}")
    return log


def reference(args: argparse.Namespace, out: Path) -> tuple[np.ndarray, np.ndarray, float]:
    """glove.c's initial and trained parameters (2V x (dim + 1) doubles) and its last cost."""
    bin_dir, text = args.glove_bin, args.corpus / "corpus.txt"
    run([str(bin_dir / "vocab_count"), "-min-count", str(args.min_count), "-verbose", "0"], text, out / "vocab.txt", out)
    run([str(bin_dir / "cooccur"), "-memory", "4.0", "-vocab-file", str(out / "vocab.txt"), "-verbose", "0",
         "-window-size", str(args.window), "-symmetric", "1", "-distance-weighting", "1"], text, out / "cooc.bin", out)
    run([str(bin_dir / "shuffle"), "-memory", "4.0", "-verbose", "0", "-seed", str(args.seed)],
        out / "cooc.bin", out / "cooc.shuf.bin", out)
    log = run([str(bin_dir / "glove"), "-save-file", str(out / "params"), "-threads", "1", "-input-file",
               str(out / "cooc.shuf.bin"), "-x-max", f"{args.x_max:g}", "-alpha", f"{args.weighting_alpha:g}",
               "-eta", f"{args.eta:g}", "-iter", str(args.epochs), "-vector-size", str(args.dim), "-binary", "1",
               "-model", "2", "-vocab-file", str(out / "vocab.txt"), "-verbose", "2", "-seed", str(args.seed),
               "-save-init-param", "1"], None, None, out)
    costs = [float(line.rsplit("cost:", 1)[1]) for line in log.splitlines() if "cost:" in line]
    words = sum(1 for _ in open(out / "vocab.txt", encoding="utf-8"))
    shape = (2 * words, args.dim + 1)
    initial = np.fromfile(out / "params.000.bin", dtype="<f8").reshape(shape)
    trained = np.fromfile(out / "params.bin", dtype="<f8").reshape(shape)
    return initial, trained, costs[-1]


def ours(initial: np.ndarray, records: np.ndarray, args: argparse.Namespace, dtype: Any) -> tuple[np.ndarray, float]:
    """The training kernel on glove.c's records in glove.c's order, from glove.c's start, one thread."""
    words, dim = initial.shape[0] // 2, initial.shape[1] - 1
    rows = (records["word1"] - 1).astype(np.int32)  # glove.c's word ids start at 1
    cols = (records["word2"] - 1).astype(np.int32)
    values = records["value"]
    logx = np.log(values).astype(dtype)
    fx = np.minimum(1.0, (values / args.x_max) ** args.weighting_alpha).astype(dtype)
    W, C = initial[:words, :dim].astype(dtype), initial[words:, :dim].astype(dtype)
    bw, bc = initial[:words, dim].astype(dtype), initial[words:, dim].astype(dtype)
    gW, gC, gbw, gbc = np.ones_like(W), np.ones_like(C), np.ones_like(bw), np.ones_like(bc)
    kernel = _kernel()
    cost = 0.0
    for _ in range(args.epochs):
        cost = kernel(rows, cols, logx, fx, W, C, bw, bc, gW, gC, gbw, gbc, dtype(args.eta), dtype(GRAD_CLIP), 0, len(rows))
    trained = np.empty_like(initial)
    trained[:words, :dim], trained[words:, :dim] = W, C
    trained[:words, dim], trained[words:, dim] = bw, bc
    return trained, float(cost) / len(rows)


def main() -> None:
    args = parse_args()
    if args.glove_bin is None:
        sys.exit("no --glove-bin: nothing to compare against (build Stanford's GloVe yourself and pass its build directory)")
    out = workdir(args.workdir, "glove-same-")
    info = machine()
    print(machine_line(info), flush=True)
    initial, expected, expected_cost = reference(args, out)
    records = np.fromfile(out / "cooc.shuf.bin", dtype=RECORD)
    for name in ("cooc.bin", "cooc.shuf.bin"):
        (out / name).unlink(missing_ok=True)
    rows = []
    scale = float(np.abs(expected).mean())
    for dtype in (np.float64, np.float32):
        trained, cost = ours(initial, records, args, dtype)
        difference = np.abs(trained - expected)
        rows.append({"precision": np.dtype(dtype).name, "max_abs_difference": float(difference.max()),
                     "mean_abs_difference": float(difference.mean()), "cost": cost})
    print(f"{len(records):,} records, {initial.shape[0] // 2:,} words, dim {args.dim}, {args.epochs} epoch(s), one thread; "
          f"glove.c's parameters: mean |value| {scale:.4g}, cost {expected_cost:.6f}")
    print("| embedsearch kernel | max abs difference | mean abs difference | cost after the last epoch |")
    print("|---|---|---|---|")
    for row in rows:
        print(f"| {row['precision']} | {row['max_abs_difference']:.3g} | {row['mean_abs_difference']:.3g} | {row['cost']:.6f} |")
    write_json(args.json_out, {"machine": info, "settings": {k: getattr(args, k) for k in
                                                             ("dim", "window", "epochs", "min_count", "seed")},
                               "reference_cost": expected_cost, "mean_abs_parameter": scale, "rows": rows})


if __name__ == "__main__":
    main()
