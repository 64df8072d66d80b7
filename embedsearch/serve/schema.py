"""The API's parameters, declared once: requests are parsed and checked from these declarations, and
the OpenAPI document (``/openapi.json``) is generated from the same ones, so the two cannot differ.

Every operation accepts its parameters as a query string (``GET``; a list repeats its name:
``words=a&words=b``) or as a JSON object (``POST``), with the same names and the same checks.
"""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import __version__


class ParamError(Exception):
    """A request parameter that is missing, of the wrong type or out of its range (HTTP 422)."""


class TooLarge(Exception):
    """A request over a size limit: body, batch, list (HTTP 413)."""


@dataclass(frozen=True)
class Limits:
    """What one request may ask for. The defaults suit a shared server; raise them for a private one."""

    max_k: int = 1000
    max_batch: int = 1000  # queries in a batch request, words in a list parameter
    max_body_bytes: int = 1_000_000
    max_query_chars: int = 1000  # one query, expression or word
    timeout_seconds: float = 30.0


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # string, integer, number, boolean, string[], number[], pair[]
    description: str
    required: bool = False
    default: Any = None
    minimum: float | None = None
    maximum: str | float | None = None  # a number, or the name of a Limits field
    choices: tuple[str, ...] = ()

    def bound(self, limits: Limits) -> float | None:
        if isinstance(self.maximum, str):
            return getattr(limits, self.maximum)
        return self.maximum

    def parse(self, raw: Any, limits: Limits, from_query: bool) -> Any:
        if self.kind.endswith("[]"):
            values = raw if isinstance(raw, list) else [raw]
            if from_query and self.kind != "pair[]" and len(values) == 1 and isinstance(values[0], str) \
                    and "," in values[0] and self.kind == "number[]":
                values = values[0].split(",")
            if not isinstance(raw, list) and not from_query:
                raise ParamError(f"{self.name} must be a list")
            if len(values) > limits.max_batch:
                raise TooLarge(f"{self.name} has {len(values)} items; the limit is {limits.max_batch}")
            item = self.kind[:-2]
            if item == "pair":
                return [self._pair(v, limits) for v in values]
            return [self._scalar(item, v, limits, from_query) for v in values]
        if isinstance(raw, list):
            if not from_query or len(raw) != 1:
                raise ParamError(f"{self.name} must be a single {self.kind}")
            raw = raw[0]
        return self._scalar(self.kind, raw, limits, from_query)

    def _pair(self, value: Any, limits: Limits) -> tuple[str, str]:
        if not isinstance(value, list) or len(value) != 2:
            raise ParamError(f"each item of {self.name} must be a list of two words")
        first, second = (self._scalar("string", v, limits, False) for v in value)
        return first, second

    def _scalar(self, kind: str, value: Any, limits: Limits, from_query: bool) -> Any:
        name = self.name
        if kind == "string":
            if not isinstance(value, str):
                raise ParamError(f"{name} must be a string")
            if len(value) > limits.max_query_chars:
                raise ParamError(f"{name} is {len(value)} characters; the limit is {limits.max_query_chars}")
            if self.choices and value not in self.choices:
                raise ParamError(f"{name} must be one of {', '.join(self.choices)}, got {value!r}")
            return value
        if kind == "boolean":
            if isinstance(value, bool):
                return value
            if from_query and isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no", ""):
                return value.lower() in ("true", "1", "yes", "")
            raise ParamError(f"{name} must be true or false")
        if kind == "integer":
            if from_query and isinstance(value, str):
                try:
                    value = int(value)
                except ValueError:
                    raise ParamError(f"{name} must be an integer, got {value!r}") from None
            if isinstance(value, bool) or not isinstance(value, int):
                raise ParamError(f"{name} must be an integer")
        elif kind == "number":
            if from_query and isinstance(value, str):
                try:
                    value = float(value)
                except ValueError:
                    raise ParamError(f"{name} must be a number, got {value!r}") from None
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ParamError(f"{name} must be a finite number")
            value = float(value)
        else:
            raise ParamError(f"{name}: unsupported type {kind}")
        if self.minimum is not None and value < self.minimum:
            raise ParamError(f"{name} must be at least {self.minimum:g}, got {value}")
        bound = self.bound(limits)
        if bound is not None and value > bound:
            raise ParamError(f"{name} must be at most {bound:g}, got {value}")
        return value

    def openapi(self, limits: Limits) -> dict[str, Any]:
        scalar = {"string": {"type": "string", "maxLength": limits.max_query_chars}, "integer": {"type": "integer"},
                  "number": {"type": "number"}, "boolean": {"type": "boolean"},
                  "pair": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 2}}
        if self.kind.endswith("[]"):
            schema: dict[str, Any] = {"type": "array", "items": scalar[self.kind[:-2]], "maxItems": limits.max_batch}
        else:
            schema = dict(scalar[self.kind])
            if self.minimum is not None:
                schema["minimum"] = self.minimum
            bound = self.bound(limits)
            if bound is not None:
                schema["maximum"] = bound
            if self.choices:
                schema["enum"] = list(self.choices)
        if self.default is not None:
            schema["default"] = self.default
        return schema


