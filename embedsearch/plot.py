"""Pictures of neighbourhoods: words and their neighbours projected to 2-D, labelled, coloured by query.

    >>> from embedsearch.plot import word_plot, save_plot
    >>> with embedsearch.open_store("store") as store:
    ...     save_plot(word_plot(store, ["king", "paris"], k=10), "map.png")

PCA by default (deterministic: each axis's sign is fixed); t-SNE with ``method="tsne"`` (needs
scikit-learn). PNG and SVG are drawn by matplotlib; HTML is the SVG in a self-contained page (no
script, nothing fetched). Labels in Hangul use NanumGothic from the ``koreanize-matplotlib`` package
(installed by the ``plot`` extra), else a Korean font matplotlib finds on the system. matplotlib is
imported only when a picture is saved.
"""
from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import ConfigError, UsageError, install_hint

if TYPE_CHECKING:
    from .query import Store

PLOT_FORMATS = (".png", ".svg", ".html")
PLOT_METHODS = ("pca", "tsne")
_HANGUL = re.compile(r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7af]")
_KOREAN_FONTS = ("NanumGothic", "Noto Sans CJK KR", "Noto Sans KR", "Malgun Gothic", "Apple SD Gothic Neo", "UnDotum")


@dataclass(frozen=True)
class PlotPoint:
    """A word on the map: ``group`` is the index of the query it was found for; ``score`` its cosine to
    that query (``None`` for the query itself)."""

    word: str
    x: float
    y: float
    group: int
    score: float | None
    query: bool = False


@dataclass(frozen=True)
class WordPlot:
    queries: list[str]
    method: str
    points: list[PlotPoint]
    explained: list[float] = field(default_factory=list)  # PCA: variance share of each axis


