"""Training: a corpus directory in, a store out."""
from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..corpus import Corpus, open_corpus
from ..errors import ConfigError, TrainingError
from ..progress import Progress, ProgressCallback, ignore_progress
from ..resources import check_disk, check_memory
from ..store import write_store
from ..store.generations import store_writing
from ..store.index import IndexOptions
from .config import ARCHS, MODELS, TrainConfig
from .results import EpochStats, TrainedVectors


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` did: where the store is, its size, and per-epoch statistics."""

    store: Path
    words: int
    dim: int
    corpus_words: int
    seconds: float
    epochs: list[EpochStats]
    config: TrainConfig


def train(
    corpus: str | os.PathLike[str] | Corpus,
    output: str | os.PathLike[str],
    *,
    config: TrainConfig | None = None,
    index: str | IndexOptions = "flat",
    overwrite: bool = False,
    contexts: int = 16,
    postprocess: str | None = None,
    progress: ProgressCallback = ignore_progress,
) -> TrainResult:
    """Train embeddings on a tokenized corpus (from :func:`embedsearch.ingest`) and write a store.

    ``index`` is the nearest-neighbour index to build: ``flat`` (exact), ``hnsw``, ``ivf``,
    ``ivfpq``, ``auto``, or :class:`~embedsearch.store.index.IndexOptions` for its parameters.
    ``contexts`` is how many occurrences of each word to keep (a seeded sample, with up to 8 words
    either side) for ``examples`` and the reranker; 0 keeps none. ``postprocess``: ``center`` or
    ``abtt:D`` (mean-centering, and removal of the D dominant directions: see
    :mod:`embedsearch.store.postprocess`), applied to the stored vectors and on the query path.
    """
    from ..store.postprocess import parse_postprocess

    config = config or TrainConfig()
    post = parse_postprocess(postprocess)
    if contexts < 0:
        raise ConfigError(f"contexts must be 0 or more, got {contexts}")
    corpus = corpus if isinstance(corpus, Corpus) else open_corpus(corpus)
    output = Path(output)
    # The store's writer lock is taken before training, not only at publish time, so nobody waits an
    # hour to learn that the output exists, is not a store, or is being written by someone else.
    # fastText's output (its n-gram matrix) and the count models' encoded corpora are large: their
    # scratch space is inside the store, on the
    # store's file system, removed after (or swept by the next writer if this one is killed).
    with store_writing(output, create=True, overwrite=overwrite) as writing, writing.scratch() as scratch:
        check_training_resources(corpus, config, output)
        if config.combined_config() is not None:
            check_training_resources(corpus, config.combined_config(), output)
        started = time.perf_counter()
        trained, config = _train_backend(corpus, config, progress, scratch)
        if not np.isfinite(trained.vectors).all():
            raise TrainingError(f"training diverged: the vectors hold NaN or infinite values (alpha={config.alpha}); "
                                "lower --alpha (word2vec uses 0.025 to 0.05)")
        seconds = time.perf_counter() - started
        _publish(trained, corpus, config, output, seconds, index, overwrite, contexts, post, progress)
    return TrainResult(output, len(trained.words), trained.vectors.shape[1], trained.corpus_words, round(seconds, 3), trained.epochs, config)


def estimate_training_bytes(corpus: Corpus, config: TrainConfig) -> tuple[int, int]:
    """(memory, disk) bytes a training run needs, at most: from the corpus's distinct words and its
    token count (no more than ``tokens / min_count`` words can reach ``min_count``)."""
    stats = corpus.stats
    words = max(1, min(stats.vocabulary or stats.tokens, stats.tokens // max(config.min_count, 1) + 1))
    row = 4 * config.dim
    subword_rows = config.bucket if config.model == "fasttext" and config.maxn > 0 else 0
    # Input and output matrices (plus gensim's locks and vocabulary, and the unit copy at publish).
    memory = 3 * words * row + 2 * subword_rows * row + 200 * words
    # vectors.npy (+ subwords.npy), and fastText's own output files in the scratch directory.
    disk = words * row + (2 * (words + subword_rows) * row if config.model == "fasttext" else 0)
    return memory, disk


def check_training_resources(corpus: Corpus, config: TrainConfig, output: Path) -> None:
    """Fail before training when its matrices cannot fit in memory or its store on the disk."""
    memory, disk = estimate_training_bytes(corpus, config)
    shape = f"up to {corpus.stats.vocabulary:,} words x {config.dim:,} dims"
    if config.model == "fasttext" and config.maxn > 0:
        shape += f" + {config.bucket:,} n-gram buckets"
    hint = "lower --dim" + (" or --bucket" if config.model == "fasttext" else "") + ", or raise --min-count"
    check_memory(memory, f"training ({shape})", hint)
    check_disk(output.absolute().parent, disk, f"the store ({shape})", hint)


def _train_backend(corpus: Corpus, config: TrainConfig, progress: ProgressCallback,
                   scratch: Path) -> tuple[TrainedVectors, TrainConfig]:
    """The trained vectors, and the configuration they were trained with (a combined SVD's dims capped)."""
    trained = _train_one(corpus, config, progress, scratch)
    count_config = config.combined_config()
    if count_config is None:
        return trained, config
    from .combine import combine_vectors

    if count_config.model == "ppmi-svd" and count_config.dim >= len(trained.words):
        # A truncated SVD has fewer components than words. The combination is on by default, so a
        # small corpus (a few hundred words) must not fail after Word2Vec has trained: it gets as
        # many as its vocabulary allows, and the store records that figure.
        dim = max(1, len(trained.words) - 1)
        progress(Progress("warning", 0, None, "", f"--combine {count_config.model}: {dim} dims, not {count_config.dim}, "
                                                  f"as the vocabulary has {len(trained.words):,} words"))
        config = replace(config, combine_dim=dim)
        count_config = config.combined_config()
    counted = _train_one(corpus, count_config, progress, scratch)
    combined = combine_vectors(trained, counted, weight=float(config.combine_weight), label=count_config.model,
                               params=count_config.to_dict())
    return combined, config


def _train_one(corpus: Corpus, config: TrainConfig, progress: ProgressCallback, scratch: Path) -> TrainedVectors:
    if config.model == "fasttext":
        from .fasttext import train_fasttext

        return train_fasttext(corpus, config, progress, scratch)
    if config.model == "glove":
        from .glove import train_glove

        return train_glove(corpus, config, progress, scratch)
    if config.model == "ppmi-svd":
        from .ppmi import train_ppmi_svd

        return train_ppmi_svd(corpus, config, progress, scratch)
    from .word2vec import train_word2vec

    return train_word2vec(corpus, config, progress)


def _publish(trained: TrainedVectors, corpus: Corpus, config: TrainConfig, output: Path, seconds: float,
             index: str | IndexOptions, overwrite: bool, contexts: int, postprocess: Any,
             progress: ProgressCallback) -> None:
    extra_meta = dict(trained.extra_meta or {})
    from .combine import COMBINED_KEY

    combined = {COMBINED_KEY: extra_meta.pop(COMBINED_KEY)} if COMBINED_KEY in extra_meta else {}
    tables = {}
    if contexts:
        from ..rerank.contexts import collect_contexts, context_rows

        sampled, extra_meta["contexts"] = collect_contexts(corpus.text_path, trained.words, per_word=contexts,
                                                           seed=config.seed, progress=progress)
        tables["contexts"] = context_rows(sampled)
    write_store(
        output,
        words=trained.words,
        counts=trained.counts,
        vectors=trained.vectors,
        model={
            "kind": config.model,
            "backend": trained.backend,
            "params": config.to_dict(),
            "train_seconds": round(seconds, 3),
            "corpus_words": trained.corpus_words,
            "epochs": [asdict(e) for e in trained.epochs],
            **combined,
        },
        pipeline=corpus.pipeline.to_dict(),
        artifacts=corpus.artifacts(),  # the pipeline's learned models (phrases, subwords), for queries
        corpus={"path": str(corpus.path.absolute()), "sources": list(corpus.sources), "stats": asdict(corpus.stats)},
        arrays=trained.arrays,
        extra_meta=extra_meta,
        tables=tables,
        index=index,
        overwrite=overwrite,
        postprocess=postprocess,
        progress=progress,
    )


__all__ = ["ARCHS", "MODELS", "EpochStats", "TrainConfig", "TrainResult", "train"]
