"""Property-based fuzzing (hypothesis) of the expression parser, the text pipeline and every file reader.

The property, for any generated input: the code returns a result or raises an
:class:`~embedsearch.errors.EmbedsearchError` subclass (never another exception: no traceback),
within a bounded time (hypothesis's ``deadline``: no hang), with no NaN or infinity in any number
it returns, and without touching any file outside its own target directory.

Sizes: the default run generates ``BASE_EXAMPLES`` inputs (about 2,000 over the whole file, a few
seconds each test); ``EMBEDSEARCH_FUZZ=full`` multiplies every test's examples by ``FULL_FACTOR``
(over 10,000 in total). ``python -m pytest tests/test_reliability_fuzz.py -q -s`` prints each
test's count; docs/reliability.md ("Inputs and resources") has the figures.
"""
from __future__ import annotations

import gzip
import math
import os
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from embedsearch.errors import EmbedsearchError
from embedsearch.expression import MAX_WEIGHT, parse_expression
from embedsearch.query import open_store
from embedsearch.store import write_store
from embedsearch.text.pipeline import Pipeline, english_words, parse_steps

FULL = os.environ.get("EMBEDSEARCH_FUZZ", "") == "full"
FULL_FACTOR = 6
COUNTS: dict[str, int] = {}
WORDS = ["king", "queen", "man", "woman", "apple", "pear", "car", "new", "york", "city"]


def examples(n: int) -> int:
    return n * FULL_FACTOR if FULL else n


def fuzz(n: int, deadline_ms: int = 2000):
    """hypothesis settings: ``n`` examples (times FULL_FACTOR in a full run), a per-example deadline."""
    return settings(max_examples=examples(n), deadline=deadline_ms, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                           HealthCheck.data_too_large])


def count(name: str) -> None:
    COUNTS[name] = COUNTS.get(name, 0) + 1


