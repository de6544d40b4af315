"""Fixtures of the informer tests: the fake apiserver over real HTTP, a scripted byte-level
server, and clients for them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from watch_wire import WireServer, wire_server

from kcs.client import NO_RETRY, Client
from kcs.testing import FakeApiServer


@pytest.fixture(autouse=True)
def _mutation_detector(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every store built by these tests fails loudly if a cached object is mutated."""
    monkeypatch.setenv("KCS_CACHE_MUTATION_DETECTOR", "1")


@pytest.fixture
async def api() -> AsyncIterator[FakeApiServer]:
    async with FakeApiServer() as server:
        yield server


@pytest.fixture
async def client(api: FakeApiServer) -> AsyncIterator[Client]:
    async with Client.from_url(api.url, qps=None) as c:
        yield c


@pytest.fixture
async def wire() -> AsyncIterator[WireServer]:
    """A scripted byte-level server (see ``tests/watch_wire.py``)."""
    async with wire_server() as server:
        yield server


@pytest.fixture
async def wire_client(wire: WireServer) -> AsyncIterator[Client]:
    """A client of it that does not retry by itself: the watcher's recovery is tested."""
    async with Client.from_url(wire.url, retry=NO_RETRY, qps=None) as c:
        yield c
