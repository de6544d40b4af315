"""A tiny scripted apiserver for wire-level edge cases of the watcher and the informer.

The fake apiserver (kcs.testing) speaks the protocol correctly; this one says exactly what
a test scripts, including what a correct server never says: malformed or truncated lines,
unknown event types, a stream that stalls, a rejected streaming list. Each list or watch
request takes the next script of its kind and is recorded (its query), so tests assert on
what the watcher asked for.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import orjson
from aiohttp import web

from kcs.watch import (
    Apply,
    Backoff,
    Bookmark,
    Delete,
    Event,
    InitApply,
    InitDone,
    InitStart,
    WatchOptions,
)

POD_PATH = "/api/v1/pods"

FAST_BACKOFF = Backoff(initial=0.01, maximum=0.05, reset_after=60.0)
"""Fast retries for tests: the same code paths as the defaults, in milliseconds."""
FAST = WatchOptions(backoff=FAST_BACKOFF, permanent_error_backoff=FAST_BACKOFF)
"""Watch options with fast retries (permanent errors included)."""


def summary(event: Event) -> tuple[str, str]:
    """A comparable summary of an event: its class name and object name or rv."""
    match event:
        case InitStart():
            return ("InitStart", "")
        case InitApply(obj) | Apply(obj) | Delete(obj):
            return (type(event).__name__, f"{obj.name}@{obj.resource_version}")
        case InitDone(rv) | Bookmark(rv):
            return (type(event).__name__, rv)
    raise AssertionError(event)


async def take(events: AsyncIterator[Event], n: int, within: float = 5.0) -> list[Event]:
    """The next ``n`` events (fails after ``within`` seconds)."""
    out: list[Event] = []
    with anyio.fail_after(within):
        while len(out) < n:
            out.append(await anext(events))
    return out


def pod(name: str, rv: int, namespace: str = "default", **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"uid-{name}",
            "resourceVersion": str(rv),
            "labels": labels,
        },
        "spec": {"nodeName": "n1"},
    }


def line(etype: str, obj: dict[str, Any]) -> bytes:
    return orjson.dumps({"type": etype, "object": obj}) + b"\n"


def added(name: str, rv: int) -> bytes:
    return line("ADDED", pod(name, rv))


def modified(name: str, rv: int) -> bytes:
    return line("MODIFIED", pod(name, rv))


def deleted(name: str, rv: int) -> bytes:
    return line("DELETED", pod(name, rv))


def bookmark(rv: int, *, initial_end: bool = False) -> bytes:
    meta: dict[str, Any] = {"resourceVersion": str(rv)}
    if initial_end:
        meta["annotations"] = {"k8s.io/initial-events-end": "true"}
    return line("BOOKMARK", {"kind": "Pod", "apiVersion": "v1", "metadata": meta})


def status(code: int, reason: str, message: str = "") -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message or reason,
        "reason": reason,
        "code": code,
    }


def error_event(code: int, reason: str) -> bytes:
    return line("ERROR", status(code, reason, "too old resource version" if code == 410 else ""))


def pod_list(rv: int, pods: list[dict[str, Any]], continue_: str = "") -> bytes:
    meta: dict[str, Any] = {"resourceVersion": str(rv)}
    if continue_:
        meta["continue"] = continue_
    return orjson.dumps({"kind": "PodList", "apiVersion": "v1", "metadata": meta, "items": pods})


@dataclass
class Fail:
    """Answer the request with an error Status."""

    code: int
    reason: str
    headers: dict[str, str] = field(default_factory=dict)
    message: str = ""


class Hold:
    """Stop writing and keep the connection open until the client goes away."""


@dataclass
class Script:
    """What one watch response says, step by step, then (unless Hold) a clean end."""

    steps: list[bytes | Hold] = field(default_factory=list)


class WireServer:
    def __init__(self) -> None:
        self.lists: list[bytes | Fail] = []
        self.watches: list[Script | Fail] = []
        self.list_queries: list[dict[str, str]] = []
        self.list_times: list[float] = []
        self.watch_queries: list[dict[str, str]] = []
        self.disconnects = 0
        self.open_watches = 0
        self.changed = asyncio.Event()
        self.url = ""

    def _note(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()

    async def wait_for(self, predicate: Any, within: float = 5.0) -> None:
        """Wait (event-driven) until predicate() holds."""
        async with asyncio.timeout(within):
            while not predicate():
                await self.changed.wait()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        query = dict(request.query)
        if query.get("watch") in ("true", "1"):
            self.watch_queries.append(query)
            self._note()
            script = self.watches.pop(0) if self.watches else Script([Hold()])
            if isinstance(script, Fail):
                return _fail(script)
            return await self._stream(request, script)
        self.list_queries.append(query)
        self.list_times.append(time.monotonic())
        self._note()
        answer = self.lists.pop(0) if self.lists else Fail(500, "InternalError")
        if isinstance(answer, Fail):
            return _fail(answer)
        return web.Response(body=answer, content_type="application/json")

    async def _stream(self, request: web.Request, script: Script) -> web.StreamResponse:
        resp = web.StreamResponse()
        resp.content_type = "application/json"
        await resp.prepare(request)
        self.open_watches += 1
        self._note()
        try:
            for step in script.steps:
                if isinstance(step, Hold):
                    await asyncio.Event().wait()  # until the client disconnects
                else:
                    await resp.write(step)
            await resp.write_eof()
        except (asyncio.CancelledError, ConnectionResetError):
            self.disconnects += 1
            raise
        finally:
            self.open_watches -= 1
            self._note()
        return resp


def _fail(fail: Fail) -> web.Response:
    return web.Response(
        status=fail.code,
        body=orjson.dumps(status(fail.code, fail.reason, fail.message)),
        content_type="application/json",
        headers=fail.headers,
    )


@asynccontextmanager
async def wire_server() -> AsyncIterator[WireServer]:
    server = WireServer()
    app = web.Application()
    app.router.add_route("GET", POD_PATH, server.handle)
    runner = web.AppRunner(
        app, handle_signals=False, handler_cancellation=True, shutdown_timeout=0.5
    )
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    server.url = f"http://127.0.0.1:{port}"
    try:
        yield server
    finally:
        await runner.cleanup()
