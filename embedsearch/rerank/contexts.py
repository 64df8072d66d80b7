"""A bounded, seeded sample of the places each vocabulary word occurs, kept in ``meta.sqlite``.

For every word the store keeps up to ``per_word`` occurrences chosen uniformly at random from the
whole corpus (bottom-k sampling: each occurrence draws a random key and the ``per_word`` smallest
keys per word win, which is a uniform sample without replacement however the corpus is chunked),
each with up to ``window`` words on either side within its line. The reranker reads them to learn
where a query word is used; ``embedsearch examples`` shows them.
"""
from __future__ import annotations

import math
import os
import sqlite3
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import as_completed
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import StoreError
from ..progress import Progress, ProgressCallback, ignore_progress
from ..spans import file_spans
from .corpus_ids import IdBlock, iter_id_blocks
from .model import OOV, PAD

_LOWEST_MARK = min(OOV, PAD)

DEFAULT_PER_WORD = 16
DEFAULT_WINDOW = 8
_BLOB = np.dtype("<i4")


@dataclass(frozen=True)
class Contexts:
    """Sampled occurrences: ``words[i]`` (a store row) occurs between ``left[i]`` (nearest word
    last, PAD-padded at the start) and ``right[i]`` (nearest first, PAD-padded at the end).
    Sorted by word."""

    words: np.ndarray
    left: np.ndarray
    right: np.ndarray

    def __len__(self) -> int:
        return len(self.words)

    @property
    def window(self) -> int:
        return self.left.shape[1]


