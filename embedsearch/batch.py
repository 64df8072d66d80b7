"""Batch queries: the neighbours of every word (or of a word list), and similarities of many pairs.

Results are generated lazily, a batch of queries at a time: each batch is one search call on every
core (exact stores: FAISS's brute-force k-NN, a tile of scores at a time with a heap per query;
approximate stores: their index), so memory stays bounded by the batch, never by the square of the
vocabulary, and output can be streamed as it is produced.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from .errors import ConfigError, EmbedsearchError, QueryError, SourceError
from .progress import Progress, ProgressCallback, ignore_progress
from .query import Neighbor, Store
from .sources import read_error

NEIGHBOR_FORMATS = ("tsv", "csv", "jsonl")
# Queries per search call: FAISS's exact k-NN tiles 4096 x 1024 scores, and 1,024 queries a call was
# the fastest of 256..2,048 on the text8 store (memory: the tile plus 1,024 x k results).
DEFAULT_BATCH = 1024


@dataclass(frozen=True)
class NeighborList:
    """The neighbours of one word; ``known`` is false for a requested word the store cannot place."""

    word: str
    neighbors: list[Neighbor]
    known: bool = True


@dataclass(frozen=True)
class PairSimilarity:
    """Cosine of a pair; ``score`` is ``None`` when a word is out of the vocabulary (named in ``oov``)."""

    first: str
    second: str
    score: float | None
    oov: list[str] = field(default_factory=list)


def neighbors_of(
    store: Store,
    words: Iterable[str] | None = None,
    *,
    k: int = 10,
    min_score: float | None = None,
    batch_size: int = DEFAULT_BATCH,
    progress: ProgressCallback = ignore_progress,
    cluster: Any = None,
) -> Iterator[NeighborList]:
    """Top-``k`` neighbours of each of ``words`` (default: the whole vocabulary, in frequency order).

    Each word goes through the store's pipeline; a word that is not exactly one vocabulary word
    yields ``known=False`` (FastText stores place unknown words through their subwords instead).
    ``cluster`` (a Dask scheduler address or ``distributed.Client``) searches the batches on its
    workers, which open the store from its path (see :mod:`embedsearch.cluster`): same results.
    """
    if k < 1:
        raise ConfigError(f"k must be a positive integer, got {k}")
    if batch_size < 1:
        raise ConfigError(f"batch size must be positive, got {batch_size}")
    if min_score is not None and not (isinstance(min_score, (int, float)) and -1.0 <= min_score <= 1.0):
        raise ConfigError(f"min score is a cosine: give a number from -1 to 1, got {min_score!r}")
    if cluster is not None:
        from .cluster import neighbors

        yield from neighbors(store, cluster, words, k=k, min_score=min_score, batch_size=batch_size, progress=progress)
        return
    if words is None:
        yield from _whole_vocabulary(store, k, min_score, batch_size, progress)
        return
    done = 0
    batch: list[str] = []
    for word in words:
        batch.append(word)
        if len(batch) == batch_size:
            yield from _word_batch(store, batch, k, min_score)
            done += len(batch)
            batch = []
            progress(Progress("export", done, None, "words"))
    if batch:
        yield from _word_batch(store, batch, k, min_score)
        done += len(batch)
    progress(Progress("export", done, done, "words", final=True))


def _whole_vocabulary(store: Store, k: int, min_score: float | None, batch_size: int,
                      progress: ProgressCallback) -> Iterator[NeighborList]:
    vocabulary = store.vocabulary()
    total = len(vocabulary)
    for start in range(0, total, batch_size):
        stop = min(start + batch_size, total)
        scores, ids = search_rows(store, start, stop, min(k + 1, total))
        yield from rows_to_lists(vocabulary, start, stop, scores, ids, k, min_score)
        progress(Progress("export", stop, total, "words", final=stop == total))


def search_rows(store: Store, start: int, stop: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """One batch of a whole-vocabulary export: the top-``k`` rows of rows ``start:stop`` (one
    search call; on a cluster, one task)."""
    queries = np.asarray(store.vectors[start:stop], dtype=np.float32)
    return store.search_vectors(queries, k)


def rows_to_lists(vocabulary: list[str], start: int, stop: int, scores: np.ndarray, ids: np.ndarray, k: int,
                  min_score: float | None) -> Iterator[NeighborList]:
    # Plain lists in one call each: per-element int()/float() on numpy scalars cost more than the
    # search itself once the search runs on both cores.
    for row, row_ids, row_scores in zip(range(start, stop), ids.tolist(), scores.tolist()):
        hits = [(i, s) for i, s in zip(row_ids, row_scores) if i != row and i >= 0][:k]
        yield NeighborList(vocabulary[row], [Neighbor(vocabulary[i], s) for i, s in hits
                                             if min_score is None or s >= min_score])


def _word_batch(store: Store, batch: list[str], k: int, min_score: float | None) -> Iterator[NeighborList]:
    queries: list[np.ndarray] = []
    exclude: list[set[int]] = []
    placed: list[int] = []
    for position, word in enumerate(batch):
        try:
            _, vector, ids = store.resolve(word)
        except QueryError:  # unknown words are reported as known=False; a damaged store is an error
            continue  # reported below as known=False
        norm = float(np.linalg.norm(vector))
        if norm > 0.0:
            queries.append(vector / norm)
            exclude.append(set(ids))
            placed.append(position)
    found: dict[int, list[Neighbor]] = {}
    if queries:
        widest = max(len(e) for e in exclude)
        scores, ids = store.search_vectors(np.stack(queries).astype(np.float32), min(k + widest, len(store)))
        vocabulary = store.vocabulary()
        for position, own, row_scores, row_ids in zip(placed, exclude, scores, ids):
            found[position] = _hits(vocabulary, row_scores, row_ids, own, k, min_score)
    for position, word in enumerate(batch):
        yield NeighborList(word, found.get(position, []), position in found)


def _hits(vocabulary: list[str], scores: np.ndarray, ids: np.ndarray, own: set[int], k: int,
          min_score: float | None) -> list[Neighbor]:
    hits = [(int(i), float(s)) for i, s in zip(ids, scores) if i >= 0 and int(i) not in own][:k]
    return [Neighbor(vocabulary[i], s) for i, s in hits if min_score is None or s >= min_score]


def read_pairs(path: str | os.PathLike[str]) -> Iterator[tuple[str, str]]:
    """Word pairs from a file: two words a line, tab/comma/space separated; ``#`` comments and a
    header line are skipped, extra columns (e.g. a gold score) ignored. ``-`` reads stdin."""
    path = Path(path)
    try:
        with _open_text(path) as handle:
            for number, line in enumerate(handle, 1):
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                for separator in ("\t", ",", None):
                    parts = line.split(separator) if separator else line.split()
                    if len(parts) >= 2:
                        break
                else:
                    raise SourceError(f"{path}, line {number}: expected two words, found {line!r}")
                yield parts[0].strip(), parts[1].strip()
    except FileNotFoundError:
        raise SourceError(f"no such pairs file: {path}") from None
    except UnicodeDecodeError as exc:
        raise SourceError(f"{path}: not UTF-8 ({exc.reason})") from None
    except OSError as exc:  # a directory, no permission, an I/O error: name the file
        raise read_error(path, exc) from None


@contextlib.contextmanager
def _open_text(path: Path) -> Iterator[IO[str]]:
    """A UTF-8 text file (strict), or stdin for ``-``."""
    if str(path) != "-":
        with open(path, encoding="utf-8-sig", errors="strict") as handle:
            yield handle
        return
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:
        yield sys.stdin
        return
    handle = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="strict")
    try:
        yield handle
    finally:
        handle.detach()


def pair_similarities(store: Store, pairs: Iterable[tuple[str, str]]) -> Iterator[PairSimilarity]:
    """Cosine similarity of each pair, lazily; out-of-vocabulary pairs are marked, not fatal."""
    for first, second in pairs:
        try:
            result = store.similarity(first, second)
        except QueryError:  # a word the store cannot place; a damaged store (StoreError) is not "unknown"
            yield PairSimilarity(first, second, None, [w for w in (first, second) if not _placeable(store, w)])
            continue
        yield PairSimilarity(first, second, result.score, result.first.oov + result.second.oov)


def _placeable(store: Store, word: str) -> bool:
    try:
        store.resolve(word)
    except EmbedsearchError:
        return False
    return True


def _check_format(fmt: str) -> str:
    if fmt not in NEIGHBOR_FORMATS:
        raise ConfigError(f"format must be one of {', '.join(NEIGHBOR_FORMATS)}, got {fmt!r}")
    return fmt


def _table_writer(handle: IO[str], fmt: str) -> Any:
    """TSV without quoting (words never hold tabs) or CSV with minimal quoting."""
    if fmt == "tsv":
        return csv.writer(handle, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_NONE, escapechar="\\")
    return csv.writer(handle, lineterminator="\n")


def write_neighbors(rows: Iterable[NeighborList], handle: IO[str], fmt: str = "tsv") -> int:
    """Stream neighbour lists as ``tsv``/``csv`` (``word, rank, neighbor, score`` rows) or ``jsonl``."""
    count = 0
    if _check_format(fmt) == "jsonl":
        for row in rows:
            record = {"word": row.word, "known": row.known,
                      "neighbors": [{"word": n.word, "score": round(n.score, 6)} for n in row.neighbors]}
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
        return count
    writer = _table_writer(handle, fmt)
    writer.writerow(["word", "rank", "neighbor", "score"])
    for row in rows:
        buffer = [[row.word, rank, n.word, f"{n.score:.6f}"] for rank, n in enumerate(row.neighbors, 1)]
        if not row.known:
            buffer = [[row.word, "", "", ""]]
        writer.writerows(buffer)
        count += 1
    return count


def write_similarities(rows: Iterable[PairSimilarity], handle: IO[str], fmt: str = "tsv") -> int:
    """Stream pair similarities; an out-of-vocabulary pair has an empty score (``null`` in jsonl)."""
    count = 0
    if _check_format(fmt) == "jsonl":
        for row in rows:
            handle.write(json.dumps({"first": row.first, "second": row.second, "score": row.score, "oov": row.oov},
                                    ensure_ascii=False) + "\n")
            count += 1
        return count
    writer = _table_writer(handle, fmt)
    writer.writerow(["first", "second", "score", "oov"])
    for row in rows:
        writer.writerow([row.first, row.second, "" if row.score is None else f"{row.score:.6f}", " ".join(row.oov)])
        count += 1
    return count


__all__ = ["NeighborList", "PairSimilarity", "neighbors_of", "pair_similarities", "read_pairs", "write_neighbors",
           "write_similarities"]
