"""``embedsearch quickstart``: the whole path on a real corpus that installs with the dependencies.

The corpus is the English Wikipedia sample inside gensim's wheel (``gensim/test/test_data``): 106
articles, about 480,000 words, read with gensim's own dump reader. That is small for word vectors,
so training runs more epochs than the defaults (30 instead of 5); it takes well under a minute on
two cores. The questions asked are fixed; the answers are computed each time.

``lang="ko"`` builds a Korean store instead, from the Korean Wikipedia sample shipped in
``embedsearch/corpora`` (3 MB, Kiwi morphemes with lemmas, particles and endings dropped; needs
``kiwipiepy``), in about a minute on two cores.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from .corpus import ingest
from .errors import ConfigError, SourceError, UnknownWordError
from .progress import ProgressCallback, ignore_progress
from .query import AnalogyResult, SimilarResult, open_store
from .store.generations import is_published
from .training import TrainConfig, train

SAMPLE_FILE = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
SAMPLE_DESCRIPTION = "English Wikipedia sample shipped with gensim (106 articles, ~480k words)"
DEMO_CONFIG = {"arch": "skipgram", "dim": 100, "window": 5, "negative": 5, "min_count": 5, "epochs": 30, "sample": 1e-3}
DEMO_SIMILAR = ("france", "music", "philosophy", "water")
DEMO_ANALOGIES = (("england", "english", "france"), ("he", "his", "she"), ("city", "cities", "country"))
KO_DESCRIPTION = "Korean Wikipedia sample shipped with embedsearch (3 MB, ~280k eojeol)"
KO_CONFIG = {"arch": "skipgram", "dim": 100, "window": 5, "negative": 5, "min_count": 5, "epochs": 10, "sample": 1e-3}
KO_SIMILAR = ("대통령", "음악", "철학", "바다")
KO_ANALOGIES = (("한국", "서울", "일본"), ("남자", "아버지", "여자"), ("프랑스", "파리", "독일"))
LANGS = ("en", "ko")


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
    lang: str = "en",
    progress: ProgressCallback = ignore_progress,
) -> QuickstartResult:
    """Ingest the sample, train a store under ``directory``, and ask it a few questions.

    ``lang="ko"``: the Korean sample, tokenized into morphemes. An existing quickstart store of
    the same language is reused unless ``overwrite`` is true.
    """
    if lang not in LANGS:
        raise ConfigError(f"lang must be one of {', '.join(LANGS)}, got {lang!r}")
    directory = Path(directory).absolute()
    corpus_dir, store_dir = directory / "corpus", directory / "store"
    started = time.perf_counter()
    rebuilt = overwrite or not is_published(store_dir) or _store_lang(store_dir) != lang
    if rebuilt:
        if lang == "ko":
            from .datasets import dataset_path
            from .text.presets import PipelineOptions, build_pipeline

            corpus = ingest([dataset_path("ko-sample")], corpus_dir, pipeline=build_pipeline(PipelineOptions(lang="ko")),
                            workers=workers, overwrite=True, progress=progress)
        else:
            corpus = ingest([sample_corpus_path()], corpus_dir, workers=workers, overwrite=True, progress=progress)
        config = TrainConfig(**(KO_CONFIG if lang == "ko" else DEMO_CONFIG), **({"workers": workers} if workers else {}))
        train(corpus, store_dir, config=config, overwrite=True, progress=progress)
    questions, analogy_questions = (KO_SIMILAR, KO_ANALOGIES) if lang == "ko" else (DEMO_SIMILAR, DEMO_ANALOGIES)
    with open_store(store_dir) as store:
        similar = [store.similar(word, k=5) for word in questions if word in store]
        analogies = []
        for a, b, c in analogy_questions:
            try:
                analogies.append(store.analogy(a, b, c, k=3))
            except UnknownWordError:
                continue
        return QuickstartResult(
            directory, corpus_dir, store_dir, KO_DESCRIPTION if lang == "ko" else SAMPLE_DESCRIPTION, len(store), store.dim,
            time.perf_counter() - started, rebuilt, similar, analogies,
        )


def _store_lang(store_dir: Path) -> str | None:
    """The language of an existing quickstart store, read from its corpus's pipeline."""
    try:
        corpus = json.loads((store_dir.parent / "corpus" / "corpus.json").read_text(encoding="utf-8"))
        steps = [step.get("name") for step in corpus["pipeline"]["steps"]]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return "ko" if "morphemes" in steps else "en"
