"""Full and read-only disks for every command that writes: one clear line, exit 1, nothing left behind.

Each case mounts a small tmpfs under ``tmp_path`` (root only; skipped elsewhere or where mounting is
not allowed), puts the command's target there, then either fills the file system until only
``slack`` bytes are free, or remounts it read-only. The command must fail with exit code 1, one
``Error:`` line saying "no space left on device" (or the up-front disk estimate) or "read-only file
system", no traceback, and the file system must hold exactly what it held before (a store written
to earlier must be byte-for-byte unchanged). At the largest slack a command may also succeed; then
only the absence of temporary leftovers is checked.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from embedsearch.cli import main

from .test_reliability_inputs import tiny  # noqa: F401  (the session fixture: tiny corpus and stores)

MOUNT_SIZE = 2 * 2**20


def _mount(point: Path, options: str) -> bool:
    point.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True)
    return done.returncode == 0


@pytest.fixture()
def mount(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    point = tmp_path / "mnt"
    if not _mount(point, f"size={MOUNT_SIZE}"):
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def snapshot(root: Path) -> dict[str, str]:
    """Every file and directory under ``root`` with its content hash."""
    found = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        found[key] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def fill(root: Path, slack: int) -> None:
    """Leave about ``slack`` bytes free on the file system of ``root``."""
    with open(root / "filler", "wb", buffering=0) as out:
        for size in (65536, 4096, 512, 1):
            block = b"\0" * size
            while shutil.disk_usage(root).free >= slack + size:
                try:
                    out.write(block)
                except OSError:
                    break


def commands(tiny: dict[str, Path], mnt: Path) -> dict[str, list[str]]:  # noqa: F811
    files = tiny["files"]
    store = mnt / "store"
    return {
        "ingest": ["ingest", str(tiny["text"]), "-o", str(mnt / "corpus"), "--workers", "1"],
        "train": ["train", str(tiny["corpus"]), "-o", str(mnt / "new"), "--dim", "64", "--min-count", "1", "--epochs",
                  "1", "--workers", "1", "--combine-dim", "8"],  # the default PPMI-SVD join, within 22 words
        "import": ["import", str(files / "big_vectors.txt"), "-o", str(mnt / "imported")],
        "export-vectors": ["export", "vectors", "-s", str(tiny["store"]), "-o", str(mnt / "vectors.txt")],
        "export-neighbors": ["export", "neighbors", "-s", str(tiny["store"]), "-o", str(mnt / "neighbors.tsv")],
        "export-similarities": ["export", "similarities", "-s", str(tiny["store"]), str(files / "many_pairs.tsv"), "-o",
                                str(mnt / "similarities.tsv")],
        "export-projector": ["export", "vectors", "-s", str(tiny["store"]), "--format", "projector", "-o", str(mnt / "proj")],
        "reindex": ["reindex", "-s", str(store), "--index", "hnsw"],
        "rerank-train": ["rerank", "train", "-s", str(store), str(tiny["corpus"]), "--hidden", "4", "--tokens", "500"],
        "quickstart": ["quickstart", "-o", str(mnt / "quickstart"), "--workers", "1"],
    }


WRITERS = ["ingest", "train", "import", "export-vectors", "export-neighbors", "export-similarities", "export-projector",
           "reindex", "rerank-train", "quickstart"]


@pytest.fixture()
def prepared(tiny: dict[str, Path], mount: Path) -> dict[str, Path]:  # noqa: F811
    files = tiny["files"]
    if not (files / "big_vectors.txt").exists():
        import numpy as np

        rng = np.random.default_rng(1)
        lines = [f"w{i} " + " ".join(f"{x:.6f}" for x in rng.standard_normal(50)) + "\n" for i in range(2000)]
        (files / "big_vectors.txt").write_text("".join(lines), encoding="utf-8")
        words = ["king", "queen", "man", "woman", "apple", "pear", "car", "city"]
        pairs = [f"{a}\t{b}\n" for a in words for b in words] * 400
        (files / "many_pairs.tsv").write_text("".join(pairs), encoding="utf-8")
    shutil.copytree(tiny["store"], mount / "store")
    return tiny


def run_cli(args: list[str]):
    result = CliRunner().invoke(main, ["-q", *args])
    print(args[0], "->", result.stderr.strip())  # shown with -s: the figures of docs/reliability.md
    return result


def check_clean_failure(result, expected: str) -> None:
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert expected in lines[0], lines[0]


@pytest.mark.parametrize("command", WRITERS)
def test_disk_full(command: str, prepared: dict[str, Path], mount: Path) -> None:
    args = commands(prepared, mount)[command]
    fill(mount, 0)
    before = snapshot(mount)
    result = run_cli(args)
    check_clean_failure(result, "no space left on device" if "needs ~" not in result.output else "disk space")
    assert snapshot(mount) == before


@pytest.mark.parametrize("command", WRITERS)
@pytest.mark.parametrize("slack", [16 * 1024, 96 * 1024])
def test_disk_nearly_full(command: str, slack: int, prepared: dict[str, Path], mount: Path) -> None:
    """With a little room the command fails part-way (or fits): never a traceback, never leftovers."""
    args = commands(prepared, mount)[command]
    fill(mount, slack)
    before = snapshot(mount)
    result = run_cli(args)
    assert "Traceback" not in result.output
    assert isinstance(result.exception, (SystemExit, type(None))), repr(result.exception)
    if result.exit_code == 0:
        after = snapshot(mount)
        assert not [name for name in after if name not in before and Path(name).name.startswith(".")], after
        return
    check_clean_failure(result, "no space left on device" if "needs ~" not in result.output else "disk space")
    assert snapshot(mount) == before


@pytest.mark.parametrize("command", WRITERS)
def test_read_only(command: str, prepared: dict[str, Path], mount: Path) -> None:
    args = commands(prepared, mount)[command]
    done = subprocess.run(["mount", "-o", "remount,ro", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip("cannot remount read-only")
    before = snapshot(mount)
    result = run_cli(args)
    check_clean_failure(result, "read-only file system")
    assert snapshot(mount) == before