@dataclass(frozen=True)
class Operation:
    path: str
    name: str
    summary: str
    params: tuple[Param, ...]
    result: Any = None  # the dataclass the result is (for the schema), or a description
    methods: tuple[str, ...] = ("GET", "POST")
    description: str = ""
    batch: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def parse(self, source: Mapping[str, Any], limits: Limits, from_query: bool) -> dict[str, Any]:
        known = {p.name for p in self.params}
        unknown = sorted(set(source) - known)
        if unknown:
            raise ParamError(f"unknown parameter(s) {', '.join(unknown)}; {self.path} takes {', '.join(sorted(known)) or 'none'}")
        values: dict[str, Any] = {}
        for param in self.params:
            if param.name not in source or (from_query and source[param.name] in ([], [""]) and param.kind != "boolean"):
                if param.required:
                    raise ParamError(f"{param.name} is required")
                values[param.name] = param.default
                continue
            values[param.name] = param.parse(source[param.name], limits, from_query)
        return values


STORE = Param("store", "string", "Name of the store to ask (see /v1/stores). Default: the first one served.")
K = Param("k", "integer", "Number of results.", default=10, minimum=1, maximum="max_k")
SEARCH = (
    Param("ef_search", "integer", "HNSW stores: search breadth for this request (recall then unmeasured).", minimum=1, maximum=100_000),
    Param("nprobe", "integer", "IVF stores: cells to search for this request (recall then unmeasured).", minimum=1, maximum=100_000),
)
RERANK = (
    Param("rerank", "boolean", "Reorder by cosine + weight x fit in the query word's stored contexts (needs a reranker).",
          default=False),
    Param("rerank_k", "integer", "Candidates drawn by cosine for rerank.", default=50, minimum=1, maximum="max_k"),
    Param("rerank_weight", "number", "Weight of fit against cosine. Default: the store's."),
)
WORDS = Param("words", "string[]", "Words (or phrases).", required=True)


