"""Shipped evaluation sets and sample corpora: found by name, listed, installed as package data."""
from __future__ import annotations

import fnmatch
import json
import lzma
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import embedsearch
from embedsearch.cli import main
from embedsearch.datasets import DATASETS, ROOT, dataset_path, list_datasets, resolve_dataset
from embedsearch.errors import SourceError
from embedsearch.evaluate import evaluate_analogies, evaluate_pairs

REPO = Path(__file__).resolve().parents[1]


def test_every_listed_set_is_there_and_readable():
    assert {"google", "ws353", "ws353-sim", "ws353-rel", "simlex", "men", "rw", "simverb", "mturk-771",
            "ko-ws353", "ko-analogy-semantic", "ko-analogy-syntactic", "en-sample", "ko-sample"} <= set(DATASETS)
    for dataset in DATASETS.values():
        assert dataset.path.is_file(), dataset.name
        assert dataset.license and dataset.source
        if dataset.kind == "corpus":
            with lzma.open(dataset.path, "rt", encoding="utf-8") as handle:
                assert len(handle.read(1000)) == 1000
        else:
            dataset.path.read_text(encoding="utf-8-sig")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for dataset in DATASETS.values():
        assert f"`{dataset.name}`" in readme or dataset.name in readme, dataset.name
    assert "SungjoonPark" in readme and "WS353_korean.csv" not in {p.name for p in ROOT.rglob("*")}
    total = sum(p.stat().st_size for p in ROOT.rglob("*") if p.is_file())
    assert total < 4_000_000  # a few MB


def test_package_data_patterns_cover_every_shipped_file():
    tomllib = pytest.importorskip("tomllib")
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["embedsearch"]
    package = REPO / "embedsearch"
    for path in ROOT.rglob("*"):
        if path.is_file():
            relative = path.relative_to(package).as_posix()
            # setuptools globs: "*" does not cross "/"
            assert any(fnmatch.fnmatch(relative, p) and relative.count("/") == p.count("/") for p in patterns), relative


def test_names_resolve_and_paths_pass_through(tmp_path: Path):
    assert resolve_dataset("ws353", "pairs") == dataset_path("ws353")
    assert resolve_dataset("wordsim353.tsv", "pairs") == dataset_path("ws353")  # the README's old name
    assert resolve_dataset("EN-MEN-TR-3k.txt") == dataset_path("men")
    assert resolve_dataset("GOOGLE", "analogies").name == "questions-words.txt"
    mine = tmp_path / "ws353"
    mine.write_text("a\tb\t1\n", encoding="utf-8")
    assert resolve_dataset(mine) == mine  # an existing file wins over a name
    with pytest.raises(SourceError, match="shipped: ws353"):
        resolve_dataset("nosuchset", "pairs")
    with pytest.raises(SourceError, match="is a analogies set"):
        resolve_dataset("google", "pairs")
    assert [d.name for d in list_datasets("corpus")] == ["en-sample", "ko-sample"]


def test_evaluate_finds_sets_by_name(lee_store: Path):
    with embedsearch.open_store(lee_store) as store:
        result = evaluate_pairs(store, "ws353")
        assert result.pairs >= 3 and result.file.endswith("EN-WS-353-ALL.txt")
        analogies = evaluate_analogies(store, "google")
        assert analogies.total.answered + analogies.total.skipped == 19544


def test_cli_datasets_and_evaluate_by_name(lee_store: Path):
    runner = CliRunner()
    listed = runner.invoke(main, ["datasets", "--json"])
    assert listed.exit_code == 0, listed.output
    names = {d["name"] for d in json.loads(listed.stdout)}
    assert names == set(DATASETS)
    plain = runner.invoke(main, ["datasets", "--kind", "pairs"])
    assert plain.exit_code == 0 and "simlex" in plain.stdout and "google" not in plain.stdout
    result = runner.invoke(main, ["evaluate", "pairs", str(lee_store), "ws353", "simlex", "men"])
    assert result.exit_code == 0, result.output
    assert "EN-WS-353-ALL.txt" in result.stdout and "EN-MEN-TR-3k.txt" in result.stdout
    analogies = runner.invoke(main, ["evaluate", "analogies", str(lee_store), "google"])
    assert analogies.exit_code == 0 and "total" in analogies.stdout
    missing = runner.invoke(main, ["evaluate", "pairs", str(lee_store), "nosuchset"])
    assert missing.exit_code == 1 and "no such evaluation file or shipped data set" in missing.output


def test_korean_sample_tokenizes_into_morphemes(tmp_path: Path):
    pytest.importorskip("kiwipiepy")
    from embedsearch.text.presets import PipelineOptions, build_pipeline

    with lzma.open(dataset_path("ko-sample"), "rt", encoding="utf-8") as handle:
        lines = [next(handle) for _ in range(30)]
    (tmp_path / "ko.txt").write_text("".join(lines), encoding="utf-8")
    corpus = embedsearch.ingest([tmp_path / "ko.txt"], tmp_path / "c", workers=1,
                                pipeline=build_pipeline(PipelineOptions(lang="ko")))
    text = corpus.text_path.read_text(encoding="utf-8")
    assert corpus.stats.tokens > 500 and "대통령" in text.split()


def test_quickstart_refuses_unknown_language(tmp_path: Path):
    with pytest.raises(embedsearch.ConfigError):
        embedsearch.quickstart(tmp_path / "q", lang="fr")


@pytest.mark.slow
def test_korean_quickstart_builds_a_korean_store(tmp_path: Path):
    """About a minute on two cores: Kiwi over 3 MB, then 10 epochs of skip-gram."""
    pytest.importorskip("kiwipiepy")
    result = embedsearch.quickstart(tmp_path / "qko", lang="ko")
    assert result.words > 5000 and result.similar
    assert any(n.word == "도쿄" for a in result.analogies if (a.a, a.b, a.c) == ("한국", "서울", "일본") for n in a.neighbors)
    again = embedsearch.quickstart(tmp_path / "qko", lang="ko")
    assert not again.rebuilt
    assert sys.modules.get("gensim") is not None  # (trained here)
