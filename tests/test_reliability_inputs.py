"""Bad input to every command, table-driven: a clear one-line error and exit code 1 or 2, never a
traceback, a NaN, a hang or a file left behind.

Each case is ``(id, command line, exit code, pattern)``: the command line may name ``{store}`` (a
tiny Word2Vec store), ``{hnsw}`` (the same with an HNSW index), ``{rerank}`` (with a reranker),
``{corpus}``, ``{files}`` (a folder of bad input files, made once) and ``{out}`` (a path in the
test's own empty ``tmp_path``). The test checks the exit code, that ``Error:`` appears on exactly
one stderr line and matches ``pattern``, that no Python traceback escaped (``result.exception``
is ``SystemExit``), and that ``tmp_path`` is still empty afterwards (nothing half-written).

The figures in docs/reliability.md ("Inputs and resources") count these cases.
"""
from __future__ import annotations

import gzip
import re
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import embedsearch
from embedsearch.cli import main

WORDS = "king queen man woman apple pear car city new york the of and a to is prince princess boy girl fruit road".split()


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny corpus, three small stores (flat, HNSW, with a reranker) and a folder of bad files."""
    from embedsearch.rerank.training import RerankConfig, train_reranker
    from embedsearch.store.index import IndexOptions
    from embedsearch.store.reindex import reindex

    root = tmp_path_factory.mktemp("reliability")
    rng = np.random.default_rng(3)
    text = root / "text.txt"
    text.write_text("".join(" ".join(rng.choice(WORDS, 12)) + ".\n" for _ in range(2000)), encoding="utf-8")
    corpus = embedsearch.ingest([text], root / "corpus", workers=1)
    config = embedsearch.TrainConfig(dim=8, epochs=1, min_count=1, workers=1, seed=1)
    store = root / "store"
    embedsearch.train(corpus, store, config=config, contexts=4)
    hnsw = root / "hnsw"
    shutil.copytree(store, hnsw)
    reindex(hnsw, IndexOptions(kind="hnsw"))
    rerank = root / "rerank"
    shutil.copytree(store, rerank)
    train_reranker(rerank, corpus.path, RerankConfig(hidden=4, window=2, tokens=500))
    files = root / "files"
    files.mkdir()
    make_bad_files(files, text, store)
    return {"store": store, "hnsw": hnsw, "rerank": rerank, "corpus": corpus.path, "files": files, "text": text}


def make_bad_files(files: Path, text: Path, store: Path) -> None:
    rng = np.random.default_rng(5)
    (files / "garbage.bin").write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    (files / "nul.txt").write_bytes(b"\x00" * 100)
    (files / "latin1.txt").write_bytes("caf\xe9 na\xefve king queen\n".encode("latin-1") * 3)
    (files / "empty.txt").write_bytes(b"")
    (files / "blank.txt").write_text("\n\n   \n", encoding="utf-8")
    (files / "folder").mkdir()
    (files / "folder" / ".hidden").write_text("x", encoding="utf-8")
    packed = gzip.compress(text.read_bytes())
    (files / "truncated.txt.gz").write_bytes(packed[: len(packed) // 3])
    corrupt = bytearray(packed)
    corrupt[2] = 99  # compression method byte: not deflate
    (files / "corrupt.txt.gz").write_bytes(bytes(corrupt))
    flipped = bytearray(packed)
    flipped[len(flipped) // 2] ^= 0xFF
    (files / "flipped.txt.gz").write_bytes(bytes(flipped))
    (files / "fake.bz2").write_bytes(b"BZh9" + b"\x00" * 100)
    (files / "fake.xz").write_bytes(b"\xfd7zXZ\x00" + b"\x01" * 100)
    # Word-pair and analogy files.
    (files / "constant.tsv").write_text("".join(f"{a}\t{b}\t5\n" for a, b in
                                                [("king", "queen"), ("man", "woman"), ("apple", "pear"), ("car", "city")]),
                                        encoding="utf-8")
    (files / "nan_pairs.tsv").write_text("king\tqueen\tnan\nman\twoman\tinf\napple\tpear\t-inf\ncar\tcity\tNaN\n",
                                         encoding="utf-8")
    (files / "oov_pairs.tsv").write_text("xx\tyy\t1\nzz\tww\t2\nqq\tvv\t3\n", encoding="utf-8")
    (files / "pairs_bad.tsv").write_text("king queen\njust-one\n\n", encoding="utf-8")
    (files / "analogies_bad.txt").write_text(": s\nking queen\na b c d e\n", encoding="utf-8")
    # Vector files.
    (files / "vec_nan.txt").write_text("2 3\nking nan 1 2\nqueen inf 1 2\n", encoding="utf-8")
    (files / "vec_hugedim.txt").write_text("1 1000000000\nking 1 2 3\n", encoding="utf-8")
    (files / "vec_hugedim.bin").write_bytes(b"1 1000000000\nking " + b"\x00" * 40)
    (files / "vec_truncated.bin").write_bytes(b"3 4\nking " + struct.pack("<4f", 1, 2, 3, 4) + b"\nqueen " + b"\x00" * 3)
    (files / "vec_noheader.txt").write_text("king queen man\nwoman apple pear\n", encoding="utf-8")
    (files / "vec_words.txt").write_text("2 3\nking a b c\nqueen d e f\n", encoding="utf-8")
    (files / "vec_badutf8.txt").write_bytes(b"1 2\n\xff\xfe 1 2\n")
    header = struct.pack("<i", 793712314) + struct.pack("<12i", 12, 1_000_000, 5, 5, 5, 5, 1, 1, 1, 2_000_000, 3, 6)
    header += struct.pack("<id", 100, 1e-4) + struct.pack("<3i", 10, 10, 0)
    (files / "ft_hugedim.bin").write_bytes(header + b"\x00" * 100)
    (files / "ft_short.bin").write_bytes(struct.pack("<i", 793712314) + b"\x01" * 20)
    small = struct.pack("<i", 793712314) + struct.pack("<12i", 12, 10, 5, 5, 5, 5, 1, 1, 1, 100, 3, 6)
    small += struct.pack("<id", 100, 1e-4) + struct.pack("<3i", 10, 10, 0)
    (files / "ft_truncated.bin").write_bytes(small + b"\x00" * 64)
    (files / "ft_version.bin").write_bytes(struct.pack("<i", 793712314) + struct.pack("<12i", 99, *[1] * 11)
                                           + b"\x00" * 64)
    (files / "words.txt").write_text("king\nqueen\n", encoding="utf-8")
    (files / "stopwords_bin.txt").write_bytes(b"\xff\xfe\x00garbage\x00")
    (files / "a_file").write_text("not a directory\n", encoding="utf-8")
    # A store directory with garbage in it.
    (files / "junkstore").mkdir()
    (files / "junkstore" / "meta.sqlite").write_bytes(b"this is not a database" * 10)
    (files / "junkstore" / "vectors.npy").write_bytes(b"garbage")


S, H, R, C, F, O = "{store}", "{hnsw}", "{rerank}", "{corpus}", "{files}", "{out}"

# (id, args, exit code, pattern in the error line)
CASES: list[tuple[str, list[str], int, str]] = [
    # --- top level --------------------------------------------------------------------------
    ("unknown-command", ["frobnicate"], 2, "No such command"),
    ("unknown-option", ["--frobnicate"], 2, "No such option"),
    ("steps-extra-arg", ["steps", "x"], 2, "unexpected extra argument"),
    # --- ingest -----------------------------------------------------------------------------
    ("ingest-missing-source", ["ingest", f"{F}/nope.txt", "-o", O], 1, "no such file"),
    ("ingest-no-output", ["ingest", f"{F}/empty.txt"], 2, "Missing option"),
    ("ingest-no-source", ["ingest", "-o", O], 2, "Missing argument"),
    ("ingest-empty-file", ["ingest", f"{F}/empty.txt", "-o", O, "--workers", "1"], 1, "no text|no tokens"),
    ("ingest-blank-file", ["ingest", f"{F}/blank.txt", "-o", O, "--workers", "1"], 1, "no text|no tokens"),
    ("ingest-binary-garbage", ["ingest", f"{F}/garbage.bin", "-o", O, "--workers", "1"], 1, "no text"),
    ("ingest-nul-file", ["ingest", f"{F}/nul.txt", "-o", O, "--workers", "1"], 1, "no text"),
    ("ingest-strict-latin1", ["ingest", f"{F}/latin1.txt", "-o", O, "--workers", "1", "--encoding-errors", "strict"], 1,
     "latin1.txt.*UTF-8|UTF-8.*latin1.txt"),
    ("ingest-empty-folder", ["ingest", f"{F}/folder", "-o", O, "--workers", "1"], 1, "no text"),
    ("ingest-glob-nothing", ["ingest", f"{F}/*.nothing", "-o", O], 1, "no files match"),
    ("ingest-truncated-gz", ["ingest", f"{F}/truncated.txt.gz", "-o", O, "--workers", "1"], 1,
     r"truncated\.txt\.gz.*truncated"),
    ("ingest-corrupt-gz", ["ingest", f"{F}/corrupt.txt.gz", "-o", O, "--workers", "1"], 1, r"corrupt\.txt\.gz.*corrupt"),
    ("ingest-flipped-gz", ["ingest", f"{F}/flipped.txt.gz", "-o", O, "--workers", "1"], 1, r"flipped\.txt\.gz.*(corrupt|truncated)"),
    ("ingest-fake-bz2", ["ingest", f"{F}/fake.bz2", "-o", O, "--workers", "1"], 1, r"fake\.bz2.*(corrupt|truncated)"),
    ("ingest-fake-xz", ["ingest", f"{F}/fake.xz", "-o", O, "--workers", "1"], 1, r"fake\.xz.*(corrupt|truncated)"),
    ("ingest-workers-0", ["ingest", f"{F}/empty.txt", "-o", O, "--workers", "0"], 2, "--workers"),
    ("ingest-workers-negative", ["ingest", f"{F}/empty.txt", "-o", O, "--workers", "-3"], 2, "--workers"),
    ("ingest-workers-text", ["ingest", f"{F}/empty.txt", "-o", O, "--workers", "many"], 2, "--workers"),
    ("ingest-format-bogus", ["ingest", "{text}", "-o", O, "--format", "pdf"], 2, "--format"),
    ("ingest-field-and-column", ["ingest", "{text}", "-o", O, "--field", "a", "--column", "b"], 2, "field.*column|column.*field"),
    ("ingest-min-chars-0", ["ingest", "{text}", "-o", O, "--min-chars", "0"], 2, "--min-chars"),
    ("ingest-max-chars-0", ["ingest", "{text}", "-o", O, "--max-chars", "0"], 2, "--max-chars"),
    ("ingest-max-below-min", ["ingest", "{text}", "-o", O, "--min-chars", "5", "--max-chars", "2"], 2, "chars"),
    ("ingest-phrases-9", ["ingest", "{text}", "-o", O, "--phrases", "9"], 2, "--phrases"),
    ("ingest-phrase-threshold-nan", ["ingest", "{text}", "-o", O, "--phrases", "1", "--phrase-threshold", "nan"], 2,
     "threshold"),
    ("ingest-phrase-threshold-inf", ["ingest", "{text}", "-o", O, "--phrases", "1", "--phrase-threshold", "inf"], 2,
     "threshold"),
    ("ingest-phrase-threshold-negative", ["ingest", "{text}", "-o", O, "--phrases", "1", "--phrase-threshold", "-1"], 2,
     "threshold"),
    ("ingest-phrase-threshold-text", ["ingest", "{text}", "-o", O, "--phrase-threshold", "high"], 2, "threshold"),
    ("ingest-ngrams-0", ["ingest", "{text}", "-o", O, "--ngrams", "0"], 2, "--ngrams"),
    ("ingest-ngrams-99", ["ingest", "{text}", "-o", O, "--ngrams", "99"], 2, "--ngrams"),
    ("ingest-char-ngrams-reversed", ["ingest", "{text}", "-o", O, "--char-ngrams", "5-3"], 2, "char.ngrams|min_n"),
    ("ingest-char-ngrams-text", ["ingest", "{text}", "-o", O, "--char-ngrams", "a-b"], 2, "--char-ngrams"),
    ("ingest-char-ngrams-zero", ["ingest", "{text}", "-o", O, "--char-ngrams", "0-2"], 2, "char.ngrams|min_n"),
    ("ingest-char-ngrams-huge", ["ingest", "{text}", "-o", O, "--char-ngrams", "1-1000000"], 2, "char.ngrams|max_n"),
    ("ingest-char-ngrams-negative", ["ingest", "{text}", "-o", O, "--char-ngrams", "-2"], 2, "char.ngrams|min_n"),
    ("ingest-vocab-size-0", ["ingest", "{text}", "-o", O, "--vocab-size", "0"], 2, "--vocab-size"),
    ("ingest-vocab-size-huge", ["ingest", "{text}", "-o", O, "--tokenizer", "bpe", "--vocab-size", "1000000000000"], 2,
     "vocab.size"),
    ("ingest-subword-seed-negative", ["ingest", "{text}", "-o", O, "--subword-seed", "-1"], 2, "--subword-seed"),
    ("ingest-pipeline-unknown", ["ingest", "{text}", "-o", O, "--pipeline", "nfkc,frobnicate"], 2, "frobnicate"),
    ("ingest-pipeline-empty", ["ingest", "{text}", "-o", O, "--pipeline", ","], 2, "pipeline|step"),
    ("ingest-pipeline-plus-option", ["ingest", "{text}", "-o", O, "--pipeline", "word", "--lemma"], 2, "--lemma"),
    ("ingest-stopwords-missing", ["ingest", "{text}", "-o", O, "--stopwords", f"{F}/nope.txt"], 1, "nope.txt"),
    ("ingest-stopwords-folder", ["ingest", "{text}", "-o", O, "--stopwords", f"{F}/folder"], 2, "folder"),
    ("ingest-stopwords-binary", ["ingest", "{text}", "-o", O, "--stopwords", f"{F}/stopwords_bin.txt"], 1,
     "stopwords_bin.txt"),
    ("ingest-builtin-stopwords-bogus", ["ingest", "{text}", "-o", O, "--builtin-stopwords", "xx"], 2, "stopword"),
    ("ingest-stem-bogus", ["ingest", "{text}", "-o", O, "--stem", "klingon"], 2, "klingon"),
    ("ingest-entities-bogus", ["ingest", "{text}", "-o", O, "--entities", "dna"], 2, "dna"),
    ("ingest-output-is-file", ["ingest", "{text}", "-o", f"{F}/a_file", "--workers", "1"], 1, "a_file"),
    ("ingest-output-exists", ["ingest", "{text}", "-o", C], 1, "already exists"),
    # --- tokenize ---------------------------------------------------------------------------
    ("tokenize-corpus-missing", ["tokenize", "x", "--corpus", f"{F}/nope"], 1, "nope"),
    ("tokenize-store-missing", ["tokenize", "x", "--store", f"{F}/nope"], 1, "nope"),
    ("tokenize-store-is-file", ["tokenize", "x", "--store", f"{F}/a_file"], 1, "a_file"),
    ("tokenize-corpus-is-file", ["tokenize", "x", "--corpus", f"{F}/a_file"], 1, "a_file"),
    ("tokenize-both", ["tokenize", "x", "--corpus", C, "--store", S], 2, "not both"),
    ("tokenize-store-plus-option", ["tokenize", "x", "--store", S, "--lemma"], 2, "cannot be added"),
    ("tokenize-char-ngrams-reversed", ["tokenize", "king", "--char-ngrams", "5-3"], 2, "char.ngrams|min_n"),
    ("tokenize-ngrams-0", ["tokenize", "king", "--ngrams", "0"], 2, "--ngrams"),
    ("tokenize-phrases-needs-corpus", ["tokenize", "king", "--phrases", "1"], 2, "corpus|store|fitted|learn"),
    ("tokenize-min-chars-text", ["tokenize", "king", "--min-chars", "x"], 2, "--min-chars"),
    # --- train ------------------------------------------------------------------------------
    ("train-corpus-missing", ["train", f"{F}/nope", "-o", O], 1, "nope"),
    ("train-corpus-is-file", ["train", f"{F}/a_file", "-o", O], 1, "a_file"),
    ("train-corpus-is-junk-folder", ["train", f"{F}/folder", "-o", O], 1, "folder"),
    ("train-no-output", ["train", C], 2, "Missing option"),
    ("train-output-exists", ["train", C, "-o", S], 1, "already exists"),
    ("train-dim-0", ["train", C, "-o", O, "--dim", "0"], 2, "--dim"),
    ("train-dim-negative", ["train", C, "-o", O, "--dim", "-5"], 2, "--dim"),
    ("train-dim-float", ["train", C, "-o", O, "--dim", "1e9"], 2, "--dim"),
    ("train-dim-huge", ["train", C, "-o", O, "--dim", "1000000000"], 2, "dim"),
    ("train-dim-text", ["train", C, "-o", O, "--dim", "big"], 2, "--dim"),
    ("train-window-0", ["train", C, "-o", O, "--window", "0"], 2, "--window"),
    ("train-window-huge", ["train", C, "-o", O, "--window", "100000000"], 2, "window"),
    ("train-min-count-0", ["train", C, "-o", O, "--min-count", "0"], 2, "--min-count"),
    ("train-min-count-huge", ["train", C, "-o", O, "--min-count", "1000000", "--dim", "8", "--workers", "1"], 1,
     "min.count|no word"),
    ("train-negative-0", ["train", C, "-o", O, "--negative", "0"], 2, "--negative"),
    ("train-negative-huge", ["train", C, "-o", O, "--negative", "1000000"], 2, "negative"),
    ("train-sample-1", ["train", C, "-o", O, "--sample", "1"], 2, "--sample"),
    ("train-sample-negative", ["train", C, "-o", O, "--sample", "-0.1"], 2, "--sample"),
    ("train-sample-nan", ["train", C, "-o", O, "--sample", "nan"], 2, "sample"),
    ("train-sample-inf", ["train", C, "-o", O, "--sample", "inf"], 2, "--sample"),
    ("train-epochs-0", ["train", C, "-o", O, "--epochs", "0"], 2, "--epochs"),
    ("train-epochs-huge", ["train", C, "-o", O, "--epochs", "100000000"], 2, "epochs"),
    ("train-alpha-0", ["train", C, "-o", O, "--alpha", "0"], 2, "--alpha"),
    ("train-alpha-negative", ["train", C, "-o", O, "--alpha", "-0.1"], 2, "--alpha"),
    # Failed before: gensim's C loop segfaulted (or diverged to NaN vectors) at alpha=1e30.
    ("train-alpha-1e30", ["train", C, "-o", O, "--alpha", "1e30"], 2, "alpha"),
    ("train-alpha-nan", ["train", C, "-o", O, "--alpha", "nan"], 2, "alpha"),
    ("train-alpha-inf", ["train", C, "-o", O, "--alpha", "inf"], 2, "alpha"),
    ("train-alpha-text", ["train", C, "-o", O, "--alpha", "fast"], 2, "--alpha"),
    ("train-workers-0", ["train", C, "-o", O, "--workers", "0"], 2, "--workers"),
    ("train-workers-huge", ["train", C, "-o", O, "--workers", "100000000"], 2, "workers"),
    ("train-seed-negative", ["train", C, "-o", O, "--seed", "-1"], 2, "--seed"),
    ("train-seed-huge", ["train", C, "-o", O, "--seed", str(2**40)], 2, "--seed"),
    ("train-model-bogus", ["train", C, "-o", O, "--model", "bert"], 2, "--model"),
    ("train-arch-bogus", ["train", C, "-o", O, "--arch", "transformer"], 2, "--arch"),
    ("train-minn-above-maxn", ["train", C, "-o", O, "--model", "fasttext", "--minn", "7", "--maxn", "3"], 2, "minn"),
    ("train-maxn-huge", ["train", C, "-o", O, "--model", "fasttext", "--maxn", "100000"], 2, "maxn"),
    ("train-bucket-0", ["train", C, "-o", O, "--bucket", "0"], 2, "--bucket"),
    ("train-bucket-huge", ["train", C, "-o", O, "--model", "fasttext", "--bucket", "1000000000000"], 2, "bucket"),
    # Failed before: numpy's MemoryError traceback after the vocabulary pass.
    ("train-memory-estimate", ["train", C, "-o", O, "--model", "fasttext", "--dim", "10000", "--bucket", "2000000000"], 1,
     "needs ~.*memory.*available"),
    ("train-contexts-negative", ["train", C, "-o", O, "--contexts", "-1"], 2, "--contexts"),
    ("train-index-bogus", ["train", C, "-o", O, "--index", "btree"], 2, "--index"),
    ("train-target-recall-0", ["train", C, "-o", O, "--target-recall", "0"], 2, "--target-recall"),
    ("train-target-recall-above-1", ["train", C, "-o", O, "--target-recall", "1.5"], 2, "--target-recall"),
    ("train-target-recall-nan", ["train", C, "-o", O, "--target-recall", "nan"], 2, "recall"),
    ("train-hnsw-m-1", ["train", C, "-o", O, "--hnsw-m", "1"], 2, "--hnsw-m"),
    ("train-hnsw-m-huge", ["train", C, "-o", O, "--index", "hnsw", "--hnsw-m", "1000000000"], 2, "m must be"),
    ("train-ef-construction-0", ["train", C, "-o", O, "--ef-construction", "0"], 2, "--ef-construction"),
    ("train-ef-construction-huge", ["train", C, "-o", O, "--index", "hnsw", "--ef-construction", "1000000000"], 2,
     "ef_construction"),
    ("train-nlist-0", ["train", C, "-o", O, "--nlist", "0"], 2, "--nlist"),
    ("train-nlist-huge", ["train", C, "-o", O, "--index", "ivf", "--nlist", "1000000000000"], 2, "nlist"),
    ("train-pq-m-0", ["train", C, "-o", O, "--pq-m", "0"], 2, "--pq-m"),
    # --- similar ----------------------------------------------------------------------------
    ("similar-no-query", ["similar", "-s", S], 2, "Missing argument"),
    ("similar-store-missing", ["similar", "-s", f"{F}/nope", "king"], 1, "nope"),
    ("similar-store-is-file", ["similar", "-s", f"{F}/a_file", "king"], 1, "a_file"),
    ("similar-store-empty-folder", ["similar", "-s", f"{F}/folder", "king"], 1, "folder"),
    ("similar-store-junk", ["similar", "-s", f"{F}/junkstore", "king"], 1, "junkstore"),
    ("similar-unknown-word", ["similar", "-s", S, "zebra"], 1, "unknown word 'zebra'"),
    ("similar-k-0", ["similar", "-s", S, "king", "-k", "0"], 2, "-k"),
    ("similar-k-negative", ["similar", "-s", S, "king", "-k", "-1"], 2, "-k"),
    ("similar-k-text", ["similar", "-s", S, "king", "-k", "ten"], 2, "-k"),
    ("similar-k-float", ["similar", "-s", S, "king", "-k", "2.5"], 2, "-k"),
    # Failed before: "king - - man" was read as king + man and answered.
    ("similar-double-operator", ["similar", "-s", S, "king - - man"], 2, "at column 8"),
    ("similar-trailing-operator", ["similar", "-s", S, "king -"], 2, "at column 7"),
    ("similar-star-first", ["similar", "-s", S, "* king"], 2, "at column 1"),
    ("similar-star-after-word", ["similar", "-s", S, "queen * king"], 2, "at column 1.*not a number"),
    ("similar-star-at-end", ["similar", "-s", S, "0.5*"], 2, "at column 5"),
    # Failed before: a weight of 1e400 became inf and every score NaN.
    ("similar-weight-1e400", ["similar", "-s", S, "1e400*king"], 2, "out of range"),
    ("similar-weight-huge", ["similar", "-s", S, "1e300*king - queen"], 2, "out of range"),
    ("similar-weight-nan", ["similar", "-s", S, "nan*king"], 2, "not a number"),
    ("similar-weight-inf", ["similar", "-s", S, "inf*king"], 2, "not a number"),
    ("similar-empty-query", ["similar", "-s", S, ""], 2, "empty query"),
    ("similar-blank-query", ["similar", "-s", S, "   "], 2, "empty query"),
    ("similar-punctuation-only", ["similar", "-s", S, "!!!"], 1, "no words left"),
    # Failed before: never answered (spelling suggestions built millions of edits of a 100 KB word).
    ("similar-100kb-word", ["similar", "-s", S, "a" * 100_000], 2, "too long"),
    ("similar-5kb-word", ["similar", "-s", S, "q" * 5_000], 1, "unknown word|no words left"),
    ("similar-cancels-out", ["similar", "-s", S, "king - king"], 1, "zero|cancel"),
    ("similar-ef-search-on-flat", ["similar", "-s", S, "king", "--ef-search", "10"], 2, "hnsw"),
    ("similar-ef-search-0", ["similar", "-s", H, "king", "--ef-search", "0"], 2, "--ef-search"),
    ("similar-ef-search-float", ["similar", "-s", H, "king", "--ef-search", "1e9"], 2, "--ef-search"),
    # Failed before: hung allocating FAISS's search buffers.
    ("similar-ef-search-huge", ["similar", "-s", H, "king", "--ef-search", "1000000000"], 2, "ef_search"),
    ("similar-nprobe-on-hnsw", ["similar", "-s", H, "king", "--nprobe", "4"], 2, "ivf"),
    ("similar-nprobe-0", ["similar", "-s", H, "king", "--nprobe", "0"], 2, "--nprobe"),
    ("similar-rerank-without-reranker", ["similar", "-s", S, "king", "--rerank"], 1, "no reranker"),
    ("similar-rerank-k-0", ["similar", "-s", R, "king", "--rerank", "--rerank-k", "0"], 2, "--rerank-k"),
    # Failed before: NaN and inf weights gave NaN / ±inf scores with exit 0.
    ("similar-rerank-weight-nan", ["similar", "-s", R, "king", "--rerank", "--rerank-weight", "nan"], 2, "rerank weight"),
    ("similar-rerank-weight-inf", ["similar", "-s", R, "king", "--rerank", "--rerank-weight", "inf"], 2, "rerank weight"),
    ("similar-rerank-weight-neg-inf", ["similar", "-s", R, "king", "--rerank", "--rerank-weight", "-inf"], 2,
     "rerank weight"),
    ("similar-rerank-weight-huge", ["similar", "-s", R, "king", "--rerank", "--rerank-weight", "1e300"], 2, "rerank weight"),
    ("similar-rerank-weight-text", ["similar", "-s", R, "king", "--rerank", "--rerank-weight", "heavy"], 2,
     "--rerank-weight"),
    ("similar-rerank-weight-nan-no-rerank", ["similar", "-s", S, "king", "--rerank-weight", "nan"], 2, "rerank weight"),
    # --- analogy ----------------------------------------------------------------------------
    ("analogy-missing-arg", ["analogy", "-s", S, "man", "king"], 2, "needs three words"),
    ("analogy-unknown-word", ["analogy", "-s", S, "man", "king", "zebra"], 1, "unknown word 'zebra'"),
    ("analogy-method-bogus", ["analogy", "-s", S, "man", "king", "woman", "--method", "3cosdiv"], 2, "--method"),
    ("analogy-k-0", ["analogy", "-s", S, "man", "king", "woman", "-k", "0"], 2, "-k"),
    ("analogy-empty-word", ["analogy", "-s", S, "man", "", "woman"], 1, "no words left"),
    ("analogy-rerank-weight-nan", ["analogy", "-s", R, "man", "king", "woman", "--rerank", "--rerank-weight", "nan"], 2,
     "rerank weight"),
    ("analogy-ef-search-huge", ["analogy", "-s", H, "man", "king", "woman", "--ef-search", "99999999"], 2, "ef_search"),
    # --- similarity, doesnt-match, examples, info -------------------------------------------
    ("similarity-missing-arg", ["similarity", "-s", S, "king"], 2, "needs two words"),
    ("similarity-unknown", ["similarity", "-s", S, "king", "zebra"], 1, "unknown word 'zebra'"),
    ("similarity-empty", ["similarity", "-s", S, "king", ""], 1, "no words left"),
    ("doesnt-match-two-words", ["doesnt-match", "-s", S, "king", "queen"], 2, "at least 3"),
    ("doesnt-match-unknown", ["doesnt-match", "-s", S, "king", "queen", "zebra"], 1, "unknown word 'zebra'"),
    ("examples-n-0", ["examples", "-s", S, "king", "-n", "0"], 2, "-n"),
    ("examples-unknown", ["examples", "-s", S, "zebra"], 1, "unknown word 'zebra'"),
    ("examples-phrase", ["examples", "-s", S, "king queen"], 1, "single vocabulary words"),
    ("info-store-missing", ["info", "-s", f"{F}/nope"], 1, "nope"),
    ("info-store-junk", ["info", "-s", f"{F}/junkstore"], 1, "junkstore"),
    ("info-store-is-file", ["info", "-s", f"{F}/garbage.bin"], 1, "garbage.bin"),
    # --- evaluate ---------------------------------------------------------------------------
    ("eval-analogies-missing", ["evaluate", "analogies", "-s", S, f"{F}/nope.txt"], 1, "nope.txt"),
    ("eval-analogies-folder", ["evaluate", "analogies", "-s", S, f"{F}/folder"], 1, "folder is a directory"),
    ("eval-analogies-binary", ["evaluate", "analogies", "-s", S, f"{F}/garbage.bin"], 1, "garbage.bin"),
    ("eval-analogies-latin1", ["evaluate", "analogies", "-s", S, f"{F}/latin1.txt"], 1, "latin1.txt.*UTF-8"),
    ("eval-analogies-empty", ["evaluate", "analogies", "-s", S, f"{F}/empty.txt"], 1, "no (analogy )?questions"),
    ("eval-analogies-malformed", ["evaluate", "analogies", "-s", S, f"{F}/analogies_bad.txt"], 1, "no (analogy )?questions"),
    ("eval-analogies-restrict-0", ["evaluate", "analogies", "-s", S, f"{F}/empty.txt", "--restrict", "0"], 2, "--restrict"),
    ("eval-analogies-method", ["evaluate", "analogies", "-s", S, f"{F}/empty.txt", "--method", "x"], 2, "--method"),
    ("eval-analogies-store-missing", ["evaluate", "analogies", "-s", f"{F}/nope", f"{F}/empty.txt"], 1, "nope"),
    # Failed before: exit 0 with "spearman nan  pearson nan".
    ("eval-pairs-constant", ["evaluate", "pairs", "-s", S, f"{F}/constant.tsv"], 1, "no correlation"),
    ("eval-pairs-nan-scores", ["evaluate", "pairs", "-s", S, f"{F}/nan_pairs.tsv"], 1, "pair"),
    ("eval-pairs-oov", ["evaluate", "pairs", "-s", S, f"{F}/oov_pairs.tsv"], 1, "out of vocabulary"),
    ("eval-pairs-malformed", ["evaluate", "pairs", "-s", S, f"{F}/pairs_bad.tsv"], 1, "pair"),
    ("eval-pairs-missing", ["evaluate", "pairs", "-s", S, f"{F}/nope.tsv"], 1, "nope.tsv"),
    ("eval-pairs-folder", ["evaluate", "pairs", "-s", S, f"{F}/folder"], 1, "folder is a directory"),
    ("eval-pairs-binary", ["evaluate", "pairs", "-s", S, f"{F}/garbage.bin"], 1, "garbage.bin"),
    ("eval-pairs-empty", ["evaluate", "pairs", "-s", S, f"{F}/empty.txt"], 1, "empty.txt"),
    ("eval-pairs-restrict-0", ["evaluate", "pairs", "-s", S, f"{F}/constant.tsv", "--restrict", "0"], 2, "--restrict"),
    ("eval-pairs-subwords-word2vec", ["evaluate", "pairs", "-s", S, f"{F}/constant.tsv", "--subwords"], 2, "subword"),
    ("eval-pairs-no-files", ["evaluate", "pairs", "-s", S], 2, "Missing argument"),
    # --- export -----------------------------------------------------------------------------
    ("export-vectors-store-missing", ["export", "vectors", "-s", f"{F}/nope", "-o", O], 1, "nope"),
    ("export-vectors-top-0", ["export", "vectors", "-s", S, "--top", "0", "-o", O], 2, "--top"),
    ("export-vectors-top-text", ["export", "vectors", "-s", S, "--top", "all", "-o", O], 2, "--top"),
    ("export-vectors-format", ["export", "vectors", "-s", S, "--format", "hdf5", "-o", O], 2, "--format"),
    ("export-vectors-projector-stdout", ["export", "vectors", "-s", S, "--format", "projector"], 2, "-o PREFIX"),
    ("export-vectors-output-folder", ["export", "vectors", "-s", S, "-o", f"{F}/folder"], 2, "folder is a directory"),
    ("export-vectors-output-under-file", ["export", "vectors", "-s", S, "-o", f"{F}/a_file/x.txt"], 1, "a_file"),
    ("export-neighbors-k-0", ["export", "neighbors", "-s", S, "-k", "0", "-o", O], 2, "-k"),
    ("export-neighbors-words-missing", ["export", "neighbors", "-s", S, "--words", f"{F}/nope.txt", "-o", O], 2, "nope.txt"),
    ("export-neighbors-words-binary", ["export", "neighbors", "-s", S, "--words", f"{F}/garbage.bin", "-o", O], 2,
     "garbage.bin"),
    ("export-neighbors-words-folder", ["export", "neighbors", "-s", S, "--words", f"{F}/folder", "-o", O], 2,
     "folder.*directory"),
    ("export-neighbors-words-and-all", ["export", "neighbors", "-s", S, "--words", f"{F}/words.txt", "--all", "-o", O], 2,
     "not both"),
    ("export-neighbors-min-score-nan", ["export", "neighbors", "-s", S, "--min-score", "nan", "-o", O], 2, "min score"),
    ("export-neighbors-min-score-2", ["export", "neighbors", "-s", S, "--min-score", "2", "-o", O], 2, "min score"),
    ("export-neighbors-min-score-text", ["export", "neighbors", "-s", S, "--min-score", "high", "-o", O], 2, "--min-score"),
    ("export-neighbors-ef-search-flat", ["export", "neighbors", "-s", S, "--ef-search", "5", "-o", O], 2, "hnsw"),
    ("export-neighbors-format", ["export", "neighbors", "-s", S, "--format", "xml", "-o", O], 2, "--format"),
    ("export-similarities-missing", ["export", "similarities", "-s", S, f"{F}/nope.tsv", "-o", O], 1, "nope.tsv"),
    ("export-similarities-folder", ["export", "similarities", "-s", S, f"{F}/folder", "-o", O], 1, "folder is a directory"),
    ("export-similarities-binary", ["export", "similarities", "-s", S, f"{F}/garbage.bin", "-o", O], 1, "garbage.bin"),
    ("export-similarities-format", ["export", "similarities", "-s", S, f"{F}/constant.tsv", "--format", "x"], 2, "--format"),
    # --- import -----------------------------------------------------------------------------
    ("import-missing", ["import", f"{F}/nope.txt", "-o", O], 1, "nope.txt"),
    ("import-folder", ["import", f"{F}/folder", "-o", O], 1, "folder"),
    ("import-garbage", ["import", f"{F}/garbage.bin", "-o", O], 1, "garbage.bin"),
    ("import-empty", ["import", f"{F}/empty.txt", "-o", O], 1, "empty.txt"),
    ("import-no-header-words", ["import", f"{F}/vec_noheader.txt", "-o", O], 1, "vec_noheader.txt"),
    ("import-all-nan", ["import", f"{F}/vec_nan.txt", "-o", O], 1, "no usable vectors"),
    ("import-nan-strict", ["import", f"{F}/vec_nan.txt", "-o", O, "--strict"], 1, "NaN or infinite"),
    ("import-non-numbers", ["import", f"{F}/vec_words.txt", "-o", O], 1, "no usable vectors"),
    ("import-bad-utf8-word", ["import", f"{F}/vec_badutf8.txt", "-o", O, "--strict"], 1, "vec_badutf8.txt"),
    ("import-huge-dim-text", ["import", f"{F}/vec_hugedim.txt", "-o", O], 1, "dimensions.*out of range"),
    ("import-huge-dim-binary", ["import", f"{F}/vec_hugedim.bin", "-o", O, "--format", "word2vec-bin"], 1,
     "dimensions.*out of range"),
    ("import-truncated-binary", ["import", f"{F}/vec_truncated.bin", "-o", O, "--format", "word2vec-bin"], 1, "truncated"),
    ("import-truncated-gz", ["import", f"{F}/truncated.txt.gz", "-o", O, "--format", "glove"], 1,
     r"truncated\.txt\.gz.*truncated"),
    ("import-corrupt-gz", ["import", f"{F}/corrupt.txt.gz", "-o", O], 1, r"corrupt\.txt\.gz.*corrupt"),
    ("import-text-as-fasttext", ["import", "{text}", "-o", O, "--format", "fasttext-bin"], 1, "text.txt"),
    ("import-fasttext-huge-dim", ["import", f"{F}/ft_hugedim.bin", "-o", O], 1, "ft_hugedim.bin"),
    ("import-fasttext-short", ["import", f"{F}/ft_short.bin", "-o", O], 1, "ft_short.bin"),
    ("import-fasttext-truncated", ["import", f"{F}/ft_truncated.bin", "-o", O], 1, "ft_truncated.bin.*truncated"),
    ("import-fasttext-version", ["import", f"{F}/ft_version.bin", "-o", O], 1, "version"),
    ("import-format-bogus", ["import", "{text}", "-o", O, "--format", "npy"], 2, "--format"),
    ("import-pipeline-bogus", ["import", "{text}", "-o", O, "--pipeline", "frobnicate"], 2, "frobnicate"),
    ("import-output-exists", ["import", f"{F}/vec_nan.txt", "-o", S], 1, "already exists|no usable"),
    # --- reindex ----------------------------------------------------------------------------
    ("reindex-store-missing", ["reindex", "-s", f"{F}/nope"], 1, "nope"),
    ("reindex-store-junk", ["reindex", f"{F}/junkstore"], 1, "junkstore"),
    ("reindex-index-bogus", ["reindex", "-s", S, "--index", "btree"], 2, "--index"),
    ("reindex-target-recall-2", ["reindex", "-s", S, "--target-recall", "2"], 2, "--target-recall"),
    ("reindex-nlist-0", ["reindex", "-s", S, "--nlist", "0"], 2, "--nlist"),
    ("reindex-hnsw-m-1", ["reindex", "-s", S, "--hnsw-m", "1"], 2, "--hnsw-m"),
    ("reindex-pq-m-not-dividing", ["reindex", "-s", S, "--index", "ivfpq", "--pq-m", "3"], 2, "pq"),
    # --- rerank train -----------------------------------------------------------------------
    ("rerank-store-missing", ["rerank", "train", "-s", f"{F}/nope", C], 1, "nope"),
    ("rerank-corpus-missing", ["rerank", "train", "-s", S, f"{F}/nope"], 1, "nope"),
    ("rerank-corpus-is-file", ["rerank", "train", "-s", S, f"{F}/a_file"], 1, "a_file"),
    ("rerank-hidden-0", ["rerank", "train", "-s", S, C, "--hidden", "0"], 2, "--hidden"),
    # Failed before: a MemoryError traceback (284 PiB asked of numpy).
    ("rerank-hidden-huge", ["rerank", "train", "-s", S, C, "--hidden", "100000000"], 2, "hidden"),
    ("rerank-window-0", ["rerank", "train", "-s", S, C, "--window", "0"], 2, "--window"),
    # Failed before: a MemoryError traceback (2.18 TiB of windows).
    ("rerank-window-huge", ["rerank", "train", "-s", S, C, "--window", "100000000"], 2, "window"),
    ("rerank-memory-estimate", ["rerank", "train", "-s", S, C, "--hidden", "4096", "--window", "256", "--batch", "65536"], 1,
     "needs ~.*memory"),
    ("rerank-batch-0", ["rerank", "train", "-s", S, C, "--batch", "0"], 2, "--batch"),
    ("rerank-batch-huge", ["rerank", "train", "-s", S, C, "--batch", "100000000"], 2, "batch"),
    ("rerank-negatives-huge", ["rerank", "train", "-s", S, C, "--negatives", "1000000000"], 2, "negatives"),
    ("rerank-learning-rate-0", ["rerank", "train", "-s", S, C, "--learning-rate", "0"], 2, "--learning-rate"),
    ("rerank-learning-rate-nan", ["rerank", "train", "-s", S, C, "--learning-rate", "nan"], 2, "learning.rate"),
    ("rerank-learning-rate-inf", ["rerank", "train", "-s", S, C, "--learning-rate", "inf"], 2, "learning.rate"),
    ("rerank-clip-nan", ["rerank", "train", "-s", S, C, "--clip", "nan"], 2, "clip"),
    ("rerank-sample-1", ["rerank", "train", "-s", S, C, "--sample", "1"], 2, "--sample"),
    ("rerank-sample-nan", ["rerank", "train", "-s", S, C, "--sample", "nan"], 2, "sample"),
    ("rerank-epochs-0", ["rerank", "train", "-s", S, C, "--epochs", "0"], 2, "--epochs"),
    ("rerank-epochs-inf", ["rerank", "train", "-s", S, C, "--epochs", "inf"], 2, "epochs"),
    ("rerank-epochs-nan", ["rerank", "train", "-s", S, C, "--epochs", "nan"], 2, "epochs"),
    ("rerank-tokens-0", ["rerank", "train", "-s", S, C, "--tokens", "0"], 2, "--tokens"),
    ("rerank-minutes-nan", ["rerank", "train", "-s", S, C, "--minutes", "nan"], 2, "minutes"),
    ("rerank-minutes-negative", ["rerank", "train", "-s", S, C, "--minutes", "-1"], 2, "--minutes"),
    ("rerank-contexts-0", ["rerank", "train", "-s", S, C, "--contexts", "0"], 2, "--contexts"),
    ("rerank-seed-negative", ["rerank", "train", "-s", S, C, "--seed", "-1"], 2, "--seed"),
    # --- quickstart -------------------------------------------------------------------------
    ("quickstart-workers-0", ["quickstart", "-o", O, "--workers", "0"], 2, "--workers"),
    ("quickstart-output-is-file", ["quickstart", "-o", f"{F}/a_file"], 1, "a_file"),
]


def test_enough_cases() -> None:
    assert len(CASES) >= 150
    assert len({case[0] for case in CASES}) == len(CASES)


def _fill(arg: str, tiny: dict[str, Path], out: Path) -> str:
    return arg.format(store=tiny["store"], hnsw=tiny["hnsw"], rerank=tiny["rerank"], corpus=tiny["corpus"],
                      files=tiny["files"], text=tiny["text"], out=out) if "{" in arg and len(arg) < 1000 else arg


@pytest.mark.parametrize(("case_id", "args", "code", "pattern"), CASES, ids=[case[0] for case in CASES])
def test_bad_input(case_id: str, args: list[str], code: int, pattern: str, tiny: dict[str, Path], tmp_path: Path,
                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    out = work / "out"
    result = CliRunner().invoke(main, ["-q", *(_fill(a, tiny, out) for a in args)])
    assert isinstance(result.exception, SystemExit), f"{case_id}: {result.exception!r}\n{result.output}"
    assert "Traceback" not in result.output
    assert result.exit_code == code, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert len(errors) == 1, result.stderr
    assert re.search(pattern, errors[0]), errors[0]
    if code == 1:  # a library error: one line, after at most some warnings (e.g. "skipped X: looks binary")
        others = [line for line in result.stderr.splitlines() if line.strip() and line != errors[0]]
        assert all(line.startswith("warning: ") for line in others), result.stderr
    assert list(work.iterdir()) == [], f"{case_id} left {list(work.iterdir())}"
