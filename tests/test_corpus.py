"""Ingest: sources of every shape, bounded chunks, worker-count independence, bad input."""
from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import sys
from pathlib import Path

import pytest

import embedsearch
from embedsearch import corpus as corpus_module
from embedsearch.errors import EmptyCorpusError, SourceError, StoreExistsError
from embedsearch.text.pipeline import Pipeline

from .conftest import gensim_data

TEXT = "The cat sat. The DOG ran!\n\nA third line here\n"


def lines(corpus: embedsearch.Corpus) -> list[str]:
    return corpus.text_path.read_text(encoding="utf-8").splitlines()


def test_ingest_plain_text_writes_corpus_and_stats(tmp_path: Path):
    source = tmp_path / "a.txt"
    source.write_text(TEXT, encoding="utf-8")
    corpus = embedsearch.ingest([source], tmp_path / "out", workers=1)
    assert lines(corpus) == ["the cat sat", "the dog ran", "a third line here"]
    stats = corpus.stats
    assert (stats.files, stats.documents, stats.sentences, stats.tokens, stats.vocabulary) == (1, 2, 3, 10, 9)
    assert stats.bytes_read == len(TEXT.encode())
    saved = json.loads((corpus.path / "corpus.json").read_text(encoding="utf-8"))
    assert Pipeline.from_dict(saved["pipeline"]) == corpus.pipeline
    assert embedsearch.open_corpus(corpus.path).stats == stats


@pytest.mark.parametrize("opener", [gzip.open, bz2.open, lzma.open])
def test_compressed_sources_are_recognised_by_content(tmp_path: Path, opener):
    source = tmp_path / "compressed.data"  # the suffix says nothing: magic bytes decide
    with opener(source, "wb") as handle:
        handle.write(TEXT.encode())
    corpus = embedsearch.ingest([source], tmp_path / "out", workers=1)
    assert lines(corpus)[0] == "the cat sat"


def test_folders_and_globs_in_sorted_order_hidden_files_skipped(tmp_path: Path):
    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "b.txt").write_text("beta\n", encoding="utf-8")
    (folder / "sub" / "c.txt").write_text("gamma\n", encoding="utf-8")
    (folder / "a.txt").write_text("alpha\n", encoding="utf-8")
    (folder / ".hidden").write_text("secret\n", encoding="utf-8")
    corpus = embedsearch.ingest([folder, str(tmp_path / "docs" / "a*.txt")], tmp_path / "out", workers=1)
    assert lines(corpus) == ["alpha", "beta", "gamma", "alpha"]


def test_stdin_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"From Standard Input\n")))
    corpus = embedsearch.ingest(["-"], tmp_path / "out", workers=1)
    assert lines(corpus) == ["from standard input"]


def test_missing_sources_are_clear_errors(tmp_path: Path):
    with pytest.raises(SourceError, match="no such file"):
        embedsearch.ingest([tmp_path / "nope.txt"], tmp_path / "out")
    with pytest.raises(SourceError, match="no files match"):
        embedsearch.ingest([str(tmp_path / "*.none")], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_long_single_line_is_chunked_at_whitespace_with_same_tokens(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    words = [f"w{i % 97}" for i in range(20_000)]
    source = tmp_path / "one_line.txt"
    source.write_text(" ".join(words), encoding="utf-8")  # one line, no newline, no punctuation
    monkeypatch.setattr(corpus_module, "CHUNK_BYTES", 4096)
    corpus = embedsearch.ingest([source], tmp_path / "out", workers=1, max_sentence_tokens=1000)
    out = lines(corpus)
    assert [t for line in out for t in line.split()] == words  # no word cut or lost at chunk edges
    assert max(len(line.split()) for line in out) <= 1000
    assert corpus.stats.documents == 1  # continuation chunks are not new documents


def test_chunk_without_any_whitespace_is_cut_at_a_character_boundary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(corpus_module, "CHUNK_BYTES", 1001)
    source = tmp_path / "dense.txt"
    source.write_text("한" * 2000, encoding="utf-8")  # 3 bytes per character, 1001 is not a multiple
    corpus = embedsearch.ingest([source], tmp_path / "out", workers=1)
    assert corpus.stats.replaced_bytes == 0
    assert "".join(lines(corpus)).replace(" ", "") == "한" * 2000


def test_output_does_not_depend_on_worker_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lee_text: Path):
    monkeypatch.setattr(corpus_module, "CHUNK_BYTES", 16_384)  # many chunks, so ordering is exercised
    one = embedsearch.ingest([lee_text], tmp_path / "one", workers=1)
    two = embedsearch.ingest([lee_text], tmp_path / "two", workers=2)
    assert one.text_path.read_bytes() == two.text_path.read_bytes()
    assert (one.stats.tokens, one.stats.vocabulary, one.stats.sentences) == (two.stats.tokens, two.stats.vocabulary, two.stats.sentences)


@pytest.mark.parametrize("workers", [1, 2])
def test_fast_english_route_writes_what_the_steps_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int):
    # The default pipeline takes text/fast_english.py; ingest with it switched off must write the same
    # bytes and statistics (here with chunks of mixed ASCII and non-ASCII lines and cut sentences).
    monkeypatch.setattr(corpus_module, "CHUNK_BYTES", 1024)
    monkeypatch.setattr(corpus_module, "MIN_CHUNK_BYTES", 512)
    text = "".join(
        f"Line {i}: the Quick fox, state-of-the-art. Café “{i}” – naïve ΣΟΦΟΣ! e-mail me@x.org ok?\n"
        f"{'word ' * (i % 9)}end. ‘quoted’ don't -dash-\r\n\n"
        for i in range(120)
    )
    source = tmp_path / "mixed.txt"
    source.write_text(text, encoding="utf-8")
    fast = embedsearch.ingest([source], tmp_path / "fast", workers=workers, max_sentence_tokens=4)
    monkeypatch.setattr(corpus_module, "fast_english", lambda pipeline: None)
    steps = embedsearch.ingest([source], tmp_path / "steps", workers=1, max_sentence_tokens=4)
    assert fast.text_path.read_bytes() == steps.text_path.read_bytes()
    keep = ("documents", "sentences", "tokens", "vocabulary", "bytes_read")
    assert [getattr(fast.stats, k) for k in keep] == [getattr(steps.stats, k) for k in keep]


