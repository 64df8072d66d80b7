"""Names and versions of the files in a store directory, written in one place and read in one place.

See :mod:`embedsearch.store.generations` for the directory's layout (generations, the CURRENT
pointer, the marker and the writers' lock) and docs/store-format.md for the whole format.
"""
from __future__ import annotations

FORMAT_VERSION = 1  # of a generation's contents (meta.sqlite and the arrays)
LAYOUT_VERSION = 2  # of the store directory: 1 = files directly inside, 2 = generations
META_DB = "meta.sqlite"
VECTORS = "vectors.npy"
INDEX = "index.faiss"  # only for approximate indexes: exact search reads vectors.npy directly
CHECKED_FILES = (VECTORS,)  # always present; every other file the metadata lists is checked too
VECTOR_DTYPE = "<f4"

MARKER = ".embedsearch-store"
CURRENT = "CURRENT"
LOCK = ".lock"
BUILD_PREFIX = ".build-"
SCRATCH_PREFIX = ".scratch-"
# Files a format-1 store kept directly in its directory (removed by its first generation's publish).
LEGACY_FILES = (META_DB, VECTORS, INDEX, "subwords.npy", "reranker.npz")
