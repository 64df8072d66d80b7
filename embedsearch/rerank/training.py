"""Training the reranker's language model on a store's own corpus, and saving it in the store.

The corpus is cut into windows of ``2 * window + 1`` tokens within its lines (the same reach as
the stored contexts); every vocabulary word in a window is a target, predicted from the words
before it in the window (forward LSTM) and after it (backward LSTM). Gradients thus flow back at
most one window: truncated backpropagation through time, with the state reset per window, exactly
as contexts are read at query time. Frequent target words are subsampled as word2vec does, so the
model spends its effort on content words.
"""
from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ConfigError, TrainingError
from ..progress import Progress, ProgressCallback, ignore_progress
from ..resources import check_memory
from .corpus_ids import IdBlock
from .model import PAD, TARGETS, LMWeights, WindowBatch, lm_init, lm_loss, lm_loss_and_gradients
from .optim import Adam, SparseSGD, clip_global_norm
from .weights import DEFAULT_ANALOGY_WEIGHT

if TYPE_CHECKING:
    from ..corpus import Corpus
    from ..store.generations import StoreWrite

WEIGHTS_FILE = "reranker.npz"
MANIFEST_KEY = "reranker"
# Format 1: the three dense arrays, candidates scored against the store's vectors. Format 2 adds the
# model's own target table ("output", V x dim); a frozen-target reranker is still saved as format 1,
# so an older embedsearch keeps reading it, and refuses a format-2 one instead of ignoring its table.
MANIFEST_FORMAT = 1
MANIFEST_FORMAT_LEARNED = 2
MANIFEST_FORMATS = (MANIFEST_FORMAT, MANIFEST_FORMAT_LEARNED)
# One nat of fit is worth this much cosine in the blended score unless the user says otherwise. Chosen
# on development sets the README's benchmark does not report (SimVerb-3500, MTurk-771): the weight
# that ranks each most-similar pair's partner highest among the query's top 50 by cosine: 0.15 on
# the default text8 store after two epochs, with 16 and with 64 contexts per word (0.2 on the
# earlier skip-gram store; benchmarks/rerank_quality.py).
DEFAULT_BLEND_WEIGHT = 0.15
_VALIDATION_WINDOWS = 2000
# The learned target table's step: plain SGD, per target slot (word2vec's update, the batch's mean
# gradient times its number of targets). Adam, at any step size that moved the table at all, raised
# held-out loss, from scratch and on top of a trained encoder: it moves every coordinate of a touched
# row by about its step size whatever the gradient, and frequent words' rows are touched (as
# targets or shared negatives) at nearly every step. SGD at 1e-5 lowered it (docs/quality.md).
DEFAULT_TABLE_LEARNING_RATE = 1e-5
RERANK_CONTEXTS = 64  # per word: the fit's mean over 64 occurrences is steadier than over train's 16
# Upper bounds of the settings, far above useful values (the defaults are 128 units, 8 words, 64
# windows): a typo becomes an error at once instead of an allocation of terabytes.
LIMITS: dict[str, float] = {"hidden": 4096, "window": 256, "batch": 65_536, "negatives": 100_000, "contexts": 100_000,
                            "learning_rate": 1.0, "table_learning_rate": 1.0, "clip": 1e6, "epochs": 1_000, "minutes": 1e6}