def pca_2d(vectors: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """Rows projected on their first two principal components (signs fixed: each axis's largest
    loading positive, so the same input always gives the same picture), and the variance share of each."""
    centred = vectors.astype(np.float64) - vectors.mean(axis=0)
    if len(vectors) < 2:
        return np.zeros((len(vectors), 2)), [0.0, 0.0]
    _, singular, components = np.linalg.svd(centred, full_matrices=False)
    axes = components[:2]
    if len(axes) < 2:
        axes = np.vstack([axes, np.zeros_like(axes)])
    signs = np.sign(axes[np.arange(2), np.argmax(np.abs(axes), axis=1)])
    signs[signs == 0] = 1.0
    points = centred @ (axes * signs[:, None]).T
    total = float((singular**2).sum()) or 1.0
    explained = [float(s**2 / total) for s in singular[:2]] + [0.0] * (2 - len(singular[:2]))
    return points, explained


def word_plot(store: Store, queries: Sequence[str], *, k: int = 10, method: str = "pca", seed: int = 1) -> WordPlot:
    """Each query word (or phrase, or expression) and its ``k`` nearest words, placed in 2-D.

    A word that neighbours several queries is drawn once, in the colour of the first."""
    if not queries:
        raise UsageError("plot needs at least one word")
    if method not in PLOT_METHODS:
        raise ConfigError(f"method must be one of {', '.join(PLOT_METHODS)}, got {method!r}")
    words: list[str] = []
    vectors: list[np.ndarray] = []
    groups: list[int] = []
    scores: list[float | None] = []
    flags: list[bool] = []
    seen: set[str] = set()
    for group, query in enumerate(queries):
        result = store.similar(query, k=k)
        vector = _combined(store, result)
        label = " ".join(result.terms[0].words) if len(result.terms) == 1 else query
        entries = [(label, vector, None, True)] + [(n.word, store.vector(n.word), n.score, False) for n in result.neighbors]
        for word, vec, score, is_query in entries:
            if word in seen:
                continue
            seen.add(word)
            words.append(word)
            vectors.append(np.asarray(vec, dtype=np.float64) / max(float(np.linalg.norm(vec)), 1e-12))
            groups.append(group)
            scores.append(score)
            flags.append(is_query)
    matrix = np.stack(vectors)
    explained: list[float] = []
    if method == "pca":
        coords, explained = pca_2d(matrix)
    else:
        try:
            from sklearn.manifold import TSNE
        except ImportError:
            raise ConfigError(f"t-SNE needs scikit-learn, part of the plot extra: {install_hint('plot')} "
                              "(or use the default, --method pca)") from None
        perplexity = float(min(30.0, max(2.0, (len(matrix) - 1) / 3)))
        coords = TSNE(n_components=2, perplexity=perplexity, random_state=seed, init="pca", metric="cosine").fit_transform(matrix)
    points = [PlotPoint(w, float(c[0]), float(c[1]), g, s, f) for w, c, g, s, f in zip(words, coords, groups, scores, flags)]
    return WordPlot(list(queries), method, points, explained)


def _combined(store: Store, result: object) -> np.ndarray:
    terms = result.terms  # type: ignore[attr-defined]
    total = np.zeros(store.dim, dtype=np.float64)
    for term in terms:
        _, vector, _ = store.resolve(term.text, term.weight)
        total += term.weight * vector
    return total


def korean_font() -> Path | None:
    """A font file with Hangul: NanumGothic from koreanize-matplotlib if installed, else one the system has."""
    spec = importlib.util.find_spec("koreanize_matplotlib")  # located, not imported: importing it changes rcParams
    if spec is not None and spec.submodule_search_locations:
        shipped = Path(list(spec.submodule_search_locations)[0]) / "fonts" / "NanumGothic.ttf"
        if shipped.is_file():
            return shipped
    from matplotlib import font_manager

    for font in font_manager.fontManager.ttflist:
        if font.name in _KOREAN_FONTS:
            return Path(font.fname)
    return None


def save_plot(plot: WordPlot, path: str | os.PathLike[str], *, title: str | None = None, size: tuple[float, float] = (9, 7),
              dpi: int = 120) -> Path:
    """Draw ``plot`` to ``path``: ``.png``, ``.svg`` or ``.html`` (an SVG in a page). Returns the path."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in PLOT_FORMATS:
        raise UsageError(f"plot output must end in {', '.join(PLOT_FORMATS)}, got {target.name!r}")
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    font_path = korean_font()
    hangul = any(_HANGUL.search(p.word) for p in plot.points)
    if hangul and font_path is None:
        from .errors import QueryError

        raise QueryError(f"the labels are in Hangul and no Korean font was found: {install_hint('plot')} "
                         "(koreanize-matplotlib ships NanumGothic) or install one (Debian: fonts-nanum)")
    font = font_manager.FontProperties(fname=str(font_path)) if font_path is not None else font_manager.FontProperties()
    colours = plt.get_cmap("tab10")
    figure, axes = plt.subplots(figsize=size, dpi=dpi)
    try:
        for group, query in enumerate(plot.queries):
            members = [p for p in plot.points if p.group == group]
            if not members:
                continue
            colour = colours(group % 10)
            axes.scatter([p.x for p in members if not p.query], [p.y for p in members if not p.query], s=18, color=colour,
                         label=query)
            for p in members:
                if p.query:
                    axes.scatter([p.x], [p.y], s=80, marker="*", color=colour, edgecolors="black", linewidths=0.5, zorder=3)
                axes.annotate(p.word, (p.x, p.y), xytext=(4, 3), textcoords="offset points", fontproperties=font,
                              fontsize=11 if p.query else 9, fontweight="bold" if p.query else "normal", color="black")
        axes.legend(prop=font, loc="best", fontsize=9)
        if plot.method == "pca" and plot.explained:
            axes.set_xlabel(f"PC1 ({100 * plot.explained[0]:.0f}% of the variance)", fontproperties=font)
            axes.set_ylabel(f"PC2 ({100 * plot.explained[1]:.0f}%)", fontproperties=font)
        else:
            axes.set_xlabel("t-SNE 1", fontproperties=font)
            axes.set_ylabel("t-SNE 2", fontproperties=font)
        axes.set_title(title or "Neighbours of " + ", ".join(plot.queries), fontproperties=font)
        axes.grid(alpha=0.2)
        figure.tight_layout()
        from .fsutil import atomic_file

        # Written aside and renamed into place (never half a picture; never inside a store).
        with atomic_file(target) as handle:
            if suffix == ".html":
                import io
                from html import escape

                buffer = io.StringIO()
                figure.savefig(buffer, format="svg")
                svg = buffer.getvalue()
                svg = svg[svg.index("<svg"):]
                page = (f"<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{escape(axes.get_title())}</title></head>\n"
                        f"<body>\n{svg}\n</body></html>\n")
                handle.write(page.encode("utf-8"))
            else:
                figure.savefig(handle, format=suffix[1:])
    finally:
        plt.close(figure)
    return target
