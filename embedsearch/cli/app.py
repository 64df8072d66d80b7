"""The command line: parse options, call one library function, format its result.

This module holds the ``embedsearch`` group and what every command shares (error handling, JSON
and progress output, common options); the commands live in ``ask``, ``build``, ``tools``, ``rerank``,
``serve``, ``plot`` and ``verify`` (see :data:`COMMAND_MODULES`). Library errors
(:class:`EmbedsearchError`) become one line on stderr and exit code 1 (bad data, unknown word) or 2
(bad usage); nothing here prints a traceback for a user's mistake. A command's module is imported
only when that command runs (or ``--help`` lists them all), and heavy modules inside the commands,
so a cold ``embedsearch similar`` loads neither the training code nor the other commands.
"""
from __future__ import annotations

import contextlib
import dataclasses
import errno
import importlib
import json
import lzma
import os
import sqlite3
import sys
import time
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .. import __version__
from ..errors import EmbedsearchError

if TYPE_CHECKING:
    from ..progress import Progress
    from ..query import Neighbor, Store
    
DEFAULT_STORE = Path("embedsearch-quickstart") / "store"
STORE_ENV = "EMBEDSEARCH_STORE"

class Failure(click.ClickException):
    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _set_quiet(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value and isinstance(ctx.obj, ProgressPrinter):
        ctx.obj.quiet = True


_TARGET_PARAMS = ("output", "store_path", "store")


class Command(click.Command):
    """A command that also accepts ``-q/--quiet`` after its name (``embedsearch similar x -q``), and
    notes on an OS or SQLite error which file it was writing (its ``-o`` or store), so the message can
    name it: the OS names a temporary sibling, or nothing at all for a full disk."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.append(click.Option(["-q", "--quiet"], is_flag=True, expose_value=False, callback=_set_quiet,
                                        help="No progress output on stderr (also accepted before the command name)."))

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (OSError, sqlite3.Error) as exc:
            target = next((ctx.params[name] for name in _TARGET_PARAMS if ctx.params.get(name) is not None), None)
            if target is not None and not hasattr(exc, "embedsearch_target"):
                exc.embedsearch_target = target  # type: ignore[union-attr]
            raise


# The module of this package that defines each top-level command (by decorating ``main``).
COMMAND_MODULES: dict[str, str] = {
    **dict.fromkeys(["similar", "analogy", "similarity", "doesnt-match", "examples", "info"], "ask"),
    **dict.fromkeys(["ingest", "tokenize", "train", "quickstart", "import", "reindex", "steps"], "build"),
    **dict.fromkeys(["evaluate", "datasets", "export"], "tools"),
    "rerank": "rerank", "serve": "serve", "plot": "plot", "verify": "verify",
}


class Group(click.Group):
    """Turns library errors into clean messages and exit codes for every command.

    ``lazy_commands`` (command name → module of this package): commands registered when first asked
    for, by importing their module, the way click's documentation loads subcommands lazily.
    """

    command_class = Command
    group_class = type  # subgroups (evaluate, export, rerank) are Groups too

    def __init__(self, *args: Any, lazy_commands: Mapping[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy_commands:
            importlib.import_module(f"{__package__}.{self.lazy_commands[cmd_name]}")
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            # Ctrl-C: the shell convention is 128 + SIGINT = 130, with one line saying so.
            printer = ctx.find_root().obj
            if isinstance(printer, ProgressPrinter):
                printer._clear()
            click.echo("\ninterrupted" if sys.stderr.isatty() else "interrupted", err=True)
            ctx.exit(130)
        except EmbedsearchError as exc:
            raise Failure(str(exc), exc.exit_code) from exc
        except BrokenPipeError:
            # The reader went away (`... | head`): stop quietly, as Unix tools do.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            ctx.exit(0)
        except OSError as exc:
            raise Failure(describe_os_error(exc), 1) from exc
        except MemoryError as exc:
            raise Failure(f"out of memory{f' ({exc})' if str(exc) else ''}: lower the sizes asked for "
                          "(--dim, --bucket, --hidden, --batch, -k) or free memory", 1) from exc
        except sqlite3.Error as exc:
            raise Failure(describe_sqlite_error(exc, getattr(exc, "embedsearch_target", None)), 1) from exc
        except (EOFError, zlib.error, lzma.LZMAError) as exc:
            raise Failure(f"cannot read the input: {exc or type(exc).__name__} (a truncated or corrupt file)", 1) from exc
        except RuntimeError as exc:
            if "faiss" not in str(exc).lower():
                raise
            raise Failure(describe_faiss_error(exc), 1) from exc


def describe_os_error(exc: OSError) -> str:
    """One line for an OS error: the problem in plain words, then the file it happened to."""
    where = f" ({exc.filename})" if exc.filename else ""
    target = getattr(exc, "embedsearch_target", None)
    text = str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT) or ("requested and" in text and "written" in text):
        # numpy's tofile/save report a short write as "N requested and M written", with no errno.
        where = f" ({target})" if target is not None else where
        return f"no space left on device{where}: free some space or write elsewhere"
    if exc.errno == errno.EROFS:
        where = f" ({target})" if target is not None else where
        return f"read-only file system{where}: write somewhere writable"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"permission denied{where}"
    if exc.errno == errno.EISDIR:
        return f"is a directory, not a file{where}"
    if exc.errno == errno.ENOTDIR:
        return f"not a directory{where}"
    if exc.errno == errno.ENOENT:
        return f"no such file or directory{where}"
    return f"{exc.strerror or text}{where}"


def describe_sqlite_error(exc: sqlite3.Error, target: Any = None) -> str:
    text = str(exc)
    where = f" ({target})" if target is not None else ""
    if "disk is full" in text or "disk I/O error" in text:
        return f"no space left on device{where} (SQLite: {text}): free some space or write elsewhere"
    if "readonly" in text or "read-only" in text:
        return f"read-only file system{where} (SQLite: {text}): write somewhere writable"
    if "not a database" in text or "malformed" in text:
        return f"a database file is corrupt (SQLite: {text}); check the store with `embedsearch verify`"
    return f"SQLite error: {text}"


def describe_faiss_error(exc: RuntimeError) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    detail = next((line for line in reversed(lines) if "Error in" not in line), lines[-1] if lines else "")
    return f"FAISS error: {detail}"


# --- output helpers ----------------------------------------------------------------------------


def emit_json(result: Any) -> None:
    data = dataclasses.asdict(result) if dataclasses.is_dataclass(result) else result
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


class ProgressPrinter:
    """Progress on stderr with rate and time left (tqdm): a live bar on a terminal, a plain line
    every 10 s otherwise (logs, CI), both formatted by tqdm. One bar per stage."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self.last = 0.0
        self.stage: str | None = None
        self.started = 0.0
        self.bar: Any = None

    def __call__(self, event: Progress) -> None:
        if event.stage == "warning":
            self._clear()
            click.echo(f"warning: {event.message}", err=True)
            return
        if self.quiet:
            return
        if event.stage != self.stage:
            self._close()
            self.stage = event.stage
            self.started = self.last = time.monotonic()  # a plain line every 10 s from the stage's start
        done = float(event.done)
        total = float(event.total) if event.total else None
        if self.tty:
            self._draw(event, done, total)
            return
        now = time.monotonic()
        last_step = total is not None and done >= total
        if not (event.final or last_step) and now - self.last < 10.0:
            return
        self.last = now
        from tqdm import tqdm

        line = tqdm.format_meter(done, total, now - self.started, unit=f" {event.unit}", prefix=event.stage,
                                 postfix=event.message or None, bar_format=self._format(total))
        click.echo(line, err=True)
        if event.final:
            self.stage = None

    @staticmethod
    def _format(total: float | None) -> str:
        if total is None:
            return "{desc}: {n:,.1f}{unit} [{elapsed}, {rate_fmt}{postfix}]"
        return "{desc}: {percentage:5.1f}% |{bar:20}| {n:,.1f}/{total:,.1f}{unit} [{elapsed}<{remaining}, {rate_fmt}{postfix}]"

    def _draw(self, event: Progress, done: float, total: float | None) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=total, desc=event.stage, unit=f" {event.unit}", file=sys.stderr, leave=True,
                            dynamic_ncols=True, mininterval=0.2, bar_format=self._format(total))
        if total is not None and self.bar.total != total:
            self.bar.total = total
        if event.message:
            self.bar.set_postfix_str(event.message, refresh=False)
        self.bar.update(done - self.bar.n)
        if event.final:
            self._close()

    def _close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        self.stage = None

    def _clear(self) -> None:
        if self.bar is not None:
            self.bar.clear()