def operations() -> tuple[Operation, ...]:
    from ..batch import PairSimilarity
    from ..query import AnalogyResult, DoesntMatchResult, ExamplesResult, SimilarityResult, SimilarResult, StoreInfo
    from .engine import RestrictedResult, VectorNeighbors, VocabularyPage, WordMap, WordVector

    return (
        Operation("/v1/similar", "similar", "Nearest words to a word, a phrase or an expression",
                  (Param("q", "string", "A word, a phrase (the mean of its words) or an expression (`king - man + woman`, "
                         "`0.5*paris + rome`).", required=True), K,
                   Param("restrict", "string[]", "Rank only these words (single vocabulary words)."),
                   *RERANK, *SEARCH,
                   Param("map", "boolean", "Also place the query and its neighbours on a 2-D map (PCA).", default=False),
                   STORE),
                  SimilarResult, extra={"with_restrict": RestrictedResult, "map": WordMap},
                  description="Same result as `Store.similar` and `embedsearch similar --json`. With `restrict`, the "
                              "result has `query`, `terms` and `neighbors` only. With `map`, it has a `map` too."),
        Operation("/v1/similar/batch", "similar_batch", "Nearest words of many queries in one request",
                  (Param("queries", "string[]", "Words, phrases or expressions.", required=True), K, STORE),
                  SimilarResult, methods=("POST",), batch=True,
                  description="`results[i]` answers `queries[i]`: a `similar` result, or `{\"error\": {...}}` for that query alone."),
        Operation("/v1/similar/vector", "similar_vector", "Nearest words to a vector",
                  (Param("vector", "number[]", "A vector of the store's dimension (any length; it is normalised).",
                         required=True), K, STORE),
                  VectorNeighbors, methods=("POST",)),
        Operation("/v1/analogy", "analogy", "a is to b as c is to ?",
                  (Param("a", "string", "", required=True), Param("b", "string", "", required=True),
                   Param("c", "string", "", required=True), K,
                   Param("method", "string", "3cosadd or 3cosmul.", default="3cosadd", choices=("3cosadd", "3cosmul")),
                   *RERANK, *SEARCH, STORE),
                  AnalogyResult, description="Same result as `Store.analogy` and `embedsearch analogy --json`."),
        Operation("/v1/similarity", "similarity", "Cosine similarity of two words or phrases",
                  (Param("first", "string", "", required=True), Param("second", "string", "", required=True), STORE),
                  SimilarityResult),
        Operation("/v1/similarity/batch", "similarity_batch", "Cosine similarity of many pairs",
                  (Param("pairs", "pair[]", "Pairs of words: [[\"coffee\", \"tea\"], ...].", required=True), STORE),
                  PairSimilarity, methods=("POST",), batch=True,
                  description="`results[i]` is the pair's score, `null` with `oov` naming the unknown words, as "
                              "`embedsearch export similarities` gives them."),
        Operation("/v1/doesnt-match", "doesnt_match", "Which of three or more words does not belong",
                  (Param("words", "string[]", "Three or more words.", required=True), STORE), DoesntMatchResult),
        Operation("/v1/vectors", "vectors", "Vectors of words (built from subwords for unknown words of FastText stores)",
                  (WORDS, STORE), WordVector, batch=True),
        Operation("/v1/examples", "examples", "A word in context: the sample of sentences the store keeps",
                  (Param("word", "string", "", required=True),
                   Param("limit", "integer", "At most this many (default: all kept).", minimum=1, maximum="max_k"), STORE),
                  ExamplesResult),
        Operation("/v1/info", "info", "What the store holds", (STORE,), StoreInfo),
        Operation("/v1/vocabulary", "vocabulary", "The vocabulary, most frequent first; a prefix completes a word",
                  (Param("prefix", "string", "Only words starting with this (as typed, or NFKC-lowercased)."),
                   Param("offset", "integer", "", default=0, minimum=0, maximum=10**9),
                   Param("limit", "integer", "", default=20, minimum=1, maximum="max_batch"), STORE),
                  VocabularyPage),
        Operation("/v1/stores", "stores", "The stores served, by name", (), None, methods=("GET",)),
    )


# --- OpenAPI -----------------------------------------------------------------------------------


