"""Fitted steps (phrases, SentencePiece subwords): learned at ingest, carried corpus → store → query."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

import embedsearch
from embedsearch import corpus as corpus_module
from embedsearch.errors import ConfigError, SourceError, StoreError
from embedsearch.store import StoreFiles
from embedsearch.text.phrases import apply_phrases, load_phrases
from embedsearch.text.pipeline import Pipeline, parse_steps

from .conftest import store_file


def phrase_text(path: Path, lines: int = 400, seed: int = 3) -> Path:
    """Random filler words with 'new york city' and 'prime minister' planted in: a known answer."""
    rng = np.random.default_rng(seed)
    filler = [f"w{i}" for i in range(300)]
    out = []
    for i in range(lines):
        words = list(rng.choice(filler, size=12))
        if i % 3 == 0:
            words[4:4] = ["new", "york", "city"]
        if i % 5 == 0:
            words[1:1] = ["prime", "minister"]
        if i % 7 == 0:
            words.append("york")  # york alone too, so not every york is a phrase
        out.append(" ".join(words) + ".")
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def phrases_corpus(tmp_path_factory: pytest.TempPathFactory) -> embedsearch.Corpus:
    work = tmp_path_factory.mktemp("phrases")
    pipeline = parse_steps("nfkc,sentences,lowercase,word,phrases:passes=2;min_count=5;threshold=10")
    return embedsearch.ingest([phrase_text(work / "text.txt")], work / "corpus", pipeline=pipeline, workers=1)


def test_phrases_known_answer_with_two_passes(phrases_corpus):
    layers, _, delimiter = load_phrases(phrases_corpus.artifacts()[phrases_corpus.pipeline.artifact_names[0]])
    assert "new_york" in layers[0] and "prime_minister" in layers[0] and delimiter == "_"
    assert "new_york_city" in layers[1]
    compiled = phrases_corpus.compile()
    assert compiled.tokens("The new York city council and the Prime Minister of York") == [
        "the", "new_york_city", "council", "and", "the", "prime_minister", "of", "york"]
    first = phrases_corpus.text_path.read_text(encoding="utf-8").splitlines()[0].split()
    assert "new_york_city" in first and "prime_minister" in first


def test_phrase_application_matches_gensim(lee_text: Path):
    from gensim.models.phrases import ENGLISH_CONNECTOR_WORDS, Phrases

    sentences = [line.lower().split() for line in lee_text.read_text(encoding="utf-8").splitlines() if line.strip()]
    for connectors in (frozenset(), ENGLISH_CONNECTOR_WORDS):
        frozen = Phrases(sentences, min_count=3, threshold=5, connector_words=connectors).freeze()
        phrases = frozenset(frozen.phrasegrams)
        assert len(phrases) > 50
        for sentence in sentences:
            assert apply_phrases(sentence, phrases, frozenset(connectors), "_") == frozen[sentence]


@pytest.mark.parametrize("model", ["bpe", "unigram"])
def test_subword_model_is_learned_with_a_seed_and_is_independent_of_workers(tmp_path: Path, lee_text: Path,
                                                                           monkeypatch: pytest.MonkeyPatch, model: str):
    monkeypatch.setattr(corpus_module, "CHUNK_BYTES", 32_768)  # several chunks: order is exercised
    pipeline = parse_steps(f"nfkc,sentences,lowercase,subword:model={model};vocab_size=400;seed=7")
    one = embedsearch.ingest([lee_text], tmp_path / "one", pipeline=pipeline, workers=1)
    two = embedsearch.ingest([lee_text], tmp_path / "two", pipeline=pipeline, workers=2)
    assert one.text_path.read_bytes() == two.text_path.read_bytes()
    assert one.pipeline == two.pipeline and one.artifacts() == two.artifacts()
    assert 300 < one.stats.vocabulary < 450  # the pieces, plus rare characters left outside the coverage
    tokens = one.compile().tokens("The government said")
    assert tokens[0].startswith("▁") and "".join(tokens).replace("▁", " ").strip() == "the government said"
    first_line = lee_text.read_text(encoding="utf-8").splitlines()[0]
    sentences = [" ".join(sentence) for sentence in one.compile().process(first_line)]
    assert sentences == one.text_path.read_text(encoding="utf-8").splitlines()[: len(sentences)]


def test_phrases_are_independent_of_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(corpus_module, "CHUNK_BYTES", 4096)
    source = phrase_text(tmp_path / "text.txt", lines=300)
    pipeline = parse_steps("nfkc,sentences,lowercase,word,phrases")
    one = embedsearch.ingest([source], tmp_path / "one", pipeline=pipeline, workers=1)
    two = embedsearch.ingest([source], tmp_path / "two", pipeline=pipeline, workers=2)
    assert one.text_path.read_bytes() == two.text_path.read_bytes() and one.artifacts() == two.artifacts()


def test_artifacts_travel_from_corpus_to_store_to_query(tmp_path: Path, phrases_corpus):
    store_path = tmp_path / "store"
    config = embedsearch.TrainConfig(dim=8, epochs=1, min_count=2, workers=1, seed=1)
    embedsearch.train(phrases_corpus, store_path, config=config)
    files = StoreFiles(store_path)
    try:
        assert files.artifacts == phrases_corpus.artifacts()
        pipeline = Pipeline.from_dict(files.meta["pipeline"])
        assert pipeline == phrases_corpus.pipeline
        tokens = pipeline.compile(files.artifacts).tokens("New York City")
        assert tokens == ["new_york_city"]
        assert files.db.execute("SELECT count(*) FROM words WHERE word = 'new_york_city'").fetchone()[0] == 1
    finally:
        files.close()


def test_query_words_go_through_the_learned_phrases(tmp_path: Path, phrases_corpus):
    store_path = tmp_path / "store"
    embedsearch.train(phrases_corpus, store_path, config=embedsearch.TrainConfig(dim=8, epochs=1, min_count=2, workers=1))
    with embedsearch.open_store(store_path) as store:
        assert store.similarity("New York City", "prime minister").first.words == ["new_york_city"]


def test_damaged_or_missing_artifacts_are_found_on_open(tmp_path: Path, phrases_corpus):
    store_path = tmp_path / "store"
    embedsearch.train(phrases_corpus, store_path, config=embedsearch.TrainConfig(dim=8, epochs=1, min_count=2, workers=1))
    db = sqlite3.connect(store_file(store_path, "meta.sqlite"))
    db.execute("UPDATE artifacts SET data = ?", (b'{"format": 1}',))
    db.commit()
    with pytest.raises(StoreError, match="corrupt"):
        StoreFiles(store_path)
    StoreFiles(store_path, verify=False).close()  # the cheap check (names, hashes) passes; the blob is read later
    db.execute("DELETE FROM artifacts")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="missing from the artifacts table"):
        StoreFiles(store_path, verify=False)


def test_corpus_artifact_is_checked(tmp_path: Path, phrases_corpus):
    import shutil

    copy = tmp_path / "corpus"
    shutil.copytree(phrases_corpus.path, copy)
    name = phrases_corpus.pipeline.artifact_names[0]
    (copy / "artifacts" / name).write_bytes(b"{}")
    with pytest.raises(SourceError, match="checksum mismatch"):
        embedsearch.open_corpus(copy).artifacts()
    (copy / "artifacts" / name).unlink()
    with pytest.raises(SourceError, match="is missing"):
        embedsearch.open_corpus(copy)


def test_fitted_pipelines_need_their_models(tmp_path: Path, phrases_corpus):
    with pytest.raises(ConfigError, match="learns a model from the corpus first"):
        parse_steps("word,phrases").compile()
    with pytest.raises(ConfigError, match="was not given"):
        phrases_corpus.pipeline.compile({})
    with pytest.raises(SourceError, match="SHA-256"):
        phrases_corpus.pipeline.compile({phrases_corpus.pipeline.artifact_names[0]: b"{}"})
    # more text through a pipeline fitted elsewhere: its models come along, nothing is re-learned
    source = tmp_path / "more.txt"
    source.write_text("I love New York City.\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="fitted before"):
        embedsearch.ingest([source], tmp_path / "more", pipeline=phrases_corpus.pipeline, workers=1)
    more = embedsearch.ingest([source], tmp_path / "more", pipeline=phrases_corpus.pipeline,
                              artifacts=phrases_corpus.artifacts(), workers=1)
    assert more.text_path.read_text(encoding="utf-8") == "i love new_york_city\n"
    assert more.artifacts() == phrases_corpus.artifacts()


def test_schema_v1_store_is_still_readable(toy_store: Path):
    db = sqlite3.connect(store_file(toy_store, "meta.sqlite"))
    db.execute("DROP TABLE artifacts")
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    with embedsearch.open_store(toy_store) as store:
        assert store.similar("king", k=1).neighbors
        assert store._files.artifacts == {}


def test_tokenize_command_uses_a_store_with_its_learned_phrases(tmp_path: Path, phrases_corpus):
    from click.testing import CliRunner

    from embedsearch.cli import main

    store_path = tmp_path / "store"
    embedsearch.train(phrases_corpus, store_path, config=embedsearch.TrainConfig(dim=8, epochs=1, min_count=2, workers=1))
    result = CliRunner().invoke(main, ["tokenize", "--store", str(store_path), "New York City. Prime minister!"])
    assert result.exit_code == 0 and result.output == "new_york_city\nprime_minister\n"
