"""Rebuilding a store's index in place: same vectors and metadata, a new index, published atomically.

With ``postprocess`` the vectors are post-processed first (:mod:`.postprocess`), then indexed."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..progress import ProgressCallback, ignore_progress
from . import layout
from .index import IndexOptions, build_index
from .update import updating_store


def reindex(
    path: str | os.PathLike[str],
    options: IndexOptions,
    *,
    postprocess: Any = None,
    progress: ProgressCallback = ignore_progress,
) -> dict[str, Any]:
    """Replace the index of the store at ``path``; returns the new index description.

    ``postprocess`` (``center`` or ``abtt:D``) first transforms the stored vectors, as ``train
    --postprocess`` would have, and records it for the query path. It is refused on a store that
    is already post-processed (its original vectors are gone: train or import again) or that has
    a reranker (trained on the vectors it would change).

    The new store is assembled aside (see :func:`~embedsearch.store.update.updating_store`) and
    swapped in whole, so a failure leaves the old store as it was.
    """
    from .postprocess import FILE, fit, parse_postprocess
    from .postprocess import apply as apply_postprocess

    post = parse_postprocess(postprocess)
    with updating_store(Path(path)) as update:
        vectors = update.vectors
        if post is not None:
            if update.meta.get("postprocess"):
                done = update.meta["postprocess"]
                raise ConfigError(f"{path} is already post-processed ({done['method']}, {done['directions']} direction(s)) "
                                  "and keeps no other vectors: train or import it again with --postprocess")
            if update.meta.get("reranker"):
                raise ConfigError(f"{path} has a reranker trained on its vectors; post-process a store before "
                                  "`embedsearch rerank train`")
            params = fit(vectors, post)
            vectors = apply_postprocess(vectors, params)
            for name, array in ((layout.VECTORS, vectors.astype(layout.VECTOR_DTYPE, copy=False)), (FILE, params)):
                np.save(update.new_file(name), array, allow_pickle=False)
                update.record_file(name)
            update.set_meta("postprocess", post.meta())
            update.set_meta("zero_vectors", int((~np.any(vectors != 0, axis=1)).sum()))
        target = update.new_file(layout.INDEX)  # an old index is unlinked, never written through
        index_meta = build_index(vectors, target, kind=options, progress=progress)
        if target.exists():
            update.record_file(layout.INDEX)
        else:
            update.forget_file(layout.INDEX)  # exact search needs no index file
        update.set_meta("index", index_meta)
    return index_meta
