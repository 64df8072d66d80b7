"""Ingest: read sources, run the text pipeline over both cores, write the tokenized corpus.

The tokenized corpus is a directory with ``corpus.txt`` (one sentence per line, tokens separated by
single spaces, UTF-8, ``\\n`` line ends), ``corpus.json`` (format version, the pipeline, the
sources and statistics) and, for pipelines with fitted steps, ``artifacts/`` (the models those
steps learned, named and hashed in the pipeline). Both gensim (``corpus_file=``) and fastText
read ``corpus.txt`` natively.

Sources are cut into chunks in the main process (``sources.py``) and processed by worker
processes; results are written in input order, so the output is the same for any number of
workers. At most ``2 * workers + 2`` chunks are in flight, which bounds memory.

A fitted step (``phrases``, ``subword``) first gets a pass of its own: the steps before it run over
the whole corpus (in parallel, in order) into a temporary file, the step learns its model from
that file in the main process, and only then does the final pass run the whole pipeline. Since
the fitting input is the same for any worker count, so are the model and the corpus.
"""
from __future__ import annotations

import collections
import itertools
import json
import multiprocessing
import os
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import IO, Any

from .errors import ConfigError, EmptyCorpusError, SourceError
from .fsutil import atomic_directory
from .progress import Progress, ProgressCallback, ignore_progress
from .sources import ENCODING_ERRORS, Chunk, Reader, SourceFormat, chunk_documents, expand_sources
from .text.fast_english import FastEnglish, fast_english
from .text.pipeline import ARTIFACT_NAME, CompiledPipeline, Pipeline, english_words, sha256_hex
from .text.steps import PLACEHOLDER_RE, TOKENIZE, FitInput, word_pattern
from .workers import process_pool, worker_context  # noqa: F401  (worker_context: public, kept here)

CORPUS_FORMAT = 2
READABLE_CORPUS_FORMATS = (1, 2)  # format 2 added artifacts and stats.skipped_records
CORPUS_TEXT = "corpus.txt"
CORPUS_META = "corpus.json"
ARTIFACTS_DIR = "artifacts"
CHUNK_BYTES = 1 << 20  # the largest chunk
MIN_CHUNK_BYTES = 1 << 16
CHUNKS_PER_INPUT = 32  # smaller chunks for smaller inputs: no worker idles long at the end
MAX_SENTENCE_TOKENS = 1000
_SAMPLE_LINES = 3

word_pattern()  # compiled here once: worker processes forked from the fork server inherit it
__all__ = ["Corpus", "IngestStats", "SourceFormat", "expand_sources", "ingest", "open_corpus"]


@dataclass
class IngestStats:
    """What ingest read and wrote. ``documents``: non-empty input lines, records, or Wikipedia articles."""

    files: int = 0
    documents: int = 0
    sentences: int = 0
    tokens: int = 0
    vocabulary: int = 0
    bytes_read: int = 0
    replaced_bytes: int = 0
    skipped_files: list[str] = field(default_factory=list)
    seconds: float = 0.0
    workers: int = 1
    skipped_records: int = 0


@dataclass(frozen=True)
class Corpus:
    """A tokenized corpus on disk, as written by :func:`ingest`."""

    path: Path
    pipeline: Pipeline
    stats: IngestStats
    sources: tuple[str, ...]
    max_sentence_tokens: int

    @property
    def text_path(self) -> Path:
        return self.path / CORPUS_TEXT

    def artifacts(self) -> dict[str, bytes]:
        """The models the pipeline's fitted steps learned, by name, each checked against its SHA-256."""
        found: dict[str, bytes] = {}
        for step in self.pipeline.steps:
            if step.artifact is None:
                continue
            path = self.path / ARTIFACTS_DIR / step.artifact["name"]
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise SourceError(f"{path}: the learned model of step {step.name!r} is unreadable ({exc.strerror or exc})") from exc
            if sha256_hex(data) != step.artifact["sha256"]:
                raise SourceError(f"{path}: checksum mismatch (the file is corrupt or was changed after ingest)")
            found[step.artifact["name"]] = data
        return found

    def compile(self) -> CompiledPipeline:
        """The corpus's pipeline, ready to tokenize more text exactly as the corpus was."""
        return self.pipeline.compile(self.artifacts())


# --- workers ---------------------------------------------------------------------------------

CORPUS, TOKENS_MODE, SEGMENTS_MODE = "corpus", "tokens", "segments"


