"""Routes added to the manager's health server (how /metrics gets onto the health port)."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web

from kcs.manager import HealthServer, HealthStatus

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(20)]


def _status() -> HealthStatus:
    return HealthStatus(alive=True, ready=True, reason="", identity="x", leader=None,
                        is_leader=False, term=0, synced=True)


async def _hello(_: web.Request) -> web.Response:
    return web.Response(text="hello")


async def test_an_added_route_is_served_beside_the_probes() -> None:
    server = HealthServer(_status)
    server.add_route("/metrics", _hello)
    with pytest.raises(ValueError, match="already served"):
        server.add_route("/healthz", _hello)
    with pytest.raises(ValueError, match="already served"):
        server.add_route("/metrics", _hello)
    await server.start()
    try:
        assert server.host == "127.0.0.1"
        async with aiohttp.ClientSession() as s:
            for path, body in (("/metrics", "hello"), ("/healthz", "ok")):
                async with s.get(f"http://127.0.0.1:{server.port}{path}") as r:
                    assert (r.status, await r.text()) == (200, body)
        with pytest.raises(RuntimeError, match="before the health server starts"):
            server.add_route("/late", _hello)
    finally:
        await server.stop()
