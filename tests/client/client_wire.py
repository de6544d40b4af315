"""Helpers of the HTTP client tests: a tiny scripted aiohttp server on 127.0.0.1.

The ``wire`` fixture (conftest.py) is a :class:`WireServer` whose ``handler`` each test
sets. It records every request (method, path, query, headers, body, arrival time) and
every request whose client went away before the handler finished (aiohttp cancels the
handler then), so tests can prove that a cancelled client call aborted its HTTP request.

The ``tls_files`` fixture makes a self-signed certificate for 127.0.0.1 with ``openssl``
(skipped when it is not installed).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)

    def json(self) -> Any:
        return orjson.loads(self.body)


def json_response(
    obj: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=orjson.dumps(obj), status=status, content_type="application/json", headers=headers
    )


async def not_found(request: web.Request) -> web.StreamResponse:
    from kcs.core import status_body

    return json_response(status_body(404, "NotFound", f"{request.path} not found"), 404)


class WireServer:
    """A scripted HTTP server for wire-level tests (loopback only)."""

    def __init__(self) -> None:
        self.handler: Handler = not_found
        self.seen: list[Seen] = []
        self.disconnects = 0
        self.disconnected = asyncio.Event()
        self.arrived = asyncio.Event()
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.seen.append(
            Seen(request.method, request.path, dict(request.query), dict(request.headers), body)
        )
        self.arrived.set()
        try:
            return await self.handler(request)
        except asyncio.CancelledError:
            self.disconnects += 1
            self.disconnected.set()
            raise

    async def start(self, ssl_context: ssl.SSLContext | None = None) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=ssl_context)
        await site.start()
        port = self._runner.addresses[0][1]
        scheme = "https" if ssl_context else "http"
        self.url = f"{scheme}://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def reply(self, obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        """Answer every request with ``obj`` as JSON."""

        async def handler(request: web.Request) -> web.StreamResponse:
            return json_response(obj, status, headers)

        self.handler = handler

    def script(self, *answers: tuple[int, Any] | tuple[int, Any, dict[str, str]]) -> None:
        """Answer the n-th request with the n-th ``(status, json[, headers])``; the last repeats."""
        queue = list(answers)

        async def handler(request: web.Request) -> web.StreamResponse:
            answer = queue.pop(0) if len(queue) > 1 else queue[0]
            headers = answer[2] if len(answer) > 2 else None
            return json_response(answer[1], answer[0], headers)

        self.handler = handler


@dataclass
class TlsFiles:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(str(self.cert), str(self.key))
        return ctx
