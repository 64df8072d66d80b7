"""The CLI's progress printer: tqdm bars with rate and time left on a terminal, plain lines in logs."""
from __future__ import annotations

import io
import sys

import pytest

from embedsearch.cli import app
from embedsearch.progress import Progress


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_carry_rate_and_time_left(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    clock = _Clock()
    monkeypatch.setattr(app.time, "monotonic", clock)
    printer = app.ProgressPrinter(quiet=False)
    printer(Progress("ingest", 0, 40, "MB"))
    clock.now += 4
    printer(Progress("ingest", 4, 40, "MB"))  # within 10 s of the start: not printed
    clock.now += 8
    printer(Progress("ingest", 12, 40, "MB", "1,000 tokens"))
    clock.now += 28
    printer(Progress("ingest", 40, 40, "MB", "5,000 tokens", final=True))
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("ingest:  30.0%") and "1.00 MB/s" in lines[0] and "00:12<00:28" in lines[0]
    assert "1,000 tokens" in lines[0]
    assert lines[1].startswith("ingest: 100.0%") and "40.0/40.0 MB" in lines[1] and "5,000 tokens" in lines[1]


def test_terminal_gets_a_live_bar(monkeypatch: pytest.MonkeyPatch):
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    printer = app.ProgressPrinter(quiet=False)
    for epoch in range(5):
        printer(Progress("train", epoch, 5, "epochs", f"loss {epoch}"))
    printer(Progress("train", 5, 5, "epochs", "done", final=True))
    printer(Progress("store", 1, 3, "files"))
    printer(Progress("warning", 0, None, "", "a file was skipped"))
    printer(Progress("store", 3, 3, "files", final=True))
    out = terminal.getvalue()
    assert "\r" in out and "train: 100.0%" in out and "5.0/5.0 epochs" in out and "epochs/s" in out
    assert "warning: a file was skipped" in out and "store: 100.0%" in out


def test_quiet_prints_only_warnings(capsys: pytest.CaptureFixture[str]):
    printer = app.ProgressPrinter(quiet=True)
    printer(Progress("ingest", 40, 40, "MB", final=True))
    printer(Progress("warning", 0, None, "", "careful"))
    assert capsys.readouterr().err == "warning: careful\n"


def test_unknown_total_shows_amount_and_rate(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    clock = _Clock()
    monkeypatch.setattr(app.time, "monotonic", clock)
    printer = app.ProgressPrinter(quiet=False)
    printer(Progress("read", 0, None, "MB"))
    clock.now += 20
    printer(Progress("read", 50, None, "MB"))
    line = capsys.readouterr().err.strip()
    assert line.startswith("read: 50.0 MB") and "2.50 MB/s" in line
