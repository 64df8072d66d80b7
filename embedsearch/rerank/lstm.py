"""A long short-term memory layer in numpy: pure functions over one packed weight matrix.

The cell is the classic one (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al.
2000), for input ``x_t`` and previous state ``h_{t-1}``, ``c_{t-1}``::

    [z_i, z_f, z_g, z_o] = [x_t, h_{t-1}, 1] @ W      (W packs input, recurrent and bias weights)
    i = sigmoid(z_i)   input gate          f = sigmoid(z_f)   forget gate
    g = tanh(z_g)      candidate cell      o = sigmoid(z_o)   output gate
    c_t = f * c_{t-1} + i * g              h_t = o * tanh(c_t)

``W`` has shape ``(input_dim + hidden + 1, 4 * hidden)``: rows for the input, rows for the
recurrent state, and a last row of biases; columns in gate order i, f, g, o.

Sequences in a batch may be shorter than the batch's length: where ``mask[t, b]`` is 0 the cell
does not step, so ``h`` and ``c`` carry over unchanged. Padding at the start of a sequence thus
leaves the zero initial state untouched, and the state after the last step is the state after the
sequence's real tokens.

The functions work in the dtype of ``W`` (float32 for speed; float64 for the gradient check).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GATES = 4


@dataclass(frozen=True)
class LSTMCache:
    """What :func:`lstm_backward` needs from a forward pass."""

    W: np.ndarray
    inputs: np.ndarray  # (T, B, D)
    hidden_in: np.ndarray  # (T, B, H): h_{t-1} for each step
    cell_in: np.ndarray  # (T, B, H): c_{t-1} for each step
    gates: np.ndarray  # (T, B, 4H): activated i, f, g, o
    tanh_cell: np.ndarray  # (T, B, H): tanh of the stepped cell
    mask: np.ndarray  # (T, B, 1)


def lstm_init(input_dim: int, hidden: int, rng: np.random.Generator, dtype: type = np.float32) -> np.ndarray:
    """A packed weight matrix: uniform(+-1/sqrt(hidden)) weights, zero biases but 1 for the forget
    gate, which starts the cell remembering (Jozefowicz et al. 2015)."""
    bound = 1.0 / np.sqrt(hidden)
    W = rng.uniform(-bound, bound, size=(input_dim + hidden + 1, GATES * hidden))
    W[-1] = 0.0
    W[-1, hidden:2 * hidden] = 1.0
    return W.astype(dtype)


def sigmoid(z: np.ndarray) -> np.ndarray:
    # tanh form: no overflow warning for large negative z, and exact in float32 and float64 alike.
    return 0.5 * (np.tanh(0.5 * z) + 1.0)


def lstm_forward(W: np.ndarray, inputs: np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, LSTMCache]:
    """Run the layer over ``inputs`` of shape ``(T, B, D)`` from a zero state.

    Returns the hidden states ``(T, B, H)`` (``out[t]`` is the state after step ``t``) and the cache
    for :func:`lstm_backward`. ``mask`` is ``(T, B)`` with 1 for real steps and 0 for padding.
    """
    steps, batch, input_dim = inputs.shape
    hidden = W.shape[1] // GATES
    if W.shape[0] != input_dim + hidden + 1:
        raise ValueError(f"weights of shape {W.shape} do not fit inputs of width {input_dim}")
    dtype = W.dtype
    inputs = inputs.astype(dtype, copy=False)
    m = (np.ones((steps, batch)) if mask is None else mask).astype(dtype, copy=False)[:, :, None]
    # The input part of every step in one product; only the recurrent part is sequential.
    projected = (inputs.reshape(-1, input_dim) @ W[:input_dim]).reshape(steps, batch, -1) + W[-1]
    recurrent = W[input_dim:-1]
    out = np.empty((steps, batch, hidden), dtype=dtype)
    hidden_in = np.empty_like(out)
    cell_in = np.empty_like(out)
    tanh_cell = np.empty_like(out)
    gates = np.empty((steps, batch, GATES * hidden), dtype=dtype)
    h = np.zeros((batch, hidden), dtype=dtype)
    c = np.zeros((batch, hidden), dtype=dtype)
    for t in range(steps):
        hidden_in[t], cell_in[t] = h, c
        z = projected[t] + h @ recurrent
        act = gates[t]
        act[:, :2 * hidden] = sigmoid(z[:, :2 * hidden])
        act[:, 2 * hidden:3 * hidden] = np.tanh(z[:, 2 * hidden:3 * hidden])
        act[:, 3 * hidden:] = sigmoid(z[:, 3 * hidden:])
        i, f, g, o = act[:, :hidden], act[:, hidden:2 * hidden], act[:, 2 * hidden:3 * hidden], act[:, 3 * hidden:]
        stepped = f * c + i * g
        tanh_cell[t] = np.tanh(stepped)
        keep = m[t]
        c = keep * stepped + (1 - keep) * c
        h = keep * (o * tanh_cell[t]) + (1 - keep) * h
        out[t] = h
    return out, LSTMCache(W, inputs, hidden_in, cell_in, gates, tanh_cell, m)


def lstm_backward(d_out: np.ndarray, cache: LSTMCache) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of a loss with respect to ``W`` and the inputs, given its gradient ``d_out``
    with respect to every hidden state of :func:`lstm_forward` (zeros where unused).

    Returns ``(dW, d_inputs)`` with the shapes of ``W`` and the inputs.
    """
    W, m = cache.W, cache.mask
    steps, batch, hidden = d_out.shape
    input_dim = cache.inputs.shape[2]
    recurrent_t = W[input_dim:-1].T
    d_gates = np.empty_like(cache.gates)
    dh = np.zeros((batch, hidden), dtype=W.dtype)
    dc = np.zeros((batch, hidden), dtype=W.dtype)
    for t in range(steps - 1, -1, -1):
        keep = m[t]
        act = cache.gates[t]
        i, f, g, o = act[:, :hidden], act[:, hidden:2 * hidden], act[:, 2 * hidden:3 * hidden], act[:, 3 * hidden:]
        dh_total = dh + d_out[t]
        dh_step = keep * dh_total
        tanh_c = cache.tanh_cell[t]
        dc_step = keep * dc + dh_step * o * (1 - tanh_c * tanh_c)
        dz = d_gates[t]
        dz[:, :hidden] = dc_step * g * i * (1 - i)
        dz[:, hidden:2 * hidden] = dc_step * cache.cell_in[t] * f * (1 - f)
        dz[:, 2 * hidden:3 * hidden] = dc_step * i * (1 - g * g)
        dz[:, 3 * hidden:] = dh_step * tanh_c * o * (1 - o)
        # What flows to step t-1: through the gates where the cell stepped, unchanged where it carried.
        dc = dc_step * f + (1 - keep) * dc
        dh = dz @ recurrent_t + (1 - keep) * dh_total
    flat_dz = d_gates.reshape(-1, GATES * hidden)
    dW = np.empty_like(W)
    dW[:input_dim] = cache.inputs.reshape(-1, input_dim).T @ flat_dz
    dW[input_dim:-1] = cache.hidden_in.reshape(-1, hidden).T @ flat_dz
    dW[-1] = flat_dz.sum(axis=0)
    d_inputs = (flat_dz @ W[:input_dim].T).reshape(cache.inputs.shape)
    return dW, d_inputs


def lstm_step(W: np.ndarray, x: np.ndarray, h: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One unmasked step from state ``(h, c)``, written straight from the cell equations; the
    reference :func:`lstm_forward` is tested against."""
    hidden = h.shape[1]
    z = np.concatenate([x, h, np.ones((x.shape[0], 1), dtype=W.dtype)], axis=1) @ W
    i = sigmoid(z[:, :hidden])
    f = sigmoid(z[:, hidden:2 * hidden])
    g = np.tanh(z[:, 2 * hidden:3 * hidden])
    o = sigmoid(z[:, 3 * hidden:])
    c_next = f * c + i * g
    return o * np.tanh(c_next), c_next
