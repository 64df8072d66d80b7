"""Readers during publishes: with readers in threads and in other processes querying while the store is
republished again and again, every query answers (from the old store or the new one), none fails."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import embedsearch
from embedsearch.store.index import IndexOptions
from embedsearch.store.reindex import reindex

ROOT = Path(__file__).resolve().parents[1]
WORDS = ["police", "government", "australia", "fire", "people", "minister"]

# A reader process: opens the store afresh for every query (as a CLI call does), prints one JSON line
# per answer or failure, until the stop file appears.
READER = """
import json, sys, os
import embedsearch
store, stop, words = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
i = 0
while not os.path.exists(stop):
    word = words[i % len(words)]
    i += 1
    try:
        with embedsearch.open_store(store) as s:
            answer = [n.word for n in s.similar(word, k=5).neighbors]
        print(json.dumps({"word": word, "answer": answer}), flush=True)
    except Exception as exc:
        print(json.dumps({"word": word, "error": f"{type(exc).__name__}: {exc}"}), flush=True)
"""


def _expected(path: Path) -> dict[str, list[str]]:
    with embedsearch.open_store(path) as store:
        return {w: [n.word for n in store.similar(w, k=5).neighbors] for w in WORDS}


def _run(store: Path, publishes: int, thread_readers: int, process_readers: int, tmp_path: Path) -> dict[str, int]:
    kinds = [IndexOptions("flat"), IndexOptions("hnsw", target_recall=0.9)]
    valid: dict[str, set[tuple[str, ...]]] = {w: set() for w in WORDS}
    for kind in kinds:  # the answers each published version may give
        probe = tmp_path / f"probe-{kind.kind}"
        shutil.copytree(store, probe)
        reindex(probe, kind)
        for word, answer in _expected(probe).items():
            valid[word].add(tuple(answer))
    for word, answer in _expected(store).items():
        valid[word].add(tuple(answer))

    failures: list[str] = []
    counts = {"thread queries": 0, "process queries": 0}
    stop = threading.Event()
    lock = threading.Lock()

    def thread_reader(number: int) -> None:
        held = embedsearch.open_store(store) if number % 2 else None  # half keep one Store open throughout
        i = number
        while not stop.is_set():
            word = WORDS[i % len(WORDS)]
            i += 1
            try:
                if held is not None:
                    answer = [n.word for n in held.similar(word, k=5).neighbors]
                else:
                    with embedsearch.open_store(store) as opened:
                        answer = [n.word for n in opened.similar(word, k=5).neighbors]
                if tuple(answer) not in valid[word]:
                    raise AssertionError(f"unexpected answer {answer}")
            except Exception as exc:  # noqa: BLE001 - every failure is recorded and fails the test
                with lock:
                    failures.append(f"thread {number}: {type(exc).__name__}: {exc}")
            with lock:
                counts["thread queries"] += 1
        if held is not None:
            held.close()

    stop_file = tmp_path / "stop"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    processes = [subprocess.Popen([sys.executable, "-c", READER, str(store), str(stop_file), ",".join(WORDS)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
                 for _ in range(process_readers)]
    threads = [threading.Thread(target=thread_reader, args=(n,)) for n in range(thread_readers)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.0)  # let the process readers start querying
        for number in range(publishes):
            reindex(store, kinds[number % 2])
    finally:
        stop.set()
        stop_file.write_text("stop", encoding="utf-8")
        for thread in threads:
            thread.join()
        outputs = [process.communicate(timeout=120) for process in processes]
    for number, (out, err) in enumerate(outputs):
        assert processes[number].returncode == 0, err
        for line in out.splitlines():
            record = json.loads(line)
            counts["process queries"] += 1
            if "error" in record:
                failures.append(f"process {number}: {record['error']}")
            elif tuple(record["answer"]) not in valid[record["word"]]:
                failures.append(f"process {number}: unexpected answer {record['answer']}")
    assert not failures, failures[:5]
    assert counts["thread queries"] > publishes and counts["process queries"] > 0
    return counts


def test_readers_never_fail_while_the_store_is_republished(lee_store: Path, tmp_path: Path):
    store = tmp_path / "store"
    shutil.copytree(lee_store, store)
    _run(store, publishes=12, thread_readers=4, process_readers=2, tmp_path=tmp_path)


@pytest.mark.slow
def test_readers_never_fail_over_a_hundred_publishes(lee_store: Path, tmp_path: Path):
    store = tmp_path / "store"
    shutil.copytree(lee_store, store)
    counts = _run(store, publishes=120, thread_readers=8, process_readers=4, tmp_path=tmp_path)
    print(f"120 publishes, 12 readers: {counts}")
