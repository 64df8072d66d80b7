"""Evaluation: file formats, known answers, and parity with gensim on the same vectors."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import embedsearch
from embedsearch.errors import ConfigError, SourceError
from embedsearch.evaluate import evaluate_analogies, evaluate_pairs

from .conftest import gensim_data


@pytest.fixture()
def toy(toy_store: Path):
    with embedsearch.open_store(toy_store) as store:
        yield store


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_analogy_sections_skips_and_totals(toy, tmp_path: Path):
    questions = write(tmp_path / "q.txt", (
        ": royalty\nman king woman queen\nMan King Woman Queen\nwoman queen man king\n"
        ": gram-plural\napple pear car new\nmissing king woman queen\nbad line\n"
    ))
    result = evaluate_analogies(toy, questions)
    by_name = {s.name: s for s in result.sections}
    assert (by_name["royalty"].correct, by_name["royalty"].answered) == (3, 3)  # case goes through the pipeline
    assert (by_name["gram-plural"].answered, by_name["gram-plural"].skipped) == (1, 1)
    assert (result.total.answered, result.total.skipped, result.invalid_lines) == (4, 1, 1)
    assert result.semantic.name == "semantic" and result.semantic.correct == 3
    assert result.syntactic.answered == 1
    cosmul = evaluate_analogies(toy, questions, method="3cosmul")
    assert cosmul.method == "3cosmul" and {s.name: s.correct for s in cosmul.sections}["royalty"] == 3


def test_hash_section_headers_and_no_semantic_split(toy, tmp_path: Path):
    questions = write(tmp_path / "q.txt", "# 국가 - 수도 (2 pairs)\nman king woman queen\n", "utf-8-sig")
    result = evaluate_analogies(toy, questions)
    assert [s.name for s in result.sections] == ["국가 - 수도 (2 pairs)"]
    assert result.semantic is None and result.syntactic is None


def test_restrict_excludes_rare_words(toy, tmp_path: Path):
    questions = write(tmp_path / "q.txt", ": s\nman king woman queen\n")
    assert evaluate_analogies(toy, questions, restrict=2).total.skipped == 1  # only 'king' and 'queen' allowed
    with pytest.raises(ConfigError):
        evaluate_analogies(toy, questions, restrict=0)
    with pytest.raises(ConfigError):
        evaluate_analogies(toy, questions, method="3cosfoo")


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("# comment\nWord 1\tWord 2\tHuman\napple\tpear\t9\napple\tcar\t2\nking\tqueen\t7\nking\tzebra\t5\n", "utf-8"),
        ("apple,pear,9\r\napple,car,2\r\nking,queen,7\r\nking,zebra,5\r\n", "utf-8-sig"),
        ("word1,word2,score\napple,pear,9\napple,car,2\nking,queen,7\nking,zebra,5\n", "utf-8"),
        ("apple pear 9\napple car 2\nking queen 7\nking zebra 5\n", "utf-8"),
    ],
)
def test_pair_file_variants(toy, tmp_path: Path, text: str, encoding: str):
    result = evaluate_pairs(toy, write(tmp_path / "p.txt", text, encoding))
    assert (result.pairs, result.oov_pairs, result.invalid_lines) == (3, 1, 0)
    assert result.oov_ratio == pytest.approx(25.0)
    # cos(apple, pear)=0.995 > cos(king, queen)=0 > cos(apple, car)=0.19 ... ranks: gold 9 > 7 > 2
    assert -1.0 <= result.spearman <= 1.0 and result.spearman == pytest.approx(0.5)


def test_pair_file_errors(toy, tmp_path: Path):
    with pytest.raises(SourceError, match="no such evaluation file"):
        evaluate_pairs(toy, tmp_path / "missing.txt")
    with pytest.raises(SourceError, match="cannot compute a correlation"):
        evaluate_pairs(toy, write(tmp_path / "p.txt", "apple\tpear\t9\n"))
    (tmp_path / "latin1.txt").write_bytes("caf\xe9\tpear\t1\n".encode("latin-1"))
    with pytest.raises(SourceError, match="not UTF-8"):
        evaluate_pairs(toy, tmp_path / "latin1.txt")
    result = evaluate_pairs(toy, write(tmp_path / "q.txt", "a\tb\tc\napple\tpear\t9\napple\tcar\tx\napple\tcar\t2\nking\tqueen\t7\n"))
    assert result.invalid_lines == 1 and result.pairs == 3


@pytest.fixture(scope="module")
def twin(lee_store: Path):
    from gensim.models import KeyedVectors

    with embedsearch.open_store(lee_store) as store:
        kv = KeyedVectors(store.dim)
        kv.add_vectors(store.words_of(range(len(store))), np.asarray(store.vectors))
        yield store, kv


def test_analogy_accuracy_equals_gensim(twin):
    store, kv = twin
    questions = gensim_data("questions-words.txt")
    ours = evaluate_analogies(store, questions, restrict=3000)
    score, sections = kv.evaluate_word_analogies(questions, restrict_vocab=3000)
    gensim_total = sections[-1]
    assert ours.total.correct == len(gensim_total["correct"]) > 0
    assert ours.total.answered == len(gensim_total["correct"]) + len(gensim_total["incorrect"])
    assert ours.total.accuracy == pytest.approx(score)
    theirs = {s["section"]: len(s["correct"]) for s in sections[:-1]}
    assert {s.name: s.correct for s in ours.sections if s.answered} == {k: v for k, v in theirs.items() if k in
                                                                         {s.name for s in ours.sections if s.answered}}


@pytest.mark.parametrize("name", ["wordsim353.tsv", "simlex999.txt"])
def test_pair_correlations_equal_gensim(twin, name):
    store, kv = twin
    ours = evaluate_pairs(store, gensim_data(name), restrict=300_000)
    pearson, spearman, oov_ratio = kv.evaluate_word_pairs(gensim_data(name), restrict_vocab=300_000)
    assert ours.spearman == pytest.approx(spearman.correlation, abs=1e-9)
    assert ours.pearson == pytest.approx(pearson[0], abs=1e-6)
    assert ours.oov_ratio == pytest.approx(oov_ratio)


def _brute_force_ranks(store, questions: list[list[str]]) -> list[int]:
    """Rank (0 = best) of each answer under 3CosAdd, a question word of several tokens as the
    normalised mean of their unit vectors, the inputs' words excluded: computed independently."""
    vectors = np.asarray(store.vectors, dtype=np.float64)
    row = {w: i for i, w in enumerate(store.words_of(range(len(store))))}

    def unit(word: str) -> tuple[np.ndarray, list[int]]:
        rows = [row[t] for t in store.pipeline.tokens(word)]
        mean = vectors[rows].mean(axis=0)
        return mean / np.linalg.norm(mean), rows

    ranks = []
    for a, b, c, d in questions:
        (va, ra), (vb, rb), (vc, rc) = unit(a), unit(b), unit(c)
        query = vb - va + vc
        scores = vectors @ (query / np.linalg.norm(query))
        scores[ra + rb + rc] = -np.inf
        order = list(np.argsort(-scores, kind="stable"))
        ranks.append(order.index(row[store.pipeline.tokens(d)[0]]))
    return ranks


