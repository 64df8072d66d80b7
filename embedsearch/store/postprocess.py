"""Post-processing a store's vectors: mean-centering and "all-but-the-top" (Mu & Viswanath 2018).

Word vectors share a large common mean and a few dominant directions that carry word frequency
more than meaning. ``center`` subtracts the mean of the vocabulary's unit vectors; ``abtt:D`` also
removes the projections on the ``D`` top principal directions of the centred vectors. The result
is normalised again, as every stored row is.

The transform is defined on **unit** vectors (normalise, subtract the mean, remove the directions,
normalise), so that it means the same for a store trained here, imported, or post-processed later
with ``reindex`` (a store keeps unit rows only). It is fitted once, at build time, on all stored
rows; its parameters are saved in the store (``postprocess.npy``: the mean, then the ``D``
directions, float32) and the query path applies the same function to every vector it builds that
is not a stored row: a FastText store's vector for an unseen word, from its subwords, lands where
a seen word's would. Expressions and analogies combine stored rows (or such vectors), so they need
nothing more. numpy only: this module is on the query path.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError, StoreError

FILE = "postprocess.npy"
METHODS = ("center", "abtt")
MAX_DIRECTIONS = 100
_SPEC = re.compile(r"(none|center|abtt:(\d{1,3}))")
_CHUNK = 65_536


@dataclass(frozen=True)
class Postprocess:
    """What to do: ``center``, or ``abtt`` with ``directions`` >= 1 (the spec ``abtt:D``)."""

    method: str
    directions: int = 0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"postprocess must be one of none, center, abtt:D; got {self.method!r}")
        if self.method == "center" and self.directions != 0:
            raise ConfigError("postprocess center removes no directions (abtt:D does)")
        if self.method == "abtt" and not 1 <= self.directions <= MAX_DIRECTIONS:
            raise ConfigError(f"postprocess abtt:D needs D from 1 to {MAX_DIRECTIONS}, got {self.directions}")

    @property
    def spec(self) -> str:
        return self.method if self.method == "center" else f"abtt:{self.directions}"

    def meta(self) -> dict[str, Any]:
        return {"method": self.method, "directions": self.directions, "file": FILE}


def parse_postprocess(spec: str | Postprocess | None) -> Postprocess | None:
    """``None``/``"none"`` → no post-processing; ``"center"``; ``"abtt:D"`` (D directions removed)."""
    if spec is None or isinstance(spec, Postprocess):
        return spec
    match = _SPEC.fullmatch(spec.strip().lower()) if isinstance(spec, str) else None
    if match is None:
        raise ConfigError(f"postprocess must be none, center or abtt:D (e.g. abtt:2), got {spec!r}")
    if match.group(1) == "none":
        return None
    if match.group(1) == "center":
        return Postprocess("center")
    return Postprocess("abtt", int(match.group(2)))


def fit(units: np.ndarray, post: Postprocess) -> np.ndarray:
    """The parameters for unit rows ``units``: float32 ``[1 + D, dim]``, the mean then the top ``D``
    principal directions of the centred rows (unit length, each signed so that its largest
    component is positive). Zero rows (words without a vector) are left out."""
    rows, dim = units.shape
    if post.directions >= dim:
        raise ConfigError(f"postprocess abtt:{post.directions} needs fewer directions than the {dim} dimensions")
    total = np.zeros(dim, dtype=np.float64)
    count = 0
    for start in range(0, rows, _CHUNK):
        chunk = np.asarray(units[start:start + _CHUNK], dtype=np.float64)
        used = chunk[np.any(chunk != 0, axis=1)]
        total += used.sum(axis=0)
        count += len(used)
    if count == 0:
        raise ConfigError("cannot post-process a store whose vectors are all zero")
    mean = total / count
    params = [mean]
    if post.directions:
        scatter = np.zeros((dim, dim), dtype=np.float64)
        for start in range(0, rows, _CHUNK):
            chunk = np.asarray(units[start:start + _CHUNK], dtype=np.float64)
            centred = chunk[np.any(chunk != 0, axis=1)] - mean
            scatter += centred.T @ centred
        _, vectors = np.linalg.eigh(scatter)  # ascending eigenvalues
        top = vectors[:, ::-1][:, :post.directions].T
        signs = np.where(top[np.arange(len(top)), np.abs(top).argmax(axis=1)] < 0, -1.0, 1.0)
        params.extend(top * signs[:, None])
    return np.asarray(params, dtype=np.float32)


def apply(vectors: np.ndarray, params: np.ndarray) -> np.ndarray:
    """Post-process ``vectors`` (``[n, dim]`` or one ``[dim]`` vector, any length): normalise,
    subtract the mean, remove the directions, normalise again. Zero vectors stay zero. Computed in
    float64 (the centred vectors are shorter than the input, so float32 rounding would grow), returned
    as float32: a vector gets the same result alone as in a matrix of rows."""
    single = vectors.ndim == 1
    source = vectors[None, :] if single else vectors
    out = np.empty(source.shape, dtype=np.float32)
    mean = params[0].astype(np.float64)
    directions = params[1:].astype(np.float64)
    for start in range(0, len(source), _CHUNK):
        chunk = np.array(source[start:start + _CHUNK], dtype=np.float64)
        norms = np.sqrt(np.einsum("ij,ij->i", chunk, chunk))
        zero = norms == 0
        chunk /= np.where(zero, 1.0, norms)[:, None]
        chunk -= mean
        for direction in directions:  # one at a time: the same arithmetic for one row or many
            chunk -= np.outer(chunk @ direction, direction)
        chunk[zero] = 0.0
        norms = np.sqrt(np.einsum("ij,ij->i", chunk, chunk))
        chunk /= np.where(norms == 0, 1.0, norms)[:, None]
        out[start:start + _CHUNK] = chunk
    return out[0] if single else out


def check_params(params: np.ndarray, meta: Any, dim: int, where: str) -> None:
    """Refuse parameters that do not fit the store's ``postprocess`` metadata (shape, type, values)."""
    expected = (1 + int(meta["directions"]), dim)
    if params.dtype != np.float32 or params.shape != expected:
        raise StoreError(f"{where}: holds {params.dtype} {params.shape}, expected float32 {expected} "
                         f"for postprocess {meta['method']} with {meta['directions']} direction(s)")
    if not np.isfinite(params).all():
        raise StoreError(f"{where}: holds NaN or infinite values")
