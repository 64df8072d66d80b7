"""``embedsearch serve``: the HTTP API and the web page over one or more stores."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import click

from .app import DEFAULT_STORE, STORE_ENV, main

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
CONFIG_ENV = "EMBEDSEARCH_SERVE_CONFIG"  # hands the configuration to --workers processes
_NAME = re.compile(r"^[\w.\-]{1,64}$")


def parse_stores(values: tuple[str, ...]) -> dict[str, Path]:
    """``[NAME=]PATH`` values to names → paths; a name defaults to the directory's name."""
    if not values:
        env = os.environ.get(STORE_ENV)
        if env:
            values = (env,)
        elif DEFAULT_STORE.is_dir():
            values = (str(DEFAULT_STORE),)
        else:
            raise click.UsageError(f"no store given: pass --store PATH, set ${STORE_ENV}, or run `embedsearch quickstart` first")
    stores: dict[str, Path] = {}
    for value in values:
        name, sep, path_text = value.partition("=")
        if not sep or not _NAME.match(name):
            name, path_text = "", value
        path = Path(path_text)
        if not name:
            resolved = path.resolve()
            # The quickstart's store is embedsearch-quickstart/store: "store" alone says nothing.
            name = resolved.parent.name if resolved.name == "store" and resolved.parent.name else resolved.name
        if not _NAME.match(name):
            raise click.BadParameter(f"store name {name!r}: use letters, digits, '.', '_' or '-'", param_hint="--store")
        if name in stores:
            raise click.BadParameter(f"two stores are named {name!r}; name them: -s NAME=PATH", param_hint="--store")
        from ..store.generations import is_published

        if not is_published(path):
            raise click.BadParameter(f"{path} is not a store", param_hint="--store")
        stores[name] = path.absolute()
    return stores


def app_from_env():  # type: ignore[no-untyped-def]
    """The app for a ``--workers`` process: the configuration comes from the parent in the environment."""
    from ..serve import Limits, ServeConfig, create_app

    data = json.loads(os.environ[CONFIG_ENV])
    return create_app(ServeConfig(stores={k: Path(v) for k, v in data["stores"].items()}, token=data["token"],
                                  cors_origins=tuple(data["cors"]), limits=Limits(**data["limits"]),
                                  reload_seconds=data["reload_seconds"], neighbour_tables=data["neighbour_tables"]))


@main.command()
@click.option("-s", "--store", "store_specs", multiple=True, metavar="[NAME=]PATH",
              help=f"A store to serve (repeat for several; the first is the default). Default: ${STORE_ENV}, "
                   f"else ./{DEFAULT_STORE}.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind. Anything but this machine's loopback needs --token.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Server processes (each opens the stores; the vectors are memory-mapped, so shared).")
@click.option("--token", envvar="EMBEDSEARCH_TOKEN", default=None,
              help="Require `Authorization: Bearer TOKEN` on every API request (or set $EMBEDSEARCH_TOKEN, "
                   "which keeps it out of the process list).")
@click.option("--cors", "cors", multiple=True, metavar="ORIGIN",
              help="Allow browser pages from ORIGIN (e.g. https://example.org) to call the API. Default: none.")