def display_width(text: str) -> int:
    """Terminal columns of ``text``: Hangul and CJK take two, combining marks none (wcwidth)."""
    if text.isascii() and text.isprintable():
        return len(text)  # the common case, without importing wcwidth's tables on a cold query
    from wcwidth import wcswidth, wcwidth

    width = wcswidth(text)
    return width if width >= 0 else sum(max(0, wcwidth(ch)) for ch in text)


def ljust(text: str, width: int) -> str:
    return text + " " * max(0, width - display_width(text))


def rjust(text: str, width: int) -> str:
    return " " * max(0, width - display_width(text)) + text


def print_neighbors(neighbors: list[Neighbor]) -> None:
    if not neighbors:
        click.echo("  (no results)")
        return
    width = max(display_width(n.word) for n in neighbors)
    reranked = hasattr(neighbors[0], "fit")
    if reranked:
        click.echo(f"     {ljust('word', width)}   final  cosine     fit")
    for rank, n in enumerate(neighbors, 1):
        extra = f"  {n.cosine:.4f}  {n.fit:6.3f}" if reranked else ""  # type: ignore[attr-defined]
        click.echo(f"{rank:3d}. {ljust(n.word, width)}  {n.score:.4f}{extra}")


def print_subwords_note(oov: list[str]) -> None:
    """Plain output marks query words that are not in the vocabulary and were built from subwords."""
    if oov:
        click.echo(f"  ({', '.join(dict.fromkeys(oov))}: not in the vocabulary, built from subwords)")


