"""The HTTP API (Starlette): one thin layer over the query engine, as the CLI is.

Each operation parses its parameters from the declarations in :mod:`.schema`, asks the current
generation of the named store (:mod:`.stores`), and returns the library's dataclass as JSON, the
same document ``embedsearch ... --json`` prints. Errors are JSON ``{"error": {"status", "type",
"message", ...}}`` with the library's message; nothing a client sends reaches a file path, and no
stack trace reaches a client (unexpected failures are logged on the server and answered with a
plain 500).
"""
from __future__ import annotations

import asyncio
import hmac
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from .. import __version__
from ..errors import EmbedsearchError, QueryError, StoreError, UnknownWordError, UsageError
from . import engine
from .engine import as_data
from .batcher import MicroBatcher
from .schema import Limits, Operation, ParamError, TooLarge, openapi, operations
from .stores import NotReady, Served, Stores, UnknownStore

log = logging.getLogger("embedsearch.serve")
STATIC = resources.files("embedsearch.serve") / "static"
TOKEN_ENV = "EMBEDSEARCH_TOKEN"
PUBLIC_PATHS = ("/", "/health", "/ready", "/docs", "/openapi.json", "/favicon.ico")


@dataclass(frozen=True)
class ServeConfig:
    """What to serve and how: ``stores`` maps names to store directories (the first is the default)."""

    stores: dict[str, Path]
    token: str | None = None
    cors_origins: tuple[str, ...] = ()
    limits: Limits = field(default_factory=Limits)
    reload_seconds: float = 2.0  # how often to look for a republished store; 0: never
    max_batch: int = 256  # concurrent similar queries searched together
    neighbour_tables: bool = True  # precompute one-word answers of flat stores (see engine.NeighbourTable)


# --- JSON in and out ---------------------------------------------------------------------------


try:  # in the serve extra: ~15x faster than json for a batch's documents (a 100-word batch: 0.07 ms, not 1.1 ms)
    import orjson
except ImportError:  # pragma: no cover - starlette and uvicorn installed without the extra
    orjson = None


def dump_json(content: Any) -> bytes:
    """``content`` as compact UTF-8 JSON. orjson writes the same bytes as ``json.dumps`` for our
    documents (shortest round-trip floats, non-ASCII as is); what it refuses (a non-string key, an
    integer beyond 64 bits) goes through ``json``."""
    if orjson is not None:
        try:
            return orjson.dumps(content, default=str)
        except TypeError:
            pass
    return json.dumps(content, ensure_ascii=False, default=str, separators=(",", ":")).encode("utf-8")


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dump_json(content)


class ApiError(Exception):
    def __init__(self, status: int, kind: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.kind, self.message, self.extra = status, kind, message, extra


def error_body(status: int, kind: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"status": status, "type": kind, "message": message, **extra}}


def error_response(status: int, kind: str, message: str, **extra: Any) -> JSON:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else ({"Retry-After": "1"} if status == 503 else None)
    return JSON(error_body(status, kind, message, **extra), status_code=status, headers=headers)


def library_error(exc: EmbedsearchError) -> ApiError:
    """The HTTP form of a library error: same message, the status that fits."""
    if isinstance(exc, UnknownWordError):
        return ApiError(404, "unknown_word", str(exc), word=exc.word, suggestions=exc.suggestions)
    if isinstance(exc, UsageError):
        return ApiError(400, "bad_request", str(exc))
    if isinstance(exc, QueryError):
        return ApiError(400, "query_error", str(exc))
    if isinstance(exc, StoreError):
        return ApiError(400, "store_error", str(exc))
    return ApiError(400, "error", str(exc))


