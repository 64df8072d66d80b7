"""embedsearch: train word embeddings on your own text and ask similarity questions about them.

    >>> import embedsearch
    >>> corpus = embedsearch.ingest(["my_texts/"], "my_corpus")
    >>> embedsearch.train(corpus, "my_store", config=embedsearch.TrainConfig(arch="skipgram"))
    >>> with embedsearch.open_store("my_store") as store:
    ...     store.similar("king - man + woman", k=5).neighbors

Names are imported on first use (PEP 562), so ``import embedsearch`` stays cheap and opening a
store never loads the training code.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "ingest": "corpus",
    "open_corpus": "corpus",
    "Corpus": "corpus",
    "IngestStats": "corpus",
    "train": "training",
    "TrainConfig": "training",
    "TrainResult": "training",
    "EpochStats": "training",
    "open_store": "query",
    "Store": "query",
    "Neighbor": "query",
    "QueryTerm": "query",
    "SimilarResult": "query",
    "AnalogyResult": "query",
    "SimilarityResult": "query",
    "DoesntMatchResult": "query",
    "StoreInfo": "query",
    "RerankedNeighbor": "query",
    "RerankInfo": "query",
    "Example": "query",
    "ExamplesResult": "query",
    "train_reranker": "rerank.training",
    "RerankConfig": "rerank.training",
    "RerankTrainResult": "rerank.training",
    "quickstart": "demo",
    "QuickstartResult": "demo",
    "Pipeline": "text.pipeline",
    "english_words": "text.pipeline",
    "parse_expression": "expression",
    "Progress": "progress",
    "EmbedsearchError": "errors",
    "UsageError": "errors",
    "ConfigError": "errors",
    "ExpressionError": "errors",
    "SourceError": "errors",
    "EmptyCorpusError": "errors",
    "TrainingError": "errors",
    "MemoryLimitError": "errors",
    "StoreError": "errors",
    "StoreExistsError": "errors",
    "QueryError": "errors",
    "UnknownWordError": "errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'embedsearch' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:
    from .corpus import Corpus, IngestStats, ingest, open_corpus
    from .errors import (
        ConfigError,
        EmbedsearchError,
        EmptyCorpusError,
        ExpressionError,
        MemoryLimitError,
        QueryError,
        SourceError,
        StoreError,
        StoreExistsError,
        TrainingError,
        UnknownWordError,
        UsageError,
    )
    from .expression import parse_expression
    from .progress import Progress
    from .query import (
        AnalogyResult,
        DoesntMatchResult,
        Example,
        ExamplesResult,
        Neighbor,
        QueryTerm,
        RerankedNeighbor,
        RerankInfo,
        SimilarityResult,
        SimilarResult,
        Store,
        StoreInfo,
        open_store,
    )
    from .demo import QuickstartResult, quickstart
    from .rerank.training import RerankConfig, RerankTrainResult, train_reranker
    from .text.pipeline import Pipeline, english_words
    from .training import EpochStats, TrainConfig, TrainResult, train
