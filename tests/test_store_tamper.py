"""Tampered stores: every store file and every metadata key, damaged by hand, by a careless copy or by
random bytes, gives one clear error naming the file, or the very same answers: never a traceback,
never a different answer without an error, never a read outside the store.

Metadata values are tampered twice: as a careless edit (the metadata checksum no longer matches) and
as a deliberate one that recomputes the checksums, so that the schema checks behind the checksum are
exercised too.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import embedsearch
from embedsearch.errors import EmbedsearchError, StoreError
from embedsearch.store.generations import live_directory
from embedsearch.store.index import IndexOptions
from embedsearch.store.metadata import WORDS_DIGEST_SQL, words_digest
from embedsearch.store.reindex import reindex
from embedsearch.store.verify import verify_store
from embedsearch.store.writer import seal_meta

from .conftest import store_file


@pytest.fixture(scope="module")
def rich_store(tmp_path_factory: pytest.TempPathFactory, lee_store: Path) -> Path:
    """The Lee store (contexts, a real pipeline) with an HNSW index: most of the store's file kinds."""
    path = tmp_path_factory.mktemp("rich") / "store"
    shutil.copytree(lee_store, path)
    reindex(path, IndexOptions("hnsw", target_recall=0.5))
    return path


@pytest.fixture()
def store(rich_store: Path, tmp_path: Path) -> Path:
    path = tmp_path / "store"
    shutil.copytree(rich_store, path, symlinks=True)
    return path


def answers(path: Path) -> list[Any]:
    """What a user asks a store, in one list (errors are not caught here)."""
    with embedsearch.open_store(path) as opened:
        return [
            opened.similar("police", k=5),
            opened.similar("government - police", k=5),
            opened.analogy("australia", "australian", "israel", k=3),
            opened.similarity("police", "officers"),
            opened.examples("police", limit=3),
            opened.info().words,
        ]


def clear_error_or_same(path: Path, expected: list[Any]) -> str:
    """'error' if answering fails with an embedsearch error naming a store file, 'same' if it answers
    exactly as before; anything else fails the test."""
    try:
        got = answers(path)
    except StoreError as exc:
        assert str(path) in str(exc), exc
        return "error"
    except EmbedsearchError as exc:  # e.g. a word the damaged store no longer knows: must say so clearly
        pytest.fail(f"a damaged store gave a misleading error: {exc}")
    assert got == expected, "a damaged store answered differently without an error"
    return "same"


def set_meta(path: Path, key: str, value: Any, *, reseal: bool, raw: str | None = None) -> None:
    db = sqlite3.connect(store_file(path, "meta.sqlite"))
    if value is _DELETE:
        db.execute("DELETE FROM meta WHERE key = ?", (key,))
    else:
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                   (key, raw if raw is not None else json.dumps(value)))
    if reseal:
        try:
            seal_meta(db)
        except EmbedsearchError:
            db.execute("DELETE FROM meta WHERE key = 'checksums'")  # then the checksum check itself must object
    db.commit()
    db.close()


def set_nested(path: Path, key: str, dotted: str, value: Any, *, reseal: bool) -> None:
    db = sqlite3.connect(store_file(path, "meta.sqlite"))
    (raw,) = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    db.close()
    data = json.loads(raw)
    target = data
    parts = dotted.split("/")
    for part in parts[:-1]:
        target = target[part]
    if value is _DELETE:
        target.pop(parts[-1], None)
    else:
        target[parts[-1]] = value
    set_meta(path, key, data, reseal=reseal)


_DELETE = object()

# (key, value): every top-level key the schema knows, each made wrong in type or range.
META_CASES = [
    ("format_version", 2), ("format_version", "1"), ("format_version", True),
    ("words", 0), ("words", -5), ("words", "100"), ("words", 1e9), ("words", 10**12),
    ("dim", 0), ("dim", 10**9), ("dim", 2.5), ("dim", None),
    ("metric", "euclid"), ("normalised", False), ("zero_vectors", -1), ("zero_vectors", 10**9),
    ("model", "a string"), ("model", {"kind": 5}),
    ("pipeline", 7), ("pipeline", {"steps": "nfkc"}), ("pipeline", {"steps": [{"name": 3}]}),
    ("pipeline", {"steps": [{"name": "nosuchstep", "options": {}, "version": 1}]}),
    ("corpus", [1, 2]),
    ("index", "flat"), ("index", {"kind": "annoy", "params": {}}), ("index", {"kind": "hnsw"}),
    ("files", []), ("files", {"../../etc/passwd": {"bytes": 1, "crc32": "00000000"}}),
    ("files", {"vectors.npy": {"bytes": "big", "crc32": "00000000"}}),
    ("contexts", {"window": 0}), ("contexts", {"window": "8"}), ("contexts", 3),
    ("subwords", {"file": "../x.npy", "minn": 3, "maxn": 6, "bucket": 10, "nwords": 5}),
    ("reranker", {"format": 1, "file": "reranker.npz", "hidden": 10**9, "window": 4}),
    ("postprocess", {"method": "pca", "directions": 1, "file": "postprocess.npy"}),
    ("postprocess", {"method": "center", "directions": 0, "file": "postprocess.npy"}),  # no such file recorded
    ("words", _DELETE), ("dim", _DELETE), ("index", _DELETE), ("files", _DELETE), ("format_version", _DELETE),
]