@pytest.fixture(scope="module", autouse=True)
def report_counts():
    yield
    total = sum(COUNTS.values())
    print(f"\nfuzz inputs generated: {total:,} " + ", ".join(f"{k} {v:,}" for k, v in sorted(COUNTS.items())))


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(2)
    vectors = rng.standard_normal((len(WORDS), 6)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    path = tmp_path_factory.mktemp("fuzz") / "store"
    write_store(path, words=WORDS, counts=list(range(100, 100 - len(WORDS), -1)), vectors=vectors,
                model={"kind": "handmade"}, pipeline=english_words().to_dict())
    return path


@pytest.fixture(scope="module")
def store(store_dir: Path):
    with open_store(store_dir) as opened:
        yield opened


def finite(value: object) -> bool:
    """True if every float inside ``value`` (dataclasses, lists, dicts) is finite."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, np.ndarray):
        return bool(np.isfinite(value).all()) if value.dtype.kind == "f" else True
    if isinstance(value, dict):
        return all(finite(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(finite(v) for v in value)
    if hasattr(value, "__dataclass_fields__"):
        return all(finite(getattr(value, name)) for name in value.__dataclass_fields__)
    return True


# --- the expression parser and the queries it feeds ------------------------------------------------

TOKENS = st.sampled_from(["king", "queen", "man", "+", "-", "*", "0.5", "1e400", "nan", "inf", "2", "1e6", "1e7",
                          "e-mail", "--", "+-", "*0.5", "0.5*", ".5", "1.", "1e-3", "-1", " ", "  ", "\t", "\n"])
EXPRESSIONS = st.one_of(
    st.text(max_size=40),
    st.lists(TOKENS, max_size=12).map(" ".join),
    st.lists(TOKENS, max_size=12).map("".join),
)


@fuzz(300)
@given(EXPRESSIONS)
def test_expression_parser(text: str) -> None:
    count("expression parser")
    try:
        terms = parse_expression(text)
    except EmbedsearchError:
        return
    assert terms and all(t.text and t.text not in "+-*" for t in terms)
    assert all(math.isfinite(t.weight) and abs(t.weight) <= MAX_WEIGHT for t in terms)


@fuzz(150)
@given(EXPRESSIONS, st.integers(min_value=1, max_value=20))
def test_similar_on_any_expression(store, text: str, k: int) -> None:
    count("similar (expressions)")
    try:
        result = store.similar(text, k=k)
    except EmbedsearchError:
        return
    assert finite(result) and len(result.neighbors) <= k


@fuzz(80)
@given(st.lists(st.one_of(st.sampled_from(WORDS), st.text(max_size=12)), min_size=3, max_size=3),
       st.sampled_from(["3cosadd", "3cosmul"]))
def test_analogy_similarity_doesnt_match(store, words: list[str], method: str) -> None:
    count("analogy/similarity/doesnt-match")
    for call in (lambda: store.analogy(*words, k=3, method=method), lambda: store.similarity(words[0], words[1]),
                 lambda: store.doesnt_match(words)):
        try:
            result = call()
        except EmbedsearchError:
            continue
        assert finite(result)


# --- the text pipeline -----------------------------------------------------------------------------

TEXT = st.one_of(st.text(max_size=300), st.text(alphabet=st.characters(codec="utf-8"), max_size=100),
                 st.binary(max_size=200).map(lambda b: b.decode("utf-8", errors="replace")))
_ENGLISH = english_words().compile()


@fuzz(200)
@given(TEXT)
def test_pipeline_on_any_text(text: str) -> None:
    count("text pipeline")
    sentences = _ENGLISH.process(text)
    for sentence in sentences:
        assert all(token and not any(ch.isspace() for ch in token) for token in sentence)


STEP_SPECS = st.lists(st.sampled_from(
    ["nfkc", "nfc", "lowercase", "casefold", "sentences", "word", "whitespace", "char", "punct", "html",
     "strip_accents", "length:min_chars=2", "length:min_chars=5;max_chars=2", "char_ngrams:min_n=5;max_n=3",
     "char_ngrams:min_n=2;max_n=3", "word_ngrams:max_n=2", "word_ngrams:max_n=0", "stem:language=english",
     "stem:language=klingon", "frobnicate", "", ":", "word:", "length:min_chars=nan", "length:max_chars=1e400"]),
    max_size=6).map(",".join)


@fuzz(100)
@given(STEP_SPECS, st.text(max_size=80))
def test_pipeline_specs(spec: str, text: str) -> None:
    count("pipeline specs")
    try:
        pipeline = parse_steps(spec)
        pipeline.check()
        compiled = pipeline.compile()
    except EmbedsearchError:
        return
    for sentence in compiled.process(text):
        assert all(isinstance(token, str) and token for token in sentence)
    assert Pipeline.from_dict(pipeline.to_dict()).to_dict() == pipeline.to_dict()


# --- vector file readers ---------------------------------------------------------------------------

NUMBER = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32).map(repr),
                   st.sampled_from(["nan", "inf", "-inf", "1e400", "0x10", "1,5", "", "abc", "1e-50", "-0"]))
WORD = st.one_of(st.sampled_from(WORDS), st.text(min_size=0, max_size=8))


@st.composite
def text_vector_files(draw) -> bytes:
    dim = draw(st.integers(min_value=1, max_value=5))
    rows = draw(st.lists(st.tuples(WORD, st.lists(NUMBER, min_size=0, max_size=dim + 1)), max_size=6))
    body = "".join(f"{w} {' '.join(values)}\n" for w, values in rows)
    header = draw(st.sampled_from([f"{len(rows)} {dim}\n", "", f"{len(rows)} 1000000000\n", "x y\n", "3\n"]))
    data = (header + body).encode("utf-8", errors="surrogatepass")
    if draw(st.booleans()):
        data = bytearray(data)
        for _ in range(draw(st.integers(0, 3))):
            if data:
                data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        data = bytes(data)
    return data


@st.composite
def binary_vector_files(draw) -> bytes:
    dim = draw(st.integers(min_value=1, max_value=4))
    count_ = draw(st.integers(min_value=0, max_value=4))
    claimed = draw(st.sampled_from([count_, count_ + 1, 10**9]))
    out = f"{claimed} {dim}\n".encode()
    for _ in range(count_):
        word = draw(st.binary(min_size=0, max_size=6)).replace(b" ", b"_")
        values = draw(st.lists(st.floats(width=32, allow_nan=True, allow_infinity=True), min_size=dim, max_size=dim))
        out += word + b" " + struct.pack(f"<{dim}f", *values) + draw(st.sampled_from([b"\n", b""]))
    cut = draw(st.integers(min_value=0, max_value=len(out)))
    return out[:cut] if draw(st.booleans()) else out


def _rows(path: Path, fmt: str) -> list[tuple[str, np.ndarray]]:
    from embedsearch.formats import ImportReport, _binary_rows, _guarded, _text_rows
    from embedsearch.sources import open_binary

    report = ImportReport(path.with_suffix(".out"), fmt)
    with open_binary(str(path)) as handle:
        parsed = (_binary_rows(handle, path, report, False) if fmt == "word2vec-bin"
                  else _text_rows(handle, path, fmt, report, False))
        return list(_guarded(parsed, path))


def _check_reader(tmp: Path, data: bytes, fmt: str, compress: bool) -> None:
    path = tmp / ("v.txt.gz" if compress else "v.txt")
    path.write_bytes(gzip.compress(data) if compress else data)
    try:
        from embedsearch.formats import detect_format

        detect_format(path)
    except EmbedsearchError:
        pass
    try:
        rows = _rows(path, fmt)
    except EmbedsearchError:
        return
    assert all(np.isfinite(vector).all() for _, vector in rows)


@fuzz(250)
@given(text_vector_files(), st.sampled_from(["word2vec", "glove"]), st.booleans())
def test_word2vec_text_and_glove_reader(data: bytes, fmt: str, compress: bool) -> None:
    count("word2vec text / GloVe reader")
    with tempfile.TemporaryDirectory() as tmp:
        _check_reader(Path(tmp), data, fmt, compress)


@fuzz(200)
@given(binary_vector_files(), st.booleans())
def test_word2vec_binary_reader(data: bytes, compress: bool) -> None:
    count("word2vec binary reader")
    with tempfile.TemporaryDirectory() as tmp:
        _check_reader(Path(tmp), data, "word2vec-bin", compress)


@fuzz(15, deadline_ms=20_000)
@given(st.one_of(text_vector_files(), binary_vector_files()), st.sampled_from([None, "word2vec", "word2vec-bin", "glove"]))
def test_import_whole_store(data: bytes, fmt: str | None) -> None:
    """The full import: a store, or a clear error and no store; its vectors finite; nothing else written."""
    from embedsearch.formats import import_vectors

    count("import (whole store)")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "in").mkdir()
        source = root / "in" / "vectors.txt"
        source.write_bytes(data)
        try:
            import_vectors(source, root / "out" / "store", fmt=fmt)
        except EmbedsearchError:
            assert not (root / "out" / "store").exists()
        else:
            with open_store(root / "out" / "store") as opened:
                vectors = np.asarray(opened.vectors)
                assert np.isfinite(vectors).all()
                norms = np.linalg.norm(vectors, axis=1)
                assert ((np.abs(norms - 1) < 1e-3) | (norms == 0)).all()
        assert [p.name for p in (root / "in").iterdir()] == ["vectors.txt"]
        assert not [p for p in (root / "out").iterdir() if p.name != "store"] if (root / "out").exists() else True


FASTTEXT_MAGIC = struct.pack("<i", 793712314)


@st.composite
def fasttext_headers(draw) -> bytes:
    ints = draw(st.lists(st.one_of(st.integers(-5, 20), st.integers(-2**31, 2**31 - 1)), min_size=12, max_size=12))
    if draw(st.booleans()):
        ints[0] = draw(st.sampled_from([11, 12]))
    dictionary = draw(st.lists(st.integers(-2**31, 2**31 - 1), min_size=3, max_size=3))
    tail = draw(st.binary(max_size=64))
    return FASTTEXT_MAGIC + struct.pack("<12i", *ints) + struct.pack("<id", 1, 1e-4) + struct.pack("<3i", *dictionary) + tail


@fuzz(150)
@given(st.one_of(fasttext_headers(), st.binary(max_size=100).map(lambda b: FASTTEXT_MAGIC + b)))
def test_fasttext_header_check(data: bytes) -> None:
    """The header check runs before fastText's own loader: a header it lets through must describe
    a matrix that fits in the file (so the loader never allocates what the file cannot hold)."""
    from embedsearch.formats import check_fasttext_header

    count("fastText .bin header")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.bin"
        path.write_bytes(data)
        try:
            check_fasttext_header(path)
        except EmbedsearchError:
            return
        dim, bucket = struct.unpack_from("<i", data, 8)[0], struct.unpack_from("<i", data, 40)[0]
        words = struct.unpack_from("<i", data, 64)[0]
        assert 0 < (words + bucket) * dim * 4 <= len(data)


@pytest.mark.slow
@fuzz(10, deadline_ms=60_000)
@given(fasttext_headers())
def test_fasttext_bin_import(data: bytes) -> None:
    """fastText's own loader on what the header check lets through (slow: a child process each)."""
    from embedsearch.formats import import_vectors

    count("fastText .bin import")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.bin"
        path.write_bytes(data)
        try:
            import_vectors(path, Path(tmp) / "store", fmt="fasttext-bin")
        except EmbedsearchError:
            assert not (Path(tmp) / "store").exists()


# --- evaluation files ------------------------------------------------------------------------------

LINE_PARTS = st.one_of(st.sampled_from(WORDS), NUMBER, st.sampled_from([":", "#", ": section", "\t", ",", "é", "\ufeff"]),
                       st.text(max_size=5))
EVAL_FILES = st.one_of(
    st.lists(st.lists(LINE_PARTS, max_size=5).map(lambda parts: " ".join(parts)), max_size=12).map(
        lambda lines: "\n".join(lines).encode("utf-8", errors="surrogatepass")),
    st.lists(st.tuples(st.sampled_from(WORDS), st.sampled_from(WORDS), NUMBER), max_size=12).map(
        lambda rows: "".join(f"{a}\t{b}\t{s}\n" for a, b, s in rows).encode()),
    st.binary(max_size=200),
)


@fuzz(150)
@given(EVAL_FILES, st.sampled_from(["pairs", "analogies"]), st.one_of(st.none(), st.integers(1, 12)))
def test_evaluation_readers(store, data: bytes, kind: str, restrict: int | None) -> None:
    from embedsearch.evaluate import evaluate_analogies, evaluate_pairs

    count("evaluation files")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "eval.txt"
        path.write_bytes(data)
        try:
            if kind == "pairs":
                result = evaluate_pairs(store, path, restrict=restrict)
            else:
                result = evaluate_analogies(store, path, restrict=restrict or 30_000)
        except EmbedsearchError:
            return
        assert finite(result)
        if kind == "pairs":
            assert -1 <= result.spearman <= 1 and -1 <= result.pearson <= 1


@fuzz(50)
@given(EVAL_FILES)
def test_pairs_file_for_export(store, data: bytes) -> None:
    from embedsearch.batch import pair_similarities, read_pairs

    count("pairs files (export)")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pairs.tsv"
        path.write_bytes(data)
        try:
            rows = list(pair_similarities(store, read_pairs(path)))
        except EmbedsearchError:
            return
        assert all(row.score is None or math.isfinite(row.score) for row in rows)


# --- corpus sources --------------------------------------------------------------------------------

SOURCE_BYTES = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300).map(lambda t: t.encode("utf-8", errors="surrogatepass")),
    st.lists(st.dictionaries(st.sampled_from(["text", "body", "a"]), st.one_of(st.text(max_size=20), st.integers(),
                                                                               st.none()), max_size=3),
             max_size=5).map(lambda rows: "\n".join(map(repr, rows)).replace("'", '"').encode()),
)


