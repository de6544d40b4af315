"""The HTTP answers every part of the fake apiserver writes: JSON, a Status, Go's 404.

A module of its own so that the handlers, the subresources and the reviews share them
without importing one another.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from kcs.core import ApiError

__all__ = ["JSON", "json_response", "page_not_found", "status_response"]

JSON = "application/json"


def json_response(body: Any, status: int = 200) -> web.Response:
    """A JSON response from a value or from bytes already serialized."""
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    return web.Response(body=data, status=status, content_type=JSON)


def status_response(err: ApiError) -> web.Response:
    """The Status of ``err`` with its HTTP code (and Retry-After for a 429)."""
    resp = json_response(err.status, err.code)
    ras = err.details.get("retryAfterSeconds")
    if err.code in (429, 503) and ras is not None:
        resp.headers["Retry-After"] = str(ras)
    return resp


def page_not_found() -> web.Response:
    """Go's ``http.NotFound``: what kube-apiserver answers for a path nothing serves."""
    resp = web.Response(text="404 page not found\n", status=404,
                        content_type="text/plain", charset="utf-8")
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp
