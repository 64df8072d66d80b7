"""Real-data quality checks (slow; run with ``pytest -m slow``). Skipped when ../shared/data is absent."""
from __future__ import annotations

from pathlib import Path

import pytest

import embedsearch

from .conftest import SHARED_DATA

TEXT8 = SHARED_DATA / "en" / "wiki2015_text8style.txt"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not TEXT8.is_file(), reason=f"{TEXT8} not present"),
]


@pytest.fixture(scope="module")
def text8_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("text8")
    corpus = embedsearch.ingest([TEXT8], work / "corpus")
    assert corpus.stats.tokens == 16_943_232  # the data README's figure: nothing lost in chunking
    config = embedsearch.TrainConfig(arch="skipgram", dim=100, epochs=5, min_count=5)
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