def _type_schema(hint: Any, components: dict[str, Any]) -> dict[str, Any]:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any or hint is object:
        return {}
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        schema = _type_schema(options[0], components) if len(options) == 1 else {"anyOf": [_type_schema(a, components) for a in options]}
        return {**schema, "nullable": True} if type(None) in args else schema
    if origin in (list, tuple, frozenset, set):
        return {"type": "array", "items": _type_schema(args[0], components) if args else {}}
    if origin is dict or hint is dict:
        return {"type": "object"}
    if hint is str:
        return {"type": "string"}
    if hint is bool:
        return {"type": "boolean"}
    if hint is int:
        return {"type": "integer"}
    if hint is float:
        return {"type": "number"}
    if dataclasses.is_dataclass(hint):
        name = hint.__name__
        if name not in components:
            components[name] = {}  # placeholder against recursion
            hints = typing.get_type_hints(hint)
            components[name] = {
                "type": "object",
                "description": (hint.__doc__ or "").strip().split("\n\n")[0],
                "properties": {f.name: _type_schema(hints[f.name], components) for f in dataclasses.fields(hint)},
                "required": [f.name for f in dataclasses.fields(hint)],
            }
        return {"$ref": f"#/components/schemas/{name}"}
    return {}


ERROR_SCHEMA = {
    "type": "object",
    "properties": {"error": {"type": "object", "properties": {
        "status": {"type": "integer"}, "type": {"type": "string"}, "message": {"type": "string"},
        "word": {"type": "string"}, "suggestions": {"type": "array", "items": {"type": "string"}}},
        "required": ["status", "type", "message"]}},
    "required": ["error"],
}


def openapi(limits: Limits, *, token: bool) -> dict[str, Any]:
    components: dict[str, Any] = {"Error": ERROR_SCHEMA}
    paths: dict[str, Any] = {}
    errors = {
        "400": "The query cannot be answered as asked (bad expression, a cancelling query, no reranker).",
        "401": "Missing or wrong token (servers bound beyond this machine).",
        "404": "Unknown word (with close spellings in `suggestions`) or unknown store.",
        "413": "Body, batch or list over the limit.",
        "422": "A parameter missing, of the wrong type or out of range.",
        "503": "Not ready yet (stores opening), or the request timed out.",
    }
    for op in operations():
        if op.result is None:
            result: dict[str, Any] = {"type": "object"}
        else:
            result = _type_schema(op.result, components)
        if op.batch:
            result = {"type": "object", "properties": {"results": {"type": "array", "items": result}}}
        for extra in op.extra.values():
            _type_schema(extra, components)
        responses = {"200": {"description": "OK", "content": {"application/json": {"schema": result}}}}
        for code, text in errors.items():
            responses[code] = {"description": text, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        body_schema = {"type": "object", "properties": {p.name: {**p.openapi(limits), "description": p.description}
                                                        for p in op.params},
                       "required": [p.name for p in op.params if p.required], "additionalProperties": False}
        entry: dict[str, Any] = {}
        for method in op.methods:
            spec: dict[str, Any] = {"operationId": f"{op.name}_{method.lower()}", "summary": op.summary,
                                    "description": op.description, "responses": responses}
            if method == "GET":
                spec["parameters"] = [{"name": p.name, "in": "query", "required": p.required, "description": p.description,
                                       "schema": p.openapi(limits), **({"explode": True} if p.kind.endswith("[]") else {})}
                                      for p in op.params if p.kind != "pair[]"]
            else:
                spec["requestBody"] = {"required": True, "content": {"application/json": {"schema": body_schema}}}
            if token:
                spec["security"] = [{"bearer": []}]
            entry[method.lower()] = spec
        paths[op.path] = entry
    for path, summary in (("/health", "Alive (no store needed)"), ("/ready", "Every store open and warm (503 until then)")):
        paths[path] = {"get": {"operationId": path.strip("/"), "summary": summary,
                               "responses": {"200": {"description": "OK"}, "503": {"description": "Not ready"}}}}
    document: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {"title": "embedsearch", "version": __version__,
                 "description": "Similarity queries over embedsearch stores. Results are the Python API's dataclasses "
                                "as JSON, the same as the CLI's `--json`. Limits: "
                                + ", ".join(f"{f.name}={getattr(limits, f.name)}" for f in dataclasses.fields(limits))},
        "paths": paths,
        "components": {"schemas": components},
    }
    if token:
        document["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    return document
