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
    ProgressPrinter,
    emit_json,
    json_option,
    k_option,
    main,
    open_store_option,
    search_options,
)


@main.group()
def evaluate() -> None:
    """Score a store on analogy questions or word-pair similarity benchmarks."""


@evaluate.command("analogies")
@click.argument("store_path", metavar="STORE", type=click.Path(path_type=Path))
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--method", type=click.Choice(["3cosadd", "3cosmul"]), default="3cosadd", show_default=True)
@click.option("--restrict", type=click.IntRange(min=1), default=30_000, show_default=True,
              help="Only the N most frequent words count as questions and answers.")
@json_option
def evaluate_analogies_command(store_path: Path, file: Path, method: str, restrict: int, as_json: bool) -> None:
    """Accuracy on an analogy FILE (`: section` or `# section` headers, `a b c d` per line).

    \b
    Example:
      embedsearch evaluate analogies my_store questions-words.txt --method 3cosmul
    """
    from ..evaluate import evaluate_analogies

    with open_store_option(store_path) as store:
        result = evaluate_analogies(store, file, method=method, restrict=restrict)
    if as_json:
        data = dataclasses.asdict(result)
        for key in ("total", "semantic", "syntactic"):
            part = getattr(result, key)
            data[key] = part.to_dict() if part else None
        data["sections"] = [s.to_dict() for s in result.sections]
        emit_json(data)
        return
    width = max([len(s.name) for s in result.sections] + [9])
    for score in [*result.sections, *(s for s in (result.semantic, result.syntactic) if s), result.total]:
        click.echo(f"{score.name:<{width}}  {100 * score.accuracy:6.2f}%  {score.correct:>6,}/{score.answered:<6,}"
                   f"  ({score.skipped:,} skipped: out of vocabulary)")
    if result.invalid_lines:
        click.echo(f"{result.invalid_lines:,} malformed line(s) ignored")


@evaluate.command("pairs")
@click.argument("store_path", metavar="STORE", type=click.Path(path_type=Path))
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--restrict", type=click.IntRange(min=1), default=None, help="Only the N most frequent words.")
@click.option("--subwords", is_flag=True, help="FastText stores: score out-of-vocabulary pairs through subwords.")
@json_option
def evaluate_pairs_command(store_path: Path, files: tuple[Path, ...], restrict: int | None, subwords: bool,
                           as_json: bool) -> None:
    """Spearman and Pearson correlation with human scores in word-pair FILES (WordSim, SimLex, MEN, RW...).

    \b
    Example:
      embedsearch evaluate pairs my_store wordsim353.tsv simlex999.txt
    """
    from ..evaluate import evaluate_pairs

    with open_store_option(store_path) as store:
        results = [evaluate_pairs(store, file, restrict=restrict, subwords=subwords) for file in files]
    if as_json:
        emit_json([{**dataclasses.asdict(r), "oov_ratio": r.oov_ratio} for r in results])
        return
    width = max(len(Path(r.file).name) for r in results)
    for r in results:
        click.echo(f"{Path(r.file).name:<{width}}  spearman {r.spearman:.4f}  pearson {r.pearson:.4f}  "
                   f"{r.pairs:,} pairs, {r.oov_pairs:,} out of vocabulary ({r.oov_ratio:.1f}%)")



@main.command("datasets")
@click.option("--kind", type=click.Choice(["pairs", "analogies", "corpus"]), default=None, help="Only this kind.")
@json_option
def datasets_command(kind: str | None, as_json: bool) -> None:
    """The evaluation sets and sample corpora shipped with embedsearch, by name.

    \b
    Give a name where a file is expected:
      embedsearch evaluate pairs STORE ws353 simlex men
      embedsearch evaluate analogies STORE google
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
    click.echo(f"\nsources and licences: {ROOT / 'README.md'}", err=True)


@main.group()
def export() -> None:
    """Write a store's vectors in other formats."""


@export.command("vectors")
@click.argument("store_path", metavar="STORE", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="File to write (for projector: a prefix for the two .tsv files). Default: stdout.")
@click.option("--format", "fmt", type=click.Choice(["word2vec", "word2vec-bin", "glove", "projector"]),
              default="word2vec", show_default=True)
