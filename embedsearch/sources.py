"""Reading ingest sources: files, folders, globs, stdin; plain text, JSONL, CSV/TSV, Wikipedia XML.

Sources become *chunks*, units of work for ingest's worker processes, cut in the main process
(in input order, so the corpus is the same for any worker count):

``bytes``    raw lines of a text file, about ``chunk_bytes`` each, cut at line ends (or at
             whitespace inside a very long line, so a 100 MB one-line file never sits in memory whole);
``jsonl``    whole raw lines of a JSON Lines file; workers parse them and take ``field``;
``records``  the values of one CSV/TSV column, parsed in the main process (a quoted CSV value may
             span lines, so only a streaming parser can find record boundaries);
``wiki``     a batch of Wikipedia article markups from an XML dump (workers strip the markup).

Text is UTF-8. ``encoding_errors="replace"`` turns bad bytes into U+FFFD and counts them;
``"strict"`` stops with the file and line. Files that look binary (NUL bytes) are skipped.
"""
from __future__ import annotations

import bz2
import csv
import glob
import gzip
import io
import json
import lzma
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any

from .errors import ConfigError, SourceError
from .progress import Progress, ProgressCallback

FORMATS = ("auto", "text", "jsonl", "csv", "tsv")
ENCODING_ERRORS = ("replace", "strict")
_REPLACEMENT_UTF8 = "\ufffd".encode()
_SNIFF_BYTES = 8192
_WIKI_BATCH_CHARS = 1 << 20
_COMPRESSED = (".gz", ".bz2", ".xz")
_CSV_FIELD_LIMIT = 1 << 30
_RANGE_WINDOW = 1 << 16  # how far back from a chunk's nominal end to look for its last line end


@dataclass(frozen=True)
class SourceFormat:
    """How to read sources: ``format`` (auto: by option and file name), JSONL ``field``, CSV/TSV ``column``."""

    format: str = "auto"
    field: str | None = None
    column: str | None = None

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ConfigError(f"source format must be one of {', '.join(FORMATS)}, got {self.format!r}")
        if self.field is not None and self.column is not None:
            raise ConfigError("give a JSONL --field or a CSV/TSV --column, not both")
        if self.format == "jsonl" and self.column is not None or self.format in ("csv", "tsv") and self.field is not None:
            raise ConfigError(f"format {self.format} takes {'--field' if self.format == 'jsonl' else '--column'}")
        if self.format == "text" and (self.field or self.column):
            raise ConfigError("plain text sources have no --field or --column")

    def resolve(self, source: str, head: bytes) -> str:
        """The format of one source: text, jsonl, csv or tsv (wiki XML is recognised later, by content)."""
        if self.format != "auto":
            return self.format
        name = source.lower()
        for suffix in _COMPRESSED:
            name = name.removesuffix(suffix)
        if self.field is not None or name.endswith((".jsonl", ".ndjson")):
            return "jsonl"
        if self.column is not None or name.endswith((".csv", ".tsv")):
            if name.endswith(".tsv"):
                return "tsv"
            if name.endswith(".csv"):
                return "csv"
            first_line = head.split(b"\n", 1)[0]
            return "tsv" if b"\t" in first_line else "csv"
        return "text"

    def to_dict(self) -> dict[str, Any]:
        return {"format": self.format, "field": self.field, "column": self.column}


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


def read_error(source: str | os.PathLike[str], exc: BaseException) -> SourceError:
    """One clear line for a failure to read ``source``: truncated or corrupt compressed data, a
    directory, no permission, or the OS's reason; always naming the file."""
    import zlib

    text = str(exc)
    if isinstance(exc, EOFError) or "end-of-stream" in text or "ended before" in text:
        return SourceError(f"{source}: the compressed file is truncated (its data ends early); download or copy it again")
    if isinstance(exc, (gzip.BadGzipFile, zlib.error, lzma.LZMAError)) or "Invalid data stream" in text \
            or "compression method" in text or "CRC check failed" in text or "Not a gzipped file" in text:
        return SourceError(f"{source}: the compressed file is corrupt ({text})")
    if isinstance(exc, IsADirectoryError):
        return SourceError(f"{source} is a directory, not a file")
    if isinstance(exc, PermissionError):
        return SourceError(f"cannot read {source}: permission denied")
    if isinstance(exc, FileNotFoundError):
        return SourceError(f"no such file: {source}")
    if isinstance(exc, OSError):
        return SourceError(f"cannot read {source}: {exc.strerror or exc}")
    return SourceError(f"cannot read {source}: {exc}")


