"""Adam with global-norm gradient clipping, over named numpy arrays updated in place."""
from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np


def clip_global_norm(gradients: Mapping[str, np.ndarray], max_norm: float) -> float:
    """Scale all ``gradients`` in place so their joint L2 norm is at most ``max_norm``; returns
    the norm before clipping (exploding gradients are the classic failure of LSTM training)."""
    norm = math.sqrt(sum(float(np.vdot(g, g)) for g in gradients.values()))
    if norm > max_norm > 0:
        scale = max_norm / (norm + 1e-12)
        for g in gradients.values():
            g *= scale
    return norm


class Adam:
    """Kingma & Ba (2015), with bias-corrected moments."""

    def __init__(self, parameters: Mapping[str, np.ndarray], learning_rate: float = 2e-3, beta1: float = 0.9,
                 beta2: float = 0.999, epsilon: float = 1e-8) -> None:
        if learning_rate <= 0:
            raise ValueError(f"learning rate must be positive, got {learning_rate}")
        self.parameters = dict(parameters)
        self.learning_rate = learning_rate
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon
        self.first = {name: np.zeros_like(p) for name, p in self.parameters.items()}
        self.second = {name: np.zeros_like(p) for name, p in self.parameters.items()}
        self.steps = 0

    def step(self, gradients: Mapping[str, np.ndarray]) -> None:
        self.steps += 1
        correction1 = 1 - self.beta1 ** self.steps
        correction2 = 1 - self.beta2 ** self.steps
        rate = self.learning_rate * math.sqrt(correction2) / correction1
        for name, parameter in self.parameters.items():
            g = gradients[name]
            m, v = self.first[name], self.second[name]
            m *= self.beta1
            m += (1 - self.beta1) * g
            v *= self.beta2
            v += (1 - self.beta2) * (g * g)
            parameter -= rate * m / (np.sqrt(v) + self.epsilon)


class SparseSGD:
    """Plain stochastic gradient descent on the rows of a table a step touches (word2vec's update).
    ``scale`` multiplies the gradient first: the loss is a mean over a batch's target slots, so the
    trainer passes their count to give each slot's example the step word2vec gives it."""

    def __init__(self, table: np.ndarray, learning_rate: float) -> None:
        if learning_rate <= 0:
            raise ValueError(f"learning rate must be positive, got {learning_rate}")
        self.table = table
        self.learning_rate = learning_rate

    def step(self, rows: np.ndarray, values: np.ndarray, scale: float = 1.0) -> None:
        self.table[rows] -= (self.learning_rate * scale) * values

