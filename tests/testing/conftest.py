"""Fixtures of the fake apiserver tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from apiserver_http import Http, http

from kcs.testing import FakeApiServer


@pytest.fixture
async def api() -> AsyncIterator[FakeApiServer]:
    async with FakeApiServer(too_large_wait=0.3) as server:
        yield server
    assert server.controllers.errors == [], server.controllers.errors


@pytest.fixture
async def client(api: FakeApiServer) -> AsyncIterator[Http]:
    async with http(api.url) as h:
        yield h
