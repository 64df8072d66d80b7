"""Writing a store: vectors, FAISS index and metadata, built aside and published atomically."""
from __future__ import annotations

import datetime
import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..fsutil import crc32_file
from ..progress import Progress, ProgressCallback, ignore_progress
from . import layout
from .generations import store_writing
from .index import IndexOptions, build_index
from .metadata import WORDS_DIGEST_SQL, meta_digest, validate_meta, words_digest
from .postprocess import FILE as POSTPROCESS_FILE
from .postprocess import Postprocess, fit, parse_postprocess
from .postprocess import apply as apply_postprocess
from .schema import encode_meta, migrate

_INSERT_BATCH = 10_000


def unit_rows(vectors: np.ndarray) -> tuple[np.ndarray, int]:
    """Float32 copy of ``vectors`` with L2-normalised rows; all-zero rows stay zero. Returns (rows, zero count)."""
    rows = np.array(vectors, dtype=np.float32, order="C", copy=True)
    norms = np.linalg.norm(rows, axis=1)
    zero = norms == 0
    norms[zero] = 1.0
    rows /= norms[:, None]
    return rows, int(zero.sum())


def write_store(
    path: str | os.PathLike[str],
    *,
    words: Sequence[str],
    counts: Sequence[int],
    vectors: np.ndarray,
    model: Mapping[str, Any],
    pipeline: Mapping[str, Any] | None,
    corpus: Mapping[str, Any] | None = None,
    index: str | IndexOptions = "flat",
    arrays: Mapping[str, np.ndarray] | None = None,
    extra_meta: Mapping[str, Any] | None = None,
    artifacts: Mapping[str, bytes] | None = None,
    tables: Mapping[str, Iterable[Mapping[str, Any]]] | None = None,
    overwrite: bool = False,
    postprocess: str | Postprocess | None = None,
    progress: ProgressCallback = ignore_progress,
) -> Path:
    """Write a store at ``path`` from ``words`` (row order) and their ``vectors``.

    ``model`` describes how the vectors were made (kind and parameters), ``pipeline`` is the saved
    text pipeline that query words must go through, ``corpus`` the ingest statistics. The rows are
    L2-normalised before saving. ``index`` is an index kind or :class:`IndexOptions`. ``arrays`` are extra ``.npy`` files saved as given (checked on
    open like the others), ``extra_meta`` extra metadata keys (e.g. FastText's subword settings).
    ``artifacts`` are the models the pipeline's fitted steps learned (name → bytes); each one the
    pipeline names must be there, with the SHA-256 the pipeline records. ``tables`` are rows for
    other tables of the schema (e.g. ``contexts``). ``postprocess`` (``center`` or ``abtt:D``,
    :mod:`.postprocess`) transforms the unit rows and saves its parameters for the query path.
    Nothing is published at ``path`` unless everything was written (see :mod:`.generations`);
    an existing store is replaced only with ``overwrite``, and a directory that is not a store never.
    """
    from .. import __version__

    if vectors.ndim != 2 or vectors.shape[0] != len(words) or len(words) != len(counts):
        raise ConfigError(f"{len(words)} words, {len(counts)} counts and vectors of shape {vectors.shape} do not match")
    if len(words) == 0:
        raise ConfigError("cannot write a store with no words")
    if len(set(words)) != len(words):
        raise ConfigError("words must be unique")
    if not np.isfinite(vectors).all():
        raise ConfigError("vectors contain NaN or infinity")
    artifacts = _checked_artifacts(pipeline, artifacts or {})
    rows, zero_rows = unit_rows(vectors)
    post = parse_postprocess(postprocess)
    params = None
    if post is not None:
        params = fit(rows, post)
        # From the vectors as given, as the query path does with a vector it builds (FastText's unseen words).
        rows = apply_postprocess(vectors, params)
        zero_rows = int((~np.any(rows != 0, axis=1)).sum())
    target = Path(path)
    with store_writing(target, create=True, overwrite=overwrite) as writing, writing.building() as tmp:
        progress(Progress("store", 0, 3, "files", "vectors"))
        np.save(tmp / layout.VECTORS, rows.astype(layout.VECTOR_DTYPE, copy=False), allow_pickle=False)
        progress(Progress("store", 1, 3, "files", "index"))
        index_meta = build_index(rows, tmp / layout.INDEX, kind=index, progress=progress)
        extra = dict(arrays or {})
        if params is not None:
            if POSTPROCESS_FILE in extra:
                raise ConfigError(f"extra store array {POSTPROCESS_FILE} is the post-processing's own")
            extra[POSTPROCESS_FILE] = params
        for name, array in extra.items():
            if not name.endswith(".npy") or "/" in name or name in layout.CHECKED_FILES:
                raise ConfigError(f"extra store array {name!r} must be a plain new .npy file name")
            np.save(tmp / name, np.asarray(array), allow_pickle=False)
        progress(Progress("store", 2, 3, "files", "metadata"))
        names = [*layout.CHECKED_FILES, *([layout.INDEX] if (tmp / layout.INDEX).exists() else []), *extra]
        files = {name: {"bytes": (tmp / name).stat().st_size, "crc32": crc32_file(tmp / name)} for name in names}
        meta = {
            "format_version": layout.FORMAT_VERSION,
            "created_with": f"embedsearch {__version__}",
            "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "words": len(words),
            "dim": int(rows.shape[1]),
            "metric": "cosine",
            "normalised": True,
            "zero_vectors": zero_rows,
            "model": dict(model),
            "pipeline": dict(pipeline) if pipeline is not None else None,
            "corpus": dict(corpus) if corpus is not None else None,
            "index": index_meta,
            "files": files,
            **dict(extra_meta or {}),
            **({"postprocess": post.meta()} if post is not None else {}),
        }
        _write_meta_db(tmp / layout.META_DB, words, counts, meta, artifacts, tables or {})
        progress(Progress("store", 3, 3, "files", "done", final=True))
    return target