@dataclass
class _ChunkResult:
    text: bytes  # UTF-8: encoded once, in the worker; the main process only writes it
    lines: int  # lines written
    documents: int
    sentences: int
    tokens: int
    words: list[str]  # tokens this worker had not seen before (their union is the vocabulary)
    replaced_bytes: int
    skipped_records: int
    sample: list[str]


@dataclass(frozen=True)
class _WorkerSettings:
    pipeline: dict[str, Any]
    artifacts: dict[str, bytes]
    upto: int | None  # run only the steps before this index (fitting passes)
    mode: str  # corpus: sentences cut at max_tokens, counted; tokens: whole sentences; segments: tokenizer input
    errors: str
    max_tokens: int
    threads: int = 1  # >1: one process, the tokenizer's own threads on each chunk (Kiwi)


_worker_pipeline: CompiledPipeline | None = None
_worker_settings: _WorkerSettings | None = None
_worker_fast: FastEnglish | None = None  # the default English pipeline's faster route, same output
# Distinct tokens this worker has already reported: each is sent to the main process once per
# worker, not once per chunk, which keeps the main process (it shares the cores) nearly idle.
_worker_seen: set[str] = set()


def _init_worker(settings: _WorkerSettings) -> None:
    """Per worker process, once: compile the pipeline (loading Kiwi, SentencePiece... here, not per chunk)."""
    global _worker_pipeline, _worker_settings, _worker_seen, _worker_fast
    pipeline = Pipeline.from_dict(settings.pipeline)
    _worker_pipeline = CompiledPipeline(pipeline, settings.artifacts, upto=settings.upto)
    _worker_settings = settings
    _worker_seen = set()
    whole = settings.upto is None or settings.upto >= len(pipeline.steps)
    _worker_fast = fast_english(pipeline) if settings.mode == CORPUS and whole and settings.threads == 1 else None


def _process_chunk(chunk: Chunk) -> _ChunkResult:
    if _worker_pipeline is None or _worker_settings is None:
        raise RuntimeError("ingest worker used before _init_worker")
    settings = _worker_settings
    lines, documents, replaced, skipped = chunk_documents(chunk, settings.errors)
    out: list[str] = []
    words: set[str] = set()
    sentences = tokens = 0
    sample: list[str] = []
    max_tokens = settings.max_tokens
    if _worker_fast is not None:
        kept = [line for line in lines if line and not line.isspace()]
        fast = _worker_fast.process_lines(kept, max_tokens)
        fresh = fast.words - _worker_seen
        _worker_seen.update(fresh)
        return _ChunkResult(fast.text, fast.sentences, documents, fast.sentences, fast.tokens, list(fresh), replaced,
                            skipped, [line[:2000] for line in kept[:_SAMPLE_LINES]])
    if settings.mode == SEGMENTS_MODE:
        protect = _worker_pipeline.protects_placeholders
        for line in lines:
            if not line or line.isspace():
                continue
            for segment in _worker_pipeline.segments(line):
                if protect:
                    segment = PLACEHOLDER_RE.sub(" ", segment)
                segment = " ".join(segment.split())  # also removes line breaks a step may have made
                if segment:
                    out.append(segment)
    else:
        process = _worker_pipeline.process
        kept = [line for line in lines if line and not line.isspace()]
        sample = [line[:2000] for line in kept[:_SAMPLE_LINES]]
        if settings.threads > 1:
            found = _worker_pipeline.process_many(kept, settings.threads)
        else:
            found = [sentence for line in kept for sentence in process(line)]
        # per-sentence work as C-level passes over the whole chunk (map, chain), not Python loops
        tokens = sum(map(len, found))
        if settings.mode == CORPUS:
            words.update(itertools.chain.from_iterable(found))
            if found and max(map(len, found)) > max_tokens:
                found = [s[i : i + max_tokens] for s in found for i in range(0, len(s), max_tokens)]
        out = list(map(" ".join, found))
        sentences = len(out)
    written = len(out)
    out.append("")
    words -= _worker_seen
    _worker_seen.update(words)
    # errors="replace": a lone surrogate (JSON can spell one: "\\ud800") must not stop ingest
    text = "\n".join(out).encode("utf-8", errors="replace") if out[0] else b""
    return _ChunkResult(text, written, documents, sentences, tokens, list(words), replaced, skipped, sample)


