"""The health endpoints: ``/healthz``, ``/readyz`` and ``/leader`` on a local port."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

__all__ = ["HealthServer", "HealthStatus", "RouteHandler"]

_log = logging.getLogger("kcs.manager")

RouteHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]
"""An aiohttp handler for a route added with :meth:`HealthServer.add_route`."""


@dataclass(frozen=True, slots=True)
class HealthStatus:
    """What the health endpoints report, read from the manager on every request."""

    alive: bool
    """The manager's run loop is running (``/healthz``)."""
    ready: bool
    """The caches have synced and the manager is not shutting down (``/readyz``)."""
    reason: str
    """Why the replica is not ready (empty when ready)."""
    identity: str
    """This replica's identity in the election."""
    leader: str | None
    """The holder of the Lease as last observed (``None``: nobody, or not known yet)."""
    is_leader: bool
    """Whether this replica leads now (holds the Lease and its fence is open)."""
    term: int
    """This replica's current or last term of leadership, counted by this replica
    (0: never led)."""
    synced: bool
    """Whether every informer has synced."""
    lease_transitions: int = 0
    """The Lease's ``leaseTransitions`` as last observed: how often its holder changed,
    the same number on every replica (the cluster's term of leadership is this + 1)."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "alive": self.alive, "ready": self.ready, "reason": self.reason,
            "identity": self.identity, "leader": self.leader, "isLeader": self.is_leader,
            "term": self.term, "synced": self.synced,
            "leaseTransitions": self.lease_transitions,
        }


class HealthServer:
    """Serves the manager's health over plain HTTP on ``host:port``.

    * ``GET /healthz``: 200 ``ok`` while the manager runs, else 503.
    * ``GET /readyz``: 200 ``ok`` once the caches have synced and until shutdown begins,
      else 503 with the reason.
    * ``GET /leader``: 200 with the JSON of :class:`HealthStatus`.
    * any route added with :meth:`add_route` (``/metrics``, see
      :mod:`kcs.observability.prometheus`).

    Guarantees: binds ``127.0.0.1`` unless told otherwise (pass ``0.0.0.0`` or the pod IP
    for in-cluster probes); port 0 picks a free port, readable from :attr:`port` after
    :meth:`start`; the handlers only read state, they never block on the apiserver.
    """

    def __init__(
        self, status: Callable[[], HealthStatus], *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.host = host
        self._port = port
        self._status = status
        self._runner: web.AppRunner | None = None
        self._routes: dict[str, RouteHandler] = {}

    @property
    def port(self) -> int:
        """The port served (the one chosen by the OS when 0 was asked for)."""
        return self._port

    def add_route(self, path: str, handler: RouteHandler) -> None:
        """Serve ``GET path`` with ``handler`` as well; call it before :meth:`start`.

        Raises ``ValueError`` for a path already served, ``RuntimeError`` once started."""
        if self._runner is not None:
            raise RuntimeError("add routes before the health server starts")
        if path in ("/healthz", "/readyz", "/leader") or path in self._routes:
            raise ValueError(f"{path} is already served")
        self._routes[path] = handler

    async def start(self) -> None:
        """Listen; returns once the port is bound."""
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/leader", self._leader)
        for path, handler in self._routes.items():
            app.router.add_get(path, handler)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self._port)
        await site.start()
        self._runner = runner
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self._port = int(sockets[0].getsockname()[1])
        _log.info("health endpoints on http://%s:%d", self.host, self._port)

    async def stop(self) -> None:
        """Stop listening."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _healthz(self, _: web.Request) -> web.Response:
        status = self._status()
        return web.Response(text="ok" if status.alive else "stopped",
                            status=200 if status.alive else 503)

    async def _readyz(self, _: web.Request) -> web.Response:
        status = self._status()
        if status.ready:
            return web.Response(text="ok")
        return web.Response(text=status.reason or "not ready", status=503)

    async def _leader(self, _: web.Request) -> web.Response:
        return web.Response(text=json.dumps(self._status().to_dict()),
                            content_type="application/json")
