"""fastText subword vectors on the light query path, without the fasttext package or its ``.bin``.

A FastText store keeps fastText's whole input matrix (word rows, then ``bucket`` n-gram rows) as a
plain memory-mapped ``subwords.npy``. A word's vector is the mean of its own row (if it has one)
and the rows of its character n-grams, exactly as fastText's ``getWordVector`` computes it:
n-grams of ``<word>`` with lengths ``minn..maxn`` counted in UTF-8 characters, single-character
n-grams at the word's edges left out, each hashed with 32-bit FNV-1a over its bytes taken as
*signed* chars (as fastText's ``Dictionary::hash`` does), modulo ``bucket``.

Compact form (what training writes): only the rows training can have changed are kept: every word
row, and the bucket rows of the vocabulary's n-grams. ``subword_rows.npy`` lists their row numbers
in fastText's matrix (sorted), ``subwords.npy`` holds them in that order. Every other row still
holds fastText's initial value, which is not stored but recomputed: fastText fills its input matrix
in ``thread`` blocks of a tenth of the matrix each with ``std::minstd_rand(block + seed)`` and
``std::uniform_real_distribution(-1/dim, 1/dim)`` and leaves the rest zero; :func:`initial_rows`
reproduces that bit for bit (checked on a sample of rows when the store is written; a matrix that
does not match is stored whole). So a store is as large as its vocabulary's n-grams, not as the
bucket count, and an unseen word's vector is still exactly fastText's ``get_word_vector``.
See docs/fasttext-store-size.md.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import StoreError

SUBWORDS_FILE = "subwords.npy"
ROWS_FILE = "subword_rows.npy"
HASH_SCHEME = "fasttext-fnv1a-signed-char"
EOS = "</s>"
_FNV_OFFSET = 2166136261
_FNV_PRIME = 16777619
_MINSTD_A = 48271  # std::minstd_rand: x <- 48271 x mod (2^31 - 1)
_MINSTD_M = 2147483647
_INIT_BLOCKS = 10  # fastText's DenseMatrix::uniform: block size = rows * dim / 10
_VERIFY_ROWS = 256


def fasttext_hash(data: bytes) -> int:
    """fastText's ``Dictionary::hash``: FNV-1a, each byte sign-extended before the xor."""
    h = _FNV_OFFSET
    for byte in data:
        h ^= (byte - 256 if byte > 127 else byte) & 0xFFFFFFFF
        h = (h * _FNV_PRIME) & 0xFFFFFFFF
    return h


def char_ngrams(word: str, minn: int, maxn: int) -> list[bytes]:
    """The n-grams fastText's ``computeSubwords`` takes from ``<word>``, as UTF-8 bytes, in its order."""
    data = f"<{word}>".encode("utf-8")
    found: list[bytes] = []
    size = len(data)
    for i in range(size):
        if (data[i] & 0xC0) == 0x80:
            continue
        j, n = i, 1
        while j < size and n <= maxn:
            j += 1
            while j < size and (data[j] & 0xC0) == 0x80:
                j += 1
            if n >= minn and not (n == 1 and (i == 0 or j == size)):
                found.append(data[i:j])
            n += 1
    return found


def _powmod(base: np.ndarray, exponent: np.ndarray) -> np.ndarray:
    """``base ** exponent mod (2^31 - 1)`` elementwise (int64: every product stays below 2^62)."""
    result = np.ones_like(exponent)
    base = base % _MINSTD_M
    exponent = exponent.copy()
    while exponent.any():
        odd = (exponent & 1).astype(bool)
        result = np.where(odd, result * base % _MINSTD_M, result)
        base = base * base % _MINSTD_M
        exponent >>= 1
    return result


def initial_rows(rows: np.ndarray, *, dim: int, total_rows: int, threads: int, seed: int = 0) -> np.ndarray:
    """fastText's initial values of input-matrix rows ``rows`` (``float32 [len(rows), dim]``).

    ``DenseMatrix::uniform(1/dim, threads, seed)`` fills element block ``b`` (a tenth of the matrix,
    rounded down) for ``b < threads`` from ``minstd_rand(b + seed)``, two draws per element through
    ``generate_canonical<double, 53>``, scaled to ``[-a, a)`` with ``a = float(1/dim)``; every other
    element is zero."""
    rows = np.asarray(rows, dtype=np.int64)
    elements = rows[:, None] * dim + np.arange(dim, dtype=np.int64)[None, :]
    block_size = (total_rows * dim) // _INIT_BLOCKS
    if block_size == 0:
        return np.zeros((len(rows), dim), dtype=np.float32)
    block = elements // block_size
    offset = elements - block * block_size
    state = (block + seed) % _MINSTD_M
    state[state == 0] = 1  # a linear congruential engine seeded with 0 (mod m) starts from 1
    first = state * _powmod(np.full_like(offset, _MINSTD_A), 2 * offset + 1) % _MINSTD_M
    second = first * _MINSTD_A % _MINSTD_M
    span = float(_MINSTD_M - 1)  # max - min + 1 of minstd_rand, the "r" of generate_canonical
    total = (first - 1).astype(np.float64) + (second - 1).astype(np.float64) * span
    canonical = total / (span * span)
    canonical = np.where(canonical >= 1.0, np.nextafter(1.0, 0.0), canonical)
    a = float(np.float32(1.0 / dim))
    values = (canonical * (a - (-a)) + (-a)).astype(np.float32)
    values[block >= threads] = 0.0
    return values


