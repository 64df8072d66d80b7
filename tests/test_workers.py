"""Worker processes: library calls work from every launch style, and workers die with their parent."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# ingest with two worker processes: the call the README's Python API snippet makes first
SNIPPET = """\
import embedsearch
corpus = embedsearch.ingest(["text.txt"], "out_corpus", workers=2, overwrite=True)
print("TOKENS", corpus.stats.tokens, corpus.stats.workers)
"""


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


@pytest.fixture()
def workdir(tmp_path: Path) -> Path:
    lines = [f"the cat number {i} sat on the mat and the dog {i % 7} barked at it." for i in range(3000)]
    (tmp_path / "text.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return tmp_path


def _check(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stderr[-3000:]
    assert "TOKENS 45000 2" in result.stdout  # 15 words a line, 3000 lines, two workers
    assert "BrokenProcessPool" not in result.stderr


@pytest.mark.parametrize("style", ["script", "guarded-script", "dash-c", "stdin", "module"])
def test_library_works_from_every_launch_style(workdir: Path, style: str) -> None:
    python = sys.executable
    if style == "script":  # no `if __name__ == "__main__"`: the case that broke the pool
        (workdir / "plain.py").write_text(SNIPPET, encoding="utf-8")
        cmd, stdin = [python, "plain.py"], None
    elif style == "guarded-script":
        body = "def main():\n" + textwrap.indent(SNIPPET, "    ") + "\nif __name__ == '__main__':\n    main()\n"
        (workdir / "guarded.py").write_text(body, encoding="utf-8")
        cmd, stdin = [python, "guarded.py"], None
    elif style == "dash-c":
        cmd, stdin = [python, "-c", SNIPPET], None
    elif style == "stdin":  # `python -`, and what a notebook's __main__ looks like: no __file__
        cmd, stdin = [python, "-"], SNIPPET
    else:  # `python -m`: workers would import it again as __mp_main__
        (workdir / "usermod.py").write_text(SNIPPET, encoding="utf-8")
        cmd, stdin = [python, "-m", "usermod"], None
    env = _env()
    env["PYTHONPATH"] = os.pathsep.join([str(workdir), env["PYTHONPATH"]])
    result = subprocess.run(cmd, cwd=workdir, input=stdin, capture_output=True, text=True, env=env, timeout=120)
    _check(result)


def test_library_works_from_an_interactive_session(workdir: Path) -> None:
    """A notebook or REPL: code compiled and run in a __main__ that is not a file."""
    driver = "import code\ncode.InteractiveInterpreter().runsource(open('snippet.txt').read(), '<cell>', 'exec')\n"
    (workdir / "snippet.txt").write_text(SNIPPET, encoding="utf-8")
    result = subprocess.run([sys.executable, "-c", driver], cwd=workdir, capture_output=True, text=True,
                            env=_env(), timeout=120)
    _check(result)


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_die_when_ingest_is_killed(tmp_path: Path) -> None:
    # a corpus big enough that ingest still runs when its workers are up (~12 MB)
    line = " ".join(f"word{i % 997} alpha{i % 13}" for i in range(40)) + "\n"
    (tmp_path / "big.txt").write_text(line * 15000, encoding="utf-8")
    code = ("import embedsearch; from embedsearch.text.pipeline import parse_steps; "
            "embedsearch.ingest(['big.txt'], 'out', workers=2, pipeline=parse_steps('nfkc,sentences,lowercase,word,stem'))")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        workers: list[int] = []
        while time.monotonic() < deadline and proc.poll() is None:
            family = _descendants(proc.pid)
            workers = [pid for pid in family if pid not in _children_of(proc.pid)]
            if len(workers) >= 2:  # the fork server's children: the two ingest workers
                break
            time.sleep(0.02)
        assert len(workers) >= 2, "ingest never started its workers"
        family = _descendants(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(10) == -signal.SIGKILL  # killed mid-run, not finished
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(_running(pid) for pid in family):
            time.sleep(0.1)
        left = [pid for pid in family if _running(pid)]
        assert not left, f"processes outlived the killed ingest: {left}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _children_of(pid: int) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as stat:
                    if int(stat.read().rsplit(b")", 1)[1].split()[1]) == pid:
                        found.add(int(entry))
            except OSError:
                pass
    return found
