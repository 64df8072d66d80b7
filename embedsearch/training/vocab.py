"""The word counts of a tokenized corpus file, counted by several processes.

gensim's ``build_vocab(corpus_file=...)`` scans the file in one Python thread (3.4 s for text8's
17M words, while the other core waits). The same counts, in the same order, from one process per
training worker let gensim skip its scan (``build_vocab_from_freq``), and the time saved pays for
sampling the contexts the store keeps.

"The same" matters: gensim's tie order among equally frequent words follows the order in which its
scan first met them, and its learning-rate schedule in corpus-file mode follows the number of
sentences it counted. So the counts keep first-occurrence order (each span counts in file order and
spans merge in file order), and sentences are counted as gensim's ``LineSentence`` yields them:
each non-empty line, cut into pieces of at most 10,000 words.
"""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass

from ..progress import Progress, ProgressCallback, ignore_progress
from ..spans import file_spans, span_lines

GENSIM_SENTENCE_WORDS = 10_000  # gensim.models.word2vec.MAX_WORDS_IN_BATCH, LineSentence's cut


@dataclass(frozen=True)
class WordCounts:
    """Every word of the corpus with its count, in order of first occurrence."""

    counts: dict[str, int]
    sentences: int

    @property
    def tokens(self) -> int:
        """Corpus words in all (each occurrence counted)."""
        return sum(self.counts.values())


def _count_span(path: str, start: int, end: int) -> tuple[Counter[str], int]:
    counts: Counter[str] = Counter()
    sentences = 0
    for _, line in span_lines(path, start, end):
        words = line.split()
        if words:
            counts.update(words)
            sentences += -(-len(words) // GENSIM_SENTENCE_WORDS)
    return counts, sentences  # a Counter is a dict: it pickles back in first-occurrence order


def count_words(text_path: str | os.PathLike[str], *, workers: int | None = None,
                progress: ProgressCallback = ignore_progress) -> WordCounts:
    """Count the words of a corpus file (tokens separated by whitespace, a sentence per line) with
    ``workers`` processes (default: all cores)."""
    from ..corpus import default_workers
    from ..workers import process_pool

    spans = file_spans(text_path)
    total = spans[-1][2]
    workers = max(1, min(workers or default_workers(), len(spans)))
    progress(Progress("vocabulary", 0, total / 1e6, "MB"))
    merged: dict[str, int] = {}
    sentences = done = 0

    def absorb(part: tuple[dict[str, int], int], span: tuple[int, int, int]) -> None:
        nonlocal sentences, done
        counts, span_sentences = part
        get = merged.get
        for word, count in counts.items():  # spans arrive in file order, so first occurrences stay first
            merged[word] = get(word, 0) + count
        sentences += span_sentences
        done += span[2] - span[1]
        progress(Progress("vocabulary", done / 1e6, total / 1e6, "MB"))

    if workers == 1:
        for span in spans:
            absorb(_count_span(str(text_path), span[1], span[2]), span)
    else:
        with process_pool(workers) as pool:
            futures = [pool.submit(_count_span, str(text_path), start, end) for _, start, end in spans]
            for future, span in zip(futures, spans):
                absorb(future.result(), span)
    progress(Progress("vocabulary", total / 1e6, total / 1e6, "MB", f"{len(merged):,} distinct words", final=True))
    return WordCounts(merged, sentences)
