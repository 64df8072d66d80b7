"""One convention for every command: --help, --json, -q after the name, - for stdin, -s/--store.

The table CASES names every command of the CLI (a test fails when a command is added without a
row), with an invocation that outputs a result. docs/cli-conventions.md is the same table for users.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner

import embedsearch
from embedsearch.cli import main
from embedsearch.cli.app import COMMAND_MODULES
from embedsearch.store import write_store
from embedsearch.text.pipeline import english_words

REPO = Path(__file__).resolve().parents[1]


def leaf_commands(group: click.Group = main, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, click.Command]]:
    context = click.Context(group)
    for name in group.list_commands(context):  # as --help lists them (top-level commands load lazily)
        command = group.get_command(context, name)
        assert command is not None, f"{name} is listed but not defined"
        if isinstance(command, click.Group):
            yield from leaf_commands(command, (*prefix, name))
        else:
            yield " ".join((*prefix, name)), command


@dataclass
class Paths:
    store: Path      # a trained store with contexts (read-only here)
    corpus: Path     # its corpus
    text: Path       # raw text
    tmp: Path        # a fresh directory for outputs

    def store_copy(self) -> Path:
        copy = self.tmp / "store_copy"
        if not copy.exists():
            shutil.copytree(self.store, copy)
        return copy

    def file(self, name: str, text: str) -> Path:
        path = self.tmp / name
        path.write_text(text, encoding="utf-8")
        return path


def _quickstart(p: Paths) -> list[str]:
    # An existing quickstart store is reused, so this answers in a second.
    shutil.copytree(p.store, p.tmp / "qs" / "store")
    return ["quickstart", "-o", str(p.tmp / "qs")]


# Every command, invoked so that it outputs a result.
CASES: dict[str, Callable[[Paths], list[str]]] = {
    "ingest": lambda p: ["ingest", str(p.text), "-o", str(p.tmp / "c"), "--workers", "1"],
    "tokenize": lambda p: ["tokenize", "The cats are jumping."],
    "steps": lambda p: ["steps"],
    "train": lambda p: ["train", str(p.corpus), "-o", str(p.tmp / "s"), "--dim", "8", "--epochs", "1",
                        "--min-count", "3", "--workers", "1", "--contexts", "0"],
    "quickstart": _quickstart,
    "import": lambda p: ["import", str(p.file("v.txt", "2 2\nx 1 0\ny 0 1\n")), "-o", str(p.tmp / "imported")],
    "reindex": lambda p: ["reindex", "-s", str(p.store_copy()), "--index", "flat"],
    "similar": lambda p: ["similar", "-s", str(p.store), "government", "-k", "3"],
    "analogy": lambda p: ["analogy", "-s", str(p.store), "man", "king", "woman", "-k", "3"],
    "similarity": lambda p: ["similarity", "-s", str(p.store), "government", "minister"],
    "doesnt-match": lambda p: ["doesnt-match", "-s", str(p.store), "government", "minister", "cricket"],
    "examples": lambda p: ["examples", "-s", str(p.store), "government", "-k", "2"],
    "info": lambda p: ["info", "-s", str(p.store)],
    "evaluate analogies": lambda p: ["evaluate", "analogies", "-s", str(p.store),
                                     str(p.file("q.txt", ": s\nman king woman queen\n"))],
    "evaluate pairs": lambda p: ["evaluate", "pairs", "-s", str(p.store),
                                 str(p.file("p.tsv", "government\tminister\t8\nman\twoman\t7\ncricket\tgovernment\t1\n"))],
    "export vectors": lambda p: ["export", "vectors", "-s", str(p.store), "-o", str(p.tmp / "v.txt"), "--restrict", "5"],
    "export neighbors": lambda p: ["export", "neighbors", "-s", str(p.store), "--words",
                                   str(p.file("w.txt", "government\nman\n")), "-k", "2", "-o", str(p.tmp / "n.tsv")],
    "export similarities": lambda p: ["export", "similarities", "-s", str(p.store),
                                      str(p.file("pairs.tsv", "government minister\n")), "-o", str(p.tmp / "s.tsv")],
    "rerank train": lambda p: ["rerank", "train", "-s", str(p.store_copy()), str(p.corpus), "--hidden", "4",
                               "--tokens", "300"],
    "datasets": lambda p: ["datasets"],
    "verify": lambda p: ["verify", "-s", str(p.store)],
    "plot": lambda p: ["plot", "-s", str(p.store), "government", "-k", "3", "-o", str(p.tmp / "map.png")],
}
# Commands that output no result to print: `serve` answers over HTTP until stopped (its own tests
# cover it); it still takes --help and -q like every command.
NO_RESULT = {"serve"}


PAIRS = "man\twoman\t1\ngovernment\tminister\t2\ncricket\tgovernment\t0\n"


@pytest.fixture()
def paths(tmp_path: Path, lee_store: Path, lee_corpus: embedsearch.Corpus, lee_text: Path) -> Paths:
    return Paths(lee_store, lee_corpus.path, lee_text, tmp_path)


def invoke(args: list[str], input: str | None = None, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, args, input=input, env=env, catch_exceptions=False)


def test_each_lazily_loaded_command_is_defined_by_the_module_named_for_it():
    script = ("import json, sys, embedsearch.cli as cli; "
              "found = {n: cli.main.get_command(None, n) for n in sys.argv[1:]}; "
              "print(json.dumps([{n: c.callback.__module__ for n, c in found.items() if c}, "
              "sorted(m for m in sys.modules if m.startswith('embedsearch.cli.'))]))")
    for module in sorted(set(COMMAND_MODULES.values())):  # a new process each: only that module is imported
        names = sorted(name for name, where in COMMAND_MODULES.items() if where == module)
        done = subprocess.run([sys.executable, "-c", script, *names], capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
        defined_in, imported = json.loads(done.stdout)
        assert defined_in == dict.fromkeys(names, f"embedsearch.cli.{module}")
        assert imported == sorted({"embedsearch.cli.app", f"embedsearch.cli.{module}"})
    list(leaf_commands())  # loads every command: none is missing from the table
    assert set(main.commands) == set(COMMAND_MODULES)


def test_the_table_names_every_command():
    assert sorted([*CASES, *NO_RESULT]) == sorted(name for name, _ in leaf_commands())


@pytest.mark.parametrize("name", sorted(name for name, _ in leaf_commands()))
def test_help(name: str):
    result = invoke([*name.split(), "--help"])
    assert result.exit_code == 0 and result.output.startswith("Usage:"), result.output
    assert "-q, --quiet" in result.output


@pytest.mark.parametrize("name", sorted(CASES))
def test_json(name: str, paths: Paths):
    result = invoke([*CASES[name](paths), "--json"])
    assert result.exit_code == 0, result.output
    assert isinstance(json.loads(result.stdout), (dict, list))


@pytest.mark.parametrize("name", sorted(CASES))
def test_quiet_after_the_command_name(name: str, paths: Paths):
    result = invoke([*CASES[name](paths), "-q"])
    assert result.exit_code == 0, result.output
    # Progress goes to stderr; -q silences it (an export's or a plot's one-line summary of what it wrote stays).
    writes_a_file = name.startswith("export") or name == "plot"
    assert result.stderr == "" or (writes_a_file and len(result.stderr.splitlines()) == 1), result.stderr


def test_quiet_after_the_name_silences_progress(paths: Paths):
    loud = invoke(CASES["train"](paths))
    assert loud.exit_code == 0 and "train" in loud.stderr  # progress without -q
    shutil.rmtree(paths.tmp / "s")
    quiet = invoke([*CASES["train"](paths), "-q"])
    assert quiet.exit_code == 0 and quiet.stderr == ""


# --- stdin -------------------------------------------------------------------------------------


def test_tokenize_dash_reads_stdin():
    result = invoke(["tokenize", "-"], input="The cats.\nDogs ran\n")
    assert result.exit_code == 0 and result.stdout == "the cats\ndogs ran\n"


def test_ingest_dash_reads_stdin(tmp_path: Path):
    result = invoke(["ingest", "-", "-o", str(tmp_path / "c"), "--workers", "1", "--json"], input="Hello world. Hello.\n")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["stats"]["tokens"] == 3


def test_similar_dash_answers_one_query_a_line_and_goes_on_after_errors(paths: Paths):
    result = invoke(["similar", "-s", str(paths.store), "-", "-k", "2", "--json"], input="government\nzzqqxx\n\nsaid\n")
    assert result.exit_code == 1  # one query failed
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["query"] for line in lines] == ["government", "zzqqxx", "said"]
    assert len(lines[0]["neighbors"]) == 2 and len(lines[2]["neighbors"]) == 2
    assert "unknown word 'zzqqxx'" in lines[1]["error"] and lines[1]["unknown_word"] == "zzqqxx"
    with embedsearch.open_store(paths.store) as store:
        assert [n["word"] for n in lines[0]["neighbors"]] == [n.word for n in store.similar("government", k=2).neighbors]
    plain = invoke(["similar", "-s", str(paths.store), "-", "-k", "2"], input="government\n")
    assert plain.exit_code == 0 and plain.stdout.splitlines()[0] == "government" and len(plain.stdout.splitlines()) == 3


def test_batch_opens_the_store_once(paths: Paths, monkeypatch: pytest.MonkeyPatch):
    import embedsearch.query

    opened = []
    real = embedsearch.query.open_store
    monkeypatch.setattr(embedsearch.query, "open_store", lambda path, **kw: opened.append(path) or real(path, **kw))
    result = invoke(["similar", "-s", str(paths.store), "-", "--json"], input="government\nsaid\nman\nwoman\n")
    assert result.exit_code == 0 and len(result.stdout.splitlines()) == 4
    assert len(opened) == 1


def test_analogy_and_similarity_dash(paths: Paths):
    result = invoke(["analogy", "-s", str(paths.store), "-", "--json", "-k", "1"], input="man king woman\nman king\n")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.exit_code == 1 and len(lines[0]["neighbors"]) == 1 and "three words" in lines[1]["error"]
    result = invoke(["similarity", "-s", str(paths.store), "-", "--json"], input="government\tminister\nman woman\n")
    assert result.exit_code == 0
    with embedsearch.open_store(paths.store) as store:
        expected = store.similarity("man", "woman").score
    assert [json.loads(line)["score"] for line in result.stdout.splitlines()][1] == pytest.approx(expected)


def test_evaluate_dash(paths: Paths):
    result = invoke(["evaluate", "pairs", "-s", str(paths.store), "-", "--json"],
                    input="government\tminister\t8\nman\twoman\t7\ncricket\tgovernment\t1\n")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["pairs"] == 3
    result = invoke(["evaluate", "analogies", "-s", str(paths.store), "-", "--json"], input=": s\nman king woman queen\n")
    assert result.exit_code == 0 and json.loads(result.stdout)["total"]["answered"] == 1


def test_export_words_and_pairs_dash(paths: Paths):
    result = invoke(["export", "neighbors", "-s", str(paths.store), "--words", "-", "-k", "1", "--format", "jsonl"],
                    input="government\nman\n")
    assert result.exit_code == 0
    assert [json.loads(line)["word"] for line in result.stdout.splitlines()] == ["government", "man"]
    result = invoke(["export", "similarities", "-s", str(paths.store), "-", "--format", "jsonl"], input="man\twoman\n")
    assert result.exit_code == 0 and json.loads(result.stdout.splitlines()[0])["first"] == "man"


# --- the store, -k, --restrict, --force ---------------------------------------------------------


def test_every_store_command_takes_the_environment_variable(paths: Paths):
    env = {"EMBEDSEARCH_STORE": str(paths.store)}
    for args in (["info"], ["verify"], ["evaluate", "pairs", str(paths.file("p.tsv", PAIRS))],
                 ["export", "vectors", "--restrict", "2"], ["export", "neighbors", "--words", "-", "-k", "1"],
                 ["tokenize", "New  York"]):
        result = invoke(args, input="man\n", env=env)
        assert result.exit_code == 0, (args, result.output)
    copy = paths.store_copy()
    assert invoke(["reindex", "--json"], env={"EMBEDSEARCH_STORE": str(copy)}).exit_code == 0


def test_old_positional_store_still_works_with_a_warning(paths: Paths):
    pairs = paths.file("p.tsv", PAIRS)
    result = invoke(["evaluate", "pairs", str(paths.store), str(pairs), "--json"])
    assert result.exit_code == 0 and "deprecated" in result.stderr
    assert json.loads(result.stdout)[0]["pairs"] == 3
    result = invoke(["export", "vectors", str(paths.store), "--restrict", "2"])
    assert result.exit_code == 0 and len(result.stdout.splitlines()) == 3


def test_examples_takes_k_and_export_takes_restrict(paths: Paths):
    result = invoke(["examples", "-s", str(paths.store), "government", "-k", "2", "--json"])
    assert len(json.loads(result.stdout)["examples"]) == 2
    old = invoke(["examples", "-s", str(paths.store), "government", "-n", "1", "--json"])  # hidden alias, one release
    assert len(json.loads(old.stdout)["examples"]) == 1
    assert "-n" not in invoke(["examples", "--help"]).output.replace("--", "")
    result = invoke(["export", "vectors", "-s", str(paths.store), "--restrict", "3"])
    assert result.stdout.splitlines()[0].split()[0] == "3"


def test_export_refuses_to_overwrite_without_force(paths: Paths):
    out = paths.tmp / "v.txt"
    out.write_text("precious\n", encoding="utf-8")
    for args in (["export", "vectors", "-s", str(paths.store), "-o", str(out)],
                 ["export", "neighbors", "-s", str(paths.store), "-o", str(out)],
                 ["export", "similarities", "-s", str(paths.store), str(paths.file("p.tsv", "man woman\n")), "-o", str(out)]):
        result = invoke(args)
        assert result.exit_code == 1 and "already exists" in result.stderr and "--force" in result.stderr
        assert out.read_text(encoding="utf-8") == "precious\n"
    result = invoke(["export", "vectors", "-s", str(paths.store), "-o", str(out), "--force", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["written"] == [str(out)]
    assert out.read_text(encoding="utf-8") != "precious\n"


# --- Ctrl-C, umask ------------------------------------------------------------------------------


def test_ctrl_c_exits_130_with_one_line(paths: Paths):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-c", "from embedsearch.cli import main; main()", "similar", "-s", str(paths.store), "-", "-k", "1"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True,
        # A shell without job control starts background jobs with SIGINT ignored, and exec keeps that:
        # give the child the default, as a terminal's foreground process has.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert process.stdin and process.stdout
    process.stdin.write("government\n")
    process.stdin.flush()
    assert process.stdout.readline().strip() == "government"  # the batch is running and waits for more
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130
    assert stderr.strip() == "interrupted"


@pytest.fixture()
def umask():
    def set_mask(mask: int) -> None:
        os.umask(mask)

    old = os.umask(0o022)
    yield set_mask
    os.umask(old)


@pytest.mark.parametrize("mask", [0o022, 0o027], ids=["022", "027"])
def test_outputs_honour_the_umask(umask, mask: int, tmp_path: Path, lee_text: Path):
    umask(mask)
    store = tmp_path / "store"
    write_store(store, words=["a", "b"], counts=[2, 1], vectors=np.eye(2, dtype=np.float32), model={"kind": "handmade"},
                pipeline=english_words().to_dict())
    corpus = invoke(["-q", "ingest", str(lee_text), "-o", str(tmp_path / "corpus"), "--workers", "1"])
    assert corpus.exit_code == 0
    assert invoke(["export", "vectors", "-s", str(store), "-o", str(tmp_path / "v.txt")]).exit_code == 0
    assert invoke(["export", "neighbors", "-s", str(store), "-o", str(tmp_path / "n.tsv"), "-k", "1"]).exit_code == 0
    for directory in (store, tmp_path / "corpus"):
        assert directory.stat().st_mode & 0o777 == 0o777 & ~mask, directory
        for child in directory.iterdir():
            expected = (0o777 if child.is_dir() else 0o666) & ~mask
            assert child.stat().st_mode & 0o777 == expected, child
    for name in ("v.txt", "n.tsv"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~mask


# --- Hangul: display width and suggestions -------------------------------------------------------


def columns(text: str) -> int:
    """Display width by Unicode's East Asian Width property: W and F take two columns."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


