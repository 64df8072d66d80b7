"""Text processing: named, versioned pipeline steps and the pipeline that runs them."""
from .pipeline import CompiledPipeline, Pipeline, Step, available_steps, english_words, parse_steps

__all__ = ["CompiledPipeline", "Pipeline", "Step", "available_steps", "english_words", "parse_steps"]
