"""Fixtures for the controller tests: a fake apiserver, a client and an informer factory."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from kcs.client import Client
from kcs.informer import InformerFactory
from kcs.testing import FakeApiServer


@pytest.fixture
async def api() -> AsyncIterator[FakeApiServer]:
    async with FakeApiServer() as server:
        yield server


@pytest.fixture
async def client(api: FakeApiServer) -> AsyncIterator[Client]:
    async with Client.from_url(api.url) as c:
        yield c


@pytest.fixture
def factory(client: Client) -> InformerFactory:
    return InformerFactory(client)
