"""The CLI of the text pipeline: `tokenize`, `ingest` pipeline and source options, `steps`."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from embedsearch.cli import main


@pytest.fixture()
def run():
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(main, list(args), input=input, catch_exceptions=False)

    return invoke


def test_tokenize_prints_one_sentence_a_line(run):
    result = run("tokenize", "The cats are jumping. Dogs ran!", "--lemma")
    assert result.exit_code == 0 and result.output == "the cat be jump\ndog run\n"
    assert run("tokenize", "--stem", "english", input="Jumping jumped\n").output == "jump jump\n"


def test_tokenize_trace_and_json(run):
    result = run("tokenize", "Visit https://x.org now", "--entities", "url", "--trace")
    assert result.exit_code == 0
    assert "pipeline: nfkc → entities(" in result.output and "  word         visit <url> now" in result.output
    assert result.output.endswith("result:\nvisit <url> now\n")
    data = json.loads(run("tokenize", "A b. C", "--json", "--trace").stdout)
    assert data["sentences"] == [["a", "b"], ["c"]] and [s["step"] for s in data["steps"]] == ["nfkc", "sentences", "lowercase", "word"]


def test_tokenize_korean_with_tags(run):
    pytest.importorskip("kiwipiepy")
    assert run("tokenize", "나는 밥을 먹었다", "--lang", "ko").output == "나 밥 먹다\n"
    assert run("tokenize", "나는 밥을 먹었다", "--lang", "ko", "--pos-tags", "--no-lemma").output == "나/NP 밥/NNG 먹/VV\n"


def test_pipeline_option_conflicts_and_bad_values(run):
    both = run("tokenize", "x", "--pipeline", "word", "--lang", "ko")
    assert both.exit_code == 2 and "cannot be combined with --lang" in both.output
    assert run("tokenize", "x", "--entities", "urls").exit_code == 2
    assert run("tokenize", "x", "--char-ngrams", "a-b").exit_code == 2
    learned = run("tokenize", "x", "--phrases", "2")
    assert learned.exit_code == 2 and "--corpus or --store" in learned.output


def test_ingest_with_options_then_tokenize_with_the_corpus(run, tmp_path: Path):
    source = tmp_path / "reviews.tsv"
    rows = [f"{i}\tNew York is big and new york is old. Visit https://ny.gov\t1" for i in range(40)]
    source.write_text("id\tdocument\tlabel\n" + "\n".join(rows) + "\n", encoding="utf-8")
    stop = tmp_path / "stop.txt"
    stop.write_text("is\nand\n", encoding="utf-8")
    corpus = tmp_path / "corpus"
    result = run("-q", "ingest", str(source), "-o", str(corpus), "--column", "document", "--entities", "url",
                 "--stopwords", str(stop), "--phrases", "1", "--phrase-min-count", "2", "--phrase-threshold", "0.05",
                 "--workers", "1", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["stats"]["documents"] == 40
    assert [s["name"] for s in data["pipeline"]["steps"]][-2:] == ["stopwords", "phrases"]
    first, second = (corpus / "corpus.txt").read_text(encoding="utf-8").splitlines()[:2]
    assert first.startswith("new_york ") and "is" not in first.split() and second == "visit <url>"  # no phrase eats <url>
    stop.unlink()  # the saved pipeline carries the words
    again = run("tokenize", "--corpus", str(corpus), "New York and Boston")
    assert again.exit_code == 0 and again.output.startswith("new_york ")
    mixed = run("tokenize", "--corpus", str(corpus), "x", "--lemma")
    assert mixed.exit_code == 2 and "saved pipeline" in mixed.output


def test_ingest_keeps_the_pipeline_option(run, tmp_path: Path):
    source = tmp_path / "a.txt"
    source.write_text("Hello World\n", encoding="utf-8")
    result = run("-q", "ingest", str(source), "-o", str(tmp_path / "c"), "--pipeline", "whitespace", "--workers", "1")
    assert result.exit_code == 0 and (tmp_path / "c" / "corpus.txt").read_text(encoding="utf-8") == "Hello World\n"


def test_steps_lists_every_step_with_its_options(run):
    output = run("steps").output
    for name in ("entities", "morphemes", "subword", "phrases", "stopwords", "stem", "lemma", "char_ngrams", "unaccent"):
        assert name in output
    assert "drop_pos=" in output and "learned from the corpus" in output
