"""`--among FILE`: answers restricted to a word list, from the command line (the library's among=)."""
from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

import embedsearch
from embedsearch.cli import main


def invoke(args: list[str], input: str | None = None):
    return CliRunner().invoke(main, args, input=input)


def test_similar_among_a_word_list_equals_the_library(lee_store: Path, tmp_path: Path):
    words = tmp_path / "words.txt"
    words.write_text("minister\ngovernment\nofficers\nnotaword\n", encoding="utf-8")
    result = invoke(["similar", "-s", str(lee_store), "police", "--among", str(words), "--json"])
    assert result.exit_code == 0, result.output
    with embedsearch.open_store(lee_store) as store:
        expected = store.similar("police", among=["minister", "government", "officers", "notaword"])
    got = [n["word"] for n in __import__("json").loads(result.stdout)["neighbors"]]
    assert got == [n.word for n in expected.neighbors] and set(got) <= {"minister", "government", "officers"}


def test_analogy_among_reads_the_list_from_stdin(lee_store: Path):
    result = invoke(["analogy", "-s", str(lee_store), "police", "officers", "government", "--among", "-", "-k", "1"],
                    input="man\nwoman\n")
    assert result.exit_code == 0, result.output
    assert result.stdout.split()[1] in ("man", "woman")


def test_among_errors_are_usage_errors(lee_store: Path, tmp_path: Path):
    missing = invoke(["similar", "-s", str(lee_store), "police", "--among", str(tmp_path / "nope.txt")])
    assert missing.exit_code == 2 and "no such file" in missing.output
    both = invoke(["similar", "-s", str(lee_store), "-", "--among", "-"], input="police\n")
    assert both.exit_code == 2 and "stdin holds the queries" in both.output