def touched_rows(words: list[str], *, minn: int, maxn: int, bucket: int) -> np.ndarray:
    """The input-matrix rows fastText's training can change: every word row (``words`` in fastText's
    order) and the bucket rows of the words' n-grams ("</s>" has none). Sorted, unique, int64."""
    nwords = len(words)
    buckets: set[int] = set()
    if maxn > 0 and bucket > 0:
        for word in words:
            if word != EOS:
                buckets.update(fasttext_hash(g) % bucket for g in char_ngrams(word, minn, maxn))
    return np.concatenate([np.arange(nwords, dtype=np.int64),
                           nwords + np.fromiter(sorted(buckets), dtype=np.int64, count=len(buckets))])


def _infer_threads(matrix: np.ndarray, kept: np.ndarray) -> int:
    """How many initialisation blocks fastText filled, read off rows training did not touch."""
    total_rows, dim = matrix.shape
    block_size = (total_rows * dim) // _INIT_BLOCKS
    if block_size == 0:
        return 0
    untouched = np.ones(total_rows, dtype=bool)
    untouched[kept] = False
    threads = _INIT_BLOCKS + 1
    for block in range(_INIT_BLOCKS + 1):
        first_row = -(-block * block_size // dim)  # rows wholly inside this block
        last_row = min(((block + 1) * block_size) // dim, total_rows)
        candidates = np.flatnonzero(untouched[first_row:last_row])
        if len(candidates) and not np.any(matrix[first_row + candidates[0]]):
            threads = block
            break
    return threads


def compact_matrix(matrix: np.ndarray, words: list[str], *, minn: int, maxn: int, bucket: int,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray, dict[str, int]] | None:
    """The rows of fastText's input ``matrix`` that cannot be recomputed, their row numbers and the
    initialisation parameters that recompute the others; ``None`` if the untouched rows are not
    fastText's initial values (another fastText, another library: then the matrix is kept whole)."""
    total_rows, dim = matrix.shape
    if total_rows != len(words) + bucket:
        return None
    kept = touched_rows(words, minn=minn, maxn=maxn, bucket=bucket)
    threads = _infer_threads(matrix, kept)
    untouched = np.setdiff1d(np.arange(total_rows, dtype=np.int64), kept, assume_unique=True)
    if len(untouched):
        sample = untouched[np.linspace(0, len(untouched) - 1, min(_VERIFY_ROWS, len(untouched))).astype(np.int64)]
        expected = initial_rows(sample, dim=dim, total_rows=total_rows, threads=threads, seed=seed)
        if not np.array_equal(np.asarray(matrix[sample], dtype=np.float32), expected):
            return None
    init = {"threads": int(threads), "seed": int(seed), "rows": int(total_rows)}
    return np.ascontiguousarray(matrix[kept], dtype=np.float32), kept, init


@dataclass(frozen=True)
class SubwordModel:
    """How to turn any word into a vector from a store's ``subwords.npy``."""

    matrix: np.ndarray  # [nwords + bucket, dim], or the kept rows [len(rows), dim]; memory-mapped
    minn: int
    maxn: int
    bucket: int
    nwords: int
    eos_id: int  # fastText id of "</s>", which the store's vocabulary leaves out (-1: none)
    rows: np.ndarray | None = None  # compact form: fastText row number of each matrix row, sorted
    init_threads: int = 0
    init_seed: int = 0

    @classmethod
    def from_store(cls, files: Any, meta: Any) -> SubwordModel:
        """From an open store's files (``StoreFiles``) and its ``subwords`` metadata."""
        if not isinstance(meta, dict) or not isinstance(meta.get("file"), str) \
                or not isinstance(meta.get("rows_file", ""), (str, type(None))):
            raise StoreError(f"malformed subword metadata {meta!r}")
        rows = files.array(meta["rows_file"]) if meta.get("rows_file") else None
        return cls.from_meta(files.array(meta["file"]), meta, rows)

    @classmethod
    def from_meta(cls, matrix: np.ndarray, meta: dict[str, Any], rows: np.ndarray | None = None) -> SubwordModel:
        try:
            init = meta.get("init") or {}
            model = cls(matrix, int(meta["minn"]), int(meta["maxn"]), int(meta["bucket"]), int(meta["nwords"]),
                        int(meta.get("eos_id", -1)), rows, int(init.get("threads", 0)), int(init.get("seed", 0)))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise StoreError(f"subword metadata is incomplete ({exc})") from exc
        if meta.get("hash") != HASH_SCHEME:
            raise StoreError(f"unknown subword hash scheme {meta.get('hash')!r}")
        if min(model.minn, model.maxn, model.bucket, model.nwords, model.init_threads) < 0 or matrix.ndim != 2:
            raise StoreError("subword metadata holds negative sizes")
        total = model.nwords + model.bucket
        if rows is None:
            if meta.get("rows_file") is not None:
                raise StoreError(f"{SUBWORDS_FILE}: its row table {meta.get('rows_file')!r} was not given")
            if matrix.shape[0] != total:
                raise StoreError(f"{SUBWORDS_FILE}: {matrix.shape[0]} rows, expected {model.nwords} words + {model.bucket} buckets")
            return model
        if rows.ndim != 1 or rows.dtype.kind not in "iu" or rows.shape[0] != matrix.shape[0]:
            raise StoreError(f"{ROWS_FILE}: {rows.dtype} {rows.shape}, expected one integer per row of {SUBWORDS_FILE} ({matrix.shape[0]})")
        if int(init.get("rows", -1)) != total:
            raise StoreError(f"subword metadata: init rows {init.get('rows')!r}, expected {total}")
        if len(rows) and (rows[0] < 0 or rows[-1] >= total or np.any(np.diff(rows) <= 0)):
            raise StoreError(f"{ROWS_FILE}: row numbers must be increasing and below {total}")
        if len(rows) < model.nwords or (model.nwords and rows[model.nwords - 1] != model.nwords - 1):
            raise StoreError(f"{ROWS_FILE}: every word row must be kept")
        return model

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    def fasttext_id(self, row: int) -> int:
        """fastText's word id of the store's vocabulary row ``row``."""
        return row + (1 if 0 <= self.eos_id <= row else 0)

    def ngram_rows(self, word: str) -> list[int]:
        if self.maxn == 0 or word == EOS:
            return []
        return [self.nwords + fasttext_hash(g) % self.bucket for g in char_ngrams(word, self.minn, self.maxn)]

    def input_rows(self, rows: list[int]) -> np.ndarray:
        """Rows of fastText's input matrix, float32 ``[len(rows), dim]``, stored or recomputed."""
        if self.rows is None:
            return np.asarray(self.matrix[rows], dtype=np.float32)
        wanted = np.asarray(rows, dtype=np.int64)
        position = np.searchsorted(self.rows, wanted)
        position[position == len(self.rows)] = 0
        found = self.rows[position] == wanted
        out = np.empty((len(wanted), self.dim), dtype=np.float32)
        if found.any():
            out[found] = self.matrix[position[found]]
        if not found.all():
            out[~found] = initial_rows(wanted[~found], dim=self.dim, total_rows=self.nwords + self.bucket,
                                       threads=self.init_threads, seed=self.init_seed)
        return out

    def vector(self, word: str, row: int | None = None) -> np.ndarray:
        """fastText's ``get_word_vector``: ``row`` is the store row if the word is in the vocabulary.

        Returns zeros when the word has no n-grams (e.g. a model trained with ``maxn=0``).
        """
        rows = ([self.fasttext_id(row)] if row is not None else []) + self.ngram_rows(word)
        if not rows:
            return np.zeros(self.matrix.shape[1], dtype=np.float32)
        return fasttext_mean(self.input_rows(rows))


def fasttext_mean(rows: np.ndarray) -> np.ndarray:
    """The mean of float32 ``rows`` computed as fastText does, so that it agrees to the last bit.

    fastText adds the rows one after another in float32 and multiplies the sum by ``1 / n``
    rounded to float32. ``ndarray.mean`` sums pairwise and divides, which differs by one unit in
    the last place on some components (about 1.2e-7 for values near 1).
    """
    total = np.zeros(rows.shape[1], dtype=np.float32)
    for one in rows:
        total += one
    total *= np.float32(1.0 / len(rows))
    return total
