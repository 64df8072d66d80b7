"""Ingest: read sources, run the text pipeline over both cores, write the tokenized corpus.

The tokenized corpus is a directory with ``corpus.txt`` (one sentence per line, tokens separated by
single spaces, UTF-8, ``\\n`` line ends) and ``corpus.json`` (format version, the pipeline, the
sources and statistics). Both gensim (``corpus_file=``) and fastText read ``corpus.txt`` natively.

Sources are cut into chunks of about ``CHUNK_BYTES`` in the main process (at line ends, or at
whitespace inside very long lines, so a 100 MB single-line file never sits in memory whole) and
processed by worker processes; results are written in input order, so the output is the same for
any number of workers. At most ``2 * workers + 2`` chunks are in flight, which bounds memory.
"""
from __future__ import annotations

import bz2
import collections
import glob
import gzip
import json
import lzma
import multiprocessing
import os
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from .errors import ConfigError, EmptyCorpusError, SourceError
from .fsutil import atomic_directory
from .progress import Progress, ProgressCallback, ignore_progress
from .text.pipeline import CompiledPipeline, Pipeline, english_words

CORPUS_FORMAT = 1
CORPUS_TEXT = "corpus.txt"
CORPUS_META = "corpus.json"
CHUNK_BYTES = 1 << 20
MAX_SENTENCE_TOKENS = 1000
ENCODING_ERRORS = ("replace", "strict")
_REPLACEMENT_UTF8 = "\ufffd".encode()
_SNIFF_BYTES = 8192
_WIKI_BATCH_CHARS = 1 << 20


@dataclass
class IngestStats:
    """What ingest read and wrote. ``documents``: non-empty input lines, or Wikipedia articles."""

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


# --- sources ---------------------------------------------------------------------------------


def expand_sources(sources: Sequence[str | os.PathLike[str]]) -> list[str]:
    """Files, folders (recursively, hidden entries skipped), globs and ``-`` (stdin), in order."""
    if not sources:
        raise SourceError("no sources given")
    found: list[str] = []
    for source in sources:
        text = os.fspath(source)
        if text == "-":
            found.append(text)
        elif os.path.isdir(text):
            for root, dirs, files in os.walk(text):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found.extend(os.path.join(root, f) for f in sorted(files) if not f.startswith("."))
        elif os.path.isfile(text):
            found.append(text)
        elif glob.has_magic(text):
            matches = sorted(m for m in glob.glob(text, recursive=True) if os.path.isfile(m))
            if not matches:
                raise SourceError(f"no files match {text!r}")
            found.extend(matches)
        else:
            raise SourceError(f"no such file or folder: {text}")
    return found


def _open_binary(source: str) -> IO[bytes]:
    if source == "-":
        return sys.stdin.buffer
    try:
        with open(source, "rb") as probe:
            magic = probe.read(6)
        if magic.startswith(b"\x1f\x8b"):
            return gzip.open(source, "rb")
        if magic.startswith(b"BZh"):
            return bz2.open(source, "rb")
        if magic.startswith(b"\xfd7zXZ\x00"):
            return lzma.open(source, "rb")
        return open(source, "rb")
    except OSError as exc:
        raise SourceError(f"cannot read {source}: {exc.strerror or exc}") from exc


@dataclass(frozen=True)
class _Chunk:
    """A unit of work for a worker: raw text bytes, or a batch of Wikipedia article markups."""

    kind: str  # "bytes" or "wiki"
    payload: Any
    source: str
    first_line: int  # 1-based line number of the chunk's first line (bytes chunks)
    continues_line: bool  # the chunk starts in the middle of a line cut for length


def _byte_chunks(stream: IO[bytes], head: bytes, source: str) -> Iterator[_Chunk]:
    pending = head
    line = 1
    continues = False
    eof = False
    while not eof or pending:
        if not eof and len(pending) < CHUNK_BYTES:
            block = stream.read(CHUNK_BYTES)
            eof = not block
            pending += block
            if not eof and len(pending) < CHUNK_BYTES:
                continue
        if eof:
            cut = len(pending)
        else:
            cut = pending.rfind(b"\n", 0, CHUNK_BYTES) + 1
            if cut == 0:  # one very long line: cut at the last whitespace instead
                cut = max(pending.rfind(b" ", 0, CHUNK_BYTES), pending.rfind(b"\t", 0, CHUNK_BYTES)) + 1
            if cut == 0:  # no whitespace at all: cut anyway, at a UTF-8 character boundary
                cut = CHUNK_BYTES
                while cut > 0 and (pending[cut] & 0xC0) == 0x80:
                    cut -= 1
                cut = cut or CHUNK_BYTES
        piece, pending = pending[:cut], pending[cut:]
        yield _Chunk("bytes", piece, source, line, continues)
        line += piece.count(b"\n")
        continues = not piece.endswith(b"\n")


