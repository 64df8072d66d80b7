"""Import and export of word vectors: word2vec text/binary, fastText .vec, GloVe, TensorBoard projector.

Import streams: rows are parsed line by line (or record by record for binary files) straight into
a memory-mapped scratch array, so a file of millions of words never sits in Python lists. Bad lines
(wrong field count, non-numbers) and bad encodings are counted and reported, and fatal only with
``strict=True``. Export streams too, in blocks of rows. Exported vectors are the store's unit rows.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from .errors import ConfigError, SourceError, StoreError
from .fsutil import atomic_file
from .progress import Progress, ProgressCallback, ignore_progress
from .query import Store
from .sources import open_binary, read_error

IMPORT_FORMATS = ("word2vec", "word2vec-bin", "fasttext-vec", "fasttext-bin", "glove")
FASTTEXT_MAGIC = (793712314).to_bytes(4, "little")  # FASTTEXT_FILEFORMAT_MAGIC_INT32
EXPORT_FORMATS = ("word2vec", "word2vec-bin", "glove", "projector")
_HEADER = re.compile(rb"^\s*(\d+)\s+(\d+)\s*$")
_EXPORT_BLOCK = 4096
_MAX_WORD_BYTES = 4096
MAX_DIM = 100_000  # more dimensions than any published embedding has, by far


@dataclass
class ImportReport:
    """What an import read, kept and skipped."""

    store: Path
    format: str
    words: int = 0
    dim: int = 0
    lines_read: int = 0
    bad_lines: int = 0
    bad_encoding: int = 0
    duplicates: int = 0
    examples: list[str] = field(default_factory=list)


def detect_format(path: str | os.PathLike[str]) -> str:
    """Guess the format from the first bytes: a ``V D`` header then text or binary rows, or GloVe."""
    try:
        with open_binary(str(path)) as handle:
            head = handle.read(4096)
    except (OSError, EOFError, ValueError) as exc:
        raise read_error(path, exc) from exc
    if head.startswith(FASTTEXT_MAGIC):
        return "fasttext-bin"
    first, _, rest = head.partition(b"\n")
    if _HEADER.match(first):
        sample = rest[:1024]
        # Binary rows are raw float32 bytes: NUL and other control bytes appear almost surely.
        if any(byte < 9 or 13 < byte < 32 for byte in sample):
            return "word2vec-bin"
        return "word2vec"
    fields = first.split()
    if len(fields) > 1:
        try:
            [float(x) for x in fields[1:]]
            return "glove"
        except ValueError:
            pass
    raise SourceError(f"{path}: cannot tell the vector format; pass --format ({', '.join(IMPORT_FORMATS)})")


def _guarded(rows: Iterator[tuple[str, np.ndarray]], path: Path) -> Iterator[tuple[str, np.ndarray]]:
    """``rows``, with a failure to *read* the file (truncated or corrupt compression, I/O error)
    turned into a :class:`SourceError` naming it; errors of writing the rows are not touched."""
    while True:
        try:
            item = next(rows)
        except StopIteration:
            return
        except (OSError, EOFError, ValueError) as exc:
            raise read_error(path, exc) from exc
        yield item


def check_fasttext_header(path: Path) -> None:
    """Check a fastText ``.bin``'s header before fastText's loader allocates what it says: the
    dimension and bucket count must be sane and the input matrix they imply must fit in the file."""
    import struct

    try:
        with open(path, "rb") as handle:
            head = handle.read(4 * 14 + 8 + 4 * 3)
        size = path.stat().st_size
    except OSError as exc:
        raise read_error(path, exc) from exc
    if len(head) < 4 * 14 + 8 + 12:
        raise SourceError(f"{path}: a fastText .bin header is {4 * 14 + 8 + 12} bytes; the file is truncated")
    version, dim, _ws, _epoch, _min_count, _neg, _ngrams, _loss, _model, bucket, minn, maxn = struct.unpack_from("<12i", head, 4)
    words, nwords, _labels = struct.unpack_from("<3i", head, 4 * 14 + 8)
    if version not in (11, 12):
        raise SourceError(f"{path}: fastText format version {version} is not supported (11 or 12 are)")
    problems = [f"{name} {value}" for name, value, low, high in (
        ("dim", dim, 1, 10_000), ("bucket", bucket, 0, 2**31 - 1), ("minn", minn, 0, 100), ("maxn", maxn, 0, 100),
        ("words", words, 1, 2**31 - 1), ("nwords", nwords, 0, words)) if not low <= value <= high]
    if problems:
        raise SourceError(f"{path}: not a valid fastText model (header has {', '.join(problems)})")
    matrix = (words + bucket) * dim * 4
    if matrix > size:
        raise SourceError(f"{path}: the header announces a {words:,} x {dim} matrix plus {bucket:,} buckets "
                          f"({matrix:,} bytes) but the file has {size:,} bytes (truncated or not a fastText model)")
    from .resources import check_memory

    check_memory(2.2 * matrix, f"reading {path.name} ({words:,} words + {bucket:,} buckets x {dim} dims)")


class _Rows:
    """Rows parsed so far, in a memory-mapped scratch file that grows by doubling."""

    def __init__(self, directory: Path, dim: int, capacity: int) -> None:
        self.directory = directory
        self.dim = dim
        self.words: list[str] = []
        self.seen: set[str] = set()
        self.capacity = max(capacity, 1024)
        self.generation = 0
        self.array = self._allocate(self.capacity)

    def _allocate(self, rows: int) -> np.ndarray:
        self.generation += 1
        path = self.directory / f"rows{self.generation}.npy"
        array = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, self.dim))
        # The file is sparse: without reserving its blocks now, a full disk surfaces later as SIGBUS
        # (a bus error killing the process) on the first write into a page it cannot back.
        fd = os.open(path, os.O_RDWR)
        try:
            os.posix_fallocate(fd, 0, os.fstat(fd).st_size)
        except OSError as exc:
            del array
            raise OSError(exc.errno, exc.strerror, str(self.directory)) from None
        finally:
            os.close(fd)
        return array

    def add(self, word: str, vector: np.ndarray) -> bool:
        if word in self.seen:
            return False
        if len(self.words) == self.capacity:
            bigger = self._allocate(self.capacity * 2)
            bigger[: self.capacity] = self.array
            old = self.array.filename
            del self.array
            os.unlink(old)  # type: ignore[arg-type]
            self.array, self.capacity = bigger, self.capacity * 2
        self.array[len(self.words)] = vector
        self.words.append(word)
        self.seen.add(word)
        return True

    def vectors(self) -> np.ndarray:
        return self.array[: len(self.words)]


def _decode(raw: bytes, report: ImportReport, strict: bool = False, where: str = "") -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        if strict:
            raise SourceError(f"{where}: the word is not UTF-8 ({exc.reason}); drop --strict to replace bad bytes "
                              "and count them") from None
        report.bad_encoding += 1
        return raw.decode("utf-8", errors="replace")


def _bad(report: ImportReport, strict: bool, where: str, why: str) -> None:
    report.bad_lines += 1
    if len(report.examples) < 5:
        report.examples.append(f"{where}: {why}")
    if strict:
        raise SourceError(f"{where}: {why} (drop --strict to skip bad lines and count them)")


def _scaled(vector: np.ndarray) -> np.ndarray:
    """Rows are stored unit-length, so only a row's direction matters: scale rows with huge values
    down first, or their float32 norm overflows to infinity and the row silently becomes zero."""
    peak = float(np.abs(vector).max()) if len(vector) else 0.0
    return vector / np.float32(peak) if peak > 1e18 else vector


def _check_dim(dim: int, path: Path) -> int:
    if not 1 <= dim <= MAX_DIM:
        raise SourceError(f"{path}: {dim:,} dimensions per vector is out of range (1 to {MAX_DIM:,}); not a vector file?")
    return dim


def _text_rows(handle: IO[bytes], path: Path, fmt: str, report: ImportReport, strict: bool) -> Iterator[tuple[str, np.ndarray]]:
    dim = 0
    for number, raw in enumerate(handle, 1):
        if number == 1 and fmt != "glove":
            header = _HEADER.match(raw)
            if not header:
                raise SourceError(f"{path}: line 1 should be the '<words> <dims>' header of the {fmt} format")
            dim = _check_dim(int(header.group(2)), path)
            continue
        report.lines_read += 1
        fields = raw.rstrip(b"\r\n").rstrip(b" ").split(b" ")
        if dim == 0:
            dim = len(fields) - 1
            if dim < 1:
                raise SourceError(f"{path}: line {number} has no vector values")
            _check_dim(dim, path)
        if len(fields) != dim + 1:
            _bad(report, strict, f"{path}, line {number}", f"{len(fields) - 1} values, expected {dim}")
            continue
        try:
            vector = np.array(fields[1:], dtype=np.float32)
        except ValueError:
            _bad(report, strict, f"{path}, line {number}", "a value is not a number")
            continue
        if not np.isfinite(vector).all():
            _bad(report, strict, f"{path}, line {number}", "NaN or infinite value")
            continue
        vector = _scaled(vector)
        yield _decode(fields[0], report, strict, f"{path}, line {number}"), vector


def _binary_rows(handle: IO[bytes], path: Path, report: ImportReport, strict: bool) -> Iterator[tuple[str, np.ndarray]]:
    header = _HEADER.match(handle.readline())
    if not header:
        raise SourceError(f"{path}: the first line should be the '<words> <dims>' header of the word2vec binary format")
    count, dim = int(header.group(1)), _check_dim(int(header.group(2)), path)
    width = 4 * dim
    for number in range(1, count + 1):
        word = bytearray()
        while True:
            byte = handle.read(1)
            if not byte:
                raise SourceError(f"{path}: ends after {number - 1} of {count} vectors (truncated)")
            if byte == b" ":
                break
            if byte != b"\n" or word:
                word += byte
            if len(word) > _MAX_WORD_BYTES:
                raise SourceError(f"{path}: record {number} has no word/vector separator (not word2vec binary?)")
        data = handle.read(width)
        if len(data) != width:
            raise SourceError(f"{path}: ends inside vector {number} of {count} (truncated)")
        report.lines_read += 1
        vector = np.frombuffer(data, dtype="<f4")
        if not np.isfinite(vector).all():
            _bad(report, strict, f"{path}, record {number}", "NaN or infinite value")
            continue
        vector = _scaled(vector)
        yield _decode(bytes(word), report, strict, f"{path}, record {number}"), vector


def import_vectors(
    path: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    fmt: str | None = None,
    pipeline: Any = None,
    strict: bool = False,
    index: Any = "flat",
    overwrite: bool = False,
    postprocess: Any = None,
    progress: ProgressCallback = ignore_progress,
) -> ImportReport:
    """Make a store from a vector file. ``fmt=None`` detects the format.

    Word order is kept (files usually list frequent words first, which ``--restrict`` in
    evaluation relies on). ``pipeline`` (a :class:`Pipeline`) says how query words are prepared;
    by default they are used exactly as typed. Duplicate words keep their first vector. A fastText
    ``.bin`` keeps its subword matrix, so the store answers for out-of-vocabulary words too.
    ``postprocess`` (``center`` or ``abtt:D``) is applied as in :func:`~embedsearch.train`.
    """
    from .store.generations import store_writing
    from .store.postprocess import parse_postprocess

    path = Path(path)
    if str(path) == "-":  # stdin: a text or binary stream read once, so no format detection
        if fmt not in ("word2vec", "word2vec-bin", "glove"):
            raise ConfigError("reading vectors from stdin (-) needs --format word2vec, word2vec-bin or glove")
    elif not path.is_file():
        raise SourceError(f"no such file: {path}")
    fmt = fmt or detect_format(path)
    if fmt not in IMPORT_FORMATS:
        raise ConfigError(f"format must be one of {', '.join(IMPORT_FORMATS)}, got {fmt!r}")
    post = parse_postprocess(postprocess)  # a bad spec fails before the file is read
    report = ImportReport(Path(output), fmt)
    with store_writing(output, create=True, overwrite=overwrite) as writing, writing.scratch() as scratch:
        if fmt == "fasttext-bin":
            return _import_fasttext_bin(path, Path(output), report, pipeline, index, overwrite, progress, scratch, post)
        return _import_text(path, Path(output), fmt, report, pipeline, strict, index, overwrite, progress, scratch, post)


def _import_text(path: Path, output: Path, fmt: str, report: ImportReport, pipeline: Any, strict: bool, index: Any,
                 overwrite: bool, progress: ProgressCallback, scratch: Path, post: Any) -> ImportReport:
    from .store import write_store

    rows: _Rows | None = None
    with open_binary(str(path)) as handle:
        parsed = _guarded(_binary_rows(handle, path, report, strict) if fmt == "word2vec-bin"
                          else _text_rows(handle, path, "glove" if fmt == "glove" else "word2vec", report, strict), path)
        for word, vector in parsed:
            if rows is None:
                rows = _Rows(Path(scratch), len(vector), 1024)
            if not word or any(ch.isspace() for ch in word):
                _bad(report, strict, f"{path}, entry {report.lines_read}", f"unusable word {word!r}")
                continue
            if not rows.add(word, vector):
                report.duplicates += 1
            if report.lines_read % 100_000 == 0:
                progress(Progress("import", report.lines_read, None, "words"))
    if rows is None or not rows.words:
        raise SourceError(f"{path}: no usable vectors found ({report.bad_lines} bad line(s))")
    report.words, report.dim = len(rows.words), rows.dim
    write_store(
        output,
        words=rows.words,
        counts=[0] * len(rows.words),
        vectors=rows.vectors(),
        model={"kind": "imported", "format": fmt, "source": "-" if str(path) == "-" else str(path.absolute()),
               "counts_known": False},
        pipeline=pipeline.to_dict() if pipeline is not None else None,
        index=index,
        overwrite=overwrite,
        postprocess=post,
        progress=progress,
    )
    del rows
    return report


def _import_fasttext_bin(path: Path, output: Path, report: ImportReport, pipeline: Any, index: Any, overwrite: bool,
                         progress: ProgressCallback, scratch: Path, post: Any) -> ImportReport:
    from .store import write_store
    from .training.fasttext import load_fasttext_bin

    check_fasttext_header(path)
    loaded = load_fasttext_bin(path, Path(scratch), progress)
    report.words, report.dim = len(loaded.words), int(loaded.vectors.shape[1])
    report.lines_read = report.words
    write_store(
        output,
        words=loaded.words,
        counts=loaded.counts,
        vectors=loaded.vectors,
        model={"kind": "fasttext", "format": "fasttext-bin", "source": str(path.absolute()), "backend": loaded.backend,
               "counts_known": True},
        pipeline=pipeline.to_dict() if pipeline is not None else None,
        arrays=loaded.arrays,
        extra_meta=loaded.extra_meta,
        index=index,
        overwrite=overwrite,
        postprocess=post,
        progress=progress,
    )
    return report


def export_vectors(
    store: Store,
    output: str | os.PathLike[str] | IO[bytes],
    *,
    fmt: str = "word2vec",
    top: int | None = None,
    progress: ProgressCallback = ignore_progress,
) -> list[Path]:
    """Write the store's vectors (the ``top`` most frequent, or all) in ``fmt``; returns files written.

    ``projector`` writes the TensorBoard Embedding Projector pair ``<output>.vectors.tsv`` (no
    header) and ``<output>.metadata.tsv`` (one word a line); the other formats write one file, or
    to a binary stream such as stdout.
    """
    if fmt not in EXPORT_FORMATS:
        raise ConfigError(f"format must be one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}")
    if top is not None and top < 1:
        raise ConfigError(f"top must be a positive number of words, got {top}")
    count = min(top or len(store), len(store))
    if fmt == "projector":
        if not isinstance(output, (str, os.PathLike)):
            raise ConfigError("the projector format writes two files: give an output path prefix, not a stream")
        prefix = Path(output)
        vectors_path = prefix.with_name(prefix.name + ".vectors.tsv")
        metadata_path = prefix.with_name(prefix.name + ".metadata.tsv")
        with atomic_file(vectors_path) as vectors_out, atomic_file(metadata_path) as metadata_out:
            for words, block in _blocks(store, count, progress):
                vectors_out.write(_format_rows(block, "\t"))
                metadata_out.write("".join(f"{w}\n" for w in words).encode("utf-8"))
        return [vectors_path, metadata_path]
    if isinstance(output, (str, os.PathLike)):
        with atomic_file(output) as handle:
            _write_single(store, handle, fmt, count, progress)
        return [Path(output)]
    _write_single(store, output, fmt, count, progress)
    return []


def _write_single(store: Store, handle: IO[bytes], fmt: str, count: int, progress: ProgressCallback) -> None:
    if fmt != "glove":
        handle.write(f"{count} {store.dim}\n".encode("ascii"))
    for words, block in _blocks(store, count, progress):
        if fmt == "word2vec-bin":
            little = block.astype("<f4", copy=False)
            handle.write(b"".join(w.encode("utf-8") + b" " + row.tobytes() + b"\n" for w, row in zip(words, little)))
        else:
            lines = _format_rows(block, " ").decode("ascii").splitlines()
            handle.write("".join(f"{w} {line}\n" for w, line in zip(words, lines)).encode("utf-8"))


def _format_rows(block: np.ndarray, separator: str) -> bytes:
    # %.9g round-trips float32 exactly.
    return "".join(separator.join(f"{x:.9g}" for x in row) + "\n" for row in block.tolist()).encode("ascii")


def _blocks(store: Store, count: int, progress: ProgressCallback) -> Iterator[tuple[Sequence[str], np.ndarray]]:
    for start in range(0, count, _EXPORT_BLOCK):
        stop = min(start + _EXPORT_BLOCK, count)
        block = np.asarray(store.vectors[start:stop])
        if not np.isfinite(block).all():
            raise StoreError(f"{store.path / 'vectors.npy'}: rows {start}-{stop - 1} hold NaN or infinite values; the store "
                             f"is damaged (check it with `embedsearch verify {store.path}`, then rebuild or re-import it)")
        yield store.words_of(range(start, stop)), block
        progress(Progress("export", stop, count, "words", final=stop == count))
