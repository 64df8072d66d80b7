"""The gensim Word2Vec backend, fed from the tokenized corpus file (``corpus_file=``)."""
from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from ..corpus import Corpus
from ..errors import EmptyCorpusError, TrainingError
from ..progress import Progress, ProgressCallback
from .config import TrainConfig
from .results import EpochStats, TrainedVectors
from .vocab import count_words


class _EpochProgress(logging.Handler):
    """Turns gensim's own in-epoch progress log records into our progress events."""

    def __init__(self, progress: ProgressCallback, epochs: int) -> None:
        super().__init__(logging.INFO)
        self.progress = progress
        self.epochs = epochs
        self.epoch = 0

    def emit(self, record: logging.LogRecord) -> None:
        if not (isinstance(record.msg, str) and record.msg.startswith("EPOCH %i - PROGRESS") and len(record.args or ()) >= 3):
            return
        _, percent, words_per_second = record.args[:3]  # type: ignore[index]
        self.progress(
            Progress("train", self.epoch + float(percent) / 100, self.epochs, "epochs", f"{float(words_per_second):,.0f} words/s")
        )


def train_word2vec(corpus: Corpus, config: TrainConfig, progress: ProgressCallback) -> TrainedVectors:
    import gensim
    from gensim.models import Word2Vec
    from gensim.models.callbacks import CallbackAny2Vec

    epochs: list[EpochStats] = []
    handler = _EpochProgress(progress, config.epochs)

    class EpochCallback(CallbackAny2Vec):  # type: ignore[misc]
        def __init__(self) -> None:
            self.started = 0.0
            self.loss = 0.0

        def on_epoch_begin(self, model: Any) -> None:
            self.started = time.perf_counter()
            handler.epoch = len(epochs)

        def on_epoch_end(self, model: Any) -> None:
            seconds = time.perf_counter() - self.started
            loss = None
            if config.compute_loss:
                total = float(model.get_latest_training_loss())
                loss, self.loss = total - self.loss, total
            stats = EpochStats(len(epochs) + 1, round(seconds, 3), model.corpus_total_words / max(seconds, 1e-9), loss)
            epochs.append(stats)
            message = f"{stats.words_per_second:,.0f} words/s" + (f", loss {loss:,.0f}" if loss is not None else "")
            progress(Progress("train", len(epochs), config.epochs, "epochs", message))

    gensim_logger = logging.getLogger("gensim.models.word2vec")
    old_level, old_propagate = gensim_logger.level, gensim_logger.propagate
    gensim_logger.addHandler(handler)
    gensim_logger.setLevel(logging.INFO)
    gensim_logger.propagate = False  # our handler reports; don't spill gensim's log into the user's
    try:
        model = Word2Vec(
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
        # What Word2Vec(corpus_file=...) does, with the vocabulary counted by `workers` processes (vocab.py).
        vocabulary = count_words(corpus.text_path, workers=config.workers, progress=progress)
        model.build_vocab_from_freq(vocabulary.counts, corpus_count=vocabulary.sentences)
        model.corpus_total_words = vocabulary.tokens
        del vocabulary
        model.train(
            corpus_file=str(corpus.text_path),
            total_examples=model.corpus_count,
            total_words=model.corpus_total_words,
            epochs=config.epochs,  # the learning rates come from the model; these two are per call
            compute_loss=config.compute_loss,
            callbacks=[EpochCallback()],
        )
    except RuntimeError as exc:
        if "build vocabulary" in str(exc) or "vocab" in str(exc).lower():
            raise EmptyCorpusError(
                f"no word in {corpus.text_path} occurs at least min_count={config.min_count} times; lower --min-count"
            ) from exc
        raise TrainingError(f"gensim Word2Vec failed: {exc}") from exc
    finally:
        gensim_logger.removeHandler(handler)
        gensim_logger.setLevel(old_level)
        gensim_logger.propagate = old_propagate
    kv = model.wv
    if len(kv) == 0:
        raise EmptyCorpusError(f"no word in {corpus.text_path} occurs at least min_count={config.min_count} times")
    counts = np.asarray(kv.expandos["count"], dtype=np.int64)
    # w + c: the output vectors of negative sampling (rows in the same order) added to the input ones.
    vectors = kv.vectors + model.syn1neg if config.add_context else kv.vectors
    return TrainedVectors(list(kv.index_to_key), counts, vectors, int(model.corpus_total_words), epochs, f"gensim {gensim.__version__}")
