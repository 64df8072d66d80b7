"""The store: written atomically, no pickle, and every damage found on open with the file named."""
from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import numpy as np
import pytest

import embedsearch
from embedsearch.errors import ConfigError, StoreError, StoreExistsError
from embedsearch.store import StoreFiles, write_store
from embedsearch.store.schema import SCHEMA_VERSION
from embedsearch.store.verify import verify_store

from .conftest import TOY_WORDS, store_file, toy_vectors


def test_round_trip_unit_rows_and_metadata(toy_store: Path):
    files = StoreFiles(toy_store)
    expected = toy_vectors() / np.linalg.norm(toy_vectors(), axis=1, keepdims=True)
    np.testing.assert_allclose(np.asarray(files.vectors), expected, rtol=1e-6)
    assert isinstance(files.vectors, np.memmap)
    assert files.meta["dim"] == 4 and files.meta["words"] == len(TOY_WORDS) and files.meta["normalised"] is True
    assert files.searcher.kind == "flat" and files.searcher.exact
    assert not (store_file(toy_store, "index.faiss")).exists()  # exact search reads vectors.npy; no second copy
    rows = files.db.execute("SELECT id, word, count FROM words ORDER BY id").fetchall()
    assert [w for _, w, _ in rows] == TOY_WORDS and rows[0][2] == 100
    assert files.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    files.close()


def test_vectors_file_is_plain_npy_without_pickle(toy_store: Path):
    loaded = np.load(store_file(toy_store, "vectors.npy"), allow_pickle=False)
    assert loaded.dtype == np.dtype("<f4") and loaded.shape == (len(TOY_WORDS), 4)


def test_zero_vectors_stay_zero_and_are_counted(tmp_path: Path):
    vectors = np.array([[0, 0], [3, 4]], dtype=np.float32)
    write_store(tmp_path / "s", words=["a", "b"], counts=[1, 1], vectors=vectors, model={}, pipeline=None)
    files = StoreFiles(tmp_path / "s")
    assert files.meta["zero_vectors"] == 1
    np.testing.assert_allclose(np.asarray(files.vectors), [[0, 0], [0.6, 0.8]], rtol=1e-6)


@pytest.mark.parametrize(
    ("words", "counts", "vectors", "message"),
    [
        (["a"], [1, 2], np.ones((1, 2)), "do not match"),
        (["a", "a"], [1, 1], np.ones((2, 2)), "unique"),
        ([], [], np.ones((0, 2)), "no words"),
        (["a"], [1], np.array([[np.nan, 1.0]]), "NaN"),
    ],
)
def test_bad_inputs_are_rejected_before_anything_is_written(tmp_path: Path, words, counts, vectors, message):
    with pytest.raises(ConfigError, match=message):
        write_store(tmp_path / "s", words=words, counts=counts, vectors=vectors, model={}, pipeline=None)
    assert not (tmp_path / "s").exists()


def test_failed_rebuild_leaves_the_previous_store_readable(toy_store: Path, monkeypatch: pytest.MonkeyPatch):
    from embedsearch.store import writer

    def explode(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(writer, "build_index", explode)
    with pytest.raises(RuntimeError, match="disk on fire"):
        write_store(toy_store, words=["x"], counts=[1], vectors=np.ones((1, 4)), model={}, pipeline=None, overwrite=True)
    with embedsearch.open_store(toy_store) as store:
        assert len(store) == len(TOY_WORDS)
    assert [p.name for p in toy_store.parent.iterdir()] == ["toy"]  # the temporary build is gone


def test_existing_store_is_not_replaced_without_overwrite(toy_store: Path):
    with pytest.raises(StoreExistsError):
        write_store(toy_store, words=["x"], counts=[1], vectors=np.ones((1, 4)), model={}, pipeline=None)


def test_missing_store_and_missing_files(tmp_path: Path, toy_store: Path):
    with pytest.raises(StoreError, match="no store at"):
        StoreFiles(tmp_path / "nothing")
    (store_file(toy_store, "vectors.npy")).unlink()
    with pytest.raises(StoreError, match=r"vectors\.npy is missing"):
        StoreFiles(toy_store)


def test_truncated_vectors_are_detected(toy_store: Path):
    data = (store_file(toy_store, "vectors.npy")).read_bytes()
    (store_file(toy_store, "vectors.npy")).write_bytes(data[:-8])
    with pytest.raises(StoreError, match=r"vectors\.npy: .* bytes, expected"):
        StoreFiles(toy_store)


def test_corrupted_vectors_are_found_by_verify_not_by_every_open(toy_store: Path):
    data = bytearray((store_file(toy_store, "vectors.npy")).read_bytes())
    data[-3] ^= 0xFF
    (store_file(toy_store, "vectors.npy")).write_bytes(bytes(data))
    StoreFiles(toy_store).close()  # opening reads no whole file: the size still matches
    report = verify_store(toy_store)
    assert not report.ok and any(re.search(r"vectors\.npy: checksum mismatch", p) for p in report.problems)


def _set_meta(store: Path, key: str, value: str) -> None:
    db = sqlite3.connect(store_file(store, "meta.sqlite"))
    with db:
        db.execute("UPDATE meta SET value = ? WHERE key = ?", (value, key))
    db.close()


def test_unsupported_format_version_is_refused(toy_store: Path):
    _set_meta(toy_store, "format_version", "99")
    with pytest.raises(StoreError, match="store format 99 is not supported"):
        StoreFiles(toy_store)


def test_newer_schema_is_refused(toy_store: Path):
    db = sqlite3.connect(store_file(toy_store, "meta.sqlite"))
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StoreError, match="newer than this embedsearch supports"):
        StoreFiles(toy_store)


def test_row_count_mismatch_is_refused(toy_store: Path):
    db = sqlite3.connect(store_file(toy_store, "meta.sqlite"))
    with db:
        db.execute("DELETE FROM words WHERE id = 3")
    db.close()
    with pytest.raises(StoreError, match="words table has 9 rows"):
        StoreFiles(toy_store)


def test_garbage_metadata_file_is_a_store_error(toy_store: Path):
    (store_file(toy_store, "meta.sqlite")).write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a readable embedsearch metadata database"):
        StoreFiles(toy_store)
