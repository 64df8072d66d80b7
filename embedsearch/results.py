"""What queries return: frozen dataclasses, the same documents for the Python API, the CLI's
``--json`` and the HTTP API."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Neighbor:
    word: str
    score: float


@dataclass(frozen=True)
class RerankedNeighbor(Neighbor):
    """A neighbour re-scored by the LSTM reranker: ``score = cosine + weight * fit``.

    ``cosine`` is the score it was found with (for ``analogy --method 3cosmul``, the 3CosMul score);
    ``fit`` is how well it fits the query word's stored contexts by the reranker's language model,
    relative to the query word itself (0: as well; -1: one nat worse on average).
    """

    cosine: float = 0.0
    fit: float = 0.0


@dataclass(frozen=True)
class RerankInfo:
    """How results were reranked: the candidates drawn by cosine, the weight of fit, and the
    stored contexts of ``context_words`` that the fit was measured in."""

    candidates: int
    weight: float
    contexts: int
    context_words: list[str]


@dataclass(frozen=True)
class QueryTerm:
    """A word of the query as typed, the word(s) it became, and its weight.

    ``oov`` lists the words that are not in the vocabulary and were built from subwords
    (FastText stores only; elsewhere an unknown word is an error).
    """

    text: str
    words: list[str]
    weight: float
    oov: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SearchInfo:
    """How neighbours were found: the index kind, whether exact, and its measured recall@10.

    ``recall_at_10`` is ``None`` when a search parameter overrides the one the recall was measured at.
    """

    index: str
    exact: bool
    recall_at_10: float | None


@dataclass(frozen=True)
class SimilarResult:
    query: str
    terms: list[QueryTerm]
    neighbors: list[Neighbor]
    search: SearchInfo | None = None
    rerank: RerankInfo | None = None


@dataclass(frozen=True)
class AnalogyResult:
    """``a`` is to ``b`` as ``c`` is to each of ``neighbors``."""

    a: str
    b: str
    c: str
    method: str
    neighbors: list[Neighbor]
    oov: list[str] = field(default_factory=list)
    search: SearchInfo | None = None
    rerank: RerankInfo | None = None


@dataclass(frozen=True)
class SimilarityResult:
    first: QueryTerm
    second: QueryTerm
    score: float


@dataclass(frozen=True)
class DoesntMatchResult:
    """The word least like the others; ``scores`` are each word's cosine to the mean, lowest first."""

    odd_one_out: str
    scores: list[Neighbor]
    oov: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Example:
    """One sampled occurrence of a word: the words before it and after it in its sentence.
    Words outside the vocabulary (below min-count) show as ``<unk>``."""

    left: list[str]
    word: str
    right: list[str]


@dataclass(frozen=True)
class ExamplesResult:
    word: str
    examples: list[Example]
    sampled: int


@dataclass(frozen=True)
class StoreInfo:
    path: str
    words: int
    dim: int
    metric: str
    model: dict[str, Any]
    pipeline: str
    index: dict[str, Any]
    corpus: dict[str, Any] | None
    files: dict[str, int]
    created_with: str
    created_at: str
    pipeline_steps: list[dict[str, Any]] = field(default_factory=list)
    contexts: dict[str, Any] | None = None
    reranker: dict[str, Any] | None = None
    postprocess: dict[str, Any] | None = None
