"""Fixtures: the SDK's in-memory reader and exporter, a fake apiserver with a token, a client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from obs_helpers import Otel, installed_otel

from kcs.client import Client
from kcs.informer import InformerFactory
from kcs.testing import FakeApiServer


@pytest.fixture
def otel() -> Iterator[Otel]:
    otel = installed_otel()
    otel.spans.clear()
    yield otel


@pytest.fixture
async def api() -> AsyncIterator[FakeApiServer]:
    async with FakeApiServer(token="s3cr3t-token-value") as server:
        yield server


@pytest.fixture
async def client(api: FakeApiServer) -> AsyncIterator[Client]:
    async with Client.from_url(api.url, "s3cr3t-token-value") as c:
        yield c


@pytest.fixture
def factory(client: Client) -> InformerFactory:
    return InformerFactory(client)