class _InlineExecutor:
    """The one-worker path: same code, no processes (deterministic and easy to debug)."""

    def submit(self, fn: Any, arg: Chunk) -> Future[_ChunkResult]:
        future: Future[_ChunkResult] = Future()
        try:
            future.set_result(fn(arg))
        except BaseException as exc:  # delivered through the future like a pool would
            future.set_exception(exc)
        return future

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        pass


@dataclass
class _PassResult:
    stats: IngestStats
    lines: int
    vocabulary: set[str]
    samples: list[str]


def _run_pass(files: Sequence[str], settings: _WorkerSettings, out: IO[bytes], *, workers: int,
              source_format: SourceFormat, stage: str, progress: ProgressCallback, warn: ProgressCallback,
              cluster: Any = None) -> _PassResult:
    """One parallel pass over all sources; results written to ``out`` in input order."""
    reader = Reader(files, warn, chunk_bytes=_chunk_bytes(files), source_format=source_format,
                    encoding_errors=settings.errors)
    stats = IngestStats(workers=workers)
    result = _PassResult(stats, 0, set(), [])
    threaded = workers > 1 and _threaded_tokenizer(settings)
    if cluster is not None:  # a Dask cluster runs _process_chunk on its workers (cluster.py)
        from .cluster import chunk_executor

        executor = chunk_executor(cluster, settings, files, workers)
    elif workers == 1 or threaded:
        _init_worker(replace(settings, threads=workers) if threaded else settings)
        executor: Any = _InlineExecutor()
    else:
        executor = process_pool(workers, initializer=_init_worker, initargs=(settings,))
    try:
        pending: collections.deque[Future[_ChunkResult]] = collections.deque()

        def drain_one() -> None:
            done = pending.popleft().result()
            out.write(done.text)
            result.lines += done.lines
            stats.documents += done.documents
            stats.sentences += done.sentences
            stats.tokens += done.tokens
            stats.replaced_bytes += done.replaced_bytes
            stats.skipped_records += done.skipped_records
            result.vocabulary.update(done.words)
            if len(result.samples) < _SAMPLE_LINES:
                result.samples.extend(done.sample[: _SAMPLE_LINES - len(result.samples)])
            progress(Progress(stage, reader.bytes_read / 1e6, None, "MB", f"{stats.tokens:,} tokens" if stats.tokens else ""))

        for chunk in reader.chunks():
            pending.append(executor.submit(_process_chunk, chunk))
            if len(pending) >= getattr(executor, "window", 2 * workers + 2):
                drain_one()
        while pending:
            drain_one()
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
    stats.files = reader.files
    stats.bytes_read = reader.bytes_read
    stats.skipped_files = reader.skipped
    stats.replaced_bytes += reader.replaced_bytes
    stats.skipped_records += reader.skipped_records
    stats.vocabulary = len(result.vocabulary)
    return result


def _threaded_tokenizer(settings: _WorkerSettings) -> bool:
    """Whether the pipeline's tokenizer parallelises itself (Kiwi: threads sharing one model, ~1.95x
    on 2 cores, where worker processes with a model each reach ~1.7x): then one process runs it."""
    if settings.mode == SEGMENTS_MODE:
        return False
    pipeline = Pipeline.from_dict(settings.pipeline)
    index = next(i for i, step in enumerate(pipeline.steps) if step.definition.kind == TOKENIZE)
    if settings.upto is not None and settings.upto <= index:
        return False
    tokenizer = pipeline.steps[index]
    if not tokenizer.definition.fitted:
        return hasattr(tokenizer.definition.build(tokenizer.options), "batch")
    return False


