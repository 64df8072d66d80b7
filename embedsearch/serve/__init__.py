"""The HTTP API and the web page: ``embedsearch serve``, or ``create_app`` under any ASGI server.

    >>> from embedsearch.serve import ServeConfig, create_app
    >>> app = create_app(ServeConfig(stores={"text8": Path("text8_store")}))

Needs the ``serve`` extra (Starlette and uvicorn): ``pip install 'embedsearch-words[serve]'``, or
``pip install '.[serve]'`` in a checkout.
"""
from __future__ import annotations

from .app import ServeConfig, create_app
from .schema import Limits

__all__ = ["Limits", "ServeConfig", "create_app"]
