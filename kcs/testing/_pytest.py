"""pytest fixtures for the fake apiserver (imported only by tests: this needs pytest)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from kcs.testing._server import FakeApiServer

__all__ = ["fake_apiserver"]


@pytest.fixture
async def fake_apiserver() -> AsyncIterator[FakeApiServer]:
    """A running :class:`~kcs.testing.FakeApiServer` with kube-apiserver's bookmarks (no
    fast bookmarks), stopped after the test. Use it from ``@pytest.mark.anyio`` tests
    (asyncio backend). Its teardown fails when one of the cluster's controllers failed
    during the test (a bug of the fake, which would otherwise go unseen)."""
    async with FakeApiServer(too_large_wait=0.5) as api:
        yield api
    if api.controllers.errors:
        raise AssertionError(f"the fake apiserver's controllers failed: {api.controllers.errors}")
