"""`embedsearch verify`: read every byte of a store and check it against what was recorded at publish."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from .app import DEFAULT_STORE, Failure, ProgressPrinter, emit_json, json_option, main, store_option


@main.command()
@click.argument("store_argument", metavar="[STORE]", required=False, type=click.Path(path_type=Path))
@store_option
@json_option
@click.pass_obj
def verify(progress: ProgressPrinter, store_argument: Path | None, store_path: Path | None, as_json: bool) -> None:
    """Check a whole store: every file's checksum, SQLite's integrity check, finite unit vectors,
    the learned models and the stored contexts. Exit code 1 if anything is wrong.

    Opening a store for a query checks only what is cheap (metadata, the words table, sizes); run
    this after copying a store, or when an answer looks wrong.

    \b
    Examples:
      embedsearch verify my_store
      embedsearch verify -s my_store --json
    """
    from ..store.verify import verify_store

    path = store_argument or store_path or DEFAULT_STORE
    report = verify_store(path, progress=progress)
    if as_json:
        emit_json({**dataclasses.asdict(report), "ok": report.ok})
    else:
        where = f" (generation {report.generation})" if report.generation else ""
        click.echo(f"{report.path}{where}: {report.words:,} words x {report.dim} dims")
        for check in report.checks:
            click.echo(f"  ok  {check}")
        for problem in report.problems:
            click.echo(f"  BAD {problem}")
    if not report.ok:
        raise Failure(f"{len(report.problems)} problem(s) found in {report.path}", 1)
