"""Hedged reads and slow-request counts, against the fake apiserver over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import anyio
import pytest

from kcs.client import Client, HedgedReads, SlowRequestCounter
from kcs.core import NotFound, builtin
from kcs.testing import FakeApiServer

CONFIGMAPS = builtin("configmaps")


@pytest.fixture
async def api() -> AsyncIterator[FakeApiServer]:
    async with FakeApiServer() as server:
        server.create(CONFIGMAPS, {"metadata": {"name": "cm", "namespace": "default"}})
        yield server


@pytest.fixture
async def client(api: FakeApiServer) -> AsyncIterator[Client]:
    async with Client.from_url(api.url) as c:
        yield c


def _delays(*first: float) -> Iterator[float]:
    """The given delays for the first requests, then none."""
    yield from first
    while True:
        yield 0.0


@pytest.mark.anyio
@pytest.mark.timeout(10)
async def test_a_slow_get_is_hedged_and_the_loser_is_cancelled(
    api: FakeApiServer, client: Client
) -> None:
    delays = _delays(5.0)
    api.faults.delay(lambda: next(delays), verbs="get")
    hedged = HedgedReads(client, after=0.05)

    started = anyio.current_time()
    obj = await hedged.get(CONFIGMAPS, "cm", "default")
    elapsed = anyio.current_time() - started

    assert obj["metadata"]["name"] == "cm"
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
async def test_a_fast_read_is_not_hedged(api: FakeApiServer, client: Client) -> None:
    hedged = HedgedReads(client, after=2.0)
    for _ in range(3):
        await hedged.list(CONFIGMAPS, "default")
    assert hedged.stats.calls == 3
    assert hedged.stats.hedged == 0
    assert api.requests.total == 3


@pytest.mark.anyio
@pytest.mark.timeout(10)
async def test_an_error_answer_wins_like_any_answer(api: FakeApiServer, client: Client) -> None:
    hedged = HedgedReads(client, after=1.0)
    with pytest.raises(NotFound):
        await hedged.get(CONFIGMAPS, "missing", "default")
    assert hedged.stats.hedged == 0


@pytest.mark.anyio
@pytest.mark.timeout(10)
async def test_the_delay_is_learned_from_a_percentile(api: FakeApiServer, client: Client) -> None:
    hedged = HedgedReads(client, min_samples=5, percentile=90, min_delay=0.0)
    assert hedged.delay("get", CONFIGMAPS) is None
    for _ in range(4):
        await hedged.get(CONFIGMAPS, "cm", "default")
    assert hedged.delay("get", CONFIGMAPS) is None, "not before min_samples answers"
    await hedged.get(CONFIGMAPS, "cm", "default")
    learned = hedged.delay("get", CONFIGMAPS)
    assert learned is not None and 0.0 < learned < 1.0
    assert hedged.delay("list", CONFIGMAPS) is None, "each verb learns on its own"


@pytest.mark.anyio
@pytest.mark.timeout(20)
async def test_the_budget_caps_hedging_when_everything_is_slow(
    api: FakeApiServer, client: Client
) -> None:
    api.faults.delay(0.05, verbs="get")
    hedged = HedgedReads(client, after=0.001, max_ratio=0.0)
    for _ in range(12):
        await hedged.get(CONFIGMAPS, "cm", "default")
    assert hedged.stats.slow == 12
    assert hedged.stats.hedged == 10, "only the burst of the budget"
    assert hedged.stats.budget_denied == 2


@pytest.mark.anyio
@pytest.mark.timeout(10)
async def test_hedged_reads_inherit_the_callers_deadline(
    api: FakeApiServer, client: Client
) -> None:
    api.faults.delay(5.0, verbs="get")
    hedged = HedgedReads(client, after=0.05)
    started = anyio.current_time()
    with pytest.raises(TimeoutError), anyio.fail_after(0.3):
        await hedged.get(CONFIGMAPS, "cm", "default")
    assert anyio.current_time() - started < 1.5
    assert hedged.stats.hedged == 1
    with anyio.fail_after(3):
        await api.requests.wait_cancelled(2)  # both attempts were abandoned
    with anyio.fail_after(3):
        await api.requests.wait_idle()


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