@fuzz(120)
@given(SOURCE_BYTES, st.sampled_from(["a.txt", "a.jsonl", "a.csv", "a.tsv", "a.txt.gz", "a.xml"]),
       st.sampled_from(["replace", "strict"]), st.booleans())
def test_corpus_source_reader(data: bytes, name: str, errors: str, compress: bool) -> None:
    """Reading sources in the main process and decoding chunks as workers do."""
    from embedsearch.sources import Reader, SourceFormat, chunk_documents

    count("corpus sources")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(gzip.compress(data) if compress or name.endswith(".gz") else data)
        fields = {"a.jsonl": SourceFormat(field="text"), "a.csv": SourceFormat(column="text"),
                  "a.tsv": SourceFormat(column="text")}
        reader = Reader([str(path)], lambda event: None, chunk_bytes=64, source_format=fields.get(name),
                        encoding_errors=errors)
        try:
            for chunk in reader.chunks():
                lines, documents, replaced, skipped = chunk_documents(chunk, errors)
                assert all(isinstance(line, str) for line in lines) and documents >= 0 and replaced >= 0
        except EmbedsearchError:
            return


@fuzz(15, deadline_ms=30_000)
@given(SOURCE_BYTES, st.sampled_from(["a.txt", "a.jsonl", "a.txt.gz"]))
def test_ingest_whole(data: bytes, name: str) -> None:
    """The full ingest (one worker): a corpus or a clear error; nothing written outside its output."""
    import embedsearch

    count("ingest (whole corpus)")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "in").mkdir()
        path = root / "in" / name
        path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
        try:
            embedsearch.ingest([path], root / "out" / "corpus", workers=1)
        except EmbedsearchError:
            assert not (root / "out" / "corpus").exists()
        assert [p.name for p in (root / "in").iterdir()] == [name]
        if (root / "out").exists():
            assert [p.name for p in (root / "out").iterdir()] in ([], ["corpus"])
