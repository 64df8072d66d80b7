"""Commands that ask a store: similar, analogy, similarity, doesnt-match, info."""
from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..errors import EmbedsearchError, UnknownWordError
from ..rerank.weights import DEFAULT_ANALOGY_WEIGHT
from .app import (
    among_option,
    read_word_list,
    describe_index,
    display_width,
    emit_json,
    iter_stdin_lines,
    json_option,
    k_option,
    main,
    open_store_option,
    print_neighbors,
    print_subwords_note,
    rerank_options,
    rjust,
    search_options,
    store_option,
)


def _among(among_file: Path | None, queries_from_stdin: bool) -> list[str] | None:
    """The --among word list, read before the store is opened."""
    if among_file is None:
        return None
    if str(among_file) == "-" and queries_from_stdin:
        raise click.BadParameter("stdin holds the queries; give the word list as a file", param_hint="--among")
    return read_word_list(among_file, "--among")


def _run_batch(store_path: Path | None, answer: Callable[[Any, str], Any], show: Callable[[Any], None],
               as_json: bool) -> None:
    """Batch mode (`-` for stdin): one query a line, the store opened once, answers as they come.

    With --json each answer is one JSON line (the result, or ``{"query", "error", ...}`` for a
    query that fails); the batch goes on after an unknown word, and exits 1 at the end if any
    query failed. Output is flushed after each answer, so a script can talk to it line by line.
    """
    import dataclasses

    failed = 0
    with open_store_option(store_path) as store:
        for line in iter_stdin_lines():
            query = line.strip()
            if not query or query.startswith("#"):
                continue
            try:
                result = answer(store, query)
            except EmbedsearchError as exc:
                failed += 1
                if as_json:
                    error: dict[str, Any] = {"query": query, "error": str(exc), "exit_code": exc.exit_code}
                    if isinstance(exc, UnknownWordError):
                        error |= {"unknown_word": exc.word, "suggestions": exc.suggestions}
                    click.echo(json.dumps(error, ensure_ascii=False))
                else:
                    click.echo(f"Error: {query}: {exc}", err=True)
            else:
                if as_json:
                    click.echo(json.dumps(dataclasses.asdict(result), ensure_ascii=False, default=str))
                else:
                    click.echo(query)
                    show(result)
            sys.stdout.flush()
    if failed:
        raise click.exceptions.Exit(1)


@main.command()
@click.argument("query", nargs=-1, required=True)
@store_option
@k_option
@among_option
@search_options
@rerank_options
@json_option
def similar(query: tuple[str, ...], store_path: Path | None, k: int, among_file: Path | None, ef_search: int | None,
            nprobe: int | None, rerank: bool, rerank_k: int, rerank_weight: float | None, as_json: bool) -> None:
    """Nearest words to a word, a phrase, or an expression; `-` reads one query a line from stdin.

    A phrase averages its words; an expression adds and subtracts them, with optional weights.
    Operators need a space before them (`e-mail` is one word). --rerank reorders the top
    --rerank-k by how well each fits where the query word is used (after `embedsearch rerank train`).
    With `-`, the store is opened once for all the queries; --json then prints one JSON line per
    query (an error object for a query that fails, and the batch goes on).

    \b
    Examples:
      embedsearch similar king
      embedsearch similar new york -k 20
      embedsearch similar "king - man + woman"
      embedsearch similar "0.5*paris + rome"
      embedsearch similar coffee --rerank
      printf 'king\nqueen\n' | embedsearch similar - --json
      embedsearch similar coffee --among drinks.txt
    """
    among = _among(among_file, query == ("-",))

    def answer(store: Any, text: str) -> Any:
        return store.similar(text, k=k, rerank=rerank, rerank_k=rerank_k, rerank_weight=rerank_weight, among=among)

    def show(result: Any) -> None:
        print_subwords_note([w for term in result.terms for w in term.oov])
        print_neighbors(result.neighbors)

    if query == ("-",):
        def batch_answer(store: Any, text: str) -> Any:
            store.set_search(ef_search=ef_search, nprobe=nprobe)
            return answer(store, text)
        _run_batch(store_path, batch_answer, show, as_json)
        return
    with open_store_option(store_path) as store:
        store.set_search(ef_search=ef_search, nprobe=nprobe)
        result = answer(store, " ".join(query))
    if as_json:
        emit_json(result)
        return
    show(result)


@main.command()
@click.argument("a")
@click.argument("b", required=False)
@click.argument("c", required=False)
@store_option
@k_option
@click.option("--method", type=click.Choice(["3cosadd", "3cosmul"]), default="3cosadd", show_default=True,
              help="3cosadd: cos(x, b - a + c); 3cosmul: Levy & Goldberg's multiplicative form.")
@among_option
@search_options
@rerank_options
@json_option
def analogy(a: str, b: str | None, c: str | None, store_path: Path | None, k: int, method: str,
            among_file: Path | None, ef_search: int | None, nprobe: int | None, rerank: bool, rerank_k: int,
            rerank_weight: float | None, as_json: bool) -> None:
    """A is to B as C is to ?  `-` reads one question a line from stdin (`a b c`).

    --rerank reorders the top --rerank-k by how well each fits where B is used.

    \b
    Examples:
      embedsearch analogy man king woman       # queen
      embedsearch analogy man king woman --rerank
      printf 'man king woman\nparis france rome\n' | embedsearch analogy - --json
      embedsearch analogy france paris germany --among capitals.txt
    """
    among = _among(among_file, a == "-")

    def answer(store: Any, a: str, b: str, c: str) -> Any:
        store.set_search(ef_search=ef_search, nprobe=nprobe)
        return store.analogy(a, b, c, k=k, method=method, rerank=rerank, rerank_k=rerank_k, rerank_weight=rerank_weight,
                             among=among)

    def show(result: Any) -> None:
        print_subwords_note(result.oov)
        print_neighbors(result.neighbors)

    if a == "-" and b is None and c is None:
        def batch_answer(store: Any, line: str) -> Any:
            words = line.split()
            if len(words) != 3:
                from ..errors import UsageError
                raise UsageError(f"an analogy line needs three words (a b c), got {len(words)}")
            return answer(store, *words)
        _run_batch(store_path, batch_answer, show, as_json)
        return
    if b is None or c is None:
        raise click.UsageError("analogy needs three words A B C (or - to read them from stdin)")
    with open_store_option(store_path) as store:
        result = answer(store, a, b, c)
    if as_json:
        emit_json(result)
        return
    show(result)