@click.option("--max-k", type=click.IntRange(min=1), default=1000, show_default=True, help="Largest k a request may ask.")
@click.option("--max-batch", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Most queries in a batch request (and words in a list).")
@click.option("--max-body", type=click.IntRange(min=1024), default=1_000_000, show_default=True,
              help="Largest request body, in bytes.")
@click.option("--max-query-chars", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Longest query, expression or word, in characters.")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
              help="Seconds a request may take before it is answered 503.")
@click.option("--reload-seconds", type=click.FloatRange(min=0), default=2.0, show_default=True,
              help="How often to look for a republished store (0: never).")
@click.option("--blas-threads", type=click.IntRange(min=1), default=None,
              help="Threads each worker's BLAS (numpy, FAISS) may use. Default: 1 (or $OPENBLAS_NUM_THREADS), "
                   "which leaves the other cores to HTTP and other workers; measured faster under load.")
@click.option("--neighbour-table/--no-neighbour-table", default=True, show_default=True,
              help="After start, precompute the 50 nearest words of every word of flat stores up to 200,000 words "
                   "(in the background, at low priority), so one-word queries are look-ups.")
@click.option("--loop", "loop", type=click.Choice(["asyncio", "uvloop"]), default="asyncio", show_default=True,
              help="Event loop. uvloop answers a little faster but, while saturated, accepts new connections slowly "
                   "(~20 a second measured here), so clients connecting under load time out; asyncio accepts them all.")
@click.option("--backlog", type=click.IntRange(min=1), default=2048, show_default=True,
              help="Connections the kernel queues for the server to accept (capped by net.core.somaxconn).")
@click.option("--access-log", is_flag=True, help="Log every request on stderr.")
def serve(store_specs: tuple[str, ...], host: str, port: int, workers: int, token: str | None, cors: tuple[str, ...],
          max_k: int, max_batch: int, max_body: int, max_query_chars: int, timeout: float, reload_seconds: float,
          blas_threads: int | None, neighbour_table: bool, loop: str, backlog: int, access_log: bool) -> None:
    """Serve stores over HTTP: a JSON API (/v1/...), its OpenAPI schema (/openapi.json, /docs) and a web page (/).

    Read-only. Binds 127.0.0.1 unless told otherwise; a server reachable from other machines
    needs a token. A store republished while serving (reindex, rerank train) is picked up
    without a restart.

    \b
    Examples:
      embedsearch serve -s text8_store
      embedsearch serve -s en=en_store -s ko=ko_store --port 8080
      EMBEDSEARCH_TOKEN=secret embedsearch serve -s store --host 0.0.0.0
      curl 'http://127.0.0.1:8000/v1/similar?q=king&k=5'
    """
    try:
        import uvicorn
    except ImportError:
        from ..errors import install_hint

        raise click.ClickException(f"serving needs the serve extra: {install_hint('serve')}") from None
    stores = parse_stores(store_specs)
    if host not in LOCAL_HOSTS and not token:
        raise click.UsageError(f"binding {host} makes the API reachable from other machines: pass --token "
                               "(or set $EMBEDSEARCH_TOKEN), or bind 127.0.0.1")
    if token is not None and len(token) < 16:
        raise click.BadParameter("use a token of at least 16 characters (e.g. `python -c 'import secrets; "
                                 "print(secrets.token_urlsafe())'`)", param_hint="--token")
    config = {"stores": {k: str(v) for k, v in stores.items()}, "token": token, "cors": list(cors),
              "limits": {"max_k": max_k, "max_batch": max_batch, "max_body_bytes": max_body,
                         "max_query_chars": max_query_chars, "timeout_seconds": timeout},
              "reload_seconds": reload_seconds, "neighbour_tables": neighbour_table}
    os.environ[CONFIG_ENV] = json.dumps(config)
    # Read when numpy and FAISS load, which is after this point (in this process and in --workers ones).
    threads = str(blas_threads) if blas_threads else os.environ.get("OPENBLAS_NUM_THREADS", "1")
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        if blas_threads or name not in os.environ:
            os.environ[name] = threads
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"serving {', '.join(f'{n} ({p})' for n, p in stores.items())} on http://{shown}:{port}/ "
               f"(API: /v1, docs: /docs; {workers} worker(s)); Ctrl-C stops", err=True)
    if loop == "uvloop":
        try:
            import uvloop  # noqa: F401
        except ImportError:
            from ..errors import install_hint

            raise click.ClickException(f"--loop uvloop needs uvloop: {install_hint('serve')}") from None
    uvicorn.run("embedsearch.cli.serve:app_from_env", factory=True, host=host, port=port, workers=workers,
                loop=loop, backlog=backlog, log_level="warning", access_log=access_log, server_header=False,
                timeout_graceful_shutdown=5)
