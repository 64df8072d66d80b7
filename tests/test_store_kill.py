"""kill -9 at random moments of builds (train --force, reindex, rerank train, import --force): the store
answers as before (or as the finished build would, if the kill came after its publish), and the
next writer leaves nothing behind: no temporary directory, no scratch, no process."""
from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import embedsearch
from embedsearch.store.generations import current_generation
from embedsearch.store.index import IndexOptions
from embedsearch.store.reindex import reindex

from .conftest import LEE_TRAIN

ROOT = Path(__file__).resolve().parents[1]
WORDS = ["police", "government", "australia", "fire"]


def _answers(store: Path) -> list[object]:
    with embedsearch.open_store(store) as opened:
        return [[(n.word, round(n.score, 5)) for n in opened.similar(w, k=5).neighbors] for w in WORDS]


def _commands(store: Path, corpus: Path, vectors_file: Path) -> dict[str, list[str]]:
    train = ["train", str(corpus), "-o", str(store), "--force", "--contexts", "4",
             *[part for key, value in LEE_TRAIN.items() for part in (f"--{key.replace('_', '-')}", str(value))]]
    return {
        "train": train,
        "reindex": ["reindex", "-s", str(store), "--index", "hnsw", "--target-recall", "0.9"],
        "rerank": ["rerank", "train", "-s", str(store), str(corpus), "--hidden", "8", "--tokens", "3000", "--seed", "1"],
        "import": ["import", str(vectors_file), "-o", str(store), "--force"],
    }


def _leftovers(store: Path) -> list[str]:
    inside = [p.name for p in store.iterdir() if p.name not in (".embedsearch-store", ".lock", "CURRENT")
              and not (p.name.startswith("g") and p.is_dir())]
    generations = [p.name for p in store.iterdir() if p.name.startswith("g") and p.is_dir()]
    beside = [p.name for p in store.parent.iterdir() if p.name not in (store.name, "corpus", "vectors.txt", "stop")]
    return inside + beside + (["more than two generations"] if len(generations) > 2 else [])


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text(encoding="ascii", errors="replace").rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _trial(kind: str, seed: int, base: Path, corpus: Path, vectors_file: Path, tmp_path: Path,
           finished: dict[str, list[object]], durations: dict[str, float]) -> str:
    store = tmp_path / f"{kind}-{seed}" / "store"
    shutil.copytree(base, store)
    shutil.copy(vectors_file, store.parent / "vectors.txt")
    (store.parent / "corpus").symlink_to(corpus)
    before = _answers(store)
    generation = current_generation(store)
    command = _commands(store, store.parent / "corpus", store.parent / "vectors.txt")[kind]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, str(ROOT / "cli.py"), "-q", *command], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    time.sleep(random.Random(seed).uniform(0.05, 1.3 * durations[kind]))  # some kills land after the publish
    children = _children_of(process.pid)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    after = _answers(store)
    assert after in (before, finished[kind]), f"{kind}: the store answers neither as before nor as after"
    published = current_generation(store) != generation
    reindex(store, IndexOptions("flat"))  # the next writer sweeps what the killed one left
    assert _leftovers(store) == [], f"{kind}: left behind {_leftovers(store)}"
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{child}").exists() for child in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    alive = [c for c in children if Path(f"/proc/{c}").exists()
             and "zombie" not in Path(f"/proc/{c}/status").read_text(encoding="ascii", errors="replace").lower()]
    assert not alive, f"{kind}: processes outlived their killed parent: {alive}"
    return "after the publish" if published else "before the publish"


@pytest.fixture(scope="module")
def kill_setup(tmp_path_factory: pytest.TempPathFactory, lee_store: Path, lee_corpus) -> tuple[Path, Path, Path, dict, dict]:
    root = tmp_path_factory.mktemp("kill")
    base = root / "base" / "store"
    shutil.copytree(lee_store, base)
    vectors_file = root / "vectors.txt"
    from embedsearch.formats import export_vectors

    with embedsearch.open_store(base) as opened:
        export_vectors(opened, vectors_file)
    finished: dict[str, list[object]] = {}
    durations: dict[str, float] = {}
    for kind in ("train", "reindex", "rerank", "import"):  # each build once to the end: its answers and time
        store = root / f"done-{kind}" / "store"
        shutil.copytree(base, store)
        command = _commands(store, lee_corpus.path, vectors_file)[kind]
        started = time.monotonic()
        subprocess.run([sys.executable, str(ROOT / "cli.py"), "-q", *command], check=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True)
        durations[kind] = time.monotonic() - started
        finished[kind] = _answers(store)
    return base, lee_corpus.path, vectors_file, finished, durations


@pytest.mark.parametrize("kind", ["train", "reindex", "rerank", "import"])
@pytest.mark.parametrize("seed", [1, 2])
def test_kill_9_mid_build_leaves_the_store_answering_and_nothing_behind(kill_setup, tmp_path: Path, kind: str, seed: int):
    base, corpus, vectors_file, finished, durations = kill_setup
    _trial(kind, seed, base, corpus, vectors_file, tmp_path, finished, durations)


@pytest.mark.slow
def test_kill_9_at_sixty_random_moments(kill_setup, tmp_path: Path):
    base, corpus, vectors_file, finished, durations = kill_setup
    outcomes: dict[str, int] = {}
    for trial in range(60):
        kind = ("train", "reindex", "rerank", "import")[trial % 4]
        outcome = _trial(kind, 100 + trial, base, corpus, vectors_file, tmp_path, finished, durations)
        outcomes[f"{kind} {outcome}"] = outcomes.get(f"{kind} {outcome}", 0) + 1
    print(f"60 kills: {outcomes}; build seconds: { {k: round(v, 2) for k, v in durations.items()} }")