@click.option("--top", type=click.IntRange(min=1), default=None, help="Only the N most frequent words.")
@click.pass_obj
def export_vectors_command(progress: ProgressPrinter, store_path: Path, output: Path | None, fmt: str,
                           top: int | None) -> None:
    """Write the store's (unit-length) vectors in FORMAT.

    \b
    Examples:
      embedsearch export vectors my_store -o vectors.txt
      embedsearch export vectors my_store --format projector --top 10000 -o projector/words
    """
    from ..formats import export_vectors

    if output is None and fmt == "projector":
        raise click.UsageError("--format projector writes two files: give -o PREFIX")
    with open_store_option(store_path) as store:
        written = export_vectors(store, output if output is not None else sys.stdout.buffer,
                                 fmt=fmt, top=top, progress=progress)
    for path in written:
        click.echo(f"wrote {path}", err=True)


@export.command("neighbors")
@click.argument("store_path", metavar="STORE", type=click.Path(path_type=Path))
@click.option("--words", "words_file", type=click.Path(path_type=Path), default=None,
              help="A file with one word per line. Default: the whole vocabulary (--all).")
@click.option("--all", "all_words", is_flag=True, help="Every vocabulary word (the default).")
@k_option
@click.option("--min-score", type=float, default=None, help="Leave out neighbours below this cosine.")
@click.option("--format", "fmt", type=click.Choice(["tsv", "csv", "jsonl"]), default="tsv", show_default=True)
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None, help="File to write. Default: stdout.")
@search_options
@click.pass_obj
def export_neighbors_command(progress: ProgressPrinter, store_path: Path, words_file: Path | None, all_words: bool,
                             k: int, min_score: float | None, fmt: str, output: Path | None, ef_search: int | None,
                             nprobe: int | None) -> None:
    """Top-K neighbours of every word (or of --words FILE), streamed as TSV, CSV or JSON lines.

    \b
    Examples:
      embedsearch export neighbors my_store -k 10 -o neighbors.tsv
      embedsearch export neighbors my_store --words terms.txt --format jsonl --min-score 0.5
    """
    from ..batch import neighbors_of, write_neighbors

    if words_file is not None and all_words:
        raise click.UsageError("give --words FILE or --all, not both")
    with open_store_option(store_path) as store:
        store.set_search(ef_search=ef_search, nprobe=nprobe)
        words = _lines_of(words_file) if words_file is not None else None
        rows = neighbors_of(store, words, k=k, min_score=min_score, progress=progress)
        count = _write_text_output(output, lambda handle: write_neighbors(rows, handle, fmt))
    click.echo(f"neighbours of {count:,} word(s) written" + (f" to {output}" if output else ""), err=True)


@export.command("similarities")
@click.argument("store_path", metavar="STORE", type=click.Path(path_type=Path))
@click.argument("pairs_file", metavar="PAIRS_FILE", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["tsv", "csv", "jsonl"]), default="tsv", show_default=True)
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None, help="File to write. Default: stdout.")
def export_similarities_command(store_path: Path, pairs_file: Path, fmt: str, output: Path | None) -> None:
    """Cosine similarity of each pair in PAIRS_FILE (two words a line); unknown words leave the score empty.

    \b
    Example:
      embedsearch export similarities my_store pairs.tsv --format csv -o scores.csv
    """
    from ..batch import pair_similarities, read_pairs, write_similarities

    with open_store_option(store_path) as store:
        rows = pair_similarities(store, read_pairs(pairs_file))
        count = _write_text_output(output, lambda handle: write_similarities(rows, handle, fmt))
    click.echo(f"{count:,} pair(s) written" + (f" to {output}" if output else ""), err=True)


def _lines_of(path: Path) -> list[str]:
    """Non-empty lines of a word list, read before any output is written."""
    try:
        with open(path, encoding="utf-8-sig", errors="strict") as handle:
            return [line.strip() for line in handle if line.strip()]
    except FileNotFoundError:
        raise click.BadParameter(f"no such file: {path}", param_hint="--words") from None
    except UnicodeDecodeError as exc:
        raise click.BadParameter(f"{path} is not UTF-8 ({exc.reason})", param_hint="--words") from None


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
