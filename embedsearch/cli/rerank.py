"""Commands of the LSTM reranker: ``rerank train``."""
from __future__ import annotations

from pathlib import Path

import click

from .app import ProgressPrinter, emit_json, json_option, legacy_store, main, resolve_store_path, store_option


@main.group()
def rerank() -> None:
    """The LSTM reranker: a language model that re-scores neighbours by how well they fit where
    the query word is used. Train it once per store; then use `similar --rerank`."""


@rerank.command("train")
@click.argument("corpus", nargs=-1, required=True, metavar="CORPUS")
@store_option
@click.option("--hidden", type=click.IntRange(min=1), default=128, show_default=True, help="LSTM units per direction.")
@click.option("--window", type=click.IntRange(min=1), default=8, show_default=True,
              help="Words of context either side (training windows are 2 x window + 1 words).")
@click.option("--batch", type=click.IntRange(min=1), default=64, show_default=True, help="Windows per step.")
@click.option("--negatives", type=click.IntRange(min=1), default=20, show_default=True, help="Negative samples per batch.")
@click.option("--learning-rate", type=click.FloatRange(min=0, min_open=True), default=2e-3, show_default=True, help="Adam's step size.")
@click.option("--clip", type=click.FloatRange(min=0, min_open=True), default=5.0, show_default=True,
              help="Clip the gradients' global norm to this.")
@click.option("--sample", type=click.FloatRange(min=0, max=1, max_open=True), default=1e-4, show_default=True,
              help="Subsample frequent target words (word2vec's formula; 0: keep all).")
@click.option("--epochs", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="Passes over the corpus (at most; see --tokens, --minutes).")
@click.option("--tokens", type=click.IntRange(min=1), default=None, help="Stop after this many corpus tokens.")
@click.option("--minutes", type=click.FloatRange(min=0, min_open=True), default=None, help="Stop after this long.")
@click.option("--contexts", type=click.IntRange(min=1), default=64, show_default=True,
              help="Occurrences per word the reranker reads for each query, sampled from the corpus when the "
                   "store holds fewer (train keeps 16, imported stores none). 64 rank neighbours better than 16 "
                   "and about double the contexts table (text8: 70 to 147 MB; docs/quality.md); 16 keeps the store's own.")
@click.option("--targets", type=click.Choice(["store", "learned"]), default="store", show_default=True,
              help="Score candidates against the store's vectors (frozen), or against a target table the "
                   "model learns (context2vec; vocabulary x dim more parameters, a larger reranker.npz).")
@click.option("--table-learning-rate", type=click.FloatRange(min=0, min_open=True), default=1e-5, show_default=True,
              help="SGD step size per target for the learned target table (--targets learned).")
@click.option("--resume", is_flag=True,
              help="Start from the store's trained reranker instead of fresh weights (e.g. to learn a target "
                   "table on top of a trained encoder).")
@click.option("--seed", type=click.IntRange(min=0, max=2**32 - 1), default=1, show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Processes for the corpus passes. Default: all cores. The training steps run on one BLAS thread.")
@json_option
@click.pass_obj
def train(progress: ProgressPrinter, corpus: tuple[str, ...], store_path: Path | None, hidden: int, window: int, batch: int, negatives: int,
          learning_rate: float, clip: float, sample: float, epochs: float, tokens: int | None, minutes: float | None,
          contexts: int, targets: str, table_learning_rate: float, resume: bool, seed: int, workers: int | None,
          as_json: bool) -> None:
    """Train the reranker of the store (-s) on CORPUS (the store's tokenized corpus, from `ingest`).

    A bidirectional LSTM language model in numpy reads the corpus: the forward LSTM the words left
    of each word, the backward LSTM the words right of it, and learns to tell the word that fits
    from random ones (negative sampling; Adam; clipped gradients). The store's vectors stay as
    they are (the model's inputs); with --targets learned the model also learns its own vector for
    every word as a candidate (initialised from the store's). The weights are saved in the store
    (reranker.npz), replacing any earlier ones.

    \b
    Examples:
      embedsearch rerank train -s my_store my_corpus --minutes 10
      embedsearch similar -s my_store coffee --rerank
    """
    from ..rerank.training import RerankConfig, train_reranker

    corpora, store_path = legacy_store(corpus, store_path, 1)
    if len(corpora) != 1:
        raise click.UsageError(f"give one CORPUS directory (the store is -s STORE), got {len(corpora)} arguments")
    store = resolve_store_path(store_path)
    corpus_path = Path(corpora[0])

    config = RerankConfig(hidden=hidden, window=window, batch=batch, negatives=negatives, learning_rate=learning_rate,
                          clip=clip, sample=sample, epochs=epochs, tokens=tokens, minutes=minutes, contexts=contexts,
                          seed=seed, workers=workers, targets=targets, table_learning_rate=table_learning_rate,
                          resume=resume)
    result = train_reranker(store, corpus_path, config, progress=progress)
    if as_json:
        emit_json(result)
        return
    click.echo(f"reranker saved in {result.store}: {result.steps:,} steps over {result.tokens:,} tokens in "
               f"{result.seconds:.1f} s ({result.tokens_per_second:,.0f} tokens/s, stopped by {result.stopped_by}); "
               f"held-out loss {result.validation_loss_before:.3f} -> {result.validation_loss_after:.3f}")
    if result.contexts_added:
        click.echo(f"sampled up to {config.contexts} contexts per word from the corpus for reranking (and examples)")
    click.echo(f"next: embedsearch similar -s {result.store} WORD --rerank")