@dataclass(frozen=True)
class RerankConfig:
    """How to train the reranker. ``epochs`` passes over the corpus at most, stopping earlier at
    ``tokens`` corpus tokens or after ``minutes`` if given. ``sample`` subsamples frequent target
    words (word2vec's formula; 0 keeps all). ``contexts``: occurrences per word the reranker reads at
    query time, sampled from the corpus when the store holds fewer per word (stores from ``import``
    have none, ``train`` keeps 16 for ``examples``): a candidate's fit is a mean over the query
    word's contexts, and 64 rank neighbours markedly better than 16 (docs/quality.md).
    ``targets``: score candidates against the store's vectors (``store``, frozen) or against a
    target table the model learns (``learned``, context2vec; ``V x dim`` more parameters,
    initialised from the store's vectors, trained by SGD at ``table_learning_rate`` per target slot). ``resume`` starts from the store's trained reranker (its LSTMs and
    projection, and its table if it has one) instead of fresh weights, e.g. to learn a target table
    on top of a trained encoder. ``workers``: processes for the corpus passes
    (default: all cores); the training steps themselves run on one BLAS thread, which is several
    times faster for these small matrix products than letting BLAS threads fight for the cores."""

    hidden: int = 128
    window: int = 8
    batch: int = 64
    negatives: int = 20
    learning_rate: float = 2e-3
    clip: float = 5.0
    sample: float = 1e-4
    epochs: float = 1.0
    tokens: int | None = None
    minutes: float | None = None
    contexts: int = RERANK_CONTEXTS
    seed: int = 1
    workers: int | None = None
    targets: str = "store"
    table_learning_rate: float = DEFAULT_TABLE_LEARNING_RATE
    resume: bool = False

    def __post_init__(self) -> None:
        if self.targets not in TARGETS:
            raise ConfigError(f"targets must be one of {', '.join(TARGETS)}, got {self.targets!r}")
        for name in ("hidden", "window", "batch", "negatives", "contexts", "seed", "tokens"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ConfigError(f"{name} must be an integer, got {value!r}")
        for name in ("learning_rate", "clip", "sample", "epochs", "minutes", "table_learning_rate"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not math.isfinite(value)):
                raise ConfigError(f"{name} must be a finite number, got {value!r}")
        for name in ("hidden", "window", "batch", "negatives", "contexts"):
            if not 1 <= getattr(self, name) <= LIMITS[name]:
                raise ConfigError(f"{name} must be from 1 to {LIMITS[name]:,}, got {getattr(self, name):,}")
        for name in ("learning_rate", "clip", "epochs", "minutes", "table_learning_rate"):
            value = getattr(self, name)
            if value is not None and not 0 < value <= LIMITS[name]:
                raise ConfigError(f"{name} must be positive and at most {LIMITS[name]:g}, got {value}")
        if not 0 <= self.sample < 1:
            raise ConfigError(f"sample must be in [0, 1), got {self.sample}")
        if self.epochs <= 0:
            raise ConfigError(f"epochs must be positive, got {self.epochs}")
        if self.tokens is not None and self.tokens < 1:
            raise ConfigError(f"tokens must be at least 1, got {self.tokens}")
        if self.minutes is not None and self.minutes <= 0:
            raise ConfigError(f"minutes must be positive, got {self.minutes}")
        if self.workers is not None and self.workers < 1:
            raise ConfigError(f"workers must be at least 1, got {self.workers}")
        if not 0 <= self.seed < 2**32:
            raise ConfigError(f"seed must be in [0, 2**32), got {self.seed}")


@dataclass(frozen=True)
class RerankTrainResult:
    """What :func:`train_reranker` did. ``tokens`` counts the corpus tokens read by the LSTMs and
    ``tokens_per_second`` their rate in the training steps; ``seconds`` is the whole run (reading
    the corpus and held-out evaluation included). Losses are per target slot on held-out windows
    (negative sampling, natural log)."""

    store: Path
    steps: int
    tokens: int
    seconds: float
    tokens_per_second: float
    validation_loss_before: float
    validation_loss_after: float
    stopped_by: str
    contexts_added: bool
    losses: list[float] = field(default_factory=list)


def keep_probabilities(counts: np.ndarray, sample: float) -> np.ndarray:
    """word2vec's chance of keeping each occurrence of a word as a training target."""
    if sample <= 0:
        return np.ones(len(counts))
    frequency = counts / max(counts.sum(), 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        keep = (np.sqrt(frequency / sample) + 1) * sample / frequency
    return np.nan_to_num(np.minimum(keep, 1.0), nan=1.0)


def subsampled_targets(tokens: np.ndarray, keep: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Which slots of a window batch are training targets: vocabulary words, each kept with its
    ``keep`` probability (OOV and PAD slots never)."""
    return (tokens >= 0) & (rng.random(tokens.shape) < keep[np.maximum(tokens, 0)])


class NegativeSampler:
    """Store rows drawn from the unigram distribution raised to 3/4, as word2vec draws negatives."""

    def __init__(self, counts: np.ndarray, rng: np.random.Generator) -> None:
        weights = np.asarray(counts, dtype=np.float64) ** 0.75
        self.cdf = np.cumsum(weights / weights.sum())
        self.rng = rng

    def __call__(self, size: int) -> np.ndarray:
        rows = np.searchsorted(self.cdf, self.rng.random(size), side="right")
        return np.minimum(rows, len(self.cdf) - 1).astype(np.int32)


def estimate_rerank_bytes(words: int, dim: int, config: RerankConfig) -> int:
    """Memory a reranker training run needs, roughly: the store's vectors read whole, the weights
    with their gradients and Adam's two moments (a learned target table: the table and its two
    moments), and one batch's activations kept for backpropagation."""
    hidden, length = config.hidden, 2 * config.window + 1
    parameters = 2 * (dim + hidden + 1) * 4 * hidden + (2 * hidden + 1) * dim
    activations = config.batch * length * (2 * 8 * hidden + 2 * dim) + config.batch * length * config.negatives
    per_window = length * 4 * 2  # the corpus windows stay memory-mapped; a held-out copy is read
    table = 3 * words * dim if config.targets == "learned" else 0
    return 4 * (words * dim + table + 4 * parameters + 3 * activations + _VALIDATION_WINDOWS * per_window)


def corpus_windows(blocks: Iterable[IdBlock], length: int, scratch: Path) -> np.ndarray:
    """Cut lines of store rows into windows of ``length`` (the last of a line PAD-filled), kept in a
    memory-mapped scratch file so corpora larger than memory train the same way."""
    raw = scratch / "windows.i32"
    count = 0
    with open(raw, "wb") as out:
        for block in blocks:
            rows_per_line = -(-block.lengths // length)
            first_row = np.cumsum(rows_per_line) - rows_per_line
            position = block.position_in_line()
            windows = np.full((int(rows_per_line.sum()), length), PAD, dtype=np.int32)
            windows[np.repeat(first_row, block.lengths) + position // length, position % length] = block.ids
            out.write(windows.tobytes())
            count += len(windows)
    if count == 0:
        return np.empty((0, length), dtype=np.int32)
    return np.memmap(raw, dtype=np.int32, mode="r", shape=(count, length))


def train_reranker(store: str | os.PathLike[str], corpus: str | os.PathLike[str], config: RerankConfig | None = None, *,
                   progress: ProgressCallback = ignore_progress) -> RerankTrainResult:
    """Train the reranker's language model on ``corpus`` (the tokenized corpus the store was trained
    on, or one made with the same pipeline) and save it in ``store``, replacing any earlier one."""
    from ..corpus import open_corpus
    from ..store.generations import store_writing

    config = config or RerankConfig()
    store_path = Path(store)
    source = open_corpus(corpus)
    # The writer's lock is held from reading the store to publishing the reranker: a concurrent
    # writer (reindex, another rerank train, train --force) fails at once instead of one update
    # silently dropping the other's.
    with store_writing(store_path) as writing:
        return _train_locked(store_path, source, config, writing, progress)


def _train_locked(store_path: Path, source: Corpus, config: RerankConfig, writing: StoreWrite,
                  progress: ProgressCallback) -> RerankTrainResult:
    from ..query import open_store
    from ..store.update import updating_store
    from .contexts import collect_contexts, context_rows
    from ..workers import blas_threads
    from .corpus_ids import iter_id_blocks

    with open_store(store_path) as opened:
        meta = opened.meta
        if meta.get("pipeline") != source.pipeline.to_dict():
            raise ConfigError(
                f"the corpus {source.path} was made with a different text pipeline than the store "
                f"({source.pipeline.describe()}); train the reranker on the store's own corpus"
            )
        words = opened.vocabulary()
        counts = opened.counts()
        vectors = np.array(opened.vectors, dtype=np.float32)  # read in full once: every step gathers rows
        stored = meta.get("contexts") or {}
        # fewer stored per word than the reranker is to read: sample afresh (the new sample replaces them)
        has_contexts = bool(stored) and int(stored.get("per_word", 0)) >= config.contexts
        earlier = meta.get(MANIFEST_KEY) or {}
    check_memory(estimate_rerank_bytes(len(words), vectors.shape[1], config),
                 f"the reranker ({config.hidden:,} units, windows of {2 * config.window + 1} words, batches of "
                 f"{config.batch:,})", "lower --hidden, --window or --batch")
    row_of = {word: row for row, word in enumerate(words)}
    rng = np.random.default_rng(config.seed)
    length = 2 * config.window + 1
    keep = keep_probabilities(counts.astype(np.float64), config.sample)
    negatives = NegativeSampler(counts, rng)
    weights = lm_init(vectors.shape[1], config.hidden, rng, output=vectors if config.targets == "learned" else None)
    if config.resume:
        weights = _resumed(store_path, config, weights)
    started = time.perf_counter()
    with writing.scratch() as scratch:
        windows = corpus_windows(iter_id_blocks(source.text_path, row_of, stage="read corpus", progress=progress),
                                 length, scratch)
        if len(windows) < 2:
            raise ConfigError(f"the corpus {source.path} has too little text to train the reranker")
        order = rng.permutation(len(windows))
        held_out = min(_VALIDATION_WINDOWS, max(1, len(windows) // 50))
        validation = np.asarray(windows[np.sort(order[:held_out])])
        training = order[held_out:]
        validate = _Validator(vectors, validation, keep, counts, config)
        planned = int(config.epochs * len(training)) * length
        if config.tokens is not None:
            planned = min(planned, config.tokens)
        deadline = started + 60 * config.minutes if config.minutes is not None else math.inf
        with blas_threads(1):  # small products: one BLAS thread is fastest (docs/threads.md)
            before = validate(weights)
            run = _run_steps(weights, vectors, windows, training, keep, negatives, config, rng, planned, deadline,
                             progress)
            seconds = time.perf_counter() - started
            after = validate(weights)
        progress(Progress("rerank", min(run.tokens, planned), planned, "tokens",
                          f"held-out loss {before:.3f} -> {after:.3f}", final=True))
        added = None
        if not has_contexts:
            added = collect_contexts(source.text_path, words, per_word=config.contexts, seed=config.seed,
                                     workers=config.workers, progress=progress)
    manifest = {
        "format": MANIFEST_FORMAT if weights.output is None else MANIFEST_FORMAT_LEARNED,
        "file": WEIGHTS_FILE,
        "targets": weights.targets,
        "hidden": config.hidden,
        "window": config.window,
        "dim": int(vectors.shape[1]),
        "blend_weight": DEFAULT_BLEND_WEIGHT,
        "analogy_weight": DEFAULT_ANALOGY_WEIGHT,
        "config": asdict(config),
        "corpus": str(source.path.absolute()),
        "steps": run.steps,
        "tokens": run.tokens,
        "seconds": round(seconds, 3),
        "validation_loss": {"before": round(before, 5), "after": round(after, 5)},
    }
    if config.resume:
        manifest["resumed_from"] = {key: earlier.get(key) for key in ("targets", "tokens", "seconds", "validation_loss")}
    with updating_store(store_path) as update:
        target = update.new_file(WEIGHTS_FILE)
        with open(target, "wb") as handle:
            np.savez(handle, **weights.saved())
        update.record_file(WEIGHTS_FILE)
        update.set_meta(MANIFEST_KEY, manifest)
        if added is not None:
            contexts, contexts_meta = added
            update.db.execute("DELETE FROM contexts")
            update.db.executemany("INSERT INTO contexts (word, n, tokens, crc32) VALUES (:word, :n, :tokens, :crc32)",
                                  context_rows(contexts))
            update.set_meta("contexts", contexts_meta)
    return RerankTrainResult(store_path, run.steps, run.tokens, round(seconds, 3), run.tokens_per_second, before,
                             after, run.stopped_by, added is not None, run.losses)


def _resumed(store_path: Path, config: RerankConfig, fresh: LMWeights) -> LMWeights:
    """The store's trained reranker as starting weights (checked as queries check it), with the
    target table ``config.targets`` asks for: the saved one, or ``fresh``'s (the store's vectors)."""
    from ..query import open_store

    with open_store(store_path) as opened:
        if not opened.meta.get(MANIFEST_KEY):
            raise ConfigError(f"{store_path} has no reranker to resume from; train one first (without --resume)")
        saved = opened.reranker.weights
    if saved.hidden != config.hidden:
        raise ConfigError(f"the store's reranker has {saved.hidden} units per direction, not {config.hidden}; "
                          f"resume with --hidden {saved.hidden}")
    if int(opened.meta[MANIFEST_KEY]["window"]) != config.window:
        raise ConfigError(f"the store's reranker reads {opened.meta[MANIFEST_KEY]['window']} words either side, "
                          f"not {config.window}")
    output = None
    if config.targets == "learned":
        output = fresh.output if saved.output is None else saved.output.copy()
    return LMWeights(saved.forward.copy(), saved.backward.copy(), saved.projection.copy(), output=output)


@dataclass
class _Run:
    steps: int = 0
    tokens: int = 0
    tokens_per_second: float = 0.0
    stopped_by: str = "epochs"
    losses: list[float] = field(default_factory=list)


def _run_steps(weights: LMWeights, vectors: np.ndarray, windows: np.ndarray, training: np.ndarray, keep: np.ndarray,
               negatives: NegativeSampler, config: RerankConfig, rng: np.random.Generator, planned: int,
               deadline: float, progress: ProgressCallback) -> _Run:
    """Adam steps over shuffled training windows until ``planned`` tokens or the deadline."""
    optimizer = Adam(weights.arrays(), config.learning_rate)
    table = None if weights.output is None else SparseSGD(weights.output, config.table_learning_rate)
    run = _Run()
    started = last_report = time.perf_counter()  # throughput counts the steps, not reading the corpus
    smoothed: float | None = None
    position = 0
    while run.tokens < planned:
        if time.perf_counter() >= deadline:
            run.stopped_by = "minutes"
            break
        if position >= len(training):
            training = rng.permutation(training)
            position = 0
        tokens = np.asarray(windows[np.sort(training[position:position + config.batch])])
        position += config.batch
        targets = subsampled_targets(tokens, keep, rng)
        loss, gradients, rows = lm_loss_and_gradients(weights, vectors, WindowBatch(tokens, targets),
                                                      negatives(config.negatives))
        if not math.isfinite(loss):
            raise TrainingError(f"the reranker's training diverged at step {run.steps + 1} (loss {loss}); "
                                "lower --learning-rate")
        grads = gradients.arrays()
        clip_global_norm(grads, config.clip)  # the LSTMs' gradients; SGD on the table needs no clipping at its step
        if rows is not None:
            table.step(rows.rows, rows.values, float(targets.sum()))
        optimizer.step(grads)
        run.steps += 1
        run.tokens += int((tokens != PAD).sum())
        smoothed = loss if smoothed is None else 0.98 * smoothed + 0.02 * loss
        now = time.perf_counter()
        if now - last_report >= 1.0:
            last_report = now
            run.losses.append(round(smoothed, 4))
            rate = run.tokens / max(now - started, 1e-9)
            progress(Progress("rerank", min(run.tokens, planned), planned, "tokens", f"loss {smoothed:.3f}, {rate:,.0f} tokens/s"))
    else:
        run.stopped_by = "tokens" if config.tokens is not None and config.tokens <= run.tokens else "epochs"
    run.tokens_per_second = run.tokens / max(time.perf_counter() - started, 1e-9)
    return run


class _Validator:
    """Held-out loss with targets and negatives drawn once from a fixed seed, so figures compare."""

    def __init__(self, vectors: np.ndarray, windows: np.ndarray, keep: np.ndarray, counts: np.ndarray,
                 config: RerankConfig) -> None:
        rng = np.random.default_rng(config.seed + 1)
        sampler = NegativeSampler(counts, rng)
        self.vectors = vectors
        self.batches = []
        for start in range(0, len(windows), 256):
            tokens = windows[start:start + 256]
            targets = subsampled_targets(tokens, keep, rng)
            self.batches.append((WindowBatch(tokens, targets), sampler(config.negatives), int(targets.sum())))

    def __call__(self, weights: LMWeights) -> float:
        total = sum(size for _, _, size in self.batches)
        loss = sum(lm_loss(weights, self.vectors, batch, negatives) * size for batch, negatives, size in self.batches)
        return float(loss / max(total, 1))
