"""Names and versions of the files in a store directory, written in one place and read in one place."""
from __future__ import annotations

FORMAT_VERSION = 1
META_DB = "meta.sqlite"
VECTORS = "vectors.npy"
INDEX = "index.faiss"  # only for approximate indexes: exact search reads vectors.npy directly
CHECKED_FILES = (VECTORS,)  # always present; every other file the metadata lists is checked too
VECTOR_DTYPE = "<f4"