def test_invalid_utf8_is_replaced_and_counted(tmp_path: Path):
    source = tmp_path / "bad.txt"
    source.write_bytes(b"good line\nbad \xff\xfe bytes \xef\xbf\xbd kept\n")  # the last one is a real U+FFFD
    corpus = embedsearch.ingest([source], tmp_path / "out", workers=1)
    assert corpus.stats.replaced_bytes == 2
    with pytest.raises(SourceError, match=r"bad\.txt, line 2: invalid UTF-8"):
        embedsearch.ingest([source], tmp_path / "strict", workers=1, encoding_errors="strict")
    assert not (tmp_path / "strict").exists()


def test_binary_files_are_skipped_with_a_warning(tmp_path: Path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "blob.bin").write_bytes(b"\x00\x01\x02" * 100)
    (tmp_path / "in" / "text.txt").write_text("real words\n", encoding="utf-8")
    events = []
    corpus = embedsearch.ingest([tmp_path / "in"], tmp_path / "out", workers=1, progress=events.append)
    assert corpus.stats.skipped_files == [str(tmp_path / "in" / "blob.bin")]
    assert any(e.stage == "warning" and "blob.bin" in e.message for e in events)
    assert lines(corpus) == ["real words"]


def test_empty_result_says_which_step_emptied_it(tmp_path: Path):
    source = tmp_path / "punct.txt"
    source.write_text("!!! ... ???\n", encoding="utf-8")
    with pytest.raises(EmptyCorpusError, match="removed everything"):
        embedsearch.ingest([source], tmp_path / "out", workers=1)
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(EmptyCorpusError, match="no text"):
        embedsearch.ingest([empty], tmp_path / "out", workers=1)
    assert not (tmp_path / "out").exists()


def test_existing_output_needs_overwrite_and_is_replaced_whole(tmp_path: Path):
    source = tmp_path / "a.txt"
    source.write_text("first version\n", encoding="utf-8")
    embedsearch.ingest([source], tmp_path / "out", workers=1)
    source.write_text("second version\n", encoding="utf-8")
    with pytest.raises(StoreExistsError, match="already exists"):
        embedsearch.ingest([source], tmp_path / "out", workers=1)
    corpus = embedsearch.ingest([source], tmp_path / "out", workers=1, overwrite=True)
    assert lines(corpus) == ["second version"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "out"]  # no temporaries left behind


def test_wikipedia_dump_is_read_with_markup_removed(tmp_path: Path):
    corpus = embedsearch.ingest([gensim_data("testcorpus.xml.bz2")], tmp_path / "out", workers=1)
    text = corpus.text_path.read_text(encoding="utf-8")
    assert corpus.stats.documents >= 1 and corpus.stats.tokens > 0
    assert "[[" not in text and "{{" not in text and "<page>" not in text


def test_a_truncated_wikipedia_dump_is_a_clear_error(tmp_path: Path):
    """Found by the fuzz suite: a dump cut short raised the XML parser's own ParseError."""
    import bz2

    whole = bz2.decompress(gensim_data("testcorpus.xml.bz2").read_bytes())
    for cut in (b"<mediawiki", whole[: len(whole) // 2]):
        source = tmp_path / "dump.xml"
        source.write_bytes(cut)
        with pytest.raises(SourceError, match="dump.xml: not a well-formed Wikipedia XML dump .* truncated"):
            embedsearch.ingest([source], tmp_path / "out", workers=1)
        assert not (tmp_path / "out").exists()


def test_open_corpus_rejects_what_is_not_a_corpus(tmp_path: Path):
    with pytest.raises(SourceError, match="not a directory"):
        embedsearch.open_corpus(tmp_path / "missing")
    (tmp_path / "dir").mkdir()
    with pytest.raises(SourceError, match="corpus.json is missing"):
        embedsearch.open_corpus(tmp_path / "dir")
    (tmp_path / "dir" / "corpus.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(SourceError, match="unreadable"):
        embedsearch.open_corpus(tmp_path / "dir")
