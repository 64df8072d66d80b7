"""Commands that work over whole files: evaluate, export."""
from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from .app import (
    read_word_list,
    ProgressPrinter,
    emit_json,
    json_option,
    k_option,
    legacy_store,
    display_width,
    ljust,
    main,
    open_store_option,
    read_stdin_lines,
    refuse_overwrite,
    rerank_options,
    restrict_option,
    search_options,
    store_option,
)

_FORCE = click.option("--force", is_flag=True, help="Replace the output file(s) if they exist.")


@main.group()
def evaluate() -> None:
    """Score a store on analogy questions or word-pair similarity benchmarks."""


@evaluate.command("analogies")
@click.argument("file", nargs=-1, required=True)
@store_option
@click.option("--method", type=click.Choice(["3cosadd", "3cosmul"]), default="3cosadd", show_default=True)
@restrict_option(30_000, "Only the N most frequent words count as questions and answers.")
@click.option("--top", type=click.IntRange(min=1), default=1, show_default=True,
              help="Also give the hit rate within the top N answers (ratsgo's Korean benchmarks use 30).")
@click.option("--multi", type=click.Choice(["mean", "skip"]), default="mean", show_default=True,
              help="A question word the pipeline makes several words (Korean morphemes): the mean of their vectors, "
                   "or skip its question.")
@rerank_options
@json_option
def evaluate_analogies_command(file: tuple[str, ...], store_path: Path | None, method: str, restrict: int,
                               top: int, multi: str, rerank: bool, rerank_k: int, rerank_weight: float | None,
                               as_json: bool) -> None:
    """Accuracy on an analogy FILE (`: section` or `# section` headers, `a b c d` per line; - for stdin).

    Every word goes through the store's own pipeline; an answer it does not make one vocabulary word
    is skipped (counted with the words out of vocabulary).

    --rerank reorders each question's top --rerank-k by how well each fits where B and C are used
    and not where A is (after `embedsearch rerank train`), as `analogy --rerank` does, and also
    reports the accuracy without it.

    \b
    Examples:
      embedsearch evaluate analogies -s my_store questions-words.txt --method 3cosmul
      embedsearch evaluate analogies -s ko_store kor_analogy_semantic.txt --top 30
      embedsearch evaluate analogies -s my_store questions-words.txt --rerank
    """
    from ..evaluate import evaluate_analogies

    files, store_path = legacy_store(file, store_path, 1)
    if len(files) != 1:
        raise click.UsageError(f"give one analogy FILE, got {len(files)}")
    file = Path(files[0])
    with open_store_option(store_path) as store:
        result = evaluate_analogies(store, file, method=method, restrict=restrict, top=top, multi=multi, rerank=rerank,
                                    rerank_k=rerank_k, rerank_weight=rerank_weight)
    if as_json:
        data = dataclasses.asdict(result)
        for key in ("total", "semantic", "syntactic"):
            part = getattr(result, key)
            data[key] = part.to_dict() if part else None
        data["sections"] = [s.to_dict() for s in result.sections]
        if result.rerank:
            data["rerank"]["plain"] = result.rerank.plain.to_dict()
        emit_json(data)
        return
    width = max([display_width(s.name) for s in result.sections] + [9])
    for score in [*result.sections, *(s for s in (result.semantic, result.syntactic) if s), result.total]:
        hits = f"  top-{top} {100 * score.top_accuracy:6.2f}%" if top > 1 else ""
        click.echo(f"{ljust(score.name, width)}  {100 * score.accuracy:6.2f}%  {score.correct:>6,}/{score.answered:<6,}{hits}"
                   f"  ({score.skipped:,} skipped: out of vocabulary)")
    if result.averaged_words:
        verb = "skipped their questions" if multi == "skip" else "were the mean of their words"
        click.echo(f"{result.averaged_words:,} question word(s) became several words in the pipeline and {verb} "
                   "(an answer that does is skipped, as out of vocabulary)")
    if result.collapsed:
        click.echo(f"{result.collapsed:,} question(s) had an answer the pipeline made one of the question's words "
                   "(counted wrong: inputs are never answers)")
    if result.invalid_lines:
        click.echo(f"{result.invalid_lines:,} malformed line(s) ignored")
    if result.rerank:
        r = result.rerank
        click.echo(f"reranked: top {r.candidates} by {result.method} + {r.weight:g} x fit; without reranking "
                   f"{100 * r.plain.accuracy:.2f}% ({r.plain.correct:,}/{r.plain.answered:,}), "
                   f"{100 * (result.total.accuracy - r.plain.accuracy):+.2f} points"
                   + (f"; {r.unscored:,} question(s) without stored contexts kept the plain answer" if r.unscored else ""))


