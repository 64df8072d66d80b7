"""Training parameters, validated once, saved whole in the store."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..corpus import default_workers
from ..errors import ConfigError

ARCHS = ("skipgram", "cbow")
MODELS = ("word2vec", "fasttext", "glove", "ppmi-svd")
COUNT_MODELS = ("glove", "ppmi-svd")
# What ``None`` means for these settings, by architecture. CBOW: word2vec.c's demo-word.sh (with 5
# negative samples, not 25). Skip-gram: word2vec.c's own defaults (window 5, sample 1e-3, alpha
# 0.025) with 10 negative samples, in the 5-20 its authors advise for small corpora; measured in
# the README ("Quality"), where 5 let rare names push `queen` out of `man : king :: woman`'s top 5.
ARCH_DEFAULTS: dict[str, dict[str, float]] = {
    "cbow": {"window": 8, "sample": 1e-4, "negative": 5, "alpha": 0.05},
    "skipgram": {"window": 5, "sample": 1e-3, "negative": 10, "alpha": 0.025},
}
# What ``None`` means for architecture, dimensions and epochs, by model. FastText takes fastText's
# own defaults (skip-gram, 100 dims, 5 epochs; below: window 5, 5 negatives, sample 1e-4, learning
# rate 0.05): on 17M words of Wikipedia they scored 57.2% / WS353 0.645 / SimLex 0.316 / MEN 0.673
# in 9.8 min, against 56.6% / 0.611 / 0.285 / 0.603 with Word2Vec's skip-gram settings and 59.9% /
# 0.585 / 0.249 / 0.584 for its CBOW (docs/quality.md); CBOW's 200 dims and 15 epochs would take ~30 min.
MODEL_DEFAULTS: dict[str, dict[str, Any]] = {
    "word2vec": {"arch": "cbow", "dim": 200, "epochs": 15},
    "fasttext": {"arch": "skipgram", "dim": 100, "epochs": 5},
    "glove": {"arch": "cbow", "dim": 200, "epochs": 15},
    "ppmi-svd": {"arch": "cbow", "dim": 200, "epochs": 15},
}
FASTTEXT_DEFAULTS: dict[str, float] = {"window": 5, "negative": 5, "sample": 1e-4, "alpha": 0.05}
# The count-based models (docs/count-models.md). GloVe: the paper's symmetric window of 10 and
# glove.c's learning rate, W + W~ (glove.c's default output); PPMI-SVD: Levy, Goldberg & Dagan
# (2015)'s window 5, no shift (k = 1, their advice for SVD), p = 0.5, and w + c, which measured
# better on WS353, SimLex and MEN (+0.013, +0.017, +0.026) and 1 point lower on analogies on text8.
COUNT_DEFAULTS: dict[str, dict[str, Any]] = {
    "glove": {"window": 10, "alpha": 0.05, "add_context": True},
    "ppmi-svd": {"window": 5, "negative": 1, "add_context": True},
}
# Word2Vec architectures that store w + c (input plus output vectors) by default: CBOW, where it
# measured better on all four goals on text8 (docs/quality.md, "Levers"); skip-gram is unmeasured.
WORD2VEC_W_PLUS_C = ("cbow",)
# Combining (``combine``): a count model trained on the same corpus and vocabulary whose unit
# vectors are joined to the main model's, so that a cosine of the store is the weighted mean of
# the two models' cosines (training/combine.py). What it takes of its own settings besides these
# is its model's defaults (COUNT_DEFAULTS). Only Word2Vec can be combined: a FastText vector for an
# unseen word, built from subwords, has no count vector to join.
COMBINE_MODELS = ("none", *COUNT_MODELS)
COMBINE_DEFAULTS: dict[str, Any] = {"combine_window": 10, "combine_weight": 0.25}
# Word2Vec architectures combined by default, and with what: CBOW with PPMI-SVD at window 10 and a
# quarter of each cosine, which on 17M words of Wikipedia gained on analogies, WS353 and MEN (both
# past 0.70) and on nine similarity sets that choose nothing, for 0.01 of SimLex and under 2 more
# minutes of training (docs/quality.md, "Combining a count model"). Skip-gram is unmeasured.
WORD2VEC_COMBINE: dict[str, str] = {"cbow": "ppmi-svd"}
# A combined count model's own settings where they differ from its defaults alone. PPMI-SVD joined
# to CBOW takes U without eigenvalue weighting (p = 0): over three CBOW seeds on text8 it raised
# WS353, SimLex and MEN (+0.005, +0.002, +0.003) and both development sets (SimVerb, MTurk) for
# 0.2-0.6 of an analogy point against p = 0.5 (docs/quality.md, "Combining a count model").
COMBINED_COUNT_SETTINGS: dict[str, dict[str, Any]] = {"ppmi-svd": {"eig": 0.0}}
_COMBINE_FIELDS = ("combine_window", "combine_dim", "combine_weight")
# Settings each kind of model does not use, left out of the store's record of its parameters.
_UNUSED: dict[str, tuple[str, ...]] = {
    "word2vec": ("minn", "maxn", "bucket", "x_max", "weighting_alpha", "cds", "eig"),
    "fasttext": ("x_max", "weighting_alpha", "cds", "eig", "add_context", "combine", *_COMBINE_FIELDS),
    "glove": ("arch", "minn", "maxn", "bucket", "negative", "sample", "min_alpha", "compute_loss", "cds", "eig",
              "combine", *_COMBINE_FIELDS),
    "ppmi-svd": ("arch", "minn", "maxn", "bucket", "sample", "epochs", "alpha", "min_alpha", "compute_loss", "x_max",
                 "weighting_alpha", "combine", *_COMBINE_FIELDS),
}
# Upper bounds of the settings: far above any useful value, low enough that a typo (an extra
# zero or three) is an error at once rather than an hour of training, a crash inside the trainer
# (gensim's C loop segfaults on alpha=1e30) or an allocation of terabytes.
LIMITS: dict[str, float] = {
    "dim": 10_000, "window": 1_000, "min_count": 2**31 - 1, "negative": 1_000, "epochs": 10_000, "workers": 1_024,
    "alpha": 1.0, "minn": 100, "maxn": 100, "bucket": 2**31 - 1, "combine_window": 1_000, "combine_dim": 10_000,
}


@dataclass(frozen=True)
class TrainConfig:
    """How to train. Settings left ``None`` take their model's and architecture's defaults
    (:data:`MODEL_DEFAULTS`, :data:`ARCH_DEFAULTS`, :data:`FASTTEXT_DEFAULTS`, :data:`COUNT_DEFAULTS`).

    The defaults are Word2Vec CBOW, 200 dims, 15 epochs, with word2vec.c's ``demo-word.sh`` setting
    (window 8, sample 1e-4, learning rate 0.05; 5 negative samples instead of 25), storing ``w + c``
    (``add_context``: the input plus the output vectors), combined with PPMI-SVD (``combine``:
    window 10, 200 dims, a quarter of each cosine; the store has 400 dims). Chosen from measurements
    on 17M words of Wikipedia (``benchmarks/quality_table.py``, medians of 3 seeds, docs/quality.md):
    w + c gained on all four quality sets at no training cost, the count model on analogies,
    WordSim-353 and MEN for a little SimLex-999, in about 6 minutes on 2 cores in all.
    ``arch="skipgram"`` defaults to window 5, sample 1e-3, 10 negative samples and learning rate
    0.025, storing ``w`` alone, uncombined.

    ``model="fasttext"`` trains Facebook's fastText with character n-grams of ``minn..maxn``
    characters hashed into ``bucket`` rows (``maxn=0``: no subwords), by default with fastText's
    own settings (skip-gram, 100 dims, 5 epochs, window 5, 5 negatives, sample 1e-4, learning rate
    0.05), the best FastText row measured; fastText has no seed, so it is reproducible only with
    ``workers=1``.

    ``model="glove"`` and ``model="ppmi-svd"`` are count-based (docs/count-models.md): both count
    co-occurrences within ``window`` words (GloVe weights a pair at distance d by 1/d).
    GloVe: AdaGrad from learning rate ``alpha`` (0.05) for ``epochs`` on weighted least squares with
    ``x_max`` (100) and ``weighting_alpha`` (0.75); ``add_context`` (default on) stores ``W + W~``.
    PPMI-SVD: shifted positive PMI (shift ``log(negative)``, default k = 1: no shift), context
    counts smoothed to the power ``cds`` (0.75), truncated SVD with eigenvalue weighting ``eig``
    (p = 0.5: ``U * S**p``); ``add_context`` (default on) adds ``V * S**p``. ``max_memory`` (GiB) caps the memory
    they may use (default: 90% of what is available); they refuse early, with an estimate.

    ``model="word2vec"`` with ``add_context=True`` (the default for CBOW) stores ``w + c``: each
    word vector plus its output ("context") vector from negative sampling (gensim's ``syn1neg``),
    as Levy, Goldberg and Dagan (2015) do for SGNS; ``add_context=False`` stores ``w`` alone.

    ``seed`` fixes vector initialisation and sampling; training is bit-reproducible only with
    ``workers=1``, because with several threads the order of updates depends on scheduling.
    ``compute_loss`` makes gensim track the training loss (a few percent slower; with several
    workers in ``corpus_file`` mode gensim's figure covers only part of the threads' work).
    """

    model: str = "word2vec"
    arch: str | None = None  # None: by model (MODEL_DEFAULTS: cbow; fasttext: skipgram), as are dim and epochs
    dim: int | None = None
    window: int | None = None  # None: by arch (ARCH_DEFAULTS), as are negative, sample and alpha
    min_count: int = 5
    negative: int | None = None
    sample: float | None = None
    epochs: int | None = None
    alpha: float | None = None
    min_alpha: float = 0.0001
    workers: int = field(default_factory=default_workers)
    seed: int = 1
    compute_loss: bool = False
    minn: int = 3
    maxn: int = 6
    bucket: int = 2_000_000
    x_max: float = 100.0
    weighting_alpha: float = 0.75
    cds: float = 0.75
    eig: float = 0.5
    add_context: bool | None = None  # None: by model (COUNT_DEFAULTS; word2vec: on for CBOW); fastText has none
    max_memory: float | None = None  # GiB; count-based models only; None: 90% of the memory available
    combine: str | None = None  # word2vec only: "none", "ppmi-svd" or "glove"; None: by arch (WORD2VEC_COMBINE)
    combine_window: int | None = None  # the combined count model's window (default 10)
    combine_dim: int | None = None  # its dimensions (default: dim; a PPMI-SVD gets at most the vocabulary size - 1)
    combine_weight: float | None = None  # its share of every cosine, in (0, 1) (default 0.25)

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ConfigError(f"model must be one of {', '.join(MODELS)}, got {self.model!r}")
        for name, value in MODEL_DEFAULTS[self.model].items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        if self.arch not in ARCHS:
            raise ConfigError(f"arch must be one of {', '.join(ARCHS)}, got {self.arch!r}")
        w_plus_c = self.model == "word2vec" and self.arch in WORD2VEC_W_PLUS_C
        defaults = {**ARCH_DEFAULTS[self.arch], **(FASTTEXT_DEFAULTS if self.model == "fasttext" else {}),
                    **COUNT_DEFAULTS.get(self.model, {"add_context": w_plus_c})}
        if self.model == "word2vec":
            defaults["combine"] = WORD2VEC_COMBINE.get(self.arch, "none")
            defaults.update(COMBINE_DEFAULTS, combine_dim=self.dim)
        for name, value in defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        for name in ("dim", "window", "min_count", "epochs", "workers", "negative", "minn", "maxn", "bucket", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"{name} must be an integer, got {value!r}")
        for name in ("sample", "alpha", "min_alpha", "x_max", "weighting_alpha", "cds", "eig"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or abs(value) == float("inf"):
                raise ConfigError(f"{name} must be a finite number, got {value!r}")
        for name in ("dim", "window", "min_count", "epochs", "workers"):
            if not 1 <= getattr(self, name) <= LIMITS[name]:
                raise ConfigError(f"{name} must be from 1 to {LIMITS[name]:,}, got {getattr(self, name):,}")
        for name in ("negative", "minn", "maxn", "bucket"):
            if getattr(self, name) > LIMITS[name]:
                raise ConfigError(f"{name} must be at most {LIMITS[name]:,}, got {getattr(self, name):,}")
        if self.negative < 1:
            raise ConfigError(f"negative must be at least 1 (negative sampling is the only objective), got {self.negative}")
        if not 0 <= self.sample < 1:
            raise ConfigError(f"sample must be in [0, 1), got {self.sample}")
        if not 0 < self.alpha <= LIMITS["alpha"]:
            raise ConfigError(f"alpha (the learning rate) must be in (0, {LIMITS['alpha']:g}], got {self.alpha}; "
                              "word2vec uses 0.025 to 0.05")
        if not 0 <= self.min_alpha <= self.alpha:
            raise ConfigError(f"need 0 <= min_alpha <= alpha and alpha > 0, got alpha={self.alpha}, min_alpha={self.min_alpha}")
        if self.model == "fasttext" and self.maxn > 0 and not 1 <= self.minn <= self.maxn:
            raise ConfigError(f"need 1 <= minn <= maxn for subwords (or maxn=0 for none), got minn={self.minn}, maxn={self.maxn}")
        if self.minn < 0 or self.maxn < 0:
            raise ConfigError("minn and maxn cannot be negative")
        if self.model == "fasttext" and self.maxn > 0 and self.bucket < 1:
            raise ConfigError(f"bucket must be at least 1 when subwords are used, got {self.bucket}")
        if not self.x_max > 0:
            raise ConfigError(f"x_max must be positive, got {self.x_max}")
        if not 0 < self.weighting_alpha <= 1:
            raise ConfigError(f"weighting_alpha must be in (0, 1], got {self.weighting_alpha}")
        if not 0 < self.cds <= 1:
            raise ConfigError(f"cds must be in (0, 1], got {self.cds}")
        if not 0 <= self.eig <= 1:
            raise ConfigError(f"eig must be in [0, 1], got {self.eig}")
        if self.model == "fasttext" and self.add_context:
            raise ConfigError("add_context (w + c) is for word2vec, glove and ppmi-svd: a fastText vector for an "
                              "unseen word, built from subwords, has no context vector to add")
        self._check_combine()
        if self.max_memory is not None and not self.max_memory > 0:
            raise ConfigError(f"max_memory must be positive (GiB), got {self.max_memory}")
        if not 0 <= self.seed < 2**32:
            raise ConfigError(f"seed must be in [0, 2**32), got {self.seed}")

    def _check_combine(self) -> None:
        if self.model != "word2vec":
            if self.combine not in (None, "none"):
                raise ConfigError(f"combine is for word2vec (the one model it was measured with), not {self.model}"
                                  + ("; a fastText vector for an unseen word has no count vector to join"
                                     if self.model == "fasttext" else ""))
            return
        if self.combine not in COMBINE_MODELS:
            raise ConfigError(f"combine must be one of {', '.join(COMBINE_MODELS)}, got {self.combine!r}")
        for name in ("combine_window", "combine_dim"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= LIMITS[name]:
                raise ConfigError(f"{name} must be an integer from 1 to {LIMITS[name]:,}, got {value!r}")
        weight = self.combine_weight
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 < weight < 1:
            raise ConfigError(f"combine_weight (the count model's share of each cosine) must be in (0, 1), got {weight!r}")

    def combined_config(self) -> TrainConfig | None:
        """The configuration of the count model ``combine`` joins to this Word2Vec model (its own
        defaults but for window, dimensions and :data:`COMBINED_COUNT_SETTINGS`; the same
        vocabulary, seed, workers and memory limit), or ``None``."""
        if self.model != "word2vec" or self.combine == "none":
            return None
        return TrainConfig(model=self.combine, dim=self.combine_dim, window=self.combine_window, min_count=self.min_count,
                           workers=self.workers, seed=self.seed, max_memory=self.max_memory,
                           **COMBINED_COUNT_SETTINGS.get(self.combine, {}))

    def to_dict(self) -> dict[str, Any]:
        """All parameters that shaped the model (each model's own: fastText's subword settings only
        for fastText, GloVe's and PPMI-SVD's only for them)."""
        data = asdict(self)
        unused = _UNUSED[self.model] + (("combine", *_COMBINE_FIELDS) if self.combine == "none" else ())
        for name in (*unused, "max_memory"):
            del data[name]
        return data