def open_binary(source: str) -> IO[bytes]:
    """A binary stream of ``source`` (``-``: stdin), decompressed by its magic bytes."""
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
        raise read_error(source, exc) from exc


@dataclass(frozen=True)
class Chunk:
    """A unit of work for a worker (see the module docstring for the kinds)."""

    kind: str  # "bytes", "range" (path, start, length of a plain file), "jsonl", "records" or "wiki"
    payload: Any
    source: str
    first_line: int  # 1-based line number of the chunk's first line (bytes and jsonl chunks)
    continues_line: bool  # the chunk starts in the middle of a line cut for length
    field: str | None = None  # jsonl: the field to read

    def size(self) -> int:
        if self.kind in ("bytes", "jsonl"):
            return len(self.payload)
        if self.kind == "range":
            return self.payload[2]
        return sum(len(t.encode("utf-8")) for t in self.payload)


def byte_chunks(stream: IO[bytes], head: bytes, source: str, chunk_bytes: int, *, whole_lines: bool = False,
                kind: str = "bytes", field: str | None = None) -> Iterator[Chunk]:
    """Cut a stream into chunks of about ``chunk_bytes`` at line ends (``whole_lines``: never inside a line)."""
    pending = head
    line = 1
    continues = False
    eof = False
    while not eof or pending:
        if not eof and len(pending) <= chunk_bytes:
            block = stream.read(chunk_bytes)
            eof = not block
            pending += block
            if not eof and len(pending) <= chunk_bytes:
                continue
        if eof:
            cut = len(pending)
        else:
            cut = pending.rfind(b"\n", 0, chunk_bytes) + 1
            if cut == 0 and whole_lines:
                newline = pending.find(b"\n", chunk_bytes)
                if newline < 0:  # the line goes on: read more before cutting
                    block = stream.read(chunk_bytes)
                    eof = not block
                    pending += block
                    continue
                cut = newline + 1
            if cut == 0:  # one very long line: cut at the last whitespace instead
                cut = max(pending.rfind(b" ", 0, chunk_bytes), pending.rfind(b"\t", 0, chunk_bytes)) + 1
            if cut == 0:  # no whitespace at all: cut anyway, at a UTF-8 character boundary
                cut = chunk_bytes
                while cut > 0 and (pending[cut] & 0xC0) == 0x80:
                    cut -= 1
                cut = cut or chunk_bytes
        piece, pending = pending[:cut], pending[cut:]
        yield Chunk(kind, piece, source, line, continues, field)
        line += piece.count(b"\n")
        continues = not piece.endswith(b"\n")


def decode(data: bytes, errors: str, source: str, first_line: int) -> tuple[str, int]:
    """UTF-8 text of ``data`` and the number of bad byte sequences replaced (``strict``: an error naming the line)."""
    try:
        return data.decode("utf-8"), 0
    except UnicodeDecodeError as exc:
        if errors == "strict":
            line = first_line + data.count(b"\n", 0, exc.start)
            raise SourceError(
                f"{source}, line {line}: invalid UTF-8 ({exc.reason}); "
                "use --encoding-errors replace to replace bad bytes with U+FFFD and count them"
            ) from None
    text = data.decode("utf-8", errors="replace")
    return text, text.count("\ufffd") - data.count(_REPLACEMENT_UTF8)


def _plain_file(source: str, stream: IO[bytes]) -> bool:
    """An uncompressed regular file (workers can read byte ranges of it directly)."""
    return source != "-" and os.path.isfile(source) and type(stream) is io.BufferedReader