@evaluate.command("pairs")
@click.argument("files", nargs=-1, required=True)
@store_option
@restrict_option(None)
@click.option("--subwords", is_flag=True, help="FastText stores: score out-of-vocabulary pairs through subwords.")
@json_option
def evaluate_pairs_command(files: tuple[str, ...], store_path: Path | None, restrict: int | None, subwords: bool,
                           as_json: bool) -> None:
    """Spearman and Pearson correlation with human scores in word-pair FILES (WordSim, SimLex, MEN, RW...; - for stdin).

    \b
    Example:
      embedsearch evaluate pairs -s my_store wordsim353.tsv simlex999.txt
    """
    from ..evaluate import evaluate_pairs

    files, store_path = legacy_store(files, store_path, 0)
    if not files:
        raise click.UsageError("give at least one word-pair FILE")
    if files.count("-") > 1:
        raise click.UsageError("stdin (-) can be read once")
    paths = [Path(file) for file in files]
    with open_store_option(store_path) as store:
        results = [evaluate_pairs(store, path, restrict=restrict, subwords=subwords) for path in paths]
    if as_json:
        emit_json([{**dataclasses.asdict(r), "oov_ratio": r.oov_ratio} for r in results])
        return
    width = max(display_width(Path(r.file).name) for r in results)
    for r in results:
        click.echo(f"{ljust(Path(r.file).name, width)}  spearman {r.spearman:.4f}  pearson {r.pearson:.4f}  "
                   f"{r.pairs:,} pairs, {r.oov_pairs:,} out of vocabulary ({r.oov_ratio:.1f}%)")



@main.command("datasets")
@click.option("--kind", type=click.Choice(["pairs", "analogies", "corpus"]), default=None, help="Only this kind.")
@json_option
def datasets_command(kind: str | None, as_json: bool) -> None:
    """The evaluation sets and sample corpora shipped with embedsearch, by name.

    \b
    Give a name where a file is expected:
      embedsearch evaluate pairs -s STORE ws353 simlex men
      embedsearch evaluate analogies -s STORE google
      embedsearch ingest "$(embedsearch datasets --kind corpus --json | jq -r '.[0].path')" -o corpus
    Sources and licences: embedsearch/corpora/README.md.
    """
    from ..datasets import ROOT, list_datasets

    found = list_datasets(kind)
    if as_json:
        emit_json([d.to_dict() for d in found])
        return
    width = max(len(d.name) for d in found)
    for d in found:
        click.echo(f"{d.name:<{width}}  {d.kind:<9}  {d.lang}  {d.size:<26}  {d.description}")
    click.echo(f"\nsources and licences: {ROOT / 'README.md'}")


@main.group()
def export() -> None:
    """Write a store's vectors in other formats."""


def _export_summary(as_json: bool, output: Path | None, summary: dict[str, Any], message: str) -> None:
    """What an export wrote: a JSON summary on stdout with --json, else one line on stderr (the data
    may be on stdout), like the summaries other commands print; -q silences progress, not this."""
    if as_json:
        emit_json(summary)
    else:
        click.echo(message, err=True)


def _json_needs_output(as_json: bool, output: Path | None) -> None:
    if as_json and output is None:
        raise click.UsageError("--json prints a summary of the files written: give -o FILE "
                               "(without -o the data itself goes to stdout)")


@export.command("vectors")
@click.argument("legacy", nargs=-1, metavar="")
@store_option
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="File to write (for projector: a prefix for the two .tsv files). Default: stdout.")
@click.option("--format", "fmt", type=click.Choice(["word2vec", "word2vec-bin", "glove", "projector"]),
              default="word2vec", show_default=True)
@restrict_option(None)
@click.option("--top", "old_top", type=click.IntRange(min=1), default=None, hidden=True)  # before --restrict; one release
@_FORCE
@json_option
@click.pass_obj
def export_vectors_command(progress: ProgressPrinter, legacy: tuple[str, ...], store_path: Path | None,
                           output: Path | None, fmt: str, restrict: int | None, old_top: int | None, force: bool,
                           as_json: bool) -> None:
    """Write the store's (unit-length) vectors in FORMAT.

    \b
    Examples:
      embedsearch export vectors -s my_store -o vectors.txt
      embedsearch export vectors -s my_store --format projector --restrict 10000 -o projector/words
    """
    from ..formats import export_vectors

    legacy, store_path = legacy_store(legacy, store_path, 0)
    if legacy:
        raise click.UsageError(f"unexpected argument {legacy[0]!r} (the store is -s STORE)")
    restrict = restrict if restrict is not None else old_top
    if output is None and fmt == "projector":
        raise click.UsageError("--format projector writes two files: give -o PREFIX")
    _json_needs_output(as_json, output)
    if output is not None:
        targets = ([output.with_name(output.name + ".vectors.tsv"), output.with_name(output.name + ".metadata.tsv")]
                   if fmt == "projector" else [output])
        refuse_overwrite(targets, force)
    with open_store_option(store_path) as store:
        written = export_vectors(store, output if output is not None else sys.stdout.buffer,
                                 fmt=fmt, top=restrict, progress=progress)
        words = min(restrict or len(store), len(store))
        dim = store.dim
    _export_summary(as_json, output, {"written": [str(p) for p in written], "format": fmt, "words": words, "dim": dim},
                    "\n".join(f"wrote {path}" for path in written) or f"{words:,} vectors written")


