"""The CLI: every command's success and error paths, with exact exit codes and no tracebacks."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from embedsearch import demo
from embedsearch.cli import main

from .conftest import store_file


@pytest.fixture()
def run():
    runner = CliRunner()

    def invoke(*args: str, env: dict[str, str] | None = None):
        result = runner.invoke(main, list(args), env=env, catch_exceptions=False)
        return result

    return invoke


def test_help_and_version(run):
    result = run("--help")
    assert result.exit_code == 0 and "quickstart" in result.output and "similar" in result.output
    assert run("--version").output.startswith("embedsearch, version")
    for command in ("ingest", "train", "quickstart", "similar", "analogy", "similarity", "doesnt-match", "info", "steps"):
        assert "Usage:" in run(command, "--help").output


def test_ingest_then_train_then_query(run, tmp_path: Path, lee_text: Path):
    corpus = tmp_path / "corpus"
    result = run("-q", "ingest", str(lee_text), "-o", str(corpus), "--workers", "1")
    assert result.exit_code == 0, result.output
    assert "corpus written to" in result.output and "next: embedsearch train" in result.output
    store = tmp_path / "store"
    result = run("-q", "train", str(corpus), "-o", str(store), "--dim", "16", "--epochs", "2", "--min-count", "3",
                 "--workers", "1", "--json")
    assert result.exit_code == 0, result.output
    trained = json.loads(result.stdout)
    # CBOW's default combines PPMI-SVD: 16 + 16 dims
    assert trained["dim"] == 32 and trained["words"] > 1000 and len(trained["epochs"]) == 2
    result = run("similar", "-s", str(store), "Government", "-k", "3")
    assert result.exit_code == 0 and len(result.output.strip().splitlines()) == 3


def test_ingest_json_and_errors(run, tmp_path: Path):
    source = tmp_path / "a.txt"
    source.write_text("Hello world. Hello again.\n", encoding="utf-8")
    result = run("ingest", str(source), "-o", str(tmp_path / "c"), "--workers", "1", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["stats"]["tokens"] == 4
    again = run("ingest", str(source), "-o", str(tmp_path / "c"))
    assert again.exit_code == 1 and "already exists" in again.output and "--force" in again.output
    assert run("ingest", str(source), "-o", str(tmp_path / "c"), "--force", "--workers", "1").exit_code == 0
    missing = run("ingest", str(tmp_path / "missing.txt"), "-o", str(tmp_path / "d"))
    assert missing.exit_code == 1 and "no such file" in missing.output
    bad_step = run("ingest", str(source), "-o", str(tmp_path / "e"), "--pipeline", "nfkc,frobnicate")
    assert bad_step.exit_code == 2 and "unknown pipeline step 'frobnicate'" in bad_step.output
    assert run("ingest", "-o", str(tmp_path / "f")).exit_code == 2  # no sources: usage error


def test_train_usage_errors(run, tmp_path: Path):
    assert run("train", str(tmp_path), "-o", str(tmp_path / "s"), "--arch", "glove").exit_code == 2
    assert run("train", str(tmp_path), "-o", str(tmp_path / "s"), "--dim", "0").exit_code == 2
    not_corpus = run("train", str(tmp_path), "-o", str(tmp_path / "s"))
    assert not_corpus.exit_code == 1 and "not a tokenized corpus" in not_corpus.output


def test_similar_text_and_json(run, toy_store: Path):
    result = run("similar", "-s", str(toy_store), "king", "-", "man", "+", "woman", "-k", "2")
    assert result.exit_code == 0 and result.output.splitlines()[0].split()[1] == "queen"
    data = json.loads(run("similar", "-s", str(toy_store), "new york", "--json").stdout)
    assert data["neighbors"][0]["word"] == "city" and data["terms"][0]["words"] == ["new", "york"]


def test_store_from_environment_variable(run, toy_store: Path):
    result = run("similar", "apple", "-k", "1", env={"EMBEDSEARCH_STORE": str(toy_store)})
    assert result.exit_code == 0 and "pear" in result.output


def test_no_store_anywhere_is_a_usage_error(run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    result = run("similar", "king", env={"EMBEDSEARCH_STORE": ""})
    assert result.exit_code == 2 and "no store given" in result.output


def test_unknown_word_exit_code_1_with_suggestions(run, toy_store: Path):
    result = run("similar", "-s", str(toy_store), "quene")
    assert result.exit_code == 1 and result.stdout == ""
    assert "unknown word 'quene'" in result.stderr and "queen" in result.stderr and "Traceback" not in result.output


def test_bad_expression_and_bad_k_exit_code_2(run, toy_store: Path):
    assert run("similar", "-s", str(toy_store), "king -").exit_code == 2
    assert run("similar", "-s", str(toy_store), "king", "-k", "0").exit_code == 2
    assert run("analogy", "-s", str(toy_store), "man", "king").exit_code == 2
    assert run("analogy", "-s", str(toy_store), "a", "b", "c", "--method", "bad").exit_code == 2


def test_analogy_both_methods(run, toy_store: Path):
    for method in ("3cosadd", "3cosmul"):
        result = run("analogy", "-s", str(toy_store), "man", "king", "woman", "--method", method, "--json")
        assert result.exit_code == 0
        data = json.loads(result.stdout)
        assert data["method"] == method and data["neighbors"][0]["word"] == "queen"


def test_similarity_doesnt_match_info(run, toy_store: Path):
    result = run("similarity", "-s", str(toy_store), "apple", "pear")
    assert result.exit_code == 0 and float(result.output) > 0.99
    result = run("doesnt-match", "-s", str(toy_store), "apple", "pear", "car")
    assert result.exit_code == 0 and result.output.strip() == "car"
    assert run("doesnt-match", "-s", str(toy_store), "apple", "pear").exit_code == 2
    result = run("info", "-s", str(toy_store))
    assert result.exit_code == 0 and "nfkc → sentences → lowercase → word" in result.output
    assert json.loads(run("info", "-s", str(toy_store), "--json").stdout)["words"] == 10


def test_broken_store_exit_code_1(run, toy_store: Path, tmp_path: Path):
    (store_file(toy_store, "vectors.npy")).write_bytes(b"garbage")
    result = run("similar", "-s", str(toy_store), "king")
    assert result.exit_code == 1 and "vectors.npy" in result.output
    result = run("info", "-s", str(tmp_path / "nowhere"))
    assert result.exit_code == 1 and "no store at" in result.output


def test_steps_lists_the_pipeline_steps(run):
    output = run("steps").output
    assert "nfkc" in output and "word" in output and "tokenize" in output


def test_quickstart_builds_reuses_and_suggests_next_steps(run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(demo, "DEMO_CONFIG", {**demo.DEMO_CONFIG, "epochs": 1, "dim": 16})  # keep the test fast
    out = tmp_path / "qs"
    result = run("-q", "quickstart", "-o", str(out), "--workers", "1")
    assert result.exit_code == 0, result.output
    assert f"Store:  {out / 'store'}" in result.output and "built in" in result.output
    assert "similar france:" in result.output and "analogy england : english :: france : ?" in result.output
    assert "Try next:" in result.output and f"-s {out / 'store'}" in result.output
    again = run("-q", "quickstart", "-o", str(out), "--json")
    data = json.loads(again.stdout)
    assert data["rebuilt"] is False and data["words"] > 5000


def test_evaluate_commands(run, toy_store: Path, tmp_path: Path):
    questions = tmp_path / "q.txt"
    questions.write_text(": royalty\nman king woman queen\n: gram1\napple pear car new\nzzz king woman queen\n",
                         encoding="utf-8")
    result = run("evaluate", "analogies", "-s", str(toy_store), str(questions))
    assert result.exit_code == 0
    total = result.stdout.strip().splitlines()[-1]
    assert total.split()[0] == "total" and "1/2" in total and "1 skipped" in total
    data = json.loads(run("evaluate", "analogies", "-s", str(toy_store), str(questions), "--method", "3cosmul", "--json").stdout)
    assert data["total"]["answered"] == 2 and data["semantic"]["correct"] == 1
    pairs = tmp_path / "p.tsv"
    pairs.write_text("apple\tpear\t9\napple\tcar\t2\nking\tqueen\t7\nking\tzebra\t1\n", encoding="utf-8")
    result = run("evaluate", "pairs", "-s", str(toy_store), str(pairs), "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)[0]["oov_pairs"] == 1
    assert "spearman 0.5000" in run("evaluate", "pairs", "-s", str(toy_store), str(pairs)).stdout
    missing = run("evaluate", "pairs", "-s", str(toy_store), str(tmp_path / "none.tsv"))
    assert missing.exit_code == 1 and "no such evaluation file" in missing.stderr


def test_export_and_import_commands(run, toy_store: Path, tmp_path: Path):
    out = tmp_path / "v.txt"
    assert run("-q", "export", "vectors", "-s", str(toy_store), "-o", str(out)).exit_code == 0
    assert out.read_text(encoding="utf-8").splitlines()[0] == "10 4"
    stdout = run("export", "vectors", "-s", str(toy_store), "--format", "glove", "--restrict", "2").stdout
    assert [line.split()[0] for line in stdout.splitlines()] == ["king", "queen"]
    assert run("export", "vectors", "-s", str(toy_store), "--format", "projector").exit_code == 2
    result = run("-q", "import", str(out), "-o", str(tmp_path / "imported"), "--pipeline", "lowercase,whitespace")
    assert result.exit_code == 0 and "10 words x 4 dims (word2vec)" in result.stdout
    similar = run("similar", "-s", str(tmp_path / "imported"), "KING", "-k", "1")  # the import pipeline lowercases
    assert similar.exit_code == 0 and similar.stdout.split()[1] == "man"
    bad = tmp_path / "bad.txt"
    bad.write_text("2 2\nx 1 1\ny 1 nope\n", encoding="utf-8")
    result = run("-q", "import", str(bad), "-o", str(tmp_path / "b"))
    assert result.exit_code == 0 and "1 bad line(s) skipped" in result.stdout
    strict = run("-q", "import", str(bad), "-o", str(tmp_path / "c"), "--strict")
    assert strict.exit_code == 1 and "line 3" in strict.stderr