def _wiki_chunks(stream: IO[bytes], source: str) -> Iterator[Chunk]:
    from xml.etree.ElementTree import ParseError

    from gensim.corpora.wikicorpus import extract_pages  # the ingest path may import gensim

    batch: list[str] = []
    size = 0
    pages = extract_pages(stream, filter_namespaces=("0",))
    while True:
        try:
            _title, text, _pageid = next(pages)
        except StopIteration:
            break
        except ParseError as exc:  # a dump cut short or damaged: say so rather than fail with a traceback
            raise SourceError(f"{source}: not a well-formed Wikipedia XML dump ({exc}); "
                              "it may be truncated (download it again)") from None
        if not text or text.lstrip()[:9].lower() == "#redirect":
            continue
        batch.append(text)
        size += len(text)
        if size >= _WIKI_BATCH_CHARS:
            yield Chunk("wiki", batch, source, 0, False)
            batch, size = [], 0
    if batch:
        yield Chunk("wiki", batch, source, 0, False)


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


class Reader:
    """Turns sources into chunks, recording skipped files, bytes read and, for CSV/TSV (parsed
    here), replaced bytes and skipped records."""

    def __init__(self, sources: Sequence[str], warn: ProgressCallback, *, chunk_bytes: int,
                 source_format: SourceFormat | None = None, encoding_errors: str = "replace") -> None:
        self.sources = sources
        self.warn = warn
        self.chunk_bytes = chunk_bytes
        self.format = source_format or SourceFormat()
        self.errors = encoding_errors
        self.files = 0
        self.skipped: list[str] = []
        self.bytes_read = 0
        self.replaced_bytes = 0
        self.skipped_records = 0

    def chunks(self) -> Iterator[Chunk]:
        for source in self.sources:
            stream = open_binary(source)
            try:
                head = stream.read(_SNIFF_BYTES)
                if b"\x00" in head:
                    self.skipped.append(source)
                    self.warn(Progress("warning", 0, None, "", f"skipped {source}: looks binary (NUL bytes)"))
                    continue
                self.files += 1
                fmt = self.format.resolve(source, head)
                chunks: Iterable[Chunk]
                if fmt == "jsonl":
                    chunks = byte_chunks(stream, head, source, self.chunk_bytes, whole_lines=True, kind="jsonl",
                                         field=self.format.field or "text")
                elif fmt in ("csv", "tsv"):
                    chunks = self._csv_chunks(stream, head, source, fmt)
                elif b"<mediawiki" in head[:2048]:
                    chunks = _wiki_chunks(_Prepend(head, stream), source)  # type: ignore[arg-type]
                elif self.errors == "replace" and _plain_file(source, stream):
                    chunks = self._range_chunks(source)
                else:
                    chunks = byte_chunks(stream, head, source, self.chunk_bytes)
                for chunk in chunks:
                    if chunk.kind != "records":  # records count their bytes as they are read
                        self.bytes_read += chunk.size()
                    yield chunk
            except (OSError, EOFError, lzma.LZMAError) as exc:
                raise read_error(source, exc) from exc
            finally:
                if stream is not sys.stdin.buffer:
                    stream.close()

    def _range_chunks(self, source: str) -> Iterator[Chunk]:
        """A plain file's chunks as byte ranges: workers read the bytes themselves, so the main
        process (which shares the cores) neither reads nor copies them. The cuts are exactly those
        of :func:`byte_chunks` (the last line end before the chunk size), which is what makes the
        corpus the same whichever path read it; a line longer than a chunk hands the rest of the
        file to :func:`byte_chunks` itself, which cuts such lines at whitespace."""
        size = os.path.getsize(source)
        start = 0
        with open(source, "rb") as handle:
            while start < size:
                end = start + self.chunk_bytes
                if end < size:
                    window = min(_RANGE_WINDOW, self.chunk_bytes)
                    handle.seek(end - window)
                    newline = handle.read(window).rfind(b"\n")
                    if newline < 0 or end - window + newline < start:
                        handle.seek(start)
                        yield from byte_chunks(handle, b"", source, self.chunk_bytes)
                        return
                    end = end - window + newline + 1
                end = min(end, size)
                yield Chunk("range", (source, start, end - start), source, 0, False)
                start = end

    def _csv_chunks(self, stream: IO[bytes], head: bytes, source: str, fmt: str) -> Iterator[Chunk]:
        column = self.format.column
        if column is None:
            raise ConfigError(f"{source} is read as {fmt.upper()}: say which column holds the text with --column NAME")

        def lines() -> Iterator[str]:
            for piece in byte_chunks(stream, head, source, self.chunk_bytes, whole_lines=True):
                self.bytes_read += len(piece.payload)
                text, replaced = decode(piece.payload, self.errors, source, piece.first_line)
                self.replaced_bytes += replaced
                yield from text.splitlines(keepends=True)

        csv.field_size_limit(max(csv.field_size_limit(), _CSV_FIELD_LIMIT))
        if fmt == "tsv":  # TSV (IANA) has no quoting: a " is text (NSMC's reviews have many)
            rows = csv.reader(lines(), delimiter="\t", quoting=csv.QUOTE_NONE)
        else:
            rows = csv.reader(lines())
        try:
            header = next(rows, None)
            if header is None:
                return
            if header and header[0].startswith("\ufeff"):
                header[0] = header[0][1:]
            if column not in header:
                raise SourceError(f"{source}: no column {column!r}; the header has: {', '.join(header)}")
            index = header.index(column)
            batch: list[str] = []
            size = 0
            for row in rows:
                if len(row) <= index:
                    if row:
                        self.skipped_records += 1
                    continue
                value = row[index]
                batch.append(value)
                size += len(value) + 1
                if size >= self.chunk_bytes:
                    yield Chunk("records", batch, source, 0, False)
                    batch, size = [], 0
            if batch:
                yield Chunk("records", batch, source, 0, False)
        except csv.Error as exc:
            raise SourceError(f"{source}, line {rows.line_num}: malformed {fmt.upper()} ({exc})") from exc


