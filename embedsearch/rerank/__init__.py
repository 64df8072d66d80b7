"""The LSTM reranker: sampled contexts of each word, a bidirectional LSTM language model in numpy
that scores how well a word fits a context, its training, and the reranking of neighbours.

Nothing here is imported by plain queries; ``--rerank`` and ``embedsearch rerank`` load it.
"""
