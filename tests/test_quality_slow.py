"""Real-data quality checks (slow; run with ``pytest -m slow``). Skipped when ../shared/data is absent.

One store is trained on the 17M-word text8-style Wikipedia file with the project's default
settings (``TrainConfig()``: CBOW, 200 dims, window 8, sample 1e-4, 15 epochs; ~4 minutes on 2
cores) and checked against what ``benchmarks/quality_table.py`` measured for them over seeds 1-3
with 2 threads: analogy 42.9-44.9%, WordSim-353 0.662-0.677, SimLex-999 0.332-0.340, MEN
0.657-0.669, and `queen` first for ``man : king :: woman`` in all three (both methods). The bounds
below sit under the lowest measured value by a margin for the nondeterminism of multi-threaded
training.

Not asserted here: issue 2's "skip-gram, dim 100, 5 epochs ranks queen in the top 5". No setting
tried makes it hold in every run: with window 5 and sample 1e-3 queen ranked 8, 1, 2, 2, 2, 9 over
six trainings, and with 10 negative samples as well 4, 1, 1, 2, 2, 13 (see the README's queen
table). A test of it would fail one run in three to six for no fault of the code.
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
def text8_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("text8")
    corpus = embedsearch.ingest([TEXT8], work / "corpus")
    assert corpus.stats.tokens == 16_943_232  # the data README's figure: nothing lost in chunking
    config = embedsearch.TrainConfig()  # the project's defaults, which these checks are about
    assert (config.arch, config.dim, config.window, config.sample, config.epochs, config.min_count) == \
        ("cbow", 200, 8, 1e-4, 15, 5)
    embedsearch.train(corpus, work / "store", config=config)
    return work / "store"


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
    assert analogy.total.accuracy > 0.41, analogy.total
    assert rho["ws353"] > 0.64 and rho["simlex"] > 0.31 and rho["men"] > 0.63, rho