def _wiki_chunks(stream: IO[bytes], source: str) -> Iterator[_Chunk]:
    from gensim.corpora.wikicorpus import extract_pages  # the ingest path may import gensim

    batch: list[str] = []
    size = 0
    for _title, text, _pageid in extract_pages(stream, filter_namespaces=("0",)):
        if not text or text.lstrip()[:9].lower() == "#redirect":
            continue
        batch.append(text)
        size += len(text)
        if size >= _WIKI_BATCH_CHARS:
            yield _Chunk("wiki", batch, source, 0, False)
            batch, size = [], 0
    if batch:
        yield _Chunk("wiki", batch, source, 0, False)


class _Reader:
    """Turns sources into chunks, recording skipped files and bytes read."""

    def __init__(self, sources: Sequence[str], warn: ProgressCallback) -> None:
        self.sources = sources
        self.warn = warn
        self.files = 0
        self.skipped: list[str] = []
        self.bytes_read = 0

    def chunks(self) -> Iterator[_Chunk]:
        for source in self.sources:
            stream = _open_binary(source)
            try:
                head = stream.read(_SNIFF_BYTES)
                if b"\x00" in head:
                    self.skipped.append(source)
                    self.warn(Progress("warning", 0, None, "", f"skipped {source}: looks binary (NUL bytes)"))
                    continue
                self.files += 1
                if b"<mediawiki" in head[:2048]:
                    chunks: Iterable[_Chunk] = _wiki_chunks(_Prepend(head, stream), source)  # type: ignore[arg-type]
                else:
                    chunks = _byte_chunks(stream, head, source)
                for chunk in chunks:
                    if chunk.kind == "bytes":
                        self.bytes_read += len(chunk.payload)
                    else:
                        self.bytes_read += sum(len(t.encode("utf-8")) for t in chunk.payload)
                    yield chunk
            except (OSError, EOFError, lzma.LZMAError) as exc:
                raise SourceError(f"cannot read {source}: {exc}") from exc
            finally:
                if stream is not sys.stdin.buffer:
                    stream.close()


class _Prepend:
    """A read-only stream that first returns ``head`` (already sniffed), then the rest of ``stream``."""

    def __init__(self, head: bytes, stream: IO[bytes]) -> None:
        self._head = head
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size < 0:
                data, self._head = self._head + self._stream.read(), b""
                return data
            data, self._head = self._head[:size], self._head[size:]
            return data
        return self._stream.read(size)

    def readable(self) -> bool:
        return True


# --- workers ---------------------------------------------------------------------------------


@dataclass
class _ChunkResult:
    text: str
    documents: int
    sentences: int
    tokens: int
    counts: collections.Counter[str]
    replaced_bytes: int


_worker_pipeline: CompiledPipeline | None = None
_worker_options: tuple[str, int] = ("replace", MAX_SENTENCE_TOKENS)


def _init_worker(pipeline: dict[str, Any], errors: str, max_tokens: int) -> None:
    global _worker_pipeline, _worker_options
    _worker_pipeline = Pipeline.from_dict(pipeline).compile()
    _worker_options = (errors, max_tokens)


def _decode(chunk: _Chunk, errors: str) -> tuple[str, int]:
    data: bytes = chunk.payload
    try:
        return data.decode("utf-8"), 0
    except UnicodeDecodeError as exc:
        if errors == "strict":
            line = chunk.first_line + data.count(b"\n", 0, exc.start)
            raise SourceError(
                f"{chunk.source}, line {line}: invalid UTF-8 ({exc.reason}); "
                "use --encoding-errors replace to replace bad bytes with U+FFFD and count them"
            ) from None
    text = data.decode("utf-8", errors="replace")
    return text, text.count("\ufffd") - data.count(_REPLACEMENT_UTF8)


def _process_chunk(chunk: _Chunk) -> _ChunkResult:
    if _worker_pipeline is None:
        raise RuntimeError("ingest worker used before _init_worker")
    errors, max_tokens = _worker_options
    replaced = 0
    if chunk.kind == "wiki":
        from gensim.corpora.wikicorpus import filter_wiki

        documents = [filter_wiki(markup) for markup in chunk.payload]
        article_count = len(documents)
        lines = [line for doc in documents for line in doc.splitlines()]
    else:
        text, replaced = _decode(chunk, errors)
        lines = text.splitlines()
        article_count = 0
    out: list[str] = []
    counts: collections.Counter[str] = collections.Counter()
    sentences = tokens = documents_seen = 0
    for index, line in enumerate(lines):
        if not line or line.isspace():
            continue
        if not (index == 0 and chunk.continues_line):
            documents_seen += 1
        for sentence in _worker_pipeline.process(line):
            counts.update(sentence)
            tokens += len(sentence)
            for start in range(0, len(sentence), max_tokens):
                out.append(" ".join(sentence[start : start + max_tokens]))
                sentences += 1
    out.append("")
    return _ChunkResult(
        "\n".join(out) if len(out) > 1 else "",
        article_count if chunk.kind == "wiki" else documents_seen,
        sentences,
        tokens,
        counts,
        replaced,
    )


