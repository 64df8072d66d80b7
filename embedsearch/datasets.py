"""The evaluation sets and sample corpora that ship inside the package (``embedsearch/corpora/``).

They are package data, so they are there after ``pip install`` as well as in a checkout, and
``evaluate_pairs(store, "ws353")`` or ``embedsearch evaluate analogies -s STORE google`` find them by
name. Sources and licences: ``embedsearch/corpora/README.md`` (only sets that may be
redistributed are shipped; the README says where to get the others).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import SourceError

ROOT = Path(__file__).resolve().parent / "corpora"

__all__ = ["DATASETS", "Dataset", "dataset_path", "list_datasets", "resolve_dataset"]


@dataclass(frozen=True)
class Dataset:
    """One shipped file: ``kind`` is ``pairs`` (word-pair similarity), ``analogies`` or ``corpus``."""

    name: str
    kind: str
    lang: str
    file: str  # relative to the corpora folder
    size: str  # what it holds, for people
    source: str
    license: str
    description: str

    @property
    def path(self) -> Path:
        return ROOT / self.file

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "kind": self.kind, "lang": self.lang, "path": str(self.path), "size": self.size,
                "description": self.description, "source": self.source, "license": self.license}


_FARUQUI = "github.com/mfaruqui/eval-word-vectors @94b3dd9f data/word-sim"
_KOR2VEC = "github.com/dongjun-Lee/kor2vec @2a2184db test_dataset"
_MIT = "MIT (see LICENSE beside the file)"

DATASETS: dict[str, Dataset] = {d.name: d for d in [
    Dataset("google", "analogies", "en", "eval/en/questions-words.txt", "19,544 questions",
            "word2vec (Mikolov et al. 2013), as shipped in gensim 4.4.0", "Apache-2.0 (word2vec)",
            "Google analogy set: 5 semantic + 9 syntactic sections"),
    Dataset("ws353", "pairs", "en", "eval/en/EN-WS-353-ALL.txt", "353 pairs", _FARUQUI, _MIT,
            "WordSim-353 (Finkelstein et al. 2002), relatedness and similarity"),
    Dataset("ws353-sim", "pairs", "en", "eval/en/EN-WS-353-SIM.txt", "203 pairs", _FARUQUI, _MIT,
            "WordSim-353 similarity split (Agirre et al. 2009)"),
    Dataset("ws353-rel", "pairs", "en", "eval/en/EN-WS-353-REL.txt", "252 pairs", _FARUQUI, _MIT,
            "WordSim-353 relatedness split (Agirre et al. 2009)"),
    Dataset("simlex", "pairs", "en", "eval/en/EN-SIMLEX-999.txt", "999 pairs", _FARUQUI, _MIT,
            "SimLex-999 (Hill et al. 2015): similarity, not relatedness"),
    Dataset("men", "pairs", "en", "eval/en/EN-MEN-TR-3k.txt", "3,000 pairs", _FARUQUI, _MIT,
            "MEN (Bruni et al. 2014), relatedness"),
    Dataset("rw", "pairs", "en", "eval/en/EN-RW-STANFORD.txt", "2,034 pairs", _FARUQUI, _MIT,
            "Stanford Rare Words (Luong et al. 2013)"),
    Dataset("simverb", "pairs", "en", "eval/en/EN-SimVerb-3500.txt", "3,500 pairs", _FARUQUI, _MIT,
            "SimVerb-3500 (Gerz et al. 2016): verbs"),
    Dataset("mturk-771", "pairs", "en", "eval/en/EN-MTurk-771.txt", "771 pairs", _FARUQUI, _MIT,
            "MTurk-771 (Halawi et al. 2012), relatedness"),
    Dataset("mturk-287", "pairs", "en", "eval/en/EN-MTurk-287.txt", "287 pairs", _FARUQUI, _MIT,
            "MTurk-287 (Radinsky et al. 2011), relatedness"),
    Dataset("rg65", "pairs", "en", "eval/en/EN-RG-65.txt", "65 pairs", _FARUQUI, _MIT,
            "Rubenstein & Goodenough 1965"),
    Dataset("mc30", "pairs", "en", "eval/en/EN-MC-30.txt", "30 pairs", _FARUQUI, _MIT, "Miller & Charles 1991"),
    Dataset("yp130", "pairs", "en", "eval/en/EN-YP-130.txt", "130 pairs", _FARUQUI, _MIT,
            "Yang & Powers 2006: verbs"),
    Dataset("verb143", "pairs", "en", "eval/en/EN-VERB-143.txt", "144 pairs", _FARUQUI, _MIT,
            "Baker et al. 2014: verbs"),
    Dataset("ko-ws353", "pairs", "ko", "eval/ko/kor_ws353.csv", "323 pairs", _KOR2VEC, _MIT,
            "Korean WordSim-353 (kor2vec translation)"),
    Dataset("ko-analogy-semantic", "analogies", "ko", "eval/ko/kor_analogy_semantic.txt", "420 questions",
            _KOR2VEC, _MIT, "Korean analogies, semantic (capitals, family, ...)"),
    Dataset("ko-analogy-syntactic", "analogies", "ko", "eval/ko/kor_analogy_syntactic.txt", "840 questions",
            _KOR2VEC, _MIT, "Korean analogies, syntactic (verb and adjective forms)"),
    Dataset("en-sample", "corpus", "en", "samples/en_wikipedia_sample.txt.xz", "2.5 MB text, ~390k words",
            "English Wikipedia (2015) articles from 'Anarchism' on, WikiExtractor plain text "
            "(github.com/jason-feng/wikiVisual @1c0fac92), first 2.5 MB", "CC BY-SA 3.0 (Wikipedia)",
            "English sample corpus: original case and punctuation, one paragraph a line"),
    Dataset("ko-sample", "corpus", "ko", "samples/ko_wikipedia_sample.txt.xz", "3.0 MB text, ~280k eojeol",
            "Korean Wikipedia (about 2022), WikiExtractor plain text "
            "(github.com/97danielj/WordEmbedding @2e427337), first 3 MB", "CC BY-SA 3.0 (Wikipedia)",
            "Korean sample corpus: one paragraph a line"),
]}

# Other names people use for the same sets
ALIASES = {"wordsim353": "ws353", "wordsim353.tsv": "ws353", "simlex999.txt": "simlex",
           "questions-words.txt": "google", "ws-353": "ws353", "simlex999": "simlex", "simlex-999": "simlex",
           "men3000": "men", "rare-words": "rw", "questions-words": "google", "google-analogies": "google",
           "simverb3500": "simverb", "mturk": "mturk-771", "ko-analogy": "ko-analogy-semantic",
           # and each shipped file by its own name (EN-MEN-TR-3k.txt, kor_ws353.csv...)
           **{Path(d.file).name.lower(): d.name for d in DATASETS.values()}}


def list_datasets(kind: str | None = None, lang: str | None = None) -> list[Dataset]:
    """The shipped files, optionally only one ``kind`` (pairs, analogies, corpus) or language."""
    return [d for d in DATASETS.values() if (kind is None or d.kind == kind) and (lang is None or d.lang == lang)]


def dataset_path(name: str) -> Path:
    """Path of a shipped file by name (``ws353``, ``google``, ``ko-sample``...)."""
    key = ALIASES.get(name.lower(), name.lower())
    found = DATASETS.get(key)
    if found is None:
        raise SourceError(f"no shipped data set named {name!r}; known: {', '.join(DATASETS)}")
    if not found.path.is_file():
        raise SourceError(f"the data set {name!r} is missing from the installation ({found.path}); reinstall embedsearch")
    return found.path


def resolve_dataset(path_or_name: str | os.PathLike[str], kind: str | None = None) -> Path:
    """A file the user named: an existing path as is, else a shipped data set of that name.

    ``kind`` (pairs, analogies) refuses a shipped set of the other kind with a clear message."""
    path = Path(path_or_name)
    if str(path_or_name) == "-" or path.exists() or os.sep in str(path_or_name) or "/" in str(path_or_name):
        return path  # "-" is stdin
    key = ALIASES.get(str(path_or_name).lower(), str(path_or_name).lower())
    found = DATASETS.get(key)
    if found is None:
        names = ", ".join(d.name for d in list_datasets(kind))
        raise SourceError(f"no such evaluation file or shipped data set: {path_or_name} (shipped: {names})")
    if kind is not None and found.kind != kind:
        raise SourceError(f"{path_or_name!r} is a {found.kind} set, not {kind}; shipped {kind} sets: "
                          f"{', '.join(d.name for d in list_datasets(kind))}")
    return dataset_path(key)