# --- shared options ----------------------------------------------------------------------------


def store_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "-s",
        "--store",
        "store_path",
        type=click.Path(path_type=Path),
        envvar=STORE_ENV,
        help=f"Store directory. Default: ${STORE_ENV}, else ./{DEFAULT_STORE} (made by `embedsearch quickstart`).",
    )(function)


def resolve_store_path(store_path: Path | None) -> Path:
    """The store a command works on: -s/--store, else $EMBEDSEARCH_STORE, else the quickstart store."""
    if store_path is None:
        if not DEFAULT_STORE.is_dir():
            raise click.UsageError(f"no store given: pass -s/--store PATH, set ${STORE_ENV}, or run `embedsearch quickstart` first")
        store_path = DEFAULT_STORE
    return store_path


def is_store_dir(path: str | Path) -> bool:
    """Whether ``path`` is a store (its marker, or a layout-1 store's metadata): cheap, no database opened."""
    from ..store.generations import has_marker

    return Path(path).is_dir() and (has_marker(path) or (Path(path) / "meta.sqlite").is_file())


def legacy_store(arguments: tuple[str, ...], store_path: Path | None, needed: int) -> tuple[tuple[str, ...], Path | None]:
    """Accept the old positional STORE (before -s/--store existed here) for one release.

    Only when it is unambiguous: there is one positional argument more than the command needs and
    the first one is a store directory (an evaluation file, pairs file or corpus never is one).
    """
    if len(arguments) > needed and arguments and is_store_dir(arguments[0]):
        click.echo(f"warning: a positional STORE is deprecated and will go in the next release; "
                   f"use -s {arguments[0]} (or ${STORE_ENV})", err=True)
        return arguments[1:], Path(arguments[0])
    return arguments, store_path


def refuse_overwrite(paths: list[Path], force: bool) -> None:
    """Outputs are replaced only with --force, like `train` and `ingest`; a directory never is, and
    nothing inside a store is an output at all (checked first, so --force cannot be the advice)."""
    from ..fsutil import refuse_output

    for path in paths:
        refuse_output(path)
        if path.is_dir():
            raise click.BadParameter(f"{path} is a directory; give a file name", param_hint="-o")
    if force:
        return
    for path in paths:
        if path.exists():
            raise Failure(f"{path} already exists; pass --force to replace it", 1)


def read_word_list(path: Path, option: str) -> list[str]:
    """Non-empty lines of a word list (``-``: stdin), read before any output is written."""
    if str(path) == "-":
        return read_stdin_lines()
    try:
        with open(path, encoding="utf-8-sig", errors="strict") as handle:
            return [line.strip() for line in handle if line.strip()]
    except FileNotFoundError:
        raise click.BadParameter(f"no such file: {path}", param_hint=option) from None
    except UnicodeDecodeError as exc:
        raise click.BadParameter(f"{path} is not UTF-8 ({exc.reason})", param_hint=option) from None
    except OSError as exc:  # a directory, no permission
        raise click.BadParameter(f"{path}: {exc.strerror or exc}", param_hint=option) from None


def among_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--among", "among_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
                        metavar="FILE",
                        help="Answer only with words of this list (one a line; - reads it from stdin).")(function)


def read_stdin_lines() -> list[str]:
    """Non-empty lines of stdin, as UTF-8 (bad bytes replaced), read before any output is written."""
    return [line.strip() for line in iter_stdin_lines() if line.strip()]


