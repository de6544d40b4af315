"""Fixtures for the leader election tests: clients per replica (``fake_apiserver`` comes
from kcs's pytest plugin, registered as an entry point)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from kcs.client import Client
from kcs.testing import FakeApiServer


@pytest.fixture
async def make_client(fake_apiserver: FakeApiServer) -> AsyncIterator[Callable[[str], Client]]:
    """``make_client(identity)``: a client whose User-Agent ends with the identity."""
    clients: list[Client] = []

    def make(identity: str) -> Client:
        client = Client.from_url(fake_apiserver.url, user_agent_suffix=identity, qps=None)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()
