"""The store directory: generations and the atomic switch, the writers' lock, what --force may replace,
what a killed writer leaves and who sweeps it, and outputs that must never land inside a store."""
from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest

import embedsearch
from embedsearch.errors import ConfigError, StoreBusyError, StoreError, StoreExistsError
from embedsearch.fsutil import atomic_directory, atomic_file, sweep_leftovers
from embedsearch.formats import export_vectors
from embedsearch.store import StoreFiles, write_store
from embedsearch.store.generations import current_generation, live_directory, store_writing
from embedsearch.store.index import IndexOptions
from embedsearch.store.reindex import reindex
from embedsearch.store.update import updating_store

from .conftest import TOY_WORDS, store_file, toy_vectors


def _write_toy(path: Path, **kwargs) -> Path:
    return write_store(path, words=TOY_WORDS, counts=list(range(len(TOY_WORDS), 0, -1)), vectors=toy_vectors(),
                       model={"kind": "handmade"}, pipeline=None, **kwargs)


def _tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_a_store_is_a_marker_a_pointer_and_one_generation(toy_store: Path):
    names = sorted(p.name for p in toy_store.iterdir())
    assert names == [".embedsearch-store", ".lock", "CURRENT", "g000001"]
    assert (toy_store / "CURRENT").read_text(encoding="ascii") == "g000001\n"
    assert sorted(p.name for p in (toy_store / "g000001").iterdir()) == ["meta.sqlite", "vectors.npy"]
    assert current_generation(toy_store) == "g000001"


def test_each_update_publishes_a_new_generation_and_keeps_only_the_previous_one(toy_store: Path):
    for expected in ("g000002", "g000003", "g000004"):
        reindex(toy_store, IndexOptions("flat"))
        assert current_generation(toy_store) == expected
    assert sorted(p.name for p in toy_store.iterdir() if p.name.startswith("g")) == ["g000003", "g000004"]


def test_an_open_store_keeps_answering_from_what_it_opened_after_publishes(toy_store: Path):
    with embedsearch.open_store(toy_store) as store:
        before = store.similar("king", k=3)
        for _ in range(3):  # its generation is pruned by the second publish
            reindex(toy_store, IndexOptions("flat"))
        assert not (toy_store / "g000001").exists()
        assert store.similar("king", k=3) == before
        assert store.vocabulary() == TOY_WORDS  # the database stays readable too


def test_a_second_writer_fails_at_once_and_the_first_ones_work_is_kept(toy_store: Path):
    with store_writing(toy_store):
        with pytest.raises(StoreBusyError, match=r"being written by another embedsearch process \(pid \d+\)"):
            _second_writer(toy_store)
    reindex(toy_store, IndexOptions("flat"))  # free again once the first writer is done


def _second_writer(path: Path) -> None:
    """Another process's writer: the lock is per open file description, so use a fresh thread + fd."""
    import fcntl

    fd = os.open(path / ".lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 64).decode().strip()
        raise StoreBusyError(f"store {path} is being written by another embedsearch process (pid {holder})") from None
    finally:
        os.close(fd)


def test_concurrent_writers_in_two_processes_one_fails_clearly(toy_store: Path):
    import subprocess
    import sys

    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from embedsearch.store.generations import store_writing\n"
         "with store_writing(sys.argv[1]):\n    print('held', flush=True); time.sleep(30)", str(toy_store)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(StoreBusyError, match=rf"pid {holder.pid}"):
            reindex(toy_store, IndexOptions("flat"))
        before = _tree(toy_store)
        with pytest.raises(StoreBusyError):
            _write_toy(toy_store, overwrite=True)
        assert _tree(toy_store) == before
    finally:
        holder.kill()
        holder.wait()
    reindex(toy_store, IndexOptions("flat"))  # the dead holder's lock went with it


def test_force_replaces_a_store_but_never_a_directory_of_someone_elses(tmp_path: Path):
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "thesis.txt").write_text("years of work", encoding="utf-8")
    with pytest.raises(StoreExistsError, match="not an embedsearch store; refusing to replace it"):
        _write_toy(mine, overwrite=True)
    assert (mine / "thesis.txt").read_text(encoding="utf-8") == "years of work"
    assert sorted(p.name for p in mine.iterdir()) == ["thesis.txt"]
    a_file = tmp_path / "a_file"
    a_file.write_text("x", encoding="utf-8")
    with pytest.raises(StoreExistsError, match="not a store directory"):
        _write_toy(a_file, overwrite=True)
    empty = tmp_path / "empty"
    empty.mkdir()
    _write_toy(empty)  # an empty directory holds nothing to lose
    with pytest.raises(StoreExistsError, match="pass --force"):
        _write_toy(empty)
    _write_toy(empty, overwrite=True)
    assert current_generation(empty) == "g000002"


