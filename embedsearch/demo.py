"""``embedsearch quickstart``: the whole path on a real corpus that installs with the dependencies.

The corpus is the English Wikipedia sample inside gensim's wheel (``gensim/test/test_data``): 106
articles, about 480,000 words, read with gensim's own dump reader. That is small for word vectors,
so training runs more epochs than the defaults (30 instead of 5); it takes well under a minute on
two cores. The questions asked are fixed; the answers are computed each time.
"""
from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from .corpus import ingest
from .errors import SourceError, UnknownWordError
from .progress import ProgressCallback, ignore_progress
from .query import AnalogyResult, SimilarResult, open_store
from .store.generations import is_published
from .training import TrainConfig, train

SAMPLE_FILE = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
SAMPLE_DESCRIPTION = "English Wikipedia sample shipped with gensim (106 articles, ~480k words)"
DEMO_CONFIG = {"arch": "skipgram", "dim": 100, "window": 5, "negative": 5, "min_count": 5, "epochs": 30, "sample": 1e-3}
DEMO_SIMILAR = ("france", "music", "philosophy", "water")
DEMO_ANALOGIES = (("england", "english", "france"), ("he", "his", "she"), ("city", "cities", "country"))


@dataclass(frozen=True)
class QuickstartResult:
    directory: Path
    corpus: Path
    store: Path
    corpus_description: str
    words: int
    dim: int
    seconds: float
    rebuilt: bool
    similar: list[SimilarResult]
    analogies: list[AnalogyResult]


def sample_corpus_path() -> Path:
    """Where gensim installed its Wikipedia sample."""
    from gensim.test.utils import datapath

    path = Path(datapath(SAMPLE_FILE))
    if not path.is_file():
        raise SourceError(f"gensim's Wikipedia sample is missing ({path}); reinstall gensim")
    return path


def quickstart(
    directory: str | os.PathLike[str] = "embedsearch-quickstart",
    *,
    workers: int | None = None,
    overwrite: bool = False,
    progress: ProgressCallback = ignore_progress,
) -> QuickstartResult:
    """Ingest the sample, train a store under ``directory``, and ask it a few questions.

    An existing quickstart store is reused unless ``overwrite`` is true.
    """
    directory = Path(directory).absolute()
    corpus_dir, store_dir = directory / "corpus", directory / "store"
    started = time.perf_counter()
    rebuilt = overwrite or not is_published(store_dir)
    if rebuilt:
        created = not directory.exists()
        try:
            corpus = ingest([sample_corpus_path()], corpus_dir, workers=workers, overwrite=True, progress=progress)
            config = TrainConfig(**DEMO_CONFIG, **({"workers": workers} if workers else {}))
            train(corpus, store_dir, config=config, overwrite=True, progress=progress)
        except BaseException:
            if created:  # made by this run only: a failed first build (full disk...) leaves nothing behind
                shutil.rmtree(directory, ignore_errors=True)
            raise
    with open_store(store_dir) as store:
        similar = [store.similar(word, k=5) for word in DEMO_SIMILAR if word in store]
        analogies = []
        for a, b, c in DEMO_ANALOGIES:
            try:
                analogies.append(store.analogy(a, b, c, k=3))
            except UnknownWordError:
                continue
        return QuickstartResult(
            directory, corpus_dir, store_dir, SAMPLE_DESCRIPTION, len(store), store.dim,
            time.perf_counter() - started, rebuilt, similar, analogies,
        )