@main.command()
@click.argument("first")
@click.argument("second", required=False)
@store_option
@json_option
def similarity(first: str, second: str | None, store_path: Path | None, as_json: bool) -> None:
    """Cosine similarity of two words (or quoted phrases); `-` reads one pair a line from stdin.

    A stdin line holds two words separated by a tab or a space (phrases: tab-separated).

    \b
    Examples:
      embedsearch similarity coffee tea
      printf 'coffee\ttea\ncar\tbicycle\n' | embedsearch similarity - --json
    """
    def show(result: Any) -> None:
        click.echo(f"{result.score:.4f}")
        print_subwords_note([*result.first.oov, *result.second.oov])

    if first == "-" and second is None:
        def batch_answer(store: Any, line: str) -> Any:
            parts = line.split("\t") if "\t" in line else line.split()
            if len(parts) < 2:
                from ..errors import UsageError
                raise UsageError("a similarity line needs two words (tab- or space-separated)")
            return store.similarity(parts[0].strip(), parts[1].strip())
        _run_batch(store_path, batch_answer, show, as_json)
        return
    if second is None:
        raise click.UsageError("similarity needs two words (or - to read pairs from stdin)")
    with open_store_option(store_path) as store:
        result = store.similarity(first, second)
    if as_json:
        emit_json(result)
        return
    show(result)


@main.command("doesnt-match")
@click.argument("words", nargs=-1, required=True)
@store_option
@json_option
def doesnt_match(words: tuple[str, ...], store_path: Path | None, as_json: bool) -> None:
    """Which of three or more WORDS does not belong with the others; `-` reads one group a line from stdin.

    \b
    Examples:
      embedsearch doesnt-match breakfast cereal dinner lunch
      printf 'breakfast cereal dinner lunch\n' | embedsearch doesnt-match - --json
    """
    def show(result: Any) -> None:
        click.echo(result.odd_one_out)
        print_subwords_note(result.oov)

    if words == ("-",):
        def batch_answer(store: Any, line: str) -> Any:
            group = line.split()
            if len(group) < 3:
                from ..errors import UsageError
                raise UsageError(f"doesnt-match needs at least 3 words, got {len(group)}")
            return store.doesnt_match(group)
        _run_batch(store_path, batch_answer, show, as_json)
        return
    if len(words) < 3:
        raise click.UsageError(f"doesnt-match needs at least 3 words, got {len(words)}")
    with open_store_option(store_path) as store:
        result = store.doesnt_match(list(words))
    if as_json:
        emit_json(result)
        return
    show(result)


@main.command()
@click.argument("word")
@store_option
@click.option("-k", "limit", type=click.IntRange(min=1), default=None, help="Show at most this many (default: all kept).")
@click.option("-n", "old_limit", type=click.IntRange(min=1), default=None, hidden=True)  # before -k; one release
@json_option
def examples(word: str, store_path: Path | None, limit: int | None, old_limit: int | None, as_json: bool) -> None:
    """WORD in context: the sentences it occurs in, from the sample the store keeps (`-`: one word a line from stdin).

    The store keeps a seeded sample of each word's occurrences (16 by default, up to 8 words
    either side; `train --contexts`), so no corpus is needed. Words below the store's
    min-count show as <unk>.

    \b
    Example:
      embedsearch examples king -k 5
    """
    limit = limit if limit is not None else old_limit

    def show(result: Any) -> None:
        if not result.examples:
            click.echo("  (no examples kept for this word)")
            return
        lefts = [" ".join(e.left) for e in result.examples]
        width = max(display_width(text) for text in lefts)
        for left, example in zip(lefts, result.examples):
            click.echo(f"{rjust(left, width)}  [{example.word}]  {' '.join(example.right)}")

    if word == "-":
        _run_batch(store_path, lambda store, line: store.examples(line, limit=limit), show, as_json)
        return
    with open_store_option(store_path) as store:
        result = store.examples(word, limit=limit)
    if as_json:
        emit_json(result)
        return
    show(result)


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
    if result.postprocess:
        post = result.postprocess
        spec = post["method"] if post["method"] == "center" else f"abtt:{post['directions']}"
        click.echo(f"vectors    post-processed: centred{'' if spec == 'center' else ', top directions removed'} "
                   f"(--postprocess {spec})")
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
        targets = "its own learned target table" if r.get("targets") == "learned" else "the store's vectors as targets"
        click.echo(f"reranker   BiLSTM {r.get('hidden')} units per direction, {targets}, {r.get('tokens', 0):,} tokens in "
                   f"{r.get('seconds', 0):.0f} s, held-out loss {loss.get('before', 0):.3f} -> {loss.get('after', 0):.3f}, "
                   f"weight {r.get('blend_weight')} (analogies: {r.get('analogy_weight', DEFAULT_ANALOGY_WEIGHT)})")
    click.echo("files      " + ", ".join(f"{name} {size / 1e6:,.1f} MB" for name, size in result.files.items()))
    click.echo(f"created    {result.created_at} with {result.created_with}")