@export.command("neighbors")
@click.argument("legacy", nargs=-1, metavar="")
@store_option
@click.option("--words", "words_file", type=click.Path(path_type=Path), default=None,
              help="A file with one word per line (- for stdin). Default: the whole vocabulary (--all).")
@click.option("--all", "all_words", is_flag=True, help="Every vocabulary word (the default).")
@k_option
@click.option("--min-score", type=float, default=None, help="Leave out neighbours below this cosine.")
@click.option("--format", "fmt", type=click.Choice(["tsv", "csv", "jsonl"]), default="tsv", show_default=True)
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None, help="File to write. Default: stdout.")
@search_options
@click.option("--cluster", metavar="ADDRESS", envvar="EMBEDSEARCH_CLUSTER", default=None,
              help="Search the batches on a Dask cluster (env EMBEDSEARCH_CLUSTER); its workers open the store from "
                   "the same path (a shared filesystem). Same output.")
@_FORCE
@json_option
@click.pass_obj
def export_neighbors_command(progress: ProgressPrinter, legacy: tuple[str, ...], store_path: Path | None,
                             words_file: Path | None, all_words: bool, k: int, min_score: float | None, fmt: str,
                             output: Path | None, ef_search: int | None, nprobe: int | None, cluster: str | None,
                             force: bool, as_json: bool) -> None:
    """Top-K neighbours of every word (or of --words FILE), streamed as TSV, CSV or JSON lines.

    \b
    Examples:
      embedsearch export neighbors -s my_store -k 10 -o neighbors.tsv
      embedsearch export neighbors -s my_store --words terms.txt --format jsonl --min-score 0.5
      printf 'king\nqueen\n' | embedsearch export neighbors --words - --format jsonl
      embedsearch export neighbors -s /shared/my_store -o neighbors.tsv --cluster tcp://scheduler:8786
    """
    from ..batch import neighbors_of, write_neighbors

    legacy, store_path = legacy_store(legacy, store_path, 0)
    if legacy:
        raise click.UsageError(f"unexpected argument {legacy[0]!r} (the store is -s STORE)")
    if words_file is not None and all_words:
        raise click.UsageError("give --words FILE or --all, not both")
    _json_needs_output(as_json, output)
    if output is not None:
        refuse_overwrite([output], force)
    with open_store_option(store_path) as store:
        store.set_search(ef_search=ef_search, nprobe=nprobe)
        words = read_word_list(words_file, "--words") if words_file is not None else None
        rows = neighbors_of(store, words, k=k, min_score=min_score, progress=progress, cluster=cluster or None)
        count = _write_text_output(output, lambda handle: write_neighbors(rows, handle, fmt))
    _export_summary(as_json, output, {"written": [str(output)], "format": fmt, "words": count, "k": k},
                    f"neighbours of {count:,} word(s) written" + (f" to {output}" if output else ""))


@export.command("similarities")
@click.argument("pairs_file", nargs=-1, required=True, metavar="PAIRS_FILE")
@store_option
@click.option("--format", "fmt", type=click.Choice(["tsv", "csv", "jsonl"]), default="tsv", show_default=True)
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None, help="File to write. Default: stdout.")
@_FORCE
@json_option
def export_similarities_command(pairs_file: tuple[str, ...], store_path: Path | None, fmt: str, output: Path | None,
                                force: bool, as_json: bool) -> None:
    """Cosine similarity of each pair in PAIRS_FILE (two words a line; - for stdin); unknown words leave the score empty.

    \b
    Example:
      embedsearch export similarities -s my_store pairs.tsv --format csv -o scores.csv
    """
    from ..batch import pair_similarities, read_pairs, write_similarities

    files, store_path = legacy_store(pairs_file, store_path, 1)
    if len(files) != 1:
        raise click.UsageError(f"give one PAIRS_FILE, got {len(files)}")
    _json_needs_output(as_json, output)
    if output is not None:
        refuse_overwrite([output], force)
    with open_store_option(store_path) as store:
        rows = pair_similarities(store, read_pairs(files[0]))
        count = _write_text_output(output, lambda handle: write_similarities(rows, handle, fmt))
    _export_summary(as_json, output, {"written": [str(output)], "format": fmt, "pairs": count},
                    f"{count:,} pair(s) written" + (f" to {output}" if output else ""))


def _write_text_output(output: Path | None, write: Callable[[Any], int]) -> int:
    """Run ``write`` on stdout, or on a temporary sibling of ``output`` renamed into place on success."""
    if output is None:
        return write(sys.stdout)
    import io

    from ..fsutil import atomic_file

    with atomic_file(output) as binary:
        handle = io.TextIOWrapper(binary, encoding="utf-8", newline="")
        count = write(handle)
        handle.flush()
        handle.detach()  # the binary file is closed (and renamed into place) by atomic_file
    return count