@pytest.fixture()
def korean_store(tmp_path: Path) -> Path:
    words = ["대통령", "대한민국", "국회", "정부", "seoul", "대통합", "서울특별시"]
    rng = np.random.default_rng(0)
    path = tmp_path / "ko"
    write_store(path, words=words, counts=list(range(100, 100 - len(words), -1)),
                vectors=rng.normal(size=(len(words), 8)).astype(np.float32), model={"kind": "handmade"},
                pipeline=english_words().to_dict())
    return path


def test_hangul_columns_align_by_display_width(korean_store: Path):
    result = invoke(["similar", "-s", str(korean_store), "정부", "-k", "6"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert any("seoul" in line for line in lines) and any("서울특별시" in line for line in lines)
    score_columns = {columns(line[: line.rindex(" ") + 1]) for line in lines}
    assert len(score_columns) == 1, lines


def test_hangul_typo_gets_suggestions(korean_store: Path):
    result = invoke(["similar", "-s", str(korean_store), "대통련"])
    assert result.exit_code == 1 and "close spellings: 대통령" in result.stderr
    with embedsearch.open_store(korean_store) as store:
        assert store.suggest("대통련")[0] == "대통령"
        assert store.suggest("대한민구")[0] == "대한민국"  # a wrong vowel: one jamo edit


# --- the distribution name ------------------------------------------------------------------------


def test_install_hints_name_the_right_distribution():
    import tomllib

    from embedsearch.errors import DISTRIBUTION, install_hint

    assert tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["name"] == DISTRIBUTION
    assert DISTRIBUTION != "embedsearch"  # an unrelated project owns that name on PyPI
    assert install_hint("ko") == "pip install 'embedsearch-words[ko]' (in a checkout: pip install '.[ko]')"
    texts = [*REPO.glob("embedsearch/**/*.py"), REPO / "README.md", *REPO.glob("docs/*.md")]
    wrong = [str(path) for path in texts if "install 'embedsearch[" in path.read_text(encoding="utf-8")
             or "install embedsearch[" in path.read_text(encoding="utf-8")]
    assert wrong == []


def test_doesnt_match_examples_and_import_dash(paths: Paths):
    result = invoke(["doesnt-match", "-s", str(paths.store), "-", "--json"], input="government minister cricket\nman\n")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.exit_code == 1 and lines[0]["odd_one_out"] in {"government", "minister", "cricket"}
    assert "at least 3 words" in lines[1]["error"]
    result = invoke(["examples", "-s", str(paths.store), "-", "-k", "1", "--json"], input="government\nman\n")
    assert result.exit_code == 0 and [json.loads(line)["word"] for line in result.stdout.splitlines()] == ["government", "man"]
    result = invoke(["import", "-", "-o", str(paths.tmp / "imp"), "--format", "word2vec", "--json"], input="2 2\nx 1 0\ny 0 1\n")
    assert result.exit_code == 0 and json.loads(result.stdout)["words"] == 2
    assert invoke(["import", "-", "-o", str(paths.tmp / "imp2")], input="2 2\nx 1 0\n").exit_code == 2  # needs --format
