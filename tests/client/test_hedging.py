"""Hedged reads and slow-request counts, against the fake apiserver over real HTTP."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import pytest

from kcs.client import Client, HedgedReads, SlowRequestCounter
from kcs.core import builtin
from kcs.testing import FakeApiServer

CONFIGMAPS = builtin("configmaps")


@pytest.fixture
async def api() -> AsyncIterator[FakeApiServer]:
    async with FakeApiServer() as server:
        server.create(CONFIGMAPS, {"metadata": {"name": "cm", "namespace": "default"}})
        yield server


@contextlib.asynccontextmanager
async def hedged_client(
    api: FakeApiServer, **policy: Any
) -> AsyncIterator[tuple[Client, HedgedReads]]:
    """A client whose reads are hedged by ``HedgedReads(**policy)``."""
    hedging = HedgedReads(**policy)
    async with Client.from_url(api.url, hedging=hedging) as c:
        assert c.hedging is hedging
        yield c, hedging


def _delays(*first: float) -> Iterator[float]:
    """The given delays for the first requests, then none."""
    yield from first
    while True:
        yield 0.0


@pytest.mark.anyio
@pytest.mark.timeout(10)
async def test_a_slow_get_is_hedged_and_the_loser_is_cancelled(api: FakeApiServer) -> None:
    delays = _delays(5.0)
    api.faults.delay(lambda: next(delays), verbs="get")
    async with hedged_client(api, after=0.05) as (client, hedged):
        started = anyio.current_time()
        obj = await client.get(CONFIGMAPS, "cm", "default")
        elapsed = anyio.current_time() - started

        assert obj is not None and obj.name == "cm"
        assert elapsed < 2.0, "the hedge, not the 5 s primary, answered"
        assert (hedged.stats.hedged, hedged.stats.hedge_wins, hedged.stats.slow) == (1, 1, 1)
        # The primary was abandoned: the server saw its client go away, nothing is left running.
        with anyio.fail_after(3):
            await api.requests.wait_cancelled(1)
        assert any(r.verb == "get" for r in api.requests.cancelled)
        with anyio.fail_after(3):
            await api.requests.wait_idle()


@pytest.mark.anyio
@pytest.mark.timeout(10)
async def test_a_fast_read_is_not_hedged(api: FakeApiServer) -> None:
    async with hedged_client(api, after=2.0) as (client, hedged):
        for _ in range(3):
            await client.list(CONFIGMAPS, "default")
        assert hedged.stats.calls == 3
        assert hedged.stats.hedged == 0
        assert api.requests.total == 3


@pytest.mark.anyio
@pytest.mark.timeout(10)
async def test_an_error_answer_wins_like_any_answer(api: FakeApiServer) -> None:
    async with hedged_client(api, after=1.0) as (client, hedged):
        assert await client.get(CONFIGMAPS, "missing", "default") is None  # a 404 answer
        assert hedged.stats.calls == 1
        assert hedged.stats.hedged == 0


@pytest.mark.anyio
@pytest.mark.timeout(10)
async def test_the_delay_is_learned_from_a_percentile(api: FakeApiServer) -> None:
    async with hedged_client(api, min_samples=5, percentile=90, min_delay=0.0) as (client, hedged):
        assert hedged.delay("get", str(CONFIGMAPS)) is None
        for _ in range(4):
            await client.get(CONFIGMAPS, "cm", "default")
        assert hedged.delay("get", str(CONFIGMAPS)) is None, "not before min_samples answers"
        await client.get(CONFIGMAPS, "cm", "default")
        learned = hedged.delay("get", str(CONFIGMAPS))
        assert learned is not None and 0.0 < learned < 1.0
        assert hedged.delay("list", str(CONFIGMAPS)) is None, "each verb learns on its own"


@pytest.mark.anyio
@pytest.mark.timeout(20)
async def test_the_budget_caps_hedging_when_everything_is_slow(api: FakeApiServer) -> None:
    api.faults.delay(0.05, verbs="get")
    async with hedged_client(api, after=0.001, max_ratio=0.0) as (client, hedged):
        for _ in range(12):
            await client.get(CONFIGMAPS, "cm", "default")
        assert hedged.stats.slow == 12
        assert hedged.stats.hedged == 10, "only the burst of the budget"
        assert hedged.stats.budget_denied == 2


@pytest.mark.anyio
@pytest.mark.timeout(10)
async def test_hedged_reads_inherit_the_callers_deadline(api: FakeApiServer) -> None:
    api.faults.delay(5.0, verbs="get")
    async with hedged_client(api, after=0.05) as (client, hedged):
        started = anyio.current_time()
        with pytest.raises(TimeoutError), anyio.fail_after(0.3):
            await client.get(CONFIGMAPS, "cm", "default")
        assert anyio.current_time() - started < 1.5
        assert hedged.stats.hedged == 1
        with anyio.fail_after(3):
            await api.requests.wait_cancelled(2)  # both attempts were abandoned
        with anyio.fail_after(3):
            await api.requests.wait_idle()


@pytest.mark.anyio
@pytest.mark.timeout(10)
async def test_writes_are_never_hedged(api: FakeApiServer) -> None:
    api.faults.delay(0.3, verbs="create")
    async with hedged_client(api, after=0.01) as (client, hedged):
        body = {"metadata": {"name": "new", "namespace": "default"}}
        before = api.requests.total
        created = await client.create(CONFIGMAPS, body)
        assert created.name == "new"
        assert hedged.stats.calls == 0 and hedged.stats.hedged == 0
        assert api.requests.total == before + 1, "one create reached the server"
        assert api.requests.cancelled == []


@pytest.mark.anyio
@pytest.mark.timeout(10)
async def test_slow_requests_are_counted_per_verb_and_resource(api: FakeApiServer) -> None:
    counter = SlowRequestCounter(0.1)
    api.faults.delay(0.2, verbs="list")
    async with Client.from_url(api.url, observer=counter) as client:
        await client.get(CONFIGMAPS, "cm", "default")
        await client.list(CONFIGMAPS, "default")
        await client.list(CONFIGMAPS, "default")
    assert counter.total == 3
    assert counter.slow == {("list", "configmaps"): 2}
    assert counter.slow_total == 2