NESTED_CASES = [
    ("index", "params/efSearch", -3), ("index", "params/efSearch", "many"), ("index", "params/efSearch", 1e400),
    ("index", "recall_at_10", float("nan")), ("index", "recall_at_10", 7), ("index", "kind", "flat"),
    ("index", "exact", "yes"), ("files", "vectors.npy/bytes", -1), ("files", "vectors.npy/crc32", 12345678),
    ("files", "vectors.npy/bytes", 12), ("files", "vectors.npy", _DELETE), ("files", "index.faiss", _DELETE),
    ("contexts", "window", 10**6), ("pipeline", "steps", _DELETE),
]


@pytest.mark.parametrize("reseal", [False, True], ids=["careless", "resealed"])
@pytest.mark.parametrize("key, value", META_CASES, ids=[f"{k}={v!r}"[:40] for k, v in META_CASES])
def test_every_metadata_key_wrong_in_type_or_range(store: Path, key: str, value: Any, reseal: bool):
    set_meta(store, key, value, reseal=reseal)
    with pytest.raises(StoreError) as caught:
        answers(store)
    assert str(store) in str(caught.value)


@pytest.mark.parametrize("value", [{"words": "abc", "meta": "def"}, {"words": "0" * 64, "meta": "0" * 64}, "sha", _DELETE],
                         ids=["not hex", "wrong digests", "not an object", "missing"])
def test_checksums_that_do_not_fit(store: Path, value: Any):
    set_meta(store, "checksums", value, reseal=False)
    with pytest.raises(StoreError, match="checksum"):
        answers(store)


@pytest.mark.parametrize("reseal", [False, True], ids=["careless", "resealed"])
@pytest.mark.parametrize("key, dotted, value", NESTED_CASES, ids=[f"{k}.{d}={v!r}"[:40] for k, d, v in NESTED_CASES])
def test_nested_metadata_values(store: Path, key: str, dotted: str, value: Any, reseal: bool):
    set_nested(store, key, dotted, value, reseal=reseal)
    with pytest.raises(StoreError) as caught:
        answers(store)
    assert str(store) in str(caught.value)


@pytest.mark.parametrize("raw", ["{not json", "NaN", "Infinity", "[" * 100_000, "\"" + "x" * 10 + "\"\x00"])
def test_metadata_values_that_are_not_json(store: Path, raw: str):
    set_meta(store, "index", None, reseal=False, raw=raw)
    with pytest.raises(StoreError, match="meta.sqlite"):
        answers(store)


def _sql(statements: list[str]) -> Callable[[Path], None]:
    def apply(path: Path) -> None:
        db = sqlite3.connect(store_file(path, "meta.sqlite"))
        for statement in statements:
            db.execute(statement)
        db.commit()
        db.close()
    return apply


WORDS_CASES = {
    "deleted row": ["DELETE FROM words WHERE id = 5"],
    "deleted last row": ["DELETE FROM words WHERE id = (SELECT max(id) FROM words)"],
    "negative id": ["UPDATE words SET id = -1 WHERE id = 0"],
    "id out of range": ["UPDATE words SET id = 10000000 WHERE id = 3"],
    "duplicated word": ["DROP INDEX idx_words_word", "UPDATE words SET word = 'police' WHERE id = 7"],
    "dropped unique index": ["DROP INDEX idx_words_word"],
    "renamed word": ["UPDATE words SET word = 'constable' WHERE word = 'police'"],
    "swapped words": ["UPDATE words SET word = 'tmp' WHERE id = 10", "UPDATE words SET word = (SELECT word FROM words WHERE id = 11) WHERE id = 10 AND 0",
                      "UPDATE words SET word = 'x' || word WHERE id IN (10, 11)"],
    "changed count": ["UPDATE words SET count = count + 1 WHERE id = 2"],
    "count of the wrong type": ["UPDATE words SET count = 'many' WHERE id = 2"],
    "word of the wrong type": ["UPDATE words SET word = X'00ff' WHERE id = 2"],
    "dropped table": ["DROP TABLE words"],
    "table with another definition": ["ALTER TABLE words RENAME TO old", "CREATE TABLE words (id INTEGER PRIMARY KEY, word TEXT, count INTEGER)",
                                      "INSERT INTO words SELECT * FROM old"],
    "dropped meta table": ["DROP TABLE meta"],
    "schema version from the future": ["PRAGMA user_version = 99"],
    "schema version zero": ["PRAGMA user_version = 0"],
}