def _bottom_k(words: np.ndarray, keys: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` smallest keys of each word, ordered by (word, key)."""
    # One float sort instead of a lexsort: keys lie in [0, 1), so word + key orders by word, then key.
    order = np.argsort(words + keys)
    ordered = words[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    rank = np.arange(len(ordered)) - np.repeat(starts, np.diff(np.r_[starts, len(ordered)]))
    return order[rank < k]


def sample_contexts(blocks: Iterable[IdBlock], *, per_word: int = DEFAULT_PER_WORD, window: int = DEFAULT_WINDOW,
                    seed: int = 1) -> Contexts:
    """Sample contexts from blocks of lines of store rows (OOV words are context but never sampled)."""
    if per_word < 1 or window < 1:
        raise ValueError(f"per_word and window must be at least 1, got {per_word} and {window}")
    sampler = _Sampler(per_word, window)
    rng = np.random.default_rng(seed)
    for block in blocks:
        sampler.add(block, rng)
    return sampler.result()


class _Sampler:
    """The running bottom-k sample. ``threshold[w]`` is the largest key kept for word ``w`` once it
    has ``per_word`` occurrences (1 before): later occurrences with larger keys cannot get in, so
    after the first blocks most candidates of frequent words are dropped before any sorting. Kept
    occurrences are (word, key, item) triples; an item's context is cut from its block when it gets
    in and looked up by item number at the end, so evictions never copy contexts around."""

    def __init__(self, per_word: int, window: int) -> None:
        self.per_word = per_word
        self.window = window
        self.threshold = np.ones(0)
        self.words = np.empty(0, np.int32)
        self.keys = np.empty(0)
        self.items = np.empty(0, np.int64)
        self.contexts: list[np.ndarray] = []
        self.next_item = 0

    def add(self, block: IdBlock, rng: np.random.Generator) -> None:
        """Offer every occurrence in ``block``, each with the next key from ``rng``."""
        window = self.window
        # The block's lines end to end with PAD runs as long as the window between them, so no
        # context reaches across a line boundary.
        line = block.line_of_each_token()
        at = np.arange(len(block.ids)) + window * (line + 1)
        flat = np.full(len(block.ids) + window * (len(block.lengths) + 1), PAD, dtype=np.int32)
        flat[at] = block.ids
        known = block.ids >= 0
        positions, words = at[known], block.ids[known]
        keys = rng.random(len(block.ids))[known]
        hopeful = keys < self._thresholds(words)
        positions, words, keys = positions[hopeful], words[hopeful], keys[hopeful]
        spots = positions[:, None]
        self._merge(words, keys, lambda chosen: np.concatenate(
            [flat[spots[chosen] + np.arange(-window, 0)], flat[spots[chosen] + np.arange(1, window + 1)]], axis=1))

    def absorb(self, words: np.ndarray, keys: np.ndarray, tokens: np.ndarray) -> None:
        """Merge another sampler's result (see :meth:`state`): the bottom-k of the union."""
        hopeful = keys < self._thresholds(words)
        words, keys, tokens = words[hopeful], keys[hopeful], tokens[hopeful]
        self._merge(words, keys, lambda chosen: tokens[chosen])

    def _thresholds(self, words: np.ndarray) -> np.ndarray:
        if len(words) and words.max() >= len(self.threshold):
            self.threshold = np.r_[self.threshold, np.ones(int(words.max()) + 1 - len(self.threshold))]
        return self.threshold[words]

    def _merge(self, words: np.ndarray, keys: np.ndarray, contexts_of: Callable[[np.ndarray], np.ndarray]) -> None:
        """Keep the bottom-k of the kept and the new ``words``; ``contexts_of(indices)`` cuts the
        contexts of the new ones that get in."""
        all_words = np.concatenate([self.words, words])
        all_keys = np.concatenate([self.keys, keys])
        # Newcomers carry -1 - (their index in this block) until they are known to get in.
        all_items = np.concatenate([self.items, -1 - np.arange(len(words))])
        chosen = _bottom_k(all_words, all_keys, self.per_word)
        self.words, self.keys, self.items = all_words[chosen], all_keys[chosen], all_items[chosen]
        newcomers = np.flatnonzero(self.items < 0)
        self.contexts.append(contexts_of(-1 - self.items[newcomers]))
        self.items[newcomers] = self.next_item + np.arange(len(newcomers))
        self.next_item += len(newcomers)
        full = np.flatnonzero(np.bincount(self.words, minlength=len(self.threshold)) >= self.per_word)
        last = np.searchsorted(self.words, full, side="right") - 1
        self.threshold[full] = self.keys[last]

    def state(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The kept (words, keys, contexts ``[n, 2 * window]``), ordered by word then key."""
        tokens = (np.concatenate(self.contexts)[self.items] if self.contexts
                  else np.empty((0, 2 * self.window), dtype=np.int32))
        return self.words, self.keys, tokens

    def result(self) -> Contexts:
        words, _, tokens = self.state()
        return Contexts(words, tokens[:, :self.window], tokens[:, self.window:])


# --- storage in meta.sqlite ------------------------------------------------------------------


def context_rows(contexts: Contexts) -> Iterator[dict[str, object]]:
    """Rows for the ``contexts`` table, one per word: its ``n`` occurrences as one little-endian
    int32 blob of shape ``(n, 2 * window)``, each row the left context then the right one."""
    tokens = np.concatenate([contexts.left, contexts.right], axis=1).astype(_BLOB)
    starts = np.flatnonzero(np.r_[True, contexts.words[1:] != contexts.words[:-1]]) if len(contexts) else []
    ends = [*starts[1:], len(contexts)]
    for start, end in zip(starts, ends):
        word, n, blob = int(contexts.words[start]), int(end - start), tokens[start:end].tobytes()
        yield {"word": word, "n": n, "tokens": blob, "crc32": context_crc(word, n, blob)}


def context_crc(word: int, n: int, tokens: bytes) -> str:
    """The CRC-32 a contexts row is stored with (over its word, its count and its tokens)."""
    return f"{zlib.crc32(tokens, zlib.crc32(f'{word}:{n}:'.encode('ascii'))):08x}"


def read_contexts(db: Any, rows: Iterable[int], window: int, *, vocabulary: int) -> Contexts:
    """The stored contexts of store ``rows`` (a word may have none), in the order of ``rows``.

    Each row is checked as it is read (its CRC-32 where the store records one, its shape, and that
    every token is a word id below ``vocabulary`` or a marker): a damaged row is a :class:`StoreError`,
    never a wrong example or an index error."""
    wanted = list(dict.fromkeys(int(r) for r in rows))
    found: dict[int, np.ndarray] = {}
    has_crc = any(column[1] == "crc32" for column in db.execute("PRAGMA table_info(contexts)"))
    columns = "word, n, tokens, crc32" if has_crc else "word, n, tokens, NULL"
    try:
        for start in range(0, len(wanted), 500):
            part = wanted[start:start + 500]
            marks = ",".join("?" * len(part))
            for word, n, tokens, crc in db.execute(f"SELECT {columns} FROM contexts WHERE word IN ({marks})", part):
                if not isinstance(word, int) or not isinstance(n, int) or not isinstance(tokens, bytes):
                    raise ValueError(f"row of word {word!r} holds values of the wrong type")
                if has_crc and crc != context_crc(word, n, tokens):
                    raise ValueError(f"row of word {word} does not match its checksum")
                block = np.frombuffer(tokens, dtype=_BLOB).reshape(n, 2 * window)
                if block.size and (block.min() < _LOWEST_MARK or block.max() >= vocabulary):
                    raise ValueError(f"row of word {word} names words outside the vocabulary")
                found[word] = block
    except (sqlite3.DatabaseError, ValueError) as exc:
        raise StoreError(f"the store's contexts table is unreadable ({exc})") from exc
    blocks = [found[w] for w in wanted if w in found]
    words = np.concatenate([np.full(len(found[w]), w, dtype=np.int32) for w in wanted if w in found] or [np.empty(0, np.int32)])
    tokens = np.concatenate(blocks).astype(np.int32) if blocks else np.empty((0, 2 * window), dtype=np.int32)
    return Contexts(words, tokens[:, :window], tokens[:, window:])


_GROUP_BYTES = 256 << 20
_worker_rows: dict[str, int] = {}


def _init_worker(row_of: dict[str, int]) -> None:
    global _worker_rows
    _worker_rows = row_of


def _sample_spans(text_path: str, spans: list[tuple[int, int, int]], per_word: int, window: int,
                  seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The bottom-k sample of some byte spans of the corpus. Span ``i`` draws its keys from a
    generator seeded with ``(seed, i)``, so the merged sample does not depend on how spans are
    shared out between processes."""
    sampler = _Sampler(per_word, window)
    for index, start, end in spans:
        rng = np.random.default_rng([seed, index])
        for block in iter_id_blocks(text_path, _worker_rows, span=(start, end)):
            sampler.add(block, rng)
    return sampler.state()


def collect_contexts(text_path: str | os.PathLike[str], words: Sequence[str], *, per_word: int = DEFAULT_PER_WORD,
                     window: int = DEFAULT_WINDOW, seed: int = 1, workers: int | None = None,
                     progress: ProgressCallback = ignore_progress) -> tuple[Contexts, dict[str, Any]]:
    """Sample the contexts of ``words`` (store rows in order) from a tokenized corpus file, with
    ``workers`` processes (default: all cores); returns them and the description saved as the
    store's ``contexts`` metadata. The sample depends on the seed only, not on ``workers``."""
    from ..corpus import default_workers
    from ..workers import process_pool

    global _worker_rows
    if per_word < 1 or window < 1:
        raise ValueError(f"per_word and window must be at least 1, got {per_word} and {window}")
    row_of = {word: row for row, word in enumerate(words)}
    spans = file_spans(text_path)
    total = spans[-1][2]
    workers = max(1, min(workers or default_workers(), len(spans)))
    # Contiguous groups of spans, one per worker or one per _GROUP_BYTES if more: each group's
    # sample (up to per_word rows per word) is pickled back and merged, so fewer is faster, but
    # progress on a large corpus should still move.
    count = max(workers, math.ceil(total / _GROUP_BYTES))
    size = math.ceil(len(spans) / count)
    groups = [spans[i:i + size] for i in range(0, len(spans), size)]
    merged = _Sampler(per_word, window)
    done = 0
    progress(Progress("contexts", 0, total / 1e6, "MB"))
    if workers == 1:
        _init_worker(row_of)
        try:
            for group in groups:
                merged.absorb(*_sample_spans(str(text_path), group, per_word, window, seed))
                done += sum(end - start for _, start, end in group)
                progress(Progress("contexts", done / 1e6, total / 1e6, "MB"))
        finally:
            _worker_rows = {}
    else:
        with process_pool(workers, initializer=_init_worker, initargs=(row_of,)) as pool:
            futures = {pool.submit(_sample_spans, str(text_path), group, per_word, window, seed): group for group in groups}
            for future in as_completed(futures):
                merged.absorb(*future.result())
                done += sum(end - start for _, start, end in futures[future])
                progress(Progress("contexts", done / 1e6, total / 1e6, "MB"))
    contexts = merged.result()
    meta = {"per_word": per_word, "window": window, "seed": seed, "occurrences": len(contexts),
            "words": len(np.unique(contexts.words))}
    progress(Progress("contexts", total / 1e6, total / 1e6, "MB", f"{len(contexts):,} occurrences", final=True))
    return contexts, meta
