"""Fixtures of the watch tests: a scripted wire server and clients for it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from watch_wire import WireServer, wire_server

from kcs.client import NO_RETRY, Client


@pytest.fixture
async def wire() -> AsyncIterator[WireServer]:
    async with wire_server() as server:
        yield server


@pytest.fixture
async def wire_client(wire: WireServer) -> AsyncIterator[Client]:
    """A client that does not retry by itself, so the watcher's own recovery is tested."""
    async with Client.from_url(wire.url, retry=NO_RETRY, qps=None) as client:
        yield client
