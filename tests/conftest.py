"""Shared fixtures: small real text, a tiny trained store, and a hand-made store with known answers."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import embedsearch
from embedsearch.store import write_store
from embedsearch.text.pipeline import english_words

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def gensim_data(name: str) -> Path:
    from gensim.test.utils import datapath

    return Path(datapath(name))


@pytest.fixture(scope="session")
def lee_text() -> Path:
    """Real English news text (Lee corpus background, ~60k words) shipped with gensim."""
    return gensim_data("lee_background.cor")


@pytest.fixture(scope="session")
def lee_corpus(tmp_path_factory: pytest.TempPathFactory, lee_text: Path) -> embedsearch.Corpus:
    return embedsearch.ingest([lee_text], tmp_path_factory.mktemp("lee") / "corpus", workers=1)


LEE_TRAIN = dict(arch="skipgram", dim=24, window=5, sample=1e-3, negative=5, epochs=5, alpha=0.025, min_count=3, workers=1,
                 seed=7)


@pytest.fixture(scope="session")
def lee_store(tmp_path_factory: pytest.TempPathFactory, lee_corpus: embedsearch.Corpus) -> Path:
    """A tiny Word2Vec store: 1 worker and a fixed seed, so it is the same on every run.

    Every setting is pinned (not left to the project's defaults, which are tuned for large corpora),
    so the tests that use it do not change when a default does.
    """
    path = tmp_path_factory.mktemp("lee_store") / "store"
    config = embedsearch.TrainConfig(**LEE_TRAIN)
    embedsearch.train(lee_corpus, path, config=config)
    return path


TOY_WORDS = ["king", "queen", "man", "woman", "apple", "pear", "car", "new", "york", "city"]


def toy_vectors() -> np.ndarray:
    """Hand-made 4-d vectors with known geometry: royalty, gender, fruit and place directions."""
    return np.array(
        [
            [1.0, 1.0, 0.0, 0.0],   # king    = royal + male
            [1.0, -1.0, 0.0, 0.0],  # queen   = royal + female
            [0.1, 1.0, 0.0, 0.0],   # man
            [0.1, -1.0, 0.0, 0.0],  # woman
            [0.0, 0.0, 1.0, 0.1],   # apple
            [0.0, 0.0, 1.0, 0.2],   # pear
            [0.0, 0.2, 0.1, 1.0],   # car
            [0.0, 0.0, 0.3, 1.0],   # new
            [0.0, 0.0, -0.3, 1.0],  # york
            [0.1, 0.0, 0.0, 1.0],   # city
        ],
        dtype=np.float32,
    )


@pytest.fixture()
def toy_store(tmp_path: Path) -> Path:
    path = tmp_path / "toy"
    write_store(
        path,
        words=TOY_WORDS,
        counts=list(range(100, 100 - len(TOY_WORDS), -1)),
        vectors=toy_vectors(),
        model={"kind": "handmade"},
        pipeline=english_words().to_dict(),
    )
    return path


def store_file(store: Path, name: str) -> Path:
    """Where a store file lives: in the generation the store's CURRENT names (see store/generations.py)."""
    from embedsearch.store.generations import live_directory

    return live_directory(store) / name
