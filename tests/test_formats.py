"""Import and export: every format, round trips with gensim, bad input counted or refused."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

import embedsearch
from embedsearch.errors import ConfigError, SourceError
from embedsearch.formats import detect_format, export_vectors, import_vectors

from .conftest import TOY_WORDS, toy_vectors

UNIT = toy_vectors() / np.linalg.norm(toy_vectors(), axis=1, keepdims=True)


@pytest.fixture()
def toy(toy_store: Path):
    with embedsearch.open_store(toy_store) as store:
        yield store


@pytest.mark.parametrize("fmt", ["word2vec", "word2vec-bin"])
def test_export_loads_in_gensim_with_the_same_vectors(toy, tmp_path: Path, fmt: str):
    from gensim.models import KeyedVectors

    path = tmp_path / f"out.{fmt}"
    assert export_vectors(toy, path, fmt=fmt) == [path]
    kv = KeyedVectors.load_word2vec_format(path, binary=fmt == "word2vec-bin")
    assert kv.index_to_key == TOY_WORDS
    np.testing.assert_array_equal(kv.vectors, np.asarray(toy.vectors))


@pytest.mark.parametrize("fmt", ["word2vec", "word2vec-bin", "glove"])
def test_export_import_round_trip_and_detection(toy, tmp_path: Path, fmt: str):
    path = tmp_path / "vectors.out"
    export_vectors(toy, path, fmt=fmt)
    assert detect_format(path) == fmt
    report = import_vectors(path, tmp_path / "store")
    assert (report.format, report.words, report.dim, report.bad_lines) == (fmt, len(TOY_WORDS), 4, 0)
    with embedsearch.open_store(tmp_path / "store") as store:
        assert store.words_of(range(len(store))) == TOY_WORDS
        np.testing.assert_allclose(np.asarray(store.vectors), UNIT, atol=1e-7)
        assert store.info().model["kind"] == "imported"


def test_import_from_gensim_written_file(tmp_path: Path):
    from gensim.models import KeyedVectors

    kv = KeyedVectors(4)
    kv.add_vectors(TOY_WORDS, toy_vectors())
    kv.save_word2vec_format(tmp_path / "g.bin", binary=True)
    import_vectors(tmp_path / "g.bin", tmp_path / "store")
    with embedsearch.open_store(tmp_path / "store") as store:
        assert [n.word for n in store.similar("king - man + woman", k=1).neighbors] == ["queen"]


def test_fasttext_vec_and_projector(toy, tmp_path: Path):
    export_vectors(toy, tmp_path / "x.vec", fmt="word2vec")
    assert import_vectors(tmp_path / "x.vec", tmp_path / "s", fmt="fasttext-vec").words == len(TOY_WORDS)
    files = export_vectors(toy, tmp_path / "proj", fmt="projector", top=3)
    vectors, metadata = (f.read_text(encoding="utf-8").splitlines() for f in files)
    assert metadata == TOY_WORDS[:3] and len(vectors) == 3 and len(vectors[0].split("\t")) == 4


def test_export_to_a_stream(toy):
    buffer = io.BytesIO()
    export_vectors(toy, buffer, fmt="glove", top=2)
    lines = buffer.getvalue().decode().splitlines()
    assert [line.split()[0] for line in lines] == ["king", "queen"]
    with pytest.raises(ConfigError, match="two files"):
        export_vectors(toy, io.BytesIO(), fmt="projector")


def test_bad_lines_are_counted_or_fatal_with_strict(tmp_path: Path):
    path = tmp_path / "v.txt"
    path.write_bytes(b"4 2\nalpha 1 0\nbeta 0 x\ngamma 1 2 3\n\xff\xfeodd 0 1\nalpha 5 5\ndelta 1 1\n")
    report = import_vectors(path, tmp_path / "s")
    assert (report.words, report.bad_lines, report.bad_encoding, report.duplicates) == (3, 2, 1, 1)
    assert any("line 3" in e for e in report.examples)
    with pytest.raises(SourceError, match="line 3: a value is not a number"):
        import_vectors(path, tmp_path / "strict", strict=True)
    assert not (tmp_path / "strict").exists()


def test_truncated_binary_and_unknown_formats(tmp_path: Path, toy):
    export_vectors(toy, tmp_path / "b.bin", fmt="word2vec-bin")
    data = (tmp_path / "b.bin").read_bytes()
    (tmp_path / "cut.bin").write_bytes(data[:-10])
    with pytest.raises(SourceError, match="truncated"):
        import_vectors(tmp_path / "cut.bin", tmp_path / "s", fmt="word2vec-bin")
    (tmp_path / "prose.txt").write_text("just some words\nnot vectors\n", encoding="utf-8")
    with pytest.raises(SourceError, match="cannot tell the vector format"):
        import_vectors(tmp_path / "prose.txt", tmp_path / "s")
    with pytest.raises(SourceError, match="no such file"):
        import_vectors(tmp_path / "none.txt", tmp_path / "s")