# Edits that leave a consistent store once the checksums are recomputed: a deliberate editor may make them.
CONSISTENT_EDITS = {"changed count", "renamed word", "swapped words"}
# Values of the wrong type behind recomputed checksums: refused where they are read, not on every open.
LAZILY_CHECKED = {"count of the wrong type", "word of the wrong type"}


@pytest.mark.parametrize("reseal", [False, True], ids=["careless", "resealed"])
@pytest.mark.parametrize("case", sorted(WORDS_CASES))
def test_words_table_and_schema_damage(store: Path, case: str, reseal: bool):
    _sql(WORDS_CASES[case])(store)
    if reseal:
        db = sqlite3.connect(store_file(store, "meta.sqlite"))
        try:
            seal_meta(db)
            db.commit()
        except (EmbedsearchError, sqlite3.DatabaseError, TypeError, ValueError):
            pass
        db.close()
        if case in LAZILY_CHECKED:  # what reads the values refuses them
            with pytest.raises(StoreError, match="meta.sqlite"):
                with embedsearch.open_store(store) as opened:
                    opened.counts() if "count" in case else opened.vocabulary()
            return
        if case in CONSISTENT_EDITS:
            try:
                answers(store)
            except EmbedsearchError:
                pass  # e.g. the renamed word is unknown now: an honest answer for the edited store
            return
    with pytest.raises(StoreError) as caught:
        answers(store)
    assert str(store) in str(caught.value)