def test_train_force_onto_a_user_directory_deletes_nothing(tmp_path: Path, lee_corpus):
    target = tmp_path / "photos"
    target.mkdir()
    (target / "cat.jpg").write_bytes(b"\xff\xd8 a cat")
    config = embedsearch.TrainConfig(dim=8, epochs=1, workers=1, min_count=5)
    with pytest.raises(StoreExistsError, match="refusing to replace it"):
        embedsearch.train(lee_corpus, target, config=config, overwrite=True, contexts=0)
    assert (target / "cat.jpg").read_bytes() == b"\xff\xd8 a cat"


def test_ingest_force_replaces_a_corpus_but_not_a_user_directory(tmp_path: Path, lee_text: Path):
    target = tmp_path / "texts"
    target.mkdir()
    (target / "keep.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(StoreExistsError, match="refusing to replace it"):
        embedsearch.ingest([lee_text], target, workers=1, overwrite=True)
    assert (target / "keep.txt").read_text(encoding="utf-8") == "mine"
    corpus = embedsearch.ingest([lee_text], tmp_path / "corpus", workers=1)
    again = embedsearch.ingest([lee_text], corpus.path, workers=1, overwrite=True)
    assert again.stats.tokens == corpus.stats.tokens
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus", "texts"]  # no temporary sibling left


def test_a_failed_first_build_leaves_nothing_and_a_failed_rebuild_leaves_the_old_store(tmp_path: Path):
    bad = toy_vectors().copy()
    bad[0, 0] = np.nan
    with pytest.raises(ConfigError):
        write_store(tmp_path / "s", words=TOY_WORDS, counts=[1] * len(TOY_WORDS), vectors=bad, model={}, pipeline=None)
    assert not (tmp_path / "s").exists()

    class Boom(Exception):
        pass

    _write_toy(tmp_path / "s")
    before = _tree(tmp_path / "s")

    def explode(event):
        if event.message == "metadata":
            raise Boom

    with pytest.raises(Boom):
        _write_toy(tmp_path / "s", overwrite=True, progress=explode)
    assert _tree(tmp_path / "s") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]


def test_leftovers_of_a_killed_writer_are_swept_by_the_next_writer_only(toy_store: Path):
    build = toy_store / ".build-g000009-abc"
    scratch = toy_store / ".scratch-xyz"
    build.mkdir()
    (build / "vectors.npy").write_bytes(b"partial")
    scratch.mkdir()
    with embedsearch.open_store(toy_store) as store:  # readers never sweep
        store.similar("king")
    assert build.exists() and scratch.exists()
    reindex(toy_store, IndexOptions("flat"))
    assert not build.exists() and not scratch.exists()


def test_temporary_siblings_are_swept_only_when_their_writer_is_gone(tmp_path: Path):
    target = tmp_path / "out.tsv"
    with atomic_file(target) as handle:
        handle.write(b"half")
        live = [p for p in tmp_path.iterdir() if p.name != "out.tsv"]
        assert len(live) == 1 and ".embedsearch-tmp-" in live[0].name
        assert sweep_leftovers(target) == []  # its writer holds the lock: never touched
        assert live[0].exists()
    assert target.read_bytes() == b"half"
    dead = tmp_path / f".out.tsv.embedsearch-tmp-999999-abc"
    dead.write_bytes(b"left by a killed run")
    someone_elses = tmp_path / ".out.tsv.swp"
    someone_elses.write_bytes(b"an editor's file")
    with atomic_file(target) as handle:
        handle.write(b"whole")
    assert not dead.exists() and someone_elses.exists()
    assert target.read_bytes() == b"whole"


def test_atomic_directory_swaps_in_one_step(tmp_path: Path):
    target = tmp_path / "d"
    with atomic_directory(target, replaceable=lambda p: True) as tmp:
        (tmp / "a").write_text("1", encoding="utf-8")
    seen: list[list[str]] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            try:
                seen.append(sorted(p.name for p in target.iterdir()))
            except FileNotFoundError:
                seen.append(["<missing>"])

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for number in range(30):
            with atomic_directory(target, overwrite=True, replaceable=lambda p: True) as tmp:
                (tmp / "a").write_text(str(number), encoding="utf-8")
    finally:
        stop.set()
        watcher.join()
    assert ["<missing>"] not in seen
    assert (target / "a").read_text(encoding="utf-8") == "29"


