"""Child process for fastText: ``python -m embedsearch.training.fasttext_worker train|load JOB OUT``.

fastText runs in its own process because (a) with fasttext 0.9.3 a second ``train_unsupervised``
in one process ends in "Encountered NaN" (seen here with any settings, not only after a model
with subwords; at very small dimensions it diverges even in a fresh process, see fasttext.py),
and (b) a crash in its C++ code then costs a clean error, not the caller's process. ``train`` trains on a
corpus file, ``load`` reads a fastText ``.bin``; either way it writes plain arrays and JSON to OUT
(no pickle, no ``.bin``) and fastText's own progress goes to stderr. Only ``train_unsupervised``,
``load_model``, ``get_words``, ``get_word_vector`` and ``get_input_matrix`` are called: nothing
reaches ``predict``, which fails under numpy 2 in fasttext 0.9.3.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np


def main(mode: str, job_path: str, out: str) -> None:
    import fasttext

    job = json.loads(Path(job_path).read_text(encoding="utf-8"))
    if mode == "train":
        model = fasttext.train_unsupervised(**job)
    elif mode == "load":
        model = fasttext.load_model(job["path"])
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    if model.is_quantized():
        raise SystemExit("quantized fastText models (.ftz) keep no full input matrix and are not supported")
    args = model.f.getArgs()
    words, counts = model.get_words(include_freq=True, on_unicode_error="replace")
    out_dir = Path(out)
    np.save(out_dir / "input.npy", np.asarray(model.get_input_matrix(), dtype=np.float32), allow_pickle=False)
    vectors = np.stack([model.get_word_vector(word) for word in words]).astype(np.float32)
    np.save(out_dir / "vectors.npy", vectors, allow_pickle=False)
    summary = {
        "words": list(words),
        "counts": [int(c) for c in counts],
        "args": {"minn": args.minn, "maxn": args.maxn, "bucket": args.bucket, "dim": args.dim,
                 "model": str(args.model).rsplit(".", 1)[-1], "ws": args.ws, "epoch": args.epoch,
                 "minCount": args.minCount, "neg": args.neg, "t": args.t, "lr": args.lr},
    }
    (out_dir / "words.json").write_text(json.dumps(summary, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    import signal

    from embedsearch.workers import bind_to_parent

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent answers Ctrl-C and ends this process
    bind_to_parent(os.getppid())  # and a killed parent takes this process with it
    main(*sys.argv[1:4])
