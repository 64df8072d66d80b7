"""fastText subword vectors on the light query path, without the fasttext package or its ``.bin``.

A FastText store keeps fastText's whole input matrix (word rows, then ``bucket`` n-gram rows) as a
plain memory-mapped ``subwords.npy``. A word's vector is the mean of its own row (if it has one)
and the rows of its character n-grams, exactly as fastText's ``getWordVector`` computes it:
n-grams of ``<word>`` with lengths ``minn..maxn`` counted in UTF-8 characters, single-character
n-grams at the word's edges left out, each hashed with 32-bit FNV-1a over its bytes taken as
*signed* chars (as fastText's ``Dictionary::hash`` does), modulo ``bucket``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import StoreError

SUBWORDS_FILE = "subwords.npy"
HASH_SCHEME = "fasttext-fnv1a-signed-char"
EOS = "</s>"
_FNV_OFFSET = 2166136261
_FNV_PRIME = 16777619


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


@dataclass(frozen=True)
class SubwordModel:
    """How to turn any word into a vector from a store's ``subwords.npy``."""

    matrix: np.ndarray  # [nwords + bucket, dim], memory-mapped
    minn: int
    maxn: int
    bucket: int
    nwords: int
    eos_id: int  # fastText id of "</s>", which the store's vocabulary leaves out (-1: none)

    @classmethod
    def from_meta(cls, matrix: np.ndarray, meta: dict[str, Any]) -> SubwordModel:
        try:
            model = cls(matrix, int(meta["minn"]), int(meta["maxn"]), int(meta["bucket"]), int(meta["nwords"]),
                        int(meta.get("eos_id", -1)))
        except (KeyError, TypeError, ValueError) as exc:
            raise StoreError(f"subword metadata is incomplete ({exc})") from exc
        if meta.get("hash") != HASH_SCHEME:
            raise StoreError(f"unknown subword hash scheme {meta.get('hash')!r}")
        if matrix.shape[0] != model.nwords + model.bucket:
            raise StoreError(f"{SUBWORDS_FILE}: {matrix.shape[0]} rows, expected {model.nwords} words + {model.bucket} buckets")
        return model

    def fasttext_id(self, row: int) -> int:
        """fastText's word id of the store's vocabulary row ``row``."""
        return row + (1 if 0 <= self.eos_id <= row else 0)

    def ngram_rows(self, word: str) -> list[int]:
        if self.maxn == 0 or word == EOS:
            return []
        return [self.nwords + fasttext_hash(g) % self.bucket for g in char_ngrams(word, self.minn, self.maxn)]

    def vector(self, word: str, row: int | None = None) -> np.ndarray:
        """fastText's ``get_word_vector``: ``row`` is the store row if the word is in the vocabulary.

        Returns zeros when the word has no n-grams (e.g. a model trained with ``maxn=0``).
        """
        rows = ([self.fasttext_id(row)] if row is not None else []) + self.ngram_rows(word)
        if not rows:
            return np.zeros(self.matrix.shape[1], dtype=np.float32)
        return np.asarray(self.matrix[rows], dtype=np.float32).mean(axis=0)