def _truncate(name: str) -> Callable[[Path], None]:
    def apply(path: Path) -> None:
        file = store_file(path, name)
        data = file.read_bytes()
        file.write_bytes(data[: len(data) // 2])
    return apply


def _extend(name: str) -> Callable[[Path], None]:
    def apply(path: Path) -> None:
        with open(store_file(path, name), "ab") as handle:
            handle.write(b"\0" * 64)
    return apply


def _remove(name: str) -> Callable[[Path], None]:
    return lambda path: store_file(path, name).unlink()


def _directory(name: str) -> Callable[[Path], None]:
    def apply(path: Path) -> None:
        store_file(path, name).unlink()
        store_file(path, name).mkdir()
    return apply


def _link(name: str) -> Callable[[Path], None]:
    def apply(path: Path) -> None:
        file = store_file(path, name)
        outside = path.parent / f"outside-{name}"
        shutil.copy(file, outside)
        file.unlink()
        file.symlink_to(outside)  # the very same bytes, but outside the store: refused all the same
    return apply


def _flip_last(name: str) -> Callable[[Path], None]:
    def apply(path: Path) -> None:
        file = store_file(path, name)
        data = bytearray(file.read_bytes())
        data[-9] ^= 0x5A
        file.write_bytes(bytes(data))
    return apply


def _npy_header(name: str, replacement: bytes) -> Callable[[Path], None]:
    def apply(path: Path) -> None:
        file = store_file(path, name)
        data = file.read_bytes()
        end = data.index(b"\n") + 1
        header = replacement.ljust(end - 10 - 1) + b"\n"
        file.write_bytes(data[:10] + header[: end - 10] + data[end:])
    return apply


FILE_CASES: dict[str, Callable[[Path], None]] = {
    **{f"{how} {name}": make(name) for name in ("vectors.npy", "meta.sqlite", "index.faiss")
       for how, make in (("truncated", _truncate), ("extended", _extend), ("missing", _remove),
                         ("directory instead of", _directory), ("symlinked", _link))},
    "flipped byte in index.faiss": _flip_last("index.faiss"),
    "vectors.npy with a pickled dtype": _npy_header("vectors.npy", b"{'descr': '|O', 'fortran_order': False, 'shape': (10,), }"),
    "vectors.npy with another shape": _npy_header("vectors.npy", b"{'descr': '<f4', 'fortran_order': False, 'shape': (3, 7), }"),
    "vectors.npy with float64": _npy_header("vectors.npy", b"{'descr': '<f8', 'fortran_order': False, 'shape': (5, 24), }"),
    "vectors.npy not an npy": lambda p: store_file(p, "vectors.npy").write_bytes(b"x" * store_file(p, "vectors.npy").stat().st_size),
    "meta.sqlite not sqlite": lambda p: store_file(p, "meta.sqlite").write_bytes(b"y" * store_file(p, "meta.sqlite").stat().st_size),
    "CURRENT missing": lambda p: (p / "CURRENT").unlink(),
    "CURRENT names a missing generation": lambda p: (p / "CURRENT").write_text("g000099\n", encoding="ascii"),
    "CURRENT is a directory": lambda p: ((p / "CURRENT").unlink(), (p / "CURRENT").mkdir()),
    "CURRENT is a link": lambda p: ((p / "CURRENT").unlink(), (p / "CURRENT").symlink_to(p / "elsewhere")),
    "generation removed": lambda p: shutil.rmtree(live_directory(p)),
    "generation is a file": lambda p: (shutil.rmtree(live_directory(p)), (p / "g000002").write_text("x", encoding="utf-8")),
}


@pytest.mark.parametrize("case", sorted(FILE_CASES))
def test_store_files_damaged_replaced_or_linked(store: Path, case: str):
    expected = answers(store)
    FILE_CASES[case](store)
    if case == "extended meta.sqlite":  # SQLite ignores bytes past its last page; its size is recorded nowhere
        clear_error_or_same(store, expected)
        return
    with pytest.raises(StoreError) as caught:
        answers(store)
    message = str(caught.value)
    assert str(store) in message and "outside-" not in message


def test_vectors_flipped_in_the_middle_are_found_by_verify(store: Path):
    file = store_file(store, "vectors.npy")
    data = bytearray(file.read_bytes())
    data[len(data) // 2] ^= 0x01
    file.write_bytes(bytes(data))
    report = verify_store(store)
    assert not report.ok and "vectors.npy: checksum mismatch" in report.problems[0]


def test_verify_passes_a_sound_store_and_names_each_check(store: Path):
    report = verify_store(store)
    assert report.ok, report.problems
    assert set(report.files) == {"vectors.npy", "index.faiss"}
    assert any("integrity" in check for check in report.checks)
    assert any("contexts" in check for check in report.checks)


@pytest.mark.parametrize("seed", range(20))
def test_random_byte_corruption_of_meta_sqlite_never_changes_an_answer_silently(store: Path, seed: int):
    expected = answers(store)
    file = store_file(store, "meta.sqlite")
    data = bytearray(file.read_bytes())
    rng = random.Random(seed)
    for _ in range(4):
        position = rng.randrange(len(data))
        data[position] ^= 1 << rng.randrange(8)
    file.write_bytes(bytes(data))
    clear_error_or_same(store, expected)


@pytest.mark.parametrize("seed", range(5))
def test_random_corruption_of_a_contexts_row_is_caught_when_read(store: Path, seed: int):
    db = sqlite3.connect(store_file(store, "meta.sqlite"))
    (word, tokens) = db.execute("SELECT c.word, c.tokens FROM contexts c JOIN words w ON w.id = c.word "
                                "WHERE w.word = 'police'").fetchone()
    data = bytearray(tokens)
    rng = random.Random(seed)
    data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    db.execute("UPDATE contexts SET tokens = ? WHERE word = ?", (bytes(data), word))
    db.commit()
    db.close()
    with embedsearch.open_store(store) as opened, pytest.raises(StoreError, match="contexts"):
        opened.examples("police")


def test_the_words_checksum_reads_as_stores_already_published_recorded_it(store: Path):
    # Stores published before the separator became a literal newline recorded this form's digest.
    db = sqlite3.connect(store_file(store, "meta.sqlite"))
    recorded = json.loads(db.execute("SELECT value FROM meta WHERE key = 'checksums'").fetchone()[0])["words"]
    former = db.execute("SELECT group_concat(word, char(10)), total(count * (id + 1)) FROM words").fetchone()
    current = db.execute(WORDS_DIGEST_SQL).fetchone()
    db.close()
    assert words_digest(former) == words_digest(current) == recorded


def test_a_damaged_words_index_is_not_mistaken_for_an_unknown_word(store: Path):
    # Make the index miss 'police' while the table (which the checksum covers) still has it.
    db = sqlite3.connect(store_file(store, "meta.sqlite"))
    db.execute("PRAGMA writable_schema = ON")
    db.execute("DROP INDEX idx_words_word")
    db.execute("CREATE UNIQUE INDEX idx_words_word ON words(word) WHERE word != 'police'")
    db.commit()
    db.close()
    with pytest.raises(StoreError):
        answers(store)


def test_no_file_outside_the_store_is_opened(store: Path, tmp_path: Path):
    outside = tmp_path / "private.npy"
    np.save(outside, np.zeros((3, 3), dtype=np.float32))
    os.chmod(outside, 0)
    vectors = store_file(store, "vectors.npy")
    vectors.unlink()
    vectors.symlink_to(outside)
    opened_paths: list[str] = []
    real_open = os.open

    def spy(path: Any, *args: Any, **kwargs: Any) -> int:
        opened_paths.append(os.fspath(path))
        return real_open(path, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "open", spy)
        with pytest.raises(StoreError, match="symbolic link"):
            embedsearch.open_store(store)
    assert not any("private" in p for p in opened_paths)