def iter_stdin_lines() -> Any:
    """Lines of stdin as UTF-8 (with a BOM skipped, bad bytes replaced), one at a time."""
    import io

    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:  # already text (some embedding hosts)
        yield from sys.stdin
        return
    wrapper = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline=None)
    try:
        yield from wrapper
    finally:
        with contextlib.suppress(ValueError):  # already closed (at exit after Ctrl-C)
            wrapper.detach()


def json_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")(function)


def k_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("-k", "k", type=click.IntRange(min=1), default=10, show_default=True, help="Number of results.")(
        function
    )


def restrict_option(default: int | None, help: str = "Only the N most frequent words.") -> Callable[..., Any]:
    """--restrict N, the one name for "only the N most frequent words" (gensim's restrict_vocab)."""
    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        return click.option("--restrict", type=click.IntRange(min=1), default=default, show_default=default is not None,
                            metavar="N", help=help)(function)
    return decorate


def index_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """--index and its build parameters, shared by train, import and reindex."""
    options = [
        click.option("--index", "index_kind", type=click.Choice(["flat", "hnsw", "ivf", "ivfpq", "auto"]),
                     default="flat", show_default=True,
                     help="Nearest-neighbour index: exact (flat) or approximate; auto picks by size and memory."),
        click.option("--target-recall", type=click.FloatRange(min=0, max=1, min_open=True), default=0.95,
                     show_default=True, help="Approximate indexes: tune the search until recall@10 reaches this."),
        click.option("--hnsw-m", type=click.IntRange(min=2), default=None, help="HNSW neighbours per node (default 32)."),
        click.option("--ef-construction", type=click.IntRange(min=1), default=None, help="HNSW build effort (default 200)."),
        click.option("--nlist", type=click.IntRange(min=1), default=None, help="IVF cells (default ~4*sqrt(words))."),
        click.option("--pq-m", type=click.IntRange(min=1), default=None, help="IVF-PQ sub-quantizers (must divide dims)."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def build_index_options(index_kind: str, target_recall: float, hnsw_m: int | None, ef_construction: int | None,
                         nlist: int | None, pq_m: int | None) -> Any:
    from ..store.index import IndexOptions

    return IndexOptions(kind=index_kind, m=hnsw_m, ef_construction=ef_construction, nlist=nlist, pq_m=pq_m,
                        target_recall=target_recall)


def search_options(function: Callable[..., Any]) -> Callable[..., Any]:
    function = click.option("--nprobe", type=click.IntRange(min=1), default=None,
                            help="IVF indexes: cells to search (overrides the tuned value; recall then unmeasured).")(function)
    return click.option("--ef-search", type=click.IntRange(min=1), default=None,
                        help="HNSW indexes: search breadth (overrides the tuned value; recall then unmeasured).")(function)


def rerank_options(function: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--rerank", is_flag=True,
                     help="Reorder by cosine + weight x fit in the query word's contexts (needs `embedsearch rerank train`)."),
        click.option("--rerank-k", type=click.IntRange(min=1), default=50, show_default=True,
                     help="Candidates drawn by cosine for --rerank."),
        click.option("--rerank-weight", type=float, default=None,
                     help="Weight of fit (in nats) against cosine. Default: the store's (set when the reranker was trained; "
                          "analogies have their own, smaller one)."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def open_store_option(store_path: Path | None) -> Store:
    from ..query import open_store

    return open_store(resolve_store_path(store_path))


# --- the commands ------------------------------------------------------------------------------


@click.group(cls=Group, lazy_commands=COMMAND_MODULES, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="embedsearch")
@click.option("-q", "--quiet", is_flag=True, help="No progress output on stderr.")
@click.pass_context
def main(ctx: click.Context, quiet: bool) -> None:
    """Train word embeddings on your own text and ask similarity questions about them.

    \b
    Start here:
      embedsearch quickstart                      # sample corpus -> store -> answers
      embedsearch ingest texts/ -o corpus         # your text -> tokenized corpus
      embedsearch train corpus -o store           # corpus -> store (Word2Vec)
      embedsearch similar -s store king           # nearest words
      embedsearch similar -s store "king - man + woman"
      embedsearch analogy -s store man king woman
    """
    ctx.obj = ProgressPrinter(quiet)



def describe_index(index: dict[str, Any]) -> str:
    if index.get("exact"):
        return f"{index.get('kind')} (exact)"
    params = ", ".join(f"{key}={value}" for key, value in index.get("params", {}).items())
    text = f"{index.get('kind')} ({index.get('faiss')}; {params}), recall@10 {index.get('recall_at_10', 0):.3f}"
    text += f" measured on {index.get('recall_sample', 0):,} words"
    if index.get("auto_reason"):
        text += f"; auto: {index['auto_reason']}"
    return text
