"""Ingest sources beyond plain text (JSONL, CSV, TSV), empty-corpus diagnosis, and worker independence."""
from __future__ import annotations

import gzip
import io
import json
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import embedsearch
from embedsearch import corpus as corpus_module
from embedsearch.corpus import SourceFormat
from embedsearch.errors import ConfigError, EmptyCorpusError, SourceError
from embedsearch.sources import Chunk
from embedsearch.text.pipeline import Pipeline, english_words, parse_steps

def lines(corpus: embedsearch.Corpus) -> list[str]:
    return corpus.text_path.read_text(encoding="utf-8").splitlines()


def test_jsonl_field_nested_missing_and_lists(tmp_path: Path):
    source = tmp_path / "docs.jsonl"
    records = [{"text": "First doc."}, {"meta": {"body": "x"}}, {"text": ["Two", "lines"]}, {"text": None}, {"text": 3}]
    source.write_text("\n".join(json.dumps(r) for r in records) + "\n\n", encoding="utf-8")
    corpus = embedsearch.ingest([source], tmp_path / "out", workers=1)
    assert lines(corpus) == ["first doc", "two", "lines"]
    assert (corpus.stats.documents, corpus.stats.skipped_records) == (2, 3)
    nested = embedsearch.ingest([source], tmp_path / "nested", workers=1, source_format=SourceFormat(field="meta.body"))
    assert lines(nested) == ["x"] and nested.stats.skipped_records == 4


def test_jsonl_errors_name_the_line(tmp_path: Path):
    source = tmp_path / "bad.jsonl"
    source.write_text('{"text": "ok"}\n{"text": oops}\n', encoding="utf-8")
    with pytest.raises(SourceError, match=r"bad\.jsonl, line 2: not valid JSON"):
        embedsearch.ingest([source], tmp_path / "out", workers=1)


def test_jsonl_long_records_are_never_cut(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(corpus_module, "CHUNK_BYTES", 64)
    source = tmp_path / "long.jsonl.gz"
    records = [{"text": " ".join(f"w{i}" for i in range(n, n + 50))} for n in range(0, 500, 50)]
    with gzip.open(source, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(json.dumps(r) for r in records))
    corpus = embedsearch.ingest([source], tmp_path / "out", workers=1)
    assert [t for line in lines(corpus) for t in line.split()] == [f"w{i}" for i in range(500)]


def test_csv_column_with_quoted_newlines_and_bom(tmp_path: Path):
    source = tmp_path / "reviews.csv"
    source.write_text('\ufeffid,review,label\n1,"Great, really ""great""\nfilm",1\n2,Bad film,0\n3\n', encoding="utf-8")
    corpus = embedsearch.ingest([source], tmp_path / "out", workers=1, source_format=SourceFormat(column="review"))
    assert lines(corpus) == ["great really great", "film", "bad film"]
    assert (corpus.stats.documents, corpus.stats.skipped_records) == (2, 1)
    with pytest.raises(SourceError, match="no column 'text'; the header has: id, review, label"):
        embedsearch.ingest([source], tmp_path / "x", workers=1, source_format=SourceFormat(column="text"))
    with pytest.raises(ConfigError, match="--column"):
        embedsearch.ingest([source], tmp_path / "y", workers=1)


def test_tsv_without_quoting_like_nsmc(tmp_path: Path):
    source = tmp_path / "ratings.txt"  # NSMC: a .txt name, tab-separated, quotes are text
    source.write_text('id\tdocument\tlabel\n1\t"최고" 영화\t1\n2\t별로다 "흠\t0\n', encoding="utf-8")
    corpus = embedsearch.ingest([source], tmp_path / "out", workers=1, source_format=SourceFormat(column="document"),
                                pipeline=Pipeline.of("whitespace"))
    assert lines(corpus) == ['"최고" 영화', '별로다 "흠']
    assert corpus.stats.bytes_read == source.stat().st_size


def test_source_format_validation():
    with pytest.raises(ConfigError, match="not both"):
        SourceFormat(field="a", column="b")
    with pytest.raises(ConfigError, match="takes --field"):
        SourceFormat("jsonl", column="b")
    assert SourceFormat().resolve("a.TSV.gz", b"") == "tsv"
    assert SourceFormat(column="c").resolve("a.txt", b"id\tc\n") == "tsv"
    assert SourceFormat(column="c").resolve("-", b"id,c\n") == "csv"
    assert SourceFormat().resolve("a.ndjson", b"") == "jsonl" and SourceFormat().resolve("a.txt", b"") == "text"


def test_empty_corpus_names_the_step_that_emptied_it(tmp_path: Path):
    source = tmp_path / "a.txt"
    source.write_text("the and of\nis a the\n", encoding="utf-8")
    pipeline = parse_steps("nfkc,lowercase,word,stopwords:lists=en")
    with pytest.raises(EmptyCorpusError, match="removed everything; .*step 'stopwords'"):
        embedsearch.ingest([source], tmp_path / "out", pipeline=pipeline, workers=1)


def test_fitted_steps_read_stdin_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    text = "new york is big. " * 30 + "\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode())))
    corpus = embedsearch.ingest(["-"], tmp_path / "out", pipeline=parse_steps("lowercase,word,phrases:passes=1;min_count=2;threshold=0.1"),
                                workers=1)
    assert "new_york" in lines(corpus)[0] and corpus.sources == ("-",)
    assert sorted(p.name for p in corpus.path.iterdir()) == ["artifacts", "corpus.json", "corpus.txt"]


PIPELINES = [english_words(), parse_steps("nfc,entities,sentences,casefold,punct,char"),
             parse_steps("nfkc,html,word,word_ngrams,stem")]


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.text(max_size=40), max_size=25), cuts=st.lists(st.integers(0, 25), max_size=4),
       which=st.sampled_from(range(len(PIPELINES))))