def _checked_artifacts(pipeline: Mapping[str, Any] | None, artifacts: Mapping[str, bytes]) -> dict[str, bytes]:
    """The artifacts the pipeline names, checked against the hashes it records (others are refused)."""
    referenced = {}
    for step in (pipeline or {}).get("steps", []):
        reference = step.get("artifact") if isinstance(step, Mapping) else None
        if reference:
            referenced[reference["name"]] = reference["sha256"]
    unknown = sorted(set(artifacts) - set(referenced))
    if unknown:
        raise ConfigError(f"artifacts {', '.join(unknown)} are not named by the pipeline")
    for name, digest in referenced.items():
        data = artifacts.get(name)
        if data is None:
            raise ConfigError(f"the pipeline needs its learned model {name!r}, which was not given")
        if hashlib.sha256(data).hexdigest() != digest:
            raise ConfigError(f"the learned model {name!r} does not match the SHA-256 the pipeline records")
    return {name: bytes(artifacts[name]) for name in referenced}


def _write_meta_db(path: Path, words: Sequence[str], counts: Sequence[int], meta: Mapping[str, Any],
                   artifacts: Mapping[str, bytes], tables: Mapping[str, Iterable[Mapping[str, Any]]]) -> None:
    import sqlite_utils  # write side only: queries read with the stdlib sqlite3

    db = sqlite_utils.Database(path)
    try:
        migrate(db)
        with db.conn:
            db["words"].insert_all(
                ({"id": i, "word": word, "count": int(count)} for i, (word, count) in enumerate(zip(words, counts))),
                batch_size=_INSERT_BATCH,
            )
            db["meta"].insert_all(({"key": key, "value": encode_meta(value)} for key, value in meta.items()))
            seal_meta(db.conn)
            db["artifacts"].insert_all(
                {"name": name, "data": data, "sha256": hashlib.sha256(data).hexdigest()} for name, data in artifacts.items()
            )
            for table, rows in tables.items():
                if table in ("words", "meta", "artifacts") or not db[table].exists():
                    raise ConfigError(f"no table {table!r} for extra rows in the store schema")
                db[table].insert_all(rows, batch_size=_INSERT_BATCH)
    finally:
        db.close()


def seal_meta(db: Any) -> None:
    """Record the checksums of the words table and of the metadata (checked on every open), after
    validating the metadata against the schema the reader applies: a store that would not open is
    never published. Call it last, after every other change to ``meta`` or ``words``."""
    from ..errors import StoreError

    meta = {key: json.loads(value) for key, value in db.execute("SELECT key, value FROM meta")}
    meta.pop("checksums", None)
    try:
        validate_meta(meta, "the new store's metadata")
    except StoreError as exc:
        raise ConfigError(str(exc)) from None
    checksums = {"words": words_digest(db.execute(WORDS_DIGEST_SQL).fetchone()), "meta": meta_digest(meta)}
    db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", ("checksums", encode_meta(checksums)))
