"""The one schema of a store's ``meta`` table: every value's type and range, checked on open.

A value of the wrong JSON type, out of range or missing is a :class:`StoreError` naming the key,
never a traceback or a wrong answer later. Keys this version does not know are ignored (they are
never read). Nested objects are checked for the fields the query path reads; their other fields
are shown by ``info`` only.
"""
from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import StoreError
from .schema import encode_meta

MAX_WORDS = 2**31 - 1
MAX_DIM = 65_536
_HEX8 = re.compile(r"[0-9a-f]{8}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")

Check = Callable[[Any, str], None]


class _Bad(Exception):
    pass


def _integer(low: int, high: int) -> Check:
    def check(value: Any, where: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise _Bad(f"{where} must be an integer from {low:,} to {high:,}, got {_show(value)}")
    return check


def _number(low: float, high: float) -> Check:
    def check(value: Any, where: str) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or not low <= value <= high:
            raise _Bad(f"{where} must be a number from {low:g} to {high:g}, got {_show(value)}")
    return check


def _text(limit: int = 10_000, pattern: re.Pattern[str] | None = None) -> Check:
    def check(value: Any, where: str) -> None:
        if not isinstance(value, str) or len(value) > limit or (pattern is not None and not pattern.fullmatch(value)):
            raise _Bad(f"{where} must be {'a valid ' if pattern else ''}text, got {_show(value)}")
    return check


def _const(expected: Any) -> Check:
    def check(value: Any, where: str) -> None:
        if value != expected or type(value) is not type(expected):
            raise _Bad(f"{where} must be {expected!r}, got {_show(value)}")
    return check


def _one_of(*choices: str) -> Check:
    def check(value: Any, where: str) -> None:
        if value not in choices or not isinstance(value, str):
            raise _Bad(f"{where} must be one of {', '.join(choices)}, got {_show(value)}")
    return check


def _boolean(value: Any, where: str) -> None:
    if not isinstance(value, bool):
        raise _Bad(f"{where} must be true or false, got {_show(value)}")


def _optional(check: Check) -> Check:
    def wrapped(value: Any, where: str) -> None:
        if value is not None:
            check(value, where)
    return wrapped


def _object(fields: Mapping[str, Check] | None = None, required: tuple[str, ...] = ()) -> Check:
    def check(value: Any, where: str) -> None:
        if not isinstance(value, dict):
            raise _Bad(f"{where} must be an object, got {_show(value)}")
        for key in required:
            if key not in value:
                raise _Bad(f"{where}.{key} is missing")
        for key, field_check in (fields or {}).items():
            if key in value:
                field_check(value[key], f"{where}.{key}")
    return check


def _mapping(key_check: Check, value_check: Check) -> Check:
    def check(value: Any, where: str) -> None:
        if not isinstance(value, dict):
            raise _Bad(f"{where} must be an object, got {_show(value)}")
        for key, item in value.items():
            key_check(key, f"{where} key")
            value_check(item, f"{where}.{key}")
    return check


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_POSITIVE = _integer(1, 2**31 - 1)
_COUNT = _integer(0, 2**62)

_FILE_ENTRY = _object({"bytes": _integer(0, 2**62), "crc32": _text(8, _HEX8)}, required=("bytes", "crc32"))

SCHEMA: dict[str, Check] = {
    "format_version": _integer(0, 1_000_000),  # the supported version is checked apart, with its own message
    "created_with": _text(200),
    "created_at": _text(64),
    "words": _integer(1, MAX_WORDS),
    "dim": _integer(1, MAX_DIM),
    "metric": _const("cosine"),
    "normalised": _const(True),
    "zero_vectors": _integer(0, MAX_WORDS),
    "model": _object({"kind": _text(64), "params": _object(), "train_seconds": _optional(_number(0, 1e9))}),
    "pipeline": _optional(_object({"steps": lambda v, w: _steps(v, w)}, required=("steps",))),
    "corpus": _optional(_object()),
    "index": _object({
        "kind": _one_of("flat", "hnsw", "ivf", "ivfpq"),
        "exact": _boolean,
        "params": _mapping(_text(32), _optional(_integer(0, 2**31 - 1))),
        "recall_at_10": _optional(_number(0.0, 1.0)),
    }, required=("kind", "params")),
    "files": _mapping(_text(64, _FILE_NAME), _FILE_ENTRY),
    "contexts": _object({
        "occurrences": _COUNT, "per_word": _integer(0, 1_000_000), "seed": _integer(-2**63, 2**63 - 1),
        "window": _integer(1, 1_000), "words": _integer(0, MAX_WORDS),
    }, required=("window",)),
    "subwords": _object({
        "file": _text(64, _FILE_NAME), "minn": _integer(0, 1_000), "maxn": _integer(0, 1_000),
        "bucket": _integer(0, 2**31 - 1), "nwords": _integer(0, MAX_WORDS), "eos_id": _integer(-1, MAX_WORDS),
        "hash": _text(64),
    }, required=("file", "minn", "maxn", "bucket", "nwords")),
    "reranker": _object({
        "format": _integer(0, 1_000_000), "file": _text(64, _FILE_NAME), "hidden": _integer(1, 65_536),
        "window": _integer(1, 1_000), "dim": _integer(1, MAX_DIM), "blend_weight": _number(-1e6, 1e6),
        "analogy_weight": _number(-1e6, 1e6), "targets": _text(16),
    }, required=("format", "file", "hidden", "window")),
    "checksums": _object({"words": _text(64, _HEX64), "meta": _text(64, _HEX64)}, required=("words", "meta")),
    # Mean-centering / all-but-the-top (store/postprocess.py): applied to the stored rows at build
    # time and, from the parameters in its file, to every vector the query path builds.
    "postprocess": _object({
        "method": _one_of("center", "abtt"), "directions": _integer(0, 100), "file": _text(64, _FILE_NAME),
    }, required=("method", "directions", "file")),
}
POSTPROCESS_FILE = "postprocess.npy"
REQUIRED = ("format_version", "words", "dim", "index", "files")


def _steps(value: Any, where: str) -> None:
    if not isinstance(value, list):
        raise _Bad(f"{where} must be a list, got {_show(value)}")
    for number, step in enumerate(value):
        _object({"name": _text(64), "options": _object(), "version": _integer(0, 1_000_000)},
                required=("name",))(step, f"{where}[{number}]")
        if "artifact" in step and step["artifact"] is not None:
            _object({"name": _text(200), "sha256": _text(64, _HEX64)}, required=("name", "sha256"))(
                step["artifact"], f"{where}[{number}].artifact")


def validate_meta(meta: Mapping[str, Any], where: str) -> None:
    """Check every known key of ``meta`` against :data:`SCHEMA` and the keys' relations to each other."""
    try:
        for key in REQUIRED:
            if key not in meta:
                raise _Bad(f"'{key}' is missing")
        for key, check in SCHEMA.items():
            if key in meta:
                check(meta[key], f"'{key}'")
        if meta.get("zero_vectors", 0) > meta["words"]:
            raise _Bad(f"'zero_vectors' ({meta['zero_vectors']}) exceeds 'words' ({meta['words']})")
        files, index = meta["files"], meta["index"]
        if (index["kind"] == "flat") == ("index.faiss" in files):
            raise _Bad(f"'index.kind' {index['kind']!r} does not fit the files ({', '.join(sorted(files))})")
        if "vectors.npy" not in files:
            raise _Bad("'files' does not list vectors.npy")
        _check_postprocess(meta)
        reranker = meta.get("reranker")
        if reranker and "dim" in reranker and reranker["dim"] != meta["dim"]:
            raise _Bad(f"'reranker.dim' ({reranker['dim']}) differs from the store's dim ({meta['dim']})")
    except _Bad as exc:
        raise StoreError(f"{where}: metadata {exc}") from None


def _check_postprocess(meta: Mapping[str, Any]) -> None:
    post, files = meta.get("postprocess"), meta["files"]
    if post is None:
        if POSTPROCESS_FILE in files:  # the parameters are there, the record of them is not
            raise _Bad(f"'files' lists {POSTPROCESS_FILE} but 'postprocess' is missing")
        return
    if post["file"] != POSTPROCESS_FILE or post["file"] not in files:
        raise _Bad(f"'postprocess.file' must be {POSTPROCESS_FILE}, listed in 'files', got {_show(post['file'])}")
    if (post["method"] == "center") != (post["directions"] == 0) or post["directions"] >= meta["dim"]:
        raise _Bad(f"'postprocess' {post['method']} with {post['directions']} direction(s) does not fit "
                   f"(center removes none, abtt 1 or more, fewer than dim {meta['dim']})")


def meta_digest(meta: Mapping[str, Any]) -> str:
    """SHA-256 of every metadata value but the checksums themselves (canonical JSON, sorted keys)."""
    body = {key: value for key, value in meta.items() if key != "checksums"}
    return hashlib.sha256(encode_meta(body).encode("utf-8")).hexdigest()


# The separator is a newline written as a literal: SQLite calls a function such as char(10) once
# per row, which made the scan ~40% slower. The digest is the same either way.
WORDS_DIGEST_SQL = "SELECT group_concat(word, '\n'), total(count * (id + 1)) FROM words"


def words_digest(row: tuple[Any, ...]) -> str:
    """SHA-256 of the words table from :data:`WORDS_DIGEST_SQL`'s one row: every word in id order and a
    position-weighted sum of the counts, computed in one scan inside SQLite without a Python object
    per row (~7 ms of CPU for 68k words, ~0.11 s for 1M). Values of the wrong type change it too;
    readers check types where they use the values."""
    joined, weighted = row
    if joined is not None and not isinstance(joined, str):
        raise ValueError("the words are not text")
    text = f"{joined or ''}\x00{float(weighted or 0):.17g}"
    return hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()
