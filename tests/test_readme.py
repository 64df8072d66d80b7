"""The README runs as printed: every command and code block, against a quickstart store built in tmp.

Blocks run in order in one sandbox directory, as a reader would run them in one terminal, with
``embedsearch`` on PATH (this checkout). The sandbox holds the quickstart store (built here with
fewer epochs, so answers are checked by their shape, not their scores) and stand-ins for the
reader's own files the README names: ``notes/`` and ``papers/`` (gensim's Lee corpus),
``kowiki.txt`` (a few Korean sentences), ``pairs.tsv``, and the evaluation files gensim ships
(as the README says).

- ``bash`` blocks run as one script each (``set -e``); in a line joined with ``&&``, the set-up
  steps (``python3 -m venv``, ``. .venv/bin/activate``, ``pip install``, ``pytest``) are left
  out: the test runs in the installed environment, and running pytest from pytest would recurse.
- ``console`` blocks: each ``$ command`` runs on its own; ``$ echo $?`` checks the previous exit
  code. Ranked lines (``  1. word  0.6912``) and number-only lines are checked by shape, other
  lines literally.
- ``python`` blocks run as a real script in a fresh process.
- A block preceded by ``<!-- readme-test: skip REASON -->`` is skipped, with the reason reported.
"""
from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from embedsearch import demo

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
SETUP_STEPS = re.compile(r"^(python3? -m venv|\. \S*activate|source \S*activate|pip install|pytest)\b")
SKIP_MARK = re.compile(r"<!--\s*readme-test:\s*skip\s+(.+?)\s*-->")
KOREAN = "대한민국의 수도는 서울이다. 나는 밥을 먹었다. 대통령이 국회에서 연설했다. 서울은 큰 도시이다.\n"


@dataclass
class Block:
    lang: str
    code: str
    line: int
    skip: str | None


def readme_blocks() -> list[Block]:
    blocks: list[Block] = []
    lines = README.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        fence = re.match(r"^```(\w*)\s*$", lines[i])
        if fence:
            start = i
            i += 1
            body = []
            while not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            before = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
            mark = SKIP_MARK.search(before)
            blocks.append(Block(fence.group(1), "\n".join(body), start + 1, mark.group(1) if mark else None))
        i += 1
    return blocks


def runnable_bash(code: str) -> str:
    """The block without its set-up steps (see the module docstring) and comments."""
    kept = []
    for line in code.splitlines():
        parts = [part.strip() for part in line.split("&&")]
        parts = [part for part in parts if part and not SETUP_STEPS.match(part)]
        if parts:
            kept.append(" && ".join(parts))
    return "\n".join(kept)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from gensim.test.utils import datapath

    root = tmp_path_factory.mktemp("readme")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(demo, "DEMO_CONFIG", {**demo.DEMO_CONFIG, "epochs": 2})  # the README's answers' shape, cheaply
        demo.quickstart(root / "embedsearch-quickstart", workers=2)
    (root / "notes").mkdir()
    shutil.copy(datapath("lee_background.cor"), root / "notes" / "lee.txt")
    (root / "papers").mkdir()
    (root / "papers" / "lee_test.txt.gz").write_bytes(gzip.compress(Path(datapath("lee.cor")).read_bytes()))
    (root / "kowiki.txt").write_text(KOREAN * 20, encoding="utf-8")
    (root / "pairs.tsv").write_text("france\tspain\nmusic\tpoetry\nfrance\tzzqqxx\n", encoding="utf-8")
    bin_dir = root / ".bin"
    bin_dir.mkdir()
    launcher = bin_dir / "embedsearch"
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{REPO / "cli.py"}" "$@"\n', encoding="utf-8")
    launcher.chmod(0o755)
    return root


def shell_env(sandbox: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "EMBEDSEARCH_STORE"}
    env["PATH"] = f"{sandbox / '.bin'}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(REPO)
    return env


def run_shell(script: str, sandbox: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=sandbox, env=shell_env(sandbox),
                          capture_output=True, text=True, timeout=600)


RANKED = re.compile(r"^\s*(\d+)\.\s+\S+\s+-?\d+\.\d+(\s+-?\d+\.\d+)*\s*$")
NUMBER = re.compile(r"^\s*-?\d+\.\d+\s*$")


def same_shape(expected: str, got: str) -> bool:
    if RANKED.match(expected):
        match = RANKED.match(got)
        return bool(match) and match.group(1) == RANKED.match(expected).group(1)  # type: ignore[union-attr]
    if NUMBER.match(expected):
        return bool(NUMBER.match(got))
    return expected.strip() == got.strip()


def check_console(block: Block, sandbox: Path) -> list[str]:
    problems: list[str] = []
    sessions: list[tuple[str, list[str]]] = []
    for line in block.code.splitlines():
        if line.startswith("$ "):
            sessions.append((line[2:], []))
        elif sessions and line.strip():
            sessions[-1][1].append(line)
    last_code = 0
    for command, expected in sessions:
        if command == "echo $?":
            if [str(last_code)] != expected:
                problems.append(f"README line {block.line}: exit code {last_code}, README shows {expected}")
            continue
        result = run_shell(command, sandbox)
        last_code = result.returncode
        got = (result.stdout + result.stderr).splitlines()
        if len(got) != len(expected) or not all(same_shape(e, g) for e, g in zip(expected, got)):
            problems.append(f"README line {block.line}: `{command}` printed\n" + "\n".join(got) +
                            "\nwhere the README shows\n" + "\n".join(expected))
    return problems


def test_readme_commands_run_as_printed(sandbox: Path):
    problems: list[str] = []
    skipped: list[str] = []
    ran = 0
    for block in readme_blocks():
        if block.skip:
            skipped.append(f"line {block.line}: {block.skip}")
            continue
        if block.lang == "console":
            problems += check_console(block, sandbox)
            ran += 1
        elif block.lang == "bash":
            script = runnable_bash(block.code)
            if not script:
                continue
            result = run_shell(script, sandbox)
            ran += 1
            if result.returncode != 0:
                problems.append(f"README line {block.line}: exit code {result.returncode}\n{script}\n"
                                f"stderr: {result.stderr[-2000:]}")
    assert ran >= 8, "the README's blocks were not found"
    assert not problems, "\n\n".join(problems)
    if skipped:
        print("skipped README blocks:", *skipped, sep="\n  ")


def test_readme_shows_both_quickstart_commands_verbatim():
    """The two quick-start commands the project promises (the test above runs their embedsearch part)."""
    text = README.read_text(encoding="utf-8")
    assert "python3 -m venv .venv && . .venv/bin/activate && pip install . && embedsearch quickstart" in text
    assert "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[test]' && pytest" in text


def test_readme_python_example_runs_as_a_script(sandbox: Path, tmp_path: Path):
    [block] = [b for b in readme_blocks() if b.lang == "python"]
    shutil.copytree(sandbox / "notes", tmp_path / "notes")
    script = tmp_path / "example.py"
    script.write_text(block.code + "\n", encoding="utf-8")
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=shell_env(sandbox), capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
