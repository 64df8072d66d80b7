"""Real-data quality checks (slow; run with ``pytest -m slow``). Skipped when ../shared/data is absent.

One store is trained on the 17M-word text8-style Wikipedia file with the project's default
settings (``TrainConfig()``: CBOW, 200 dims, window 8, sample 1e-4, 15 epochs, storing w + c,
combined with PPMI-SVD at window 10 for a quarter of each cosine; ~6 minutes on 2 cores) and
checked against what ``benchmarks/quality_table.py`` measured for them with 2 threads
(docs/quality.md, "Combining a count model"; its PPMI-SVD unweighted, p = 0, since session 23):
over seeds 1-3 analogy 51.2-52.0%, WordSim-353 0.715-0.720, SimLex-999 0.334-0.348, MEN
0.706-0.712 (with p = 0.5 before: 51.2-53.3%, 0.709-0.719, 0.334-0.343, 0.703-0.711) and `queen` first for
``man : king :: woman``. The bounds sit under the lowest measured values by a margin for the
nondeterminism of multi-threaded training.

A second store checks issue 2's setting, skip-gram at 100 dims and 5 epochs with the skip-gram
defaults (window 5, sample 1e-3, 10 negative samples): `queen` in the top 5 for
``man : king :: woman`` with 3CosAdd. With 2 threads that held in 9 of 10 trainings measured
(ranks 4, 1, 1, 2, 2, 13, 3, 2, 2, 1, ... ; see the README's queen table), so it trains with one
thread and the default seed, which makes the run bit-reproducible (~11 minutes) and the test a
check of this exact training, not a draw that fails one run in ten for no fault of the code.
"""
from __future__ import annotations

from pathlib import Path

import pytest

import embedsearch
from embedsearch.evaluate import evaluate_analogies, evaluate_pairs

from .conftest import SHARED_DATA

TEXT8 = SHARED_DATA / "en" / "wiki2015_text8style.txt"
EVAL = SHARED_DATA / "eval" / "en"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not TEXT8.is_file(), reason=f"{TEXT8} not present"),
]

needs_eval = pytest.mark.skipif(not (EVAL / "questions-words.txt").is_file(), reason=f"{EVAL} not present")


@pytest.fixture(scope="module")
def text8_corpus(tmp_path_factory: pytest.TempPathFactory) -> embedsearch.Corpus:
    corpus = embedsearch.ingest([TEXT8], tmp_path_factory.mktemp("text8") / "corpus")
    assert corpus.stats.tokens == 16_943_232  # the data README's figure: nothing lost in chunking
    return corpus


@pytest.fixture(scope="module")
def text8_store(tmp_path_factory: pytest.TempPathFactory, text8_corpus: embedsearch.Corpus) -> Path:
    store = tmp_path_factory.mktemp("text8_store") / "store"
    config = embedsearch.TrainConfig()  # the project's defaults, which these checks are about
    assert (config.arch, config.dim, config.window, config.sample, config.epochs, config.min_count, config.add_context) == \
        ("cbow", 200, 8, 1e-4, 15, 5, True)
    assert (config.combine, config.combine_window, config.combine_dim, config.combine_weight) == ("ppmi-svd", 10, 200, 0.25)
    embedsearch.train(text8_corpus, store, config=config)
    return store


def test_text8_store_has_about_68k_words(text8_store: Path):
    with embedsearch.open_store(text8_store) as store:
        assert 66_000 < len(store) < 70_000


@pytest.mark.parametrize("method", ["3cosadd", "3cosmul"])
def test_man_is_to_king_as_woman_is_to_queen(text8_store: Path, method: str):
    with embedsearch.open_store(text8_store) as store:
        answers = [n.word for n in store.analogy("man", "king", "woman", k=5, method=method).neighbors]
    assert "queen" in answers, answers


@needs_eval
def test_default_settings_reach_the_measured_quality(text8_store: Path):
    with embedsearch.open_store(text8_store) as store:
        analogy = evaluate_analogies(store, EVAL / "questions-words.txt", restrict=30_000)
        rho = {name: evaluate_pairs(store, EVAL / file).spearman
               for name, file in [("ws353", "wordsim353.tsv"), ("simlex", "simlex999.txt"),
                                  ("men", "faruqui/EN-MEN-TR-3k.txt")]}
    assert analogy.total.accuracy > 0.49, analogy.total
    assert rho["ws353"] > 0.69 and rho["simlex"] > 0.32 and rho["men"] > 0.685, rho


def test_skipgram_100d_5_epochs_ranks_queen_in_the_top_5(tmp_path: Path, text8_corpus: embedsearch.Corpus):
    # issue 2's setting, defaults otherwise; one worker so that the run is the same every time
    config = embedsearch.TrainConfig(arch="skipgram", dim=100, epochs=5, workers=1)
    assert (config.window, config.sample, config.negative, config.seed) == (5, 1e-3, 10, 1)
    embedsearch.train(text8_corpus, tmp_path / "sg", config=config, contexts=0)
    with embedsearch.open_store(tmp_path / "sg") as store:
        answers = [n.word for n in store.analogy("man", "king", "woman", k=5).neighbors]
    assert "queen" in answers, answers
