"""The FAISS index of a store: building it (write side) and opening it (query side).

Vectors are unit rows, so inner product is cosine. FAISS ids are row numbers of ``vectors.npy``.
Only the exact ``flat`` index exists so far; its file is memory-mapped on open rather than read,
so a store does not hold its vectors in memory twice.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError, StoreError

if TYPE_CHECKING:
    import faiss

INDEX_KINDS = ("flat",)


def build_index(rows: np.ndarray, path: Path, *, kind: str = "flat") -> dict[str, Any]:
    """Build an index over unit ``rows``, write it to ``path``, return its description for the metadata."""
    import faiss

    if kind not in INDEX_KINDS:
        raise ConfigError(f"unknown index kind {kind!r}; choose one of {', '.join(INDEX_KINDS)}")
    index = faiss.IndexFlatIP(rows.shape[1])
    index.add(np.ascontiguousarray(rows, dtype=np.float32))
    faiss.write_index(index, str(path))
    return {"kind": kind, "faiss": "IndexFlatIP", "metric": "inner_product", "exact": True, "params": {}}


def open_index(path: Path, meta: dict[str, Any], rows: int, dim: int) -> faiss.Index:
    """Open the index file described by ``meta`` and check it matches the vectors."""
    import faiss

    flags = faiss.IO_FLAG_READ_ONLY | (faiss.IO_FLAG_MMAP if meta.get("kind") == "flat" else 0)
    try:
        index = faiss.read_index(str(path), flags)
    except RuntimeError as exc:
        raise StoreError(f"{path}: not a readable FAISS index ({str(exc).splitlines()[0]})") from exc
    if index.ntotal != rows or index.d != dim:
        raise StoreError(f"{path}: index holds {index.ntotal} vectors of dim {index.d}, the store has {rows} of dim {dim}")
    return index