def batch_item_error(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, EmbedsearchError):
        err = library_error(exc)
        return error_body(err.status, err.kind, err.message, **err.extra)
    log.error("batch item failed", exc_info=exc)
    return error_body(500, "internal", "internal error")


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise TooLarge(f"the body is {int(declared):,} bytes; the limit is {limit:,}")
        except ValueError:
            raise ApiError(400, "bad_request", "Content-Length is not a number") from None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the body is over the limit of {limit:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_params(request: Request, op: Operation, limits: Limits) -> dict[str, Any]:
    if request.method == "GET":
        query = request.query_params
        return op.parse({key: query.getlist(key) for key in query.keys()}, limits, from_query=True)
    body = await read_body(request, limits.max_body_bytes)
    if not body.strip():
        data: Any = {}
    else:
        try:
            data = json.loads(body.decode("utf-8"))
        except UnicodeDecodeError:
            raise ApiError(400, "bad_request", "the body is not UTF-8") from None
        except json.JSONDecodeError as exc:
            raise ApiError(400, "bad_request", f"the body is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    if not isinstance(data, dict):
        raise ApiError(400, "bad_request", "the body must be a JSON object")
    return op.parse(data, limits, from_query=False)


# --- the operations ----------------------------------------------------------------------------


class Api:
    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.limits = config.limits
        self.stores = Stores(config.stores, grace_seconds=max(60.0, 2 * config.limits.timeout_seconds),
                             tables=config.neighbour_tables)
        self.batcher = MicroBatcher(config.max_batch)
        self.started = time.time()
        self.ready_at: float | None = None
        self.ops = {op.name: op for op in operations()}
        self.handlers: dict[str, Callable[[Served, dict[str, Any]], Awaitable[Any]]] = {
            "similar": self.similar, "similar_batch": self.similar_batch, "similar_vector": self.similar_vector,
            "analogy": self.analogy, "similarity": self.similarity, "similarity_batch": self.similarity_batch,
            "doesnt_match": self.doesnt_match, "vectors": self.vectors, "examples": self.examples, "info": self.info,
            "vocabulary": self.vocabulary,
        }

    # Runs in a worker thread with the store held (and its search parameter set, if asked).
    async def _call(self, served: Served, p: dict[str, Any], work: Callable[[Any], Any]) -> Any:
        def run() -> Any:
            with served.search_params(p.get("ef_search"), p.get("nprobe")) as store:
                return work(store)

        return await run_in_threadpool(run)

    async def similar(self, served: Served, p: dict[str, Any]) -> Any:
        q, k = p["q"], p["k"]
        if p["restrict"] is not None:
            if p["rerank"] or p["map"]:
                raise ParamError("restrict cannot be combined with rerank or map")
            return await self._call(served, p, lambda s: engine.similar_among(s, q, p["restrict"], k=k))
        if p["rerank"] or p["ef_search"] is not None or p["nprobe"] is not None:
            result = await self._call(served, p, lambda s: s.similar(q, k=k, rerank=p["rerank"], rerank_k=p["rerank_k"],
                                                                      rerank_weight=p["rerank_weight"]))
        else:
            # Composing is a few dictionary look-ups on a warm store: done here, it spares a thread hop.
            item = engine.compose(served.store, q)
            result = served.table.answer(item, k) if served.table is not None else None
            if result is None:
                result = await self.batcher.similar(served, item, k)
        data = as_data(result)
        if p["map"]:
            data["map"] = as_data(await run_in_threadpool(engine.word_map, served.store, result))
        return data

    async def similar_batch(self, served: Served, p: dict[str, Any]) -> Any:
        def run(store: Any) -> list[Any]:
            answers = engine.similar_documents(store, served.table, p["queries"], p["k"])
            return [batch_item_error(x) if isinstance(x, BaseException) else x for x in answers]

        return {"results": await self._call(served, p, run)}

    async def similar_vector(self, served: Served, p: dict[str, Any]) -> Any:
        return await self._call(served, p, lambda s: engine.similar_to_vector(s, p["vector"], k=p["k"]))

    async def analogy(self, served: Served, p: dict[str, Any]) -> Any:
        return await self._call(served, p, lambda s: s.analogy(p["a"], p["b"], p["c"], k=p["k"], method=p["method"],
                                                               rerank=p["rerank"], rerank_k=p["rerank_k"],
                                                               rerank_weight=p["rerank_weight"]))

    async def similarity(self, served: Served, p: dict[str, Any]) -> Any:
        return await self._call(served, p, lambda s: s.similarity(p["first"], p["second"]))

    async def similarity_batch(self, served: Served, p: dict[str, Any]) -> Any:
        from ..batch import pair_similarities

        return {"results": [as_data(r) for r in await self._call(served, p, lambda s: list(pair_similarities(s, p["pairs"])))]}

    async def doesnt_match(self, served: Served, p: dict[str, Any]) -> Any:
        return await self._call(served, p, lambda s: s.doesnt_match(p["words"]))

    async def vectors(self, served: Served, p: dict[str, Any]) -> Any:
        return {"results": [as_data(v) for v in await self._call(served, p, lambda s: engine.word_vectors(s, p["words"]))]}

    async def examples(self, served: Served, p: dict[str, Any]) -> Any:
        return await self._call(served, p, lambda s: s.examples(p["word"], limit=p["limit"]))

    async def info(self, served: Served, p: dict[str, Any]) -> Any:
        return await self._call(served, p, lambda s: s.info())

    async def vocabulary(self, served: Served, p: dict[str, Any]) -> Any:
        return await run_in_threadpool(served.vocabulary.page, prefix=p["prefix"], offset=p["offset"], limit=p["limit"])

    async def stores_list(self, request: Request) -> Response:
        listed = []
        for name, status in self.stores.status().items():
            entry: dict[str, Any] = {"name": name, "default": name == self.stores.default, "status": status}
            try:
                served = self.stores.get(name)
            except NotReady:
                pass
            else:
                meta = served.store.meta
                entry.update(words=len(served.store), dim=served.store.dim, model=(meta.get("model") or {}).get("kind"),
                             reranker=bool(meta.get("reranker")), contexts=bool(meta.get("contexts")),
                             subwords=bool(meta.get("subwords")), opened_at=served.opened_at,
                             neighbour_table=None if served.table is None else ("ready" if served.table.ready else "building"),
                             neighbour_table_seconds=None if served.table is None else served.table.seconds)
            listed.append(entry)
        return JSON({"stores": listed})

    # --- the HTTP side -------------------------------------------------------------------------

    def endpoint(self, op: Operation) -> Callable[[Request], Awaitable[Response]]:
        handler = self.handlers[op.name]

        async def respond(request: Request) -> Response:
            try:
                p = await read_params(request, op, self.limits)
                name = p.pop("store", None)
                with self.stores.lease(name) as served:
                    result = await asyncio.wait_for(handler(served, p), self.limits.timeout_seconds)
                return JSON(result if type(result) is dict else as_data(result))
            except ApiError as exc:
                return error_response(exc.status, exc.kind, exc.message, **exc.extra)
            except ParamError as exc:
                return error_response(422, "invalid_parameter", str(exc))
            except TooLarge as exc:
                return error_response(413, "too_large", str(exc))
            except EmbedsearchError as exc:
                err = library_error(exc)
                return error_response(err.status, err.kind, err.message, **err.extra)
            except NotReady as exc:
                return error_response(503, "not_ready", str(exc))
            except UnknownStore as exc:
                return error_response(404, "unknown_store", f"no store named {exc.name!r}; serving {', '.join(self.stores.paths)}")
            except asyncio.TimeoutError:
                return error_response(503, "timeout", f"the request took longer than {self.limits.timeout_seconds:g} s")

        return respond

    async def health(self, request: Request) -> Response:
        return JSON({"status": "ok", "version": __version__})

    async def ready(self, request: Request) -> Response:
        status = self.stores.status()
        if self.stores.ready:
            return JSON({"status": "ready", "stores": status, "reloads": self.stores.reloads,
                         "seconds_to_ready": self.ready_at and self.ready_at - self.started})
        return JSON({"status": "not ready", "stores": status}, status_code=503, headers={"Retry-After": "1"})

    # --- lifetime -----------------------------------------------------------------------------

    def _open_in_background(self) -> None:
        def run() -> None:
            try:
                self.stores.open_all()
            finally:
                if self.stores.ready:
                    self.ready_at = time.time()
                    log.info("ready in %.2f s", self.ready_at - self.started)

        threading.Thread(target=run, name="embedsearch-open", daemon=True).start()

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.config.reload_seconds)
            try:
                await run_in_threadpool(self.stores.check)
                if self.ready_at is None and self.stores.ready:
                    self.ready_at = time.time()
            except Exception:  # noqa: BLE001 - the watcher must survive anything and keep the old stores
                log.exception("checking the stores for a new publish failed")

    @asynccontextmanager
    async def lifespan(self, app: Starlette) -> Any:
        self._open_in_background()
        watcher = asyncio.ensure_future(self._watch()) if self.config.reload_seconds > 0 else None
        try:
            yield
        finally:
            if watcher is not None:
                watcher.cancel()
            self.stores.close()


class Guard:
    """Token check (when a token is set) and security headers, before anything else runs."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token.encode("utf-8") if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if self.token is not None and not (path in PUBLIC_PATHS or path.startswith("/static/")) \
                and scope.get("method") != "OPTIONS":
            headers = dict(scope.get("headers") or [])
            given = headers.get(b"authorization", b"")
            scheme, _, value = given.partition(b" ")
            if scheme.lower() != b"bearer" or not hmac.compare_digest(value.strip(), self.token):
                response = error_response(401, "unauthorized", "a valid token is required: Authorization: Bearer TOKEN")
                await response(scope, receive, send)
                return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                headers += [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
                            (b"x-frame-options", b"DENY"),
                            (b"content-security-policy", b"default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(config: ServeConfig) -> Starlette:
    """The ASGI application serving ``config.stores`` (run it with uvicorn, or ``embedsearch serve``)."""
    api = Api(config)
    schema = openapi(config.limits, token=bool(config.token))
    routes: list[Any] = []
    for op in api.ops.values():
        if op.name == "stores":
            routes.append(Route(op.path, api.stores_list, methods=list(op.methods)))
        else:
            routes.append(Route(op.path, api.endpoint(op), methods=list(op.methods)))

    async def page(request: Request) -> Response:
        return FileResponse(str(STATIC / "index.html"), media_type="text/html; charset=utf-8")

    async def docs(request: Request) -> Response:
        return FileResponse(str(STATIC / "docs.html"), media_type="text/html; charset=utf-8")

    async def schema_json(request: Request) -> Response:
        return JSON(schema)

    routes += [
        Route("/", page, methods=["GET"]),
        Route("/docs", docs, methods=["GET"]),
        Route("/openapi.json", schema_json, methods=["GET"]),
        Route("/health", api.health, methods=["GET"]),
        Route("/ready", api.ready, methods=["GET"]),
        Mount("/static", StaticFiles(directory=str(STATIC)), name="static"),
    ]

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        kinds = {404: "not_found", 405: "method_not_allowed"}
        return error_response(exc.status_code, kinds.get(exc.status_code, "http_error"), str(exc.detail))

    async def internal_error(request: Request, exc: Exception) -> Response:
        log.error("unexpected error answering %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(500, "internal", "internal error (the server log has the details)")

    middleware = [Middleware(Guard, token=config.token)]
    if config.cors_origins:
        from starlette.middleware.cors import CORSMiddleware

        middleware.insert(0, Middleware(CORSMiddleware, allow_origins=list(config.cors_origins),
                                        allow_methods=["GET", "POST"], allow_headers=["Authorization", "Content-Type"]))
    app = Starlette(routes=routes, middleware=middleware, lifespan=api.lifespan,
                    exception_handlers={HTTPException: http_error, Exception: internal_error})
    app.state.api = api
    return app
