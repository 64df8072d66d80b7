"""The on-disk store: ``meta.sqlite`` + ``vectors.npy`` + ``index.faiss`` (see README, "The store")."""
from .reader import StoreFiles
from .writer import unit_rows, write_store

__all__ = ["StoreFiles", "unit_rows", "write_store"]