class _InlineExecutor:
    """The one-worker path: same code, no processes (deterministic and easy to debug)."""

    def submit(self, fn: Any, arg: _Chunk) -> Future[_ChunkResult]:
        future: Future[_ChunkResult] = Future()
        try:
            future.set_result(fn(arg))
        except BaseException as exc:  # delivered through the future like a pool would
            future.set_exception(exc)
        return future

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        pass


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
    workers: int | None = None,
    encoding_errors: str = "replace",
    max_sentence_tokens: int = MAX_SENTENCE_TOKENS,
    overwrite: bool = False,
    progress: ProgressCallback = ignore_progress,
) -> Corpus:
    """Read ``sources``, run ``pipeline`` (default: English words) and write a tokenized corpus.

    Text must be UTF-8; with ``encoding_errors="replace"`` (the default) bad bytes become U+FFFD and
    are counted in ``stats.replaced_bytes``, with ``"strict"`` they stop ingest with the file and
    line. Files that look binary are skipped with a warning. Raises :class:`EmptyCorpusError` if no
    token survives the pipeline.
    """
    pipeline = pipeline or english_words()
    workers = default_workers() if workers is None else workers
    if workers < 1:
        raise ConfigError(f"workers must be at least 1, got {workers}")
    if encoding_errors not in ENCODING_ERRORS:
        raise ConfigError(f"encoding_errors must be one of {', '.join(ENCODING_ERRORS)}, got {encoding_errors!r}")
    if max_sentence_tokens < 1:
        raise ConfigError(f"max_sentence_tokens must be at least 1, got {max_sentence_tokens}")
    files = expand_sources(sources)
    output = Path(output)
    started = time.perf_counter()
    reader = _Reader(files, progress)
    stats = IngestStats(workers=workers)
    vocabulary: collections.Counter[str] = collections.Counter()
    init_args = (pipeline.to_dict(), encoding_errors, max_sentence_tokens)

    if workers == 1:
        _init_worker(*init_args)
        executor: Any = _InlineExecutor()
    else:
        # spawn, not fork: safe whatever threads the caller has started (BLAS, OpenMP).
        context = multiprocessing.get_context("spawn")
        executor = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=init_args)
    try:
        with atomic_directory(output, overwrite=overwrite, what="corpus") as tmp:
            with open(tmp / CORPUS_TEXT, "w", encoding="utf-8", newline="\n") as out:
                pending: collections.deque[Future[_ChunkResult]] = collections.deque()

                def drain_one() -> None:
                    result = pending.popleft().result()
                    out.write(result.text)
                    stats.documents += result.documents
                    stats.sentences += result.sentences
                    stats.tokens += result.tokens
                    stats.replaced_bytes += result.replaced_bytes
                    vocabulary.update(result.counts)
                    progress(Progress("ingest", reader.bytes_read / 1e6, None, "MB", f"{stats.tokens:,} tokens"))

                for chunk in reader.chunks():
                    pending.append(executor.submit(_process_chunk, chunk))
                    if len(pending) >= 2 * workers + 2:
                        drain_one()
                while pending:
                    drain_one()
            stats.files = reader.files
            stats.bytes_read = reader.bytes_read
            stats.skipped_files = reader.skipped
            stats.vocabulary = len(vocabulary)
            if stats.tokens == 0:
                read = f"{stats.files} file(s), {stats.bytes_read:,} bytes"
                raise EmptyCorpusError(
                    f"ingest produced no tokens from {read}: the pipeline ({pipeline.describe()}) removed everything"
                    if stats.bytes_read
                    else f"ingest found no text in {read}"
                )
            stats.seconds = round(time.perf_counter() - started, 3)
            meta = {
                "format": CORPUS_FORMAT,
                "pipeline": pipeline.to_dict(),
                "sources": [os.path.abspath(f) if f != "-" else "-" for f in files],
                "max_sentence_tokens": max_sentence_tokens,
                "encoding_errors": encoding_errors,
                "stats": asdict(stats),
            }
            (tmp / CORPUS_META).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
    progress(Progress("ingest", stats.bytes_read / 1e6, stats.bytes_read / 1e6, "MB", f"{stats.tokens:,} tokens", final=True))
    return open_corpus(output)


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
    if not isinstance(meta, dict) or meta.get("format") != CORPUS_FORMAT:
        raise SourceError(f"{meta_path}: unsupported corpus format {meta.get('format') if isinstance(meta, dict) else meta!r}")
    if not (path / CORPUS_TEXT).is_file():
        raise SourceError(f"{path / CORPUS_TEXT} is missing")
    try:
        stats = IngestStats(**meta["stats"])
        pipeline = Pipeline.from_dict(meta["pipeline"])
        return Corpus(path, pipeline, stats, tuple(meta["sources"]), int(meta["max_sentence_tokens"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise SourceError(f"{meta_path} is malformed: {exc}") from exc
