"""Fixtures of the informer tests: the fake apiserver over real HTTP, and a client for it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from kcs.client import Client
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
