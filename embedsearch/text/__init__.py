"""Text processing: named, versioned pipeline steps and the pipeline that runs them.

``steps.py`` holds the registry; the steps live in ``normalise.py`` (Unicode, case, accents, HTML,
entities, punctuation, spaces), ``tokenizers.py`` (characters, n-grams), ``filters.py``
(stopwords, stems, lemmas), ``korean.py`` (Kiwi/MeCab morphemes), ``phrases.py`` and ``subword.py``
(fitted on the corpus); ``presets.py`` builds a pipeline from options (``--lang`` and friends).
"""
from .pipeline import CompiledPipeline, Pipeline, Step, available_steps, english_words, parse_steps
from .presets import PipelineOptions, build_pipeline

__all__ = ["CompiledPipeline", "Pipeline", "PipelineOptions", "Step", "available_steps", "build_pipeline",
           "english_words", "parse_steps"]
