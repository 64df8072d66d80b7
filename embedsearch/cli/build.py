"""Commands that make things: ingest, tokenize, steps, train, quickstart, import, reindex."""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..errors import install_hint
from .app import (
    DEFAULT_STORE,
    STORE_ENV,
    ProgressPrinter,
    build_index_options,
    describe_index,
    emit_json,
    index_options,
    json_option,
    legacy_store,
    main,
    resolve_store_path,
    store_option,
)

if TYPE_CHECKING:
    from ..text.pipeline import Pipeline

def _check_postprocess(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from ..errors import ConfigError
    from ..store.postprocess import parse_postprocess

    try:
        post = parse_postprocess(value)
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from None
    return post.spec if post is not None else None


def postprocess_option(default: str | None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--postprocess, shared by train, import and reindex."""
    return click.option(
        "--postprocess", default=default, callback=_check_postprocess, metavar="none|center|abtt:D",
        show_default=default is not None,
        help="Post-process the vectors: center (subtract the mean) or abtt:D (also remove the D dominant "
             "directions, Mu & Viswanath 2018); applied to the stored vectors and to every vector a query "
             "builds (FastText's unseen words). See docs/quality.md.")


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
                 help=f"Korean morpheme analyser: Kiwi, or MeCab with mecab-ko-dic (~3x faster; {install_hint('mecab')})."),
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
    click.option("--jamo", is_flag=True,
                 help="Write Hangul syllables as their jamo (학교 → ㅎㅏㄱㄱㅛ-), so FastText's subwords are jamo n-grams "
                      "(Park et al. 2018); the store shows its words composed and takes queries in Hangul."),
    click.option("--char-ngrams", default=None, metavar="MIN-MAX", help="Replace tokens by their character n-grams, e.g. 3-5."),
    click.option("--vocab-size", type=click.IntRange(min=16), default=8000, show_default=True, help="bpe/unigram vocabulary."),
    click.option("--subword-seed", type=click.IntRange(min=0), default=1, show_default=True, help="bpe/unigram training seed."),
]
_PIPELINE_PARAMS = ("lang", "unicode", "case", "strip_accents", "html", "entities", "entity_action", "punct", "no_sentences",
                    "tokenizer", "pos_tags", "lemma", "korean_backend", "drop_pos", "stem", "builtin_stopwords", "stopword_files",
                    "min_chars", "max_chars", "phrases", "phrase_min_count", "phrase_threshold", "word_ngrams",
                    "jamo", "char_ngrams", "vocab_size", "subword_seed")


def _pipeline_options(function: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_PIPELINE_OPTIONS):
        function = option(function)
    return function


def _split_list(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").replace("+", ",").split(",") if part.strip()]


def _pipeline_from_options(ctx: click.Context, pipeline_spec: str | None, values: dict[str, Any]) -> Pipeline:
    """The pipeline the command-line options describe (``--pipeline`` or the builder options)."""
    from ..text.pipeline import parse_steps
    from ..text.presets import PipelineOptions, build_pipeline

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
        phrase_threshold=values["phrase_threshold"], word_ngrams=values["word_ngrams"], jamo=values["jamo"],
        char_ngrams=char_ngrams, vocab_size=values["vocab_size"], seed=values["subword_seed"],
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
@click.option("--cluster", metavar="ADDRESS", envvar="EMBEDSEARCH_CLUSTER", default=None,
              help="Run on a Dask cluster (its scheduler, tcp://host:8786; env EMBEDSEARCH_CLUSTER) instead of "
                   "local processes; needs the cluster extra. Same corpus.")
@click.option("--cluster-inputs", type=click.Choice(["auto", "bytes", "shared"]), envvar="EMBEDSEARCH_CLUSTER_INPUTS",
              default="auto", show_default=True,
              help="How inputs reach cluster workers: auto: workers read the files they see as this process does "
                   "(same path, size, mtime), the others are shipped as bytes; bytes: ship all; shared: workers "
                   "read all, or fail naming the file and the worker.")
@click.option("--encoding-errors", type=click.Choice(["replace", "strict"]), default="replace", show_default=True,
              help="Invalid UTF-8: replace with U+FFFD and count, or stop with the file and line.")
@click.option("--force", is_flag=True, help="Replace OUTPUT if it exists.")
@json_option
@click.pass_context
def ingest(ctx: click.Context, sources: tuple[str, ...], output: Path, source_format: str, field: str | None,
           column: str | None, pipeline_spec: str | None, workers: int | None, cluster: str | None,
           cluster_inputs: str, encoding_errors: str, force: bool, as_json: bool, **pipeline_values: Any) -> None:
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
      embedsearch ingest crawl/ -o crawl_corpus --cluster tcp://scheduler:8786
    """
    from ..corpus import SourceFormat
    from ..corpus import ingest as run_ingest

    progress: ProgressPrinter = ctx.obj
    pipeline = _pipeline_from_options(ctx, pipeline_spec, pipeline_values)
    if cluster and workers:
        raise click.UsageError("--workers is for local processes; a --cluster brings its own workers")
    on = None
    if cluster:
        from ..cluster import ClusterOptions

        on = ClusterOptions(cluster, cluster_inputs)
    corpus = run_ingest(list(sources), output, pipeline=pipeline, workers=workers, encoding_errors=encoding_errors,
                        source_format=SourceFormat(source_format, field, column), overwrite=force, progress=progress,
                        cluster=on)
    if as_json:
        emit_json({"corpus": str(corpus.path), "pipeline": corpus.pipeline.to_dict(), "stats": dataclasses.asdict(corpus.stats)})
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
@click.option("-s", "--store", "store_path", type=click.Path(path_type=Path), default=None,
              help=f"Use the pipeline (and learned models) of this store. ${STORE_ENV} is used when no pipeline "
                   "option and no --corpus is given.")
@click.option("--trace", is_flag=True, help="Show what each step makes of the text.")
@json_option
@click.pass_context
def tokenize(ctx: click.Context, text: tuple[str, ...], pipeline_spec: str | None, corpus_path: Path | None,
             store_path: Path | None, trace: bool, as_json: bool, **pipeline_values: Any) -> None:
    """Show what a pipeline makes of TEXT (or of stdin: no TEXT, or -): one sentence a line, tokens separated by spaces.

    The pipeline options are those of `ingest`, so a long run can be tried on a sentence first.
    Steps that learn from the corpus (--phrases, bpe/unigram) need --corpus or --store.

    \b
    Examples:
      embedsearch tokenize "The cats are jumping" --lemma --stem english
      embedsearch tokenize "나는 밥을 먹었다" --lang ko --pos-tags --trace
      embedsearch tokenize "see https://example.com" --entities all
      embedsearch tokenize -s my_store "New York City"
      cat notes.txt | embedsearch tokenize - --lang ko
    """
    if corpus_path and store_path:
        raise click.UsageError("give --corpus or --store, not both")
    source = " ".join(text) if text and text != ("-",) else _read_stdin()
    chosen = [name for name in ("pipeline_spec", *_PIPELINE_PARAMS)
              if ctx.get_parameter_source(name) not in (click.core.ParameterSource.DEFAULT, None)]
    if store_path is None and corpus_path is None and not chosen and os.environ.get(STORE_ENV):
        store_path = Path(os.environ[STORE_ENV])  # the current store, like every other command
    if corpus_path or store_path:
        if chosen:
            raise click.UsageError("--corpus/--store use their saved pipeline; pipeline options cannot be added")
    if corpus_path:
        from ..corpus import open_corpus

        corpus = open_corpus(corpus_path)
        pipeline, compiled = corpus.pipeline, corpus.compile()
    elif store_path:
        from ..store import StoreFiles
        from ..text.pipeline import Pipeline

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
        emit_json({"pipeline": pipeline.describe(), "steps": [{"step": name, "output": out} for name, out in steps],
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
@click.option("--model", type=click.Choice(["word2vec", "fasttext", "glove", "ppmi-svd"]), default="word2vec",
              show_default=True,
              help="word2vec (gensim), fasttext (Facebook's fastText, with subwords for unseen words), or the "
                   "count-based glove and ppmi-svd (docs/count-models.md).")
@click.option("--arch", type=click.Choice(["skipgram", "cbow"]), default=None,
              help="cbow or skipgram. Default: cbow (with w + c and --combine ppmi-svd: the best measured "
                   "quality in under 10 minutes); fasttext: skipgram (fastText's own default).")
@click.option("--dim", type=click.IntRange(min=1), default=None,
              help="Vector dimensions. Default: 200 (fasttext: 100); a combined store has --dim + --combine-dim.")
@click.option("--window", type=click.IntRange(min=1), default=None,
              help="Context window (words each side). Default: 8 for cbow, 5 for skipgram, fasttext and ppmi-svd, 10 for glove.")
@click.option("--min-count", type=click.IntRange(min=1), default=5, show_default=True, help="Ignore rarer words.")
@click.option("--negative", type=click.IntRange(min=1), default=None,
              help="Negative samples. Default: 10 for word2vec skipgram, else 5. ppmi-svd: the shift k "
                   "(PMI - log k), default 1.")
@click.option("--sample", type=click.FloatRange(min=0, max=1, max_open=True), default=None,
              help="Down-sampling threshold for frequent words. Default: 1e-4 for cbow and fasttext, 1e-3 for skipgram.")
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="Passes (glove: AdaGrad epochs). Default: 15 (fasttext: 5).")
@click.option("--alpha", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Initial learning rate. Default: 0.05 for cbow, 0.025 for skipgram (as word2vec.c), 0.05 for fasttext and glove.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Training threads. Default: all cores.")
@click.option("--seed", type=click.IntRange(min=0, max=2**32 - 1), default=1, show_default=True,
              help="Random seed (word2vec, glove, ppmi-svd; fastText takes none). Reproducible only with --workers 1 (ppmi-svd: always).")
@click.option("--minn", type=click.IntRange(min=0), default=3, show_default=True,
              help="fasttext: shortest character n-gram.")
@click.option("--maxn", type=click.IntRange(min=0), default=6, show_default=True,
              help="fasttext: longest character n-gram (0: no subwords).")
@click.option("--bucket", type=click.IntRange(min=1), default=2_000_000, show_default=True,
              help="fasttext: hash buckets for n-grams (the store keeps bucket x dim floats).")
@click.option("--x-max", type=click.FloatRange(min=0, min_open=True), default=100.0, show_default=True,
              help="glove: counts above this get full weight.")
@click.option("--weighting-alpha", type=click.FloatRange(min=0, max=1, min_open=True), default=0.75, show_default=True,
              help="glove: exponent of the weighting function (x / x_max) ** alpha.")
@click.option("--cds", type=click.FloatRange(min=0, max=1, min_open=True), default=0.75, show_default=True,
              help="ppmi-svd: context-distribution smoothing exponent.")
@click.option("--eig", type=click.FloatRange(min=0, max=1), default=0.5, show_default=True,
              help="ppmi-svd: eigenvalue weighting p (vectors U * S**p).")
@click.option("--add-context/--no-add-context", default=None,
              help="word2vec/glove/ppmi-svd: store word + context vectors (w + c; glove: W + W~). "
                   "Default: on (word2vec skipgram: off).")
@click.option("--combine", type=click.Choice(["none", "ppmi-svd", "glove"]), default=None,
              help="word2vec: also train this count model on the same corpus and join its vectors to the store's, "
                   "so that every cosine is the weighted mean of the two models' (docs/quality.md). "
                   "Default: ppmi-svd for cbow, none for skipgram.")
@click.option("--combine-window", type=click.IntRange(min=1), default=10, show_default=True,
              help="--combine: the count model's window.")
@click.option("--combine-dim", type=click.IntRange(min=1), default=None,
              help="--combine: the count model's dimensions (the store has --dim + these). Default: --dim "
                   "(ppmi-svd: at most one fewer than the vocabulary's words, with a warning).")
@click.option("--combine-weight", type=click.FloatRange(min=0, max=1, min_open=True, max_open=True), default=0.25,
              show_default=True, help="--combine: the count model's share of every cosine.")
@click.option("--max-memory", type=click.FloatRange(min=0, min_open=True), default=None,
              help="glove/ppmi-svd: memory limit in GiB (default: 90% of the memory available); refused early, with an estimate.")
@click.option("--loss", is_flag=True, help="word2vec: track and show the training loss per epoch (slightly slower).")
@click.option("--contexts", type=click.IntRange(min=0), default=16, show_default=True,
              help="Occurrences of each word to keep (seeded sample) for `examples` and `--rerank`; 0 keeps none.")
@postprocess_option(None)
@index_options
@click.option("--force", is_flag=True, help="Replace OUTPUT if it exists.")
@json_option
@click.pass_obj
def train(progress: ProgressPrinter, corpus: Path, output: Path, model: str, arch: str | None, dim: int | None,
          window: int | None, min_count: int, negative: int | None, sample: float | None, epochs: int | None,
          alpha: float | None,
          workers: int | None, seed: int, minn: int, maxn: int, bucket: int, x_max: float, weighting_alpha: float,
          cds: float, eig: float, add_context: bool | None, combine: str | None, combine_window: int,
          combine_dim: int | None, combine_weight: float, max_memory: float | None, loss: bool, contexts: int,
          postprocess: str | None, index_kind: str,
          target_recall: float, hnsw_m: int | None, ef_construction: int | None, nlist: int | None, pq_m: int | None, force: bool,
          as_json: bool) -> None:
    """Train Word2Vec, FastText, GloVe or PPMI-SVD on a CORPUS directory (from `ingest`) and write a store.

    \b
    Examples:
      embedsearch train my_corpus -o my_store --arch cbow --dim 200 --epochs 10
      embedsearch train my_corpus -o ft_store --model fasttext --minn 3 --maxn 6
      embedsearch train my_corpus -o glove_store --model glove --window 10 --epochs 15
      embedsearch train my_corpus -o svd_store --model ppmi-svd --window 5 --eig 0.5
    """
    from ..training import TrainConfig
    from ..training import train as run_train

    options: dict[str, Any] = {"workers": workers} if workers else {}
    config = TrainConfig(model=model, arch=arch, dim=dim, window=window, min_count=min_count, negative=negative,
                         sample=sample, epochs=epochs, alpha=alpha, seed=seed, compute_loss=loss, minn=minn, maxn=maxn,
                         bucket=bucket, x_max=x_max, weighting_alpha=weighting_alpha, cds=cds, eig=eig,
                         add_context=add_context, max_memory=max_memory, combine=combine,
                         combine_window=combine_window, combine_dim=combine_dim, combine_weight=combine_weight, **options)
    index = build_index_options(index_kind, target_recall, hnsw_m, ef_construction, nlist, pq_m)
    result = run_train(corpus, output, config=config, index=index, overwrite=force, contexts=contexts,
                       postprocess=postprocess, progress=progress)
    if as_json:
        emit_json(result)
        return
    click.echo(f"store written to {result.store}: {result.words:,} words x {result.dim} dims, "
               f"trained on {result.corpus_words:,} words in {result.seconds:.1f} s")
    click.echo(f"next: embedsearch similar -s {result.store} WORD")


@main.command()
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help=f"Directory for the corpus and the store. Default: {DEFAULT_STORE.parent} (ko: {DEFAULT_STORE.parent}-ko).")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Default: all cores.")
@click.option("--force", is_flag=True, help="Rebuild even if OUTPUT already holds a quickstart store.")
@click.option("--lang", type=click.Choice(["en", "ko"]), default="en", show_default=True,
              help="ko: a Korean store from the Korean Wikipedia sample shipped with embedsearch (Kiwi morphemes).")
@json_option
@click.pass_obj
def quickstart(progress: ProgressPrinter, output: Path | None, workers: int | None, force: bool, lang: str,
               as_json: bool) -> None:
    """Build a store from a Wikipedia sample (English: gensim's; Korean: ours), then query it.

    Takes about a minute on two cores. Afterwards, try the commands it prints.
    """
    from ..demo import quickstart as run_quickstart

    if output is None:
        output = DEFAULT_STORE.parent if lang == "en" else Path(f"{DEFAULT_STORE.parent}-ko")
    result = run_quickstart(output, workers=workers, overwrite=force, lang=lang, progress=progress)
    if as_json:
        emit_json(result)
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
    if lang == "ko":
        click.echo(f"  embedsearch similar -s {result.store} 대통령")
        click.echo(f"  embedsearch analogy -s {result.store} 한국 서울 일본")
        click.echo(f"  embedsearch evaluate pairs {result.store} ko-ws353")
        click.echo(f"  embedsearch evaluate analogies {result.store} ko-analogy-semantic")
        return
    click.echo(f"  embedsearch similar{flag} philosophy")
    click.echo(f'  embedsearch similar{flag} "music - poetry + science"')
    click.echo(f"  embedsearch analogy{flag} france french germany --method 3cosmul")
    click.echo(f"  embedsearch doesnt-match{flag} france spain italy music")
    click.echo(f"  embedsearch examples{flag} philosophy -k 5")
    click.echo(f"  embedsearch info{flag}")
    click.echo(f"  embedsearch rerank train{flag} {result.corpus} --minutes 2   # then: similar{flag} WORD --rerank")
    click.echo("  embedsearch ingest YOUR_TEXTS/ -o my_corpus && embedsearch train my_corpus -o my_store")



@main.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="Store directory to write.")
@click.option("--format", "fmt", type=click.Choice(["word2vec", "word2vec-bin", "fasttext-vec", "fasttext-bin", "glove"]), default=None,
              help="Default: detected from the file.")
@click.option("--pipeline", "pipeline_spec", default=None, metavar="STEPS",
              help="How query words are prepared, e.g. 'lowercase,word'. Default: used as typed.")
@click.option("--strict", is_flag=True, help="Stop at the first bad line instead of skipping and counting it.")
@postprocess_option(None)
@index_options
@click.option("--force", is_flag=True, help="Replace OUTPUT if it exists.")
@json_option
@click.pass_obj
def import_command(progress: ProgressPrinter, file: Path, output: Path, fmt: str | None, pipeline_spec: str | None,
                   strict: bool, postprocess: str | None, index_kind: str, target_recall: float, hnsw_m: int | None, ef_construction: int | None,
                   nlist: int | None, pq_m: int | None, force: bool, as_json: bool) -> None:
    """Make a store from a vector FILE (word2vec text or binary, fastText .vec or .bin, GloVe; - for stdin).

    Text formats may be gzip/bz2/xz-compressed. A fastText .bin keeps its subword n-grams, so the
    store answers for words outside the vocabulary too. Stdin (uncompressed) needs --format.

    \b
    Example:
      embedsearch import glove.6B.100d.txt -o glove_store --pipeline lowercase,whitespace
    """
    from ..formats import import_vectors
    from ..text.pipeline import parse_steps

    pipeline = parse_steps(pipeline_spec) if pipeline_spec else None
    index = build_index_options(index_kind, target_recall, hnsw_m, ef_construction, nlist, pq_m)
    report = import_vectors(file, output, fmt=fmt, pipeline=pipeline, strict=strict, index=index, overwrite=force,
                            postprocess=postprocess, progress=progress)
    if as_json:
        emit_json(report)
        return
    click.echo(f"store written to {report.store}: {report.words:,} words x {report.dim} dims ({report.format})")
    skipped = [f"{n:,} {what}" for n, what in ((report.bad_lines, "bad line(s) skipped"),
                                               (report.bad_encoding, "word(s) with invalid UTF-8 replaced"),
                                               (report.duplicates, "duplicate word(s) ignored")) if n]
    if skipped:
        click.echo("  " + "; ".join(skipped))
    for example in report.examples:
        click.echo(f"  {example}")



@main.command()
@click.argument("legacy", nargs=-1, metavar="")
@store_option
@postprocess_option(None)
@index_options
@json_option
@click.pass_obj
def reindex(progress: ProgressPrinter, legacy: tuple[str, ...], store_path: Path | None, postprocess: str | None,
            index_kind: str,
            target_recall: float, hnsw_m: int | None, ef_construction: int | None, nlist: int | None, pq_m: int | None,
            as_json: bool) -> None:
    """Rebuild a store's nearest-neighbour index (vectors unchanged), measuring its recall.

    With --postprocess the vectors are post-processed first (once: a post-processed store keeps no
    other vectors).

    \b
    Examples:
      embedsearch reindex -s big_store --index hnsw
      embedsearch reindex -s big_store --index ivf --nlist 4096 --target-recall 0.98
      embedsearch reindex -s my_store --postprocess abtt:2
    """
    from ..store.reindex import reindex as run_reindex

    legacy, store_path = legacy_store(legacy, store_path, 0)
    if legacy:
        raise click.UsageError(f"unexpected argument {legacy[0]!r} (the store is -s STORE)")
    store_path = resolve_store_path(store_path)
    options = build_index_options(index_kind, target_recall, hnsw_m, ef_construction, nlist, pq_m)
    result = run_reindex(store_path, options, postprocess=postprocess, progress=progress)
    if as_json:
        emit_json(result)
        return
    click.echo(f"index of {store_path}: {describe_index(result)}")



@main.command()
@json_option
def steps(as_json: bool) -> None:
    """List the text pipeline steps that `ingest --pipeline` accepts."""
    from ..text.pipeline import available_steps

    rows = available_steps()
    if as_json:
        emit_json([{"name": name, "kind": kind, "version": version, "description": description}
                   for name, kind, version, description in rows])
        return
    for name, kind, version, description in rows:
        click.echo(f"{name:<12} {kind:<9} v{version}  {description}")


def _read_stdin() -> str:
    from .app import iter_stdin_lines

    return "".join(iter_stdin_lines())
