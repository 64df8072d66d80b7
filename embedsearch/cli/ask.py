"""Commands that ask a store: similar, analogy, similarity, doesnt-match, info."""
from __future__ import annotations

from pathlib import Path

import click

from .app import (
    describe_index,
    emit_json,
    json_option,
    k_option,
    main,
    open_store_option,
    print_neighbors,
    rerank_options,
    search_options,
    store_option,
)


@main.command()
@click.argument("query", nargs=-1, required=True)
@store_option
@k_option
@search_options
@rerank_options
@json_option
def similar(query: tuple[str, ...], store_path: Path | None, k: int, ef_search: int | None, nprobe: int | None,
            rerank: bool, rerank_k: int, rerank_weight: float | None, as_json: bool) -> None:
    """Nearest words to a word, a phrase, or an expression.

    A phrase averages its words; an expression adds and subtracts them, with optional weights.
    Operators need a space before them (`e-mail` is one word). --rerank reorders the top
    --rerank-k by how well each fits where the query word is used (after `embedsearch rerank train`).

    \b
    Examples:
      embedsearch similar king
      embedsearch similar new york -k 20
      embedsearch similar "king - man + woman"
      embedsearch similar "0.5*paris + rome"
      embedsearch similar coffee --rerank
    """
    with open_store_option(store_path) as store:
        store.set_search(ef_search=ef_search, nprobe=nprobe)
        result = store.similar(" ".join(query), k=k, rerank=rerank, rerank_k=rerank_k, rerank_weight=rerank_weight)
    if as_json:
        emit_json(result)
        return
    print_neighbors(result.neighbors)


@main.command()
@click.argument("a")
@click.argument("b")
@click.argument("c")
@store_option
@k_option
@click.option("--method", type=click.Choice(["3cosadd", "3cosmul"]), default="3cosadd", show_default=True,
              help="3cosadd: cos(x, b - a + c); 3cosmul: Levy & Goldberg's multiplicative form.")
@search_options
@rerank_options
@json_option
def analogy(a: str, b: str, c: str, store_path: Path | None, k: int, method: str, ef_search: int | None,
            nprobe: int | None, rerank: bool, rerank_k: int, rerank_weight: float | None, as_json: bool) -> None:
    """A is to B as C is to ?

    --rerank reorders the top --rerank-k by how well each fits where B is used.

    \b
    Examples:
      embedsearch analogy man king woman       # queen
      embedsearch analogy man king woman --rerank
    """
    with open_store_option(store_path) as store:
        store.set_search(ef_search=ef_search, nprobe=nprobe)
        result = store.analogy(a, b, c, k=k, method=method, rerank=rerank, rerank_k=rerank_k, rerank_weight=rerank_weight)
    if as_json:
        emit_json(result)
        return
    print_neighbors(result.neighbors)


@main.command()
@click.argument("first")
@click.argument("second")
@store_option
@json_option
def similarity(first: str, second: str, store_path: Path | None, as_json: bool) -> None:
    """Cosine similarity of two words (or quoted phrases).

    \b
    Example:
      embedsearch similarity coffee tea
    """
    with open_store_option(store_path) as store:
        result = store.similarity(first, second)
    if as_json:
        emit_json(result)
        return
    click.echo(f"{result.score:.4f}")


@main.command("doesnt-match")
@click.argument("words", nargs=-1, required=True)
@store_option
@json_option
def doesnt_match(words: tuple[str, ...], store_path: Path | None, as_json: bool) -> None:
    """Which of three or more WORDS does not belong with the others.

    \b
    Example:
      embedsearch doesnt-match breakfast cereal dinner lunch
    """
    if len(words) < 3:
        raise click.UsageError(f"doesnt-match needs at least 3 words, got {len(words)}")
    with open_store_option(store_path) as store:
        result = store.doesnt_match(list(words))
    if as_json:
        emit_json(result)
        return
    click.echo(result.odd_one_out)


@main.command()
@click.argument("word")
@store_option
@click.option("-n", "limit", type=click.IntRange(min=1), default=None, help="Show at most this many (default: all kept).")
@json_option
def examples(word: str, store_path: Path | None, limit: int | None, as_json: bool) -> None:
    """WORD in context: the sentences it occurs in, from the sample the store keeps.

    The store keeps a seeded sample of each word's occurrences (16 by default, up to 8 words
    either side; `train --contexts`), so no corpus is needed. Words below the store's
    min-count show as <unk>.

    \b
    Example:
      embedsearch examples king -n 5
    """
    with open_store_option(store_path) as store:
        result = store.examples(word, limit=limit)
    if as_json:
        emit_json(result)
        return
    if not result.examples:
        click.echo("  (no examples kept for this word)")
        return
    lefts = [" ".join(e.left) for e in result.examples]
    width = max(len(text) for text in lefts)
    for left, example in zip(lefts, result.examples):
        click.echo(f"{left:>{width}}  [{example.word}]  {' '.join(example.right)}")


@main.command()
@store_option
@json_option
def info(store_path: Path | None, as_json: bool) -> None:
    """What a store holds: vocabulary, dimensions, training parameters, pipeline, index, files."""
    with open_store_option(store_path) as store:
        result = store.info()
    if as_json:
        emit_json(result)
        return
    model = result.model
    click.echo(f"store      {result.path}")
    click.echo(f"words      {result.words:,} x {result.dim} dims, {result.metric}, unit vectors")
    click.echo(f"model      {model.get('kind', '?')} ({model.get('backend', '?')})")
    params = model.get("params") or {}
    if params:
        click.echo("params     " + ", ".join(f"{key}={value}" for key, value in params.items()))
    if "train_seconds" in model:
        click.echo(f"trained    {model.get('corpus_words', 0):,} corpus words in {model['train_seconds']:.1f} s")
    click.echo(f"pipeline   {result.pipeline}")
    click.echo(f"index      {describe_index(result.index)}")
    if result.corpus:
        stats = result.corpus.get("stats", {})
        click.echo(f"corpus     {stats.get('tokens', 0):,} tokens, {stats.get('documents', 0):,} documents from "
                   f"{len(result.corpus.get('sources', []))} source(s)")
    if result.contexts:
        c = result.contexts
        click.echo(f"contexts   {c.get('occurrences', 0):,} occurrences of {c.get('words', 0):,} words "
                   f"(up to {c.get('per_word')} per word, {c.get('window')} words either side)")
    if result.reranker:
        r = result.reranker
        loss = r.get("validation_loss", {})
        click.echo(f"reranker   BiLSTM {r.get('hidden')} units per direction, {r.get('tokens', 0):,} tokens in "
                   f"{r.get('seconds', 0):.0f} s, held-out loss {loss.get('before', 0):.3f} -> {loss.get('after', 0):.3f}, "
                   f"blend weight {r.get('blend_weight')}")
    click.echo("files      " + ", ".join(f"{name} {size / 1e6:,.1f} MB" for name, size in result.files.items()))
    click.echo(f"created    {result.created_at} with {result.created_with}")