@pytest.mark.parametrize("name", ["vectors.npy", "meta.sqlite"])
def test_no_command_writes_into_a_store(toy_store: Path, tmp_path: Path, name: str):
    before = _tree(toy_store)
    with embedsearch.open_store(toy_store) as store:
        for output in (store_file(toy_store, name), toy_store / name, toy_store / "new.txt"):
            with pytest.raises(ConfigError, match="inside the store"):
                export_vectors(store, output)
    assert _tree(toy_store) == before


def test_an_output_may_not_be_an_input(tmp_path: Path):
    source = tmp_path / "in.txt"
    source.write_text("x", encoding="utf-8")
    with pytest.raises(ConfigError, match="also an input"):
        with atomic_file(source, inputs=[source]):
            pass
    assert source.read_text(encoding="utf-8") == "x"


def test_store_files_that_are_links_are_refused_without_revealing_the_target(toy_store: Path, tmp_path: Path):
    secret = tmp_path / "secret.npy"
    np.save(secret, np.ones((len(TOY_WORDS), 4), dtype=np.float32))
    os.chmod(secret, 0o600)
    vectors = store_file(toy_store, "vectors.npy")
    vectors.unlink()
    vectors.symlink_to(secret)
    with pytest.raises(StoreError) as caught:
        embedsearch.open_store(toy_store)
    message = str(caught.value)
    assert "symbolic link" in message and "secret" not in message and "bytes" not in message


def test_a_generation_that_is_a_link_is_refused(toy_store: Path, tmp_path: Path):
    elsewhere = tmp_path / "elsewhere"
    live_directory(toy_store).rename(elsewhere)
    (toy_store / "g000001").symlink_to(elsewhere)
    with pytest.raises(StoreError, match="not a directory inside the store"):
        embedsearch.open_store(toy_store)


@pytest.mark.parametrize("pointer", ["../../etc", "g1", "", "g000001/../..", "\x00"])
def test_current_that_points_anywhere_else_is_refused(toy_store: Path, pointer: str):
    (toy_store / "CURRENT").write_text(pointer, encoding="utf-8", errors="surrogateescape")
    with pytest.raises(StoreError, match="CURRENT"):
        embedsearch.open_store(toy_store)


def test_a_format_1_store_is_read_and_moves_to_generations_on_its_first_update(tmp_path: Path):
    store = _write_toy(tmp_path / "new")
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    for child in live_directory(store).iterdir():
        (legacy / child.name).write_bytes(child.read_bytes())
    with embedsearch.open_store(legacy) as opened:  # the files directly in the directory, as before
        before = opened.similar("king", k=3)
    reindex(legacy, IndexOptions("flat"))
    assert sorted(p.name for p in legacy.iterdir()) == [".embedsearch-store", ".lock", "CURRENT", "g000001"]
    with embedsearch.open_store(legacy) as opened:
        assert opened.similar("king", k=3) == before


def test_a_schema_3_store_keeps_its_contexts_readable_after_the_migration_adds_their_checksums(tmp_path: Path, lee_store: Path):
    # Schema 4 added a CRC-32 to every contexts row. A store written before it has none; the
    # migration on its first update must fill them in, or every row would then fail its check.
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    for child in live_directory(lee_store).iterdir():
        (legacy / child.name).write_bytes(child.read_bytes())
    db = sqlite3.connect(legacy / "meta.sqlite")
    db.execute("ALTER TABLE contexts DROP COLUMN crc32")
    db.execute("PRAGMA user_version = 3")
    db.commit()
    db.close()
    with embedsearch.open_store(legacy) as opened:
        before = opened.examples("police", limit=3)
    assert before.examples
    reindex(legacy, IndexOptions("flat"))
    with embedsearch.open_store(legacy) as opened:
        assert opened.examples("police", limit=3) == before
    db = sqlite3.connect(store_file(legacy, "meta.sqlite"))
    assert db.execute("SELECT count(*) FROM contexts WHERE crc32 IS NULL").fetchone() == (0,)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 4
    db.close()


def test_update_recomputes_the_metadata_checksum(toy_store: Path):
    with updating_store(toy_store) as update:
        update.set_meta("note", "hello")
    files = StoreFiles(toy_store)
    assert files.meta["note"] == "hello"
    files.close()
    db = sqlite3.connect(store_file(toy_store, "meta.sqlite"))
    db.execute("UPDATE meta SET value = '\"changed\"' WHERE key = 'note'")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="does not match its checksum"):
        StoreFiles(toy_store)
