"""The schema of ``meta.sqlite`` and its migrations.

The schema version lives in SQLite's ``PRAGMA user_version``. Migrations run in order when a
store is written (and, later, by an explicit upgrade command); opening a store for queries never
writes, it only checks the version.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sqlite_utils


def _v1(db: sqlite_utils.Database) -> None:
    db["words"].create({"id": int, "word": str, "count": int}, pk="id", not_null={"word", "count"})
    db["words"].create_index(["word"], unique=True)
    db["meta"].create({"key": str, "value": str}, pk="key", not_null={"value"})


def _v2(db: sqlite_utils.Database) -> None:
    # The models a pipeline's fitted steps learned (SentencePiece protobuf, phrases JSON): plain
    # bytes, never code, each with its SHA-256, which the saved pipeline also records.
    db["artifacts"].create({"name": str, "data": bytes, "sha256": str}, pk="name", not_null={"data", "sha256"})


def _v3(db: sqlite_utils.Database) -> None:
    # Sampled occurrences of each word for the reranker and `examples`: one row per word, its
    # contexts as one int32 blob (see embedsearch.rerank.contexts).
    db["contexts"].create({"word": int, "n": int, "tokens": bytes}, pk="word", not_null={"n", "tokens"})


def _v4(db: sqlite_utils.Database) -> None:
    # Each contexts row's CRC-32 (over word, n and tokens), checked whenever the row is read: the
    # table is most of meta.sqlite's bytes, too many to checksum whole on every open. Rows written
    # before this version get theirs now (they had none to check), or every one would fail its check.
    from ..rerank.contexts import context_crc

    db["contexts"].add_column("crc32", str)
    last = -1
    while rows := db.execute("SELECT word, n, tokens FROM contexts WHERE word > ? ORDER BY word LIMIT 10000",
                             [last]).fetchall():  # a block at a time: the table can be GBs
        db.conn.executemany("UPDATE contexts SET crc32 = ? WHERE word = ?",
                            [(context_crc(word, n, tokens), word) for word, n, tokens in rows])
        last = rows[-1][0]


MIGRATIONS: tuple[Callable[[sqlite_utils.Database], None], ...] = (_v1, _v2, _v3, _v4)
SCHEMA_VERSION = len(MIGRATIONS)
# Readers accept every version from here on: each migration since only added tables.
MIN_READABLE_VERSION = 1


def migrate(db: sqlite_utils.Database) -> int:
    """Bring ``db`` to :data:`SCHEMA_VERSION`; returns the version it started from."""
    start = db.execute("PRAGMA user_version").fetchone()[0]
    for version in range(start, SCHEMA_VERSION):
        with db.conn:
            MIGRATIONS[version](db)
            db.execute(f"PRAGMA user_version = {version + 1}")
    return start


def encode_meta(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