def test_top_k_hit_rate_and_several_token_words_as_their_mean(toy, tmp_path: Path):
    asked = [["man", "king", "woman", "queen"], ["apple", "pear", "car", "city"], ["man", "woman", "apple", "pear"],
             ["king", "queen", "new/york", "car"], ["car", "city", "apple", "pear"], ["york", "new", "pear", "apple"]]
    questions = write(tmp_path / "q.txt", ": one\n" + "\n".join(" ".join(q) for q in asked) + "\n")
    ranks = _brute_force_ranks(toy, asked)
    assert len(set(ranks)) > 1  # the questions do not all land on the same rank
    for top in (1, 2, 3):
        result = evaluate_analogies(toy, questions, top=top)
        assert result.total.answered == len(asked) and result.averaged_words == 1  # new/york: new + york
        assert result.total.correct == sum(r == 0 for r in ranks)
        assert result.total.top_correct == sum(r < top for r in ranks)
        assert result.total.top_accuracy == pytest.approx(sum(r < top for r in ranks) / len(asked))
    skipping = evaluate_analogies(toy, questions, top=3, multi="skip")
    assert (skipping.total.answered, skipping.total.skipped) == (len(asked) - 1, 1)
    with pytest.raises(ConfigError):
        evaluate_analogies(toy, questions, top=0)
    with pytest.raises(ConfigError):
        evaluate_analogies(toy, questions, multi="first")


def test_answers_the_pipeline_merges_or_splits(toy, tmp_path: Path):
    # King/king: the pipeline lowercases, so the answer is a question word: asked, and wrong
    # whatever the vectors (inputs are never answers). An answer of two tokens is skipped.
    questions = write(tmp_path / "q.txt", ": s\nking King woman woman\nman king woman new/york\nman king woman queen\n")
    result = evaluate_analogies(toy, questions, top=5)
    assert (result.total.answered, result.total.skipped, result.collapsed) == (2, 1, 1)
    assert (result.total.correct, result.total.top_correct) == (1, 1)


def test_korean_style_sections_split_semantic_and_syntactic(toy, tmp_path: Path):
    questions = write(tmp_path / "q.txt", ": sem1_royalty\nman king woman queen\n: syn1_case\napple pear car new\n")
    result = evaluate_analogies(toy, questions)
    assert result.semantic.answered == 1 and result.syntactic.answered == 1


def test_cli_analogies_top(toy_store: Path, tmp_path: Path):
    from click.testing import CliRunner

    from embedsearch.cli import main

    questions = write(tmp_path / "q.txt", "# 국가\nman king woman queen\napple pear car city\n")
    out = CliRunner().invoke(main, ["evaluate", "analogies", "-s", str(toy_store), str(questions), "--top", "3"])
    assert out.exit_code == 0, out.output
    assert "top-3" in out.output and "국가" in out.output
    data = CliRunner().invoke(main, ["evaluate", "analogies", "-s", str(toy_store), str(questions), "--top", "3", "--json"])
    import json

    parsed = json.loads(data.output)
    assert parsed["top"] == 3 and parsed["total"]["top"] == 3 and parsed["total"]["answered"] == 2
