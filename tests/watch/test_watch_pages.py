"""A paginated list asks for the next page before it hands this one over."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import anyio
import pytest
from watch_mirror import new_pod
from watch_wire import FAST_BACKOFF

from kcs.client import Client
from kcs.core import builtin
from kcs.testing import FakeApiServer
from kcs.watch import InitApply, InitDone, InitStart, Watcher, WatchOptions
from kcs.watch._pages import peek_continue

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

PODS = builtin("pods")


@pytest.fixture
async def api() -> AsyncIterator[FakeApiServer]:
    async with FakeApiServer() as server:
        server.seed("pods", [new_pod(f"p{i}", f"ns{i % 3}") for i in range(25)])
        yield server


@pytest.fixture
async def client(api: FakeApiServer) -> AsyncIterator[Client]:
    async with Client.from_url(api.url, qps=None) as c:
        await c.list_raw(PODS, limit=1)  # resolved and connected: only list pages below
        yield c


async def test_the_next_page_is_on_its_way_while_this_one_is_handled(
    api: FakeApiServer, client: Client
) -> None:
    before = api.requests.total
    w = Watcher(client, PODS, options=WatchOptions(page_size=10, backoff=FAST_BACKOFF))
    async with w, contextlib.aclosing(w.batches()) as batches:
        first = await anext(batches)
        assert isinstance(first[0], InitStart) and len(first) == 11
        # Page 2 was asked for before page 1 came out, not when it is asked for.
        with anyio.fail_after(5):
            await api.requests.wait_until(lambda log: log.total >= before + 2)
        second = await anext(batches)
        third = await anext(batches)
        assert isinstance(third[-1], InitDone)
        assert api.requests.total == before + 3  # three pages, nothing asked twice
        keys = [e.obj.key for e in [*first, *second, *third] if isinstance(e, InitApply)]
        assert sorted(keys) == sorted(f"ns{i % 3}/p{i}" for i in range(25))
        assert w.stats.pages == 3 and w.stats.lists == 1
        await w.stop()


async def test_a_page_fetched_ahead_is_dropped_when_the_list_stops(
    api: FakeApiServer, client: Client
) -> None:
    w = Watcher(client, PODS, options=WatchOptions(page_size=10, backoff=FAST_BACKOFF))
    async with w, contextlib.aclosing(w.batches()) as batches:
        await anext(batches)
        await w.stop()
        with pytest.raises(StopAsyncIteration):
            await anext(batches)
    with anyio.fail_after(5):
        await api.requests.wait_until(lambda log: log.in_flight == 0)
    assert w.stats.pages == 1


def test_the_continue_token_is_read_from_the_head_only() -> None:
    page = b'{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"7",' \
           b'"continue":"abc"},"items":[{"metadata":{"name":"x"}}]}'
    assert peek_continue(page) == "abc"
    last = b'{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"7"},"items":[]}'
    assert peek_continue(last) is None
    # Items first, a head that is not JSON, no items at all: left to the full decode.
    assert peek_continue(b'{"items":[],"metadata":{"continue":"abc"}}') is None
    assert peek_continue(b'{"metadata":{"continue":,"items":[]}') is None
    assert peek_continue(b'{"metadata":{"continue":"abc"}}') is None