def test_output_does_not_depend_on_how_input_is_cut_into_chunks(rows, cuts, which):
    # Workers only decide which process handles which chunk, and results are written in order, so
    # worker-count independence comes down to this: chunks cut at line ends give the same output.
    settings_ = corpus_module._WorkerSettings(PIPELINES[which].to_dict(), {}, None, corpus_module.CORPUS, "replace", 1000)
    corpus_module._init_worker(settings_)
    rows = [" ".join(row.splitlines()) for row in rows]

    def run(groups: list[list[str]]) -> bytes:
        out = []
        for group in groups:
            data = "".join(r + "\n" for r in group).encode("utf-8")
            out.append(corpus_module._process_chunk(Chunk("bytes", data, "x", 1, False)).text)
        return b"".join(out)

    points = sorted({min(c, len(rows)) for c in cuts} | {0, len(rows)})
    groups = [rows[a:b] for a, b in zip(points, points[1:])]
    assert run(groups) == run([rows])


KOREAN = ["나는 밥을 먹었다.", "강아지들이 공원에서 뛰어놀았겠으나 비가 왔다.", "서울은 한국의 수도이다!",
          "NASA와 1990년에 \"최고\" 영화를 봤다 ㅋㅋ", "학생은 학교에 가서 책을 읽었습니다."]


def test_korean_morphemes_with_two_workers_match_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    pytest.importorskip("kiwipiepy")
    sample = tmp_path / "reviews.tsv"
    rows = [f"{i}\t{KOREAN[i % 5]} {KOREAN[(i * 3) % 5]}\t{i % 2}" for i in range(300)]
    sample.write_text("id\tdocument\tlabel\n" + "\n".join(rows) + "\n", encoding="utf-8")
    monkeypatch.setattr(corpus_module, "CHUNK_BYTES", 4096)
    options = {"source_format": SourceFormat(column="document"), "pipeline": parse_steps("nfc,lowercase,morphemes:lemma=true;drop_pos=J+E")}
    one = embedsearch.ingest([sample], tmp_path / "one", workers=1, **options)
    two = embedsearch.ingest([sample], tmp_path / "two", workers=2, **options)
    assert one.text_path.read_bytes() == two.text_path.read_bytes()
    assert one.stats.documents == 300 and lines(one)[0] == "나 밥 먹다 . 나 밥 먹다 ."


def test_byte_range_chunks_match_byte_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lee_text: Path):
    # Plain files are handed to workers as byte ranges (replace mode); strict mode reads them in the
    # main process (its errors count lines from the start). Both must cut and count the same.
    monkeypatch.setattr(corpus_module, "CHUNK_BYTES", 5000)
    source = tmp_path / "mixed.txt"
    source.write_text(lee_text.read_text(encoding="utf-8")[:60_000] + "x " * 9000 + "\nlast line\n", encoding="utf-8")
    ranged = embedsearch.ingest([source], tmp_path / "ranged", workers=2)
    streamed = embedsearch.ingest([source], tmp_path / "streamed", workers=1, encoding_errors="strict")
    assert ranged.text_path.read_bytes() == streamed.text_path.read_bytes()
    assert (ranged.stats.documents, ranged.stats.bytes_read) == (streamed.stats.documents, source.stat().st_size)
