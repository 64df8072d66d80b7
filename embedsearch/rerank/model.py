"""The bidirectional LSTM language model that scores how well a word fits a slot in a sentence.

For a slot at position ``t`` the forward LSTM reads the words left of it (in order, ending next to
the slot), the backward LSTM the words right of it (from the far end towards the slot). Their last
states go through a learned projection into a space of target vectors, and a candidate word ``w``
scores ``u . o_w`` there. The inputs are always the store's own word vectors, frozen. The target
vectors ``o`` are either the same frozen store vectors (``targets="store"``, the original model: it
learns only the two LSTMs and the projection, so it stays small) or a table of the model's own,
``V x dim`` more parameters (``targets="learned"``, as context2vec: Melamud, Goldberger and Dagan
2016, a BiLSTM context encoder trained with negative sampling against learned target embeddings),
initialised from the store's vectors so a short run starts where the frozen model starts.

Training uses negative sampling (Mikolov et al. 2013) with negatives shared by a batch, so the
score learns a PMI-like fit (how much more likely ``w`` is in the slot than by its frequency)
rather than a preference for frequent words; this is what reranking needs.

Token ids: a store row (>= 0), :data:`OOV` for a word outside the vocabulary (input: a zero vector;
never a target), :data:`PAD` for no token (the LSTM does not step).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .lstm import LSTMCache, lstm_backward, lstm_forward, lstm_init, sigmoid

OOV = -1
PAD = -2
PARAMETERS = ("forward", "backward", "projection")
OUTPUT = "output"
TARGETS = ("store", "learned")


@dataclass
class LMWeights:
    """The trainable arrays: one packed LSTM matrix per direction, the output projection
    ``(2 * hidden + 1, dim)`` (last row: bias) and, for ``targets="learned"``, the target table
    ``output`` ``(V, dim)`` (None: the store's vectors are the targets)."""

    forward: np.ndarray
    backward: np.ndarray
    projection: np.ndarray
    output: np.ndarray | None = None

    @property
    def hidden(self) -> int:
        return self.projection.shape[0] // 2

    @property
    def dim(self) -> int:
        return self.projection.shape[1]

    @property
    def targets(self) -> str:
        return "store" if self.output is None else "learned"

    def arrays(self) -> dict[str, np.ndarray]:
        """The dense arrays (those Adam updates as a whole)."""
        return {name: getattr(self, name) for name in PARAMETERS}

    def saved(self) -> dict[str, np.ndarray]:
        """Every array, as saved in ``reranker.npz``."""
        return {**self.arrays(), **({} if self.output is None else {OUTPUT: self.output})}

    def target_vectors(self, vectors: np.ndarray) -> np.ndarray:
        """The table candidates are scored against: the model's own, or the store's ``vectors``."""
        return vectors if self.output is None else self.output

    def astype(self, dtype: type) -> LMWeights:
        return LMWeights(*(getattr(self, name).astype(dtype) for name in PARAMETERS),
                         output=None if self.output is None else self.output.astype(dtype))


def lm_init(dim: int, hidden: int, rng: np.random.Generator, dtype: type = np.float32, *,
            output: np.ndarray | None = None) -> LMWeights:
    """Fresh weights; ``output`` (e.g. a copy of the store's vectors) makes the target table learned."""
    bound = 1.0 / np.sqrt(2 * hidden)
    projection = rng.uniform(-bound, bound, size=(2 * hidden + 1, dim))
    projection[-1] = 0.0
    return LMWeights(
        lstm_init(dim, hidden, rng, dtype), lstm_init(dim, hidden, rng, dtype), projection.astype(dtype),
        output=None if output is None else np.array(output, dtype=dtype),
    )


@dataclass(frozen=True)
class RowGradient:
    """The gradient of a large table, nonzero only in some rows: ``values[i]`` for row ``rows[i]``
    (rows unique and sorted)."""

    rows: np.ndarray
    values: np.ndarray

    def dense(self, shape: tuple[int, ...]) -> np.ndarray:
        out = np.zeros(shape, dtype=self.values.dtype)
        out[self.rows] = self.values
        return out


def row_gradient(rows: np.ndarray, values: np.ndarray) -> RowGradient:
    """Sum ``values`` of repeated ``rows`` into one gradient row each."""
    unique, inverse = np.unique(rows, return_inverse=True)
    summed = np.zeros((len(unique), values.shape[1]), dtype=values.dtype)
    np.add.at(summed, inverse, values)
    return RowGradient(unique, summed)


def embed(vectors: np.ndarray, ids: np.ndarray, dtype: type) -> np.ndarray:
    """Rows of ``vectors`` for ``ids``, zero rows for OOV and PAD."""
    rows = np.asarray(vectors[np.maximum(ids, 0)], dtype=dtype)
    rows[ids < 0] = 0.0
    return rows


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -x)