def chunk_documents(chunk: Chunk, errors: str) -> tuple[list[str], int, int, int]:
    """Worker side: the text lines of a chunk, how many documents they hold, bad bytes replaced,
    and records skipped (JSONL lines without the field)."""
    if chunk.kind == "wiki":
        from gensim.corpora.wikicorpus import filter_wiki

        documents = [filter_wiki(markup) for markup in chunk.payload]
        return [line for doc in documents for line in doc.splitlines()], len(documents), 0, 0
    if chunk.kind == "records":
        lines = [line for value in chunk.payload for line in value.splitlines()]
        return lines, sum(1 for value in chunk.payload if value.strip()), 0, 0
    data = chunk.payload
    if chunk.kind == "range":
        path, start, length = chunk.payload
        try:
            with open(path, "rb") as handle:
                handle.seek(start)
                data = handle.read(length)
        except OSError as exc:
            raise read_error(path, exc) from exc
        if len(data) != length:
            raise SourceError(f"{path} changed while it was being read")
    text, replaced = decode(data, errors, chunk.source, chunk.first_line)
    if chunk.kind in ("bytes", "range"):
        lines = text.splitlines()
        documents = sum(1 for i, line in enumerate(lines) if line and not line.isspace() and not (i == 0 and chunk.continues_line))
        return lines, documents, replaced, 0
    return _jsonl_documents(text, chunk, replaced)


def _jsonl_documents(text: str, chunk: Chunk, replaced: int) -> tuple[list[str], int, int, int]:
    path = (chunk.field or "text").split(".")
    lines: list[str] = []
    documents = skipped = 0
    for number, raw in enumerate(text.split("\n"), chunk.first_line):
        if not raw.strip():
            continue
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise SourceError(f"{chunk.source}, line {number}: not valid JSON ({exc.msg}, column {exc.colno})") from None
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            value = "\n".join(value)
        if not isinstance(value, str):
            skipped += 1
            continue
        if value.strip():
            documents += 1
            lines.extend(value.splitlines())
    return lines, documents, replaced, skipped