def _chunk_bytes(files: Sequence[str]) -> int:
    """Chunk size: ``CHUNK_BYTES``, or less for small inputs so that no worker idles long while
    another finishes a big last chunk (Kiwi runs ~0.3 MB/s per core). It depends on the input only,
    never on the worker count: a line longer than a chunk is cut where the chunk ends, so the
    chunk size is part of what the corpus looks like."""
    try:
        total = sum(os.path.getsize(f) for f in files if f != "-")
    except OSError:
        return CHUNK_BYTES
    if "-" in files or total == 0:
        return CHUNK_BYTES
    return max(min(MIN_CHUNK_BYTES, CHUNK_BYTES), min(CHUNK_BYTES, total // CHUNKS_PER_INPUT))


# --- ingest ----------------------------------------------------------------------------------


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def ingest(
    sources: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    *,
    pipeline: Pipeline | None = None,
    artifacts: Mapping[str, bytes] | None = None,
    workers: int | None = None,
    encoding_errors: str = "replace",
    max_sentence_tokens: int = MAX_SENTENCE_TOKENS,
    source_format: SourceFormat | None = None,
    overwrite: bool = False,
    progress: ProgressCallback = ignore_progress,
    cluster: Any = None,
) -> Corpus:
    """Read ``sources``, run ``pipeline`` (default: English words) and write a tokenized corpus.

    Fitted steps of ``pipeline`` learn their models from these sources first; an already fitted
    pipeline (from another corpus or a store) needs its models in ``artifacts``. ``source_format``
    reads JSONL fields and CSV/TSV columns (default: plain text, by file name).

    Text must be UTF-8; with ``encoding_errors="replace"`` (the default) bad bytes become U+FFFD and
    are counted in ``stats.replaced_bytes``, with ``"strict"`` they stop ingest with the file and
    line. Files that look binary are skipped with a warning. Raises :class:`EmptyCorpusError` if no
    token survives the pipeline, naming the step that removed everything.

    ``cluster`` (a Dask scheduler address, a ``distributed.Client`` or
    :class:`embedsearch.cluster.ClusterOptions`) runs the chunks on that cluster's workers instead of
    local processes (``workers`` is then the cluster's thread count); the corpus is the same.
    """
    options = dict(pipeline=pipeline, artifacts=artifacts, workers=workers, encoding_errors=encoding_errors,
                   max_sentence_tokens=max_sentence_tokens, source_format=source_format, overwrite=overwrite,
                   progress=progress)
    if cluster is None:
        return _ingest(sources, output, **options)
    from .cluster import cluster_workers, connected

    with connected(cluster) as on:  # one connection for every pass, closed at the end
        return _ingest(sources, output, **{**options, "workers": cluster_workers(on)}, cluster=on)


def _ingest(
    sources: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    *,
    pipeline: Pipeline | None,
    artifacts: Mapping[str, bytes] | None,
    workers: int | None,
    encoding_errors: str,
    max_sentence_tokens: int,
    source_format: SourceFormat | None,
    overwrite: bool,
    progress: ProgressCallback,
    cluster: Any = None,
) -> Corpus:
    pipeline = pipeline or english_words()
    workers = default_workers() if workers is None else workers
    source_format = source_format or SourceFormat()
    if workers < 1:
        raise ConfigError(f"workers must be at least 1, got {workers}")
    if encoding_errors not in ENCODING_ERRORS:
        raise ConfigError(f"encoding_errors must be one of {', '.join(ENCODING_ERRORS)}, got {encoding_errors!r}")
    if max_sentence_tokens < 1:
        raise ConfigError(f"max_sentence_tokens must be at least 1, got {max_sentence_tokens}")
    pipeline.check()
    known = dict(artifacts or {})
    for step in pipeline.steps:  # a pipeline fitted elsewhere must come with its models
        if step.artifact is not None:
            data = known.get(step.artifact["name"])
            if data is None or sha256_hex(data) != step.artifact["sha256"]:
                problem = "was not given" if data is None else "does not match its SHA-256"
                raise ConfigError(f"pipeline step {step.name!r} was fitted before, but its model {step.artifact['name']!r} {problem}")
    files = expand_sources(sources)
    output = Path(output)
    started = time.perf_counter()

    def settings(p: Pipeline, upto: int | None, mode: str) -> _WorkerSettings:
        needed = {name: known[name] for name in p.artifact_names if name in known}
        return _WorkerSettings(p.to_dict(), needed, upto, mode, encoding_errors, max_sentence_tokens)

    with atomic_directory(output, overwrite=overwrite, what="corpus", replaceable=_is_corpus) as tmp:
        readable = list(files)
        if pipeline.unfitted() and "-" in readable:  # stdin is read once per pass: keep a copy
            spool = tmp / ".stdin"
            with open(spool, "wb") as copy:
                shutil.copyfileobj(sys.stdin.buffer, copy)
            readable = [str(spool) if f == "-" else f for f in readable]
        for index in pipeline.unfitted():
            step = pipeline.steps[index]
            definition = step.definition
            mode = SEGMENTS_MODE if definition.kind == TOKENIZE else TOKENS_MODE
            fit_path = tmp / f".fit-{index}.txt"
            with open(fit_path, "wb") as out:
                fitted = _run_pass(readable, settings(pipeline, index, mode), out, workers=workers,
                                   source_format=source_format, stage=f"fit {step.name}: read", progress=progress,
                                   warn=ignore_progress, cluster=cluster)
            progress(Progress(f"fit {step.name}", 0, None, "", f"learning from {fitted.lines:,} lines"))
            assert definition.fit is not None  # noqa: S101 - unfitted() lists fitted steps only
            data = definition.fit(step.options, FitInput(fit_path, fitted.lines))
            fit_path.unlink()
            pipeline = pipeline.with_artifact(index, data)
            name = pipeline.artifact_name(index)
            known[name] = data
            (tmp / ARTIFACTS_DIR).mkdir(exist_ok=True)
            (tmp / ARTIFACTS_DIR / name).write_bytes(data)
        for name in pipeline.artifact_names:  # models given by the caller travel with the corpus too
            if not (tmp / ARTIFACTS_DIR / name).exists():
                (tmp / ARTIFACTS_DIR).mkdir(exist_ok=True)
                (tmp / ARTIFACTS_DIR / name).write_bytes(known[name])
        with open(tmp / CORPUS_TEXT, "wb") as out:
            final = _run_pass(readable, settings(pipeline, None, CORPUS), out, workers=workers,
                              source_format=source_format, stage="ingest", progress=progress, warn=progress,
                              cluster=cluster)
        (tmp / ".stdin").unlink(missing_ok=True)
        stats = final.stats
        if stats.tokens == 0:
            raise _empty_corpus_error(stats, pipeline, known, final.samples)
        stats.seconds = round(time.perf_counter() - started, 3)
        meta = {
            "format": CORPUS_FORMAT,
            "pipeline": pipeline.to_dict(),
            "sources": [os.path.abspath(f) if f != "-" else "-" for f in files],
            "source_format": source_format.to_dict(),
            "max_sentence_tokens": max_sentence_tokens,
            "encoding_errors": encoding_errors,
            "stats": asdict(stats),
        }
        (tmp / CORPUS_META).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    progress(Progress("ingest", stats.bytes_read / 1e6, stats.bytes_read / 1e6, "MB", f"{stats.tokens:,} tokens", final=True))
    return open_corpus(output)


def _empty_corpus_error(stats: IngestStats, pipeline: Pipeline, artifacts: Mapping[str, bytes], samples: list[str]) -> EmptyCorpusError:
    read = f"{stats.files} file(s), {stats.bytes_read:,} bytes"
    if not stats.bytes_read or not samples:
        return EmptyCorpusError(f"ingest found no text in {read}")
    message = f"ingest produced no tokens from {read}: the pipeline ({pipeline.describe()}) removed everything"
    compiled = pipeline.compile(artifacts)
    culprits = collections.Counter(step for step in map(compiled.first_empty_step, samples) if step)
    if culprits:
        step = culprits.most_common(1)[0][0]
        message += f"; on the first lines of input, step {step!r} is the one that leaves nothing"
    return EmptyCorpusError(message)


def _is_corpus(path: Path) -> bool:
    """A directory ingest wrote: recognised by its corpus.json, never guessed from other files."""
    try:
        open_corpus(path)
    except SourceError:
        return False
    return True


def open_corpus(path: str | os.PathLike[str]) -> Corpus:
    """Open a tokenized corpus directory written by :func:`ingest`, checking it is complete."""
    path = Path(path)
    meta_path = path / CORPUS_META
    if not path.is_dir():
        raise SourceError(f"no corpus at {path}: not a directory (make one with `embedsearch ingest`)")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SourceError(f"{path} is not a tokenized corpus: {CORPUS_META} is missing (make one with `embedsearch ingest`)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SourceError(f"{meta_path} is unreadable: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format") not in READABLE_CORPUS_FORMATS:
        raise SourceError(f"{meta_path}: unsupported corpus format {meta.get('format') if isinstance(meta, dict) else meta!r}")
    if not (path / CORPUS_TEXT).is_file():
        raise SourceError(f"{path / CORPUS_TEXT} is missing")
    try:
        stats = IngestStats(**meta["stats"])
        pipeline = Pipeline.from_dict(meta["pipeline"])
        corpus = Corpus(path, pipeline, stats, tuple(meta["sources"]), int(meta["max_sentence_tokens"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise SourceError(f"{meta_path} is malformed: {exc}") from exc
    for name in pipeline.artifact_names:
        if not ARTIFACT_NAME.fullmatch(name) or not (path / ARTIFACTS_DIR / name).is_file():
            raise SourceError(f"{path / ARTIFACTS_DIR / name} is missing: the pipeline's learned model is not in the corpus")
    return corpus