def encode_slots(weights: LMWeights, vectors: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Slot vectors ``(N, dim)`` for ``N`` slots given their contexts.

    ``left`` is ``(N, L)``: the words before each slot, nearest last, padded with PAD at the start.
    ``right`` is ``(N, R)``: the words after it, nearest first, padded with PAD at the end.
    """
    dtype = weights.projection.dtype
    hidden = weights.hidden
    states = np.zeros((left.shape[0], 2 * hidden + 1), dtype=dtype)
    states[:, -1] = 1.0
    if left.shape[1]:
        out, _ = lstm_forward(weights.forward, embed(vectors, left.T, dtype), (left.T != PAD))
        states[:, :hidden] = out[-1]
    if right.shape[1]:
        reversed_right = right[:, ::-1].T  # the backward LSTM reads from the far end towards the slot
        out, _ = lstm_forward(weights.backward, embed(vectors, reversed_right, dtype), (reversed_right != PAD))
        states[:, hidden:2 * hidden] = out[-1]
    return states @ weights.projection


def fit_scores(slots: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """``(N, C)`` log-sigmoid fit of each candidate vector in each slot: near 0 fits, very negative does not."""
    return _log_sigmoid(slots @ candidates.T)


def own_fit_scores(slots: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """``(N,)`` fit of ``vectors[i]`` in slot ``i`` (e.g. of the word that really occurred there)."""
    return _log_sigmoid(np.einsum("nd,nd->n", slots, vectors))


@dataclass(frozen=True)
class WindowBatch:
    """A batch of training windows: ``tokens`` ``(B, T)`` ids; ``targets`` ``(B, T)`` bool, the
    slots whose word is predicted (real vocabulary words, possibly subsampled)."""

    tokens: np.ndarray
    targets: np.ndarray


@dataclass(frozen=True)
class _Forward:
    cache_forward: LSTMCache
    cache_backward: LSTMCache
    features: np.ndarray  # (N, 2H+1)
    slots: np.ndarray  # (N, dim)
    where: tuple[np.ndarray, np.ndarray]  # (t, b) of each target


def _forward(weights: LMWeights, vectors: np.ndarray, batch: WindowBatch) -> _Forward:
    dtype = weights.projection.dtype
    tokens = batch.tokens.T  # (T, B)
    steps = tokens.shape[0]
    hidden = weights.hidden
    inputs = embed(vectors, tokens, dtype)
    mask = tokens != PAD
    h_forward, cache_forward = lstm_forward(weights.forward, inputs, mask)
    h_backward_reversed, cache_backward = lstm_forward(weights.backward, inputs[::-1], mask[::-1])
    h_backward = h_backward_reversed[::-1]
    t, b = np.nonzero(batch.targets.T)
    features = np.zeros((len(t), 2 * hidden + 1), dtype=dtype)
    features[:, -1] = 1.0
    has_left = t > 0
    features[has_left, :hidden] = h_forward[t[has_left] - 1, b[has_left]]
    has_right = t < steps - 1
    features[has_right, hidden:2 * hidden] = h_backward[t[has_right] + 1, b[has_right]]
    return _Forward(cache_forward, cache_backward, features, features @ weights.projection, (t, b))


def _scores(weights: LMWeights, vectors: np.ndarray, batch: WindowBatch,
            negatives: np.ndarray) -> tuple[_Forward, np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """The forward pass, the target and negative vectors, their scores, and the mean loss."""
    dtype = weights.projection.dtype
    state = _forward(weights, vectors, batch)
    t, b = state.where
    table = weights.target_vectors(vectors)
    target_vectors = embed(table, batch.tokens[b, t], dtype)
    negative_vectors = embed(table, negatives, dtype)
    positive = np.einsum("nd,nd->n", state.slots, target_vectors)
    negative = state.slots @ negative_vectors.T
    loss = -(_log_sigmoid(positive).sum() + _log_sigmoid(-negative).sum()) / max(len(t), 1)
    return state, target_vectors, negative_vectors, positive, negative, float(loss)


def lm_loss(weights: LMWeights, vectors: np.ndarray, batch: WindowBatch, negatives: np.ndarray) -> float:
    """Mean negative-sampling loss per target slot (``negatives``: store rows shared by the batch).

    Per target slot with vector ``u`` and word ``w``: ``-log s(u.e_w) - sum_n log s(-u.e_n)`` over
    the shared negatives ``n``, averaged over the batch's targets.
    """
    return _scores(weights, vectors, batch, negatives)[-1]


def lm_loss_and_gradients(weights: LMWeights, vectors: np.ndarray, batch: WindowBatch,
                          negatives: np.ndarray) -> tuple[float, LMWeights, RowGradient | None]:
    """:func:`lm_loss` and its gradients with respect to the dense arrays, and with respect to the
    learned target table as a :class:`RowGradient` (None for ``targets="store"``)."""
    dtype = weights.projection.dtype
    state, target_vectors, negative_vectors, positive, negative, loss = _scores(weights, vectors, batch, negatives)
    t, b = state.where
    count = max(len(t), 1)
    d_positive = (sigmoid(positive) - 1.0) / count
    d_negative = sigmoid(negative) / count
    d_slots = d_positive[:, None] * target_vectors + d_negative @ negative_vectors
    d_output = None
    if weights.output is not None:
        # Target rows (never OOV or PAD: only vocabulary words are targets) and the shared negatives.
        rows = np.concatenate([batch.tokens[b, t], np.asarray(negatives)]).astype(np.int64)
        values = np.concatenate([d_positive[:, None] * state.slots, d_negative.T @ state.slots])
        d_output = row_gradient(rows, values.astype(dtype, copy=False))
    d_projection = state.features.T @ d_slots
    d_features = d_slots @ weights.projection.T
    hidden = weights.hidden
    steps, size = batch.tokens.shape[1], batch.tokens.shape[0]
    d_forward_states = np.zeros((steps, size, hidden), dtype=dtype)
    d_backward_states = np.zeros((steps, size, hidden), dtype=dtype)
    has_left = t > 0
    # Each target is a distinct (t, b), so plain assignment does not lose contributions.
    d_forward_states[t[has_left] - 1, b[has_left]] = d_features[has_left, :hidden]
    has_right = t < steps - 1
    d_backward_states[t[has_right] + 1, b[has_right]] = d_features[has_right, hidden:2 * hidden]
    d_forward, _ = lstm_backward(d_forward_states, state.cache_forward)
    d_backward, _ = lstm_backward(d_backward_states[::-1], state.cache_backward)
    return loss, LMWeights(d_forward, d_backward, d_projection), d_output
