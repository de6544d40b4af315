"""Fences: requests refused at the moment they would be sent, against the fake apiserver.

The server's request log counts every request that reached it, so "refused" is checked
where it matters: nothing arrived.
"""

from __future__ import annotations

import time

import aiohttp
import anyio
import pytest

from kcs.client import Client, Fence, FencedError, current_fences, fenced
from kcs.client._sending import CheckedRequest
from kcs.core import NotFound, builtin
from kcs.testing import ApiServerProcess, FakeApiServer
from kcs.testing.pytest_plugin import fake_apiserver

__all__ = ["fake_apiserver"]

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

CONFIGMAPS = builtin("configmaps")


def _cm(name: str) -> dict[str, object]:
    return {"metadata": {"name": name, "namespace": "default"}, "data": {"a": "1"}}


async def test_an_open_fence_lets_requests_through_and_a_closed_one_refuses_them(
    fake_apiserver: FakeApiServer,
) -> None:
    async with Client.from_url(fake_apiserver.url, qps=None) as client:
        fence = Fence("term 1", deadline=anyio.current_time() + 60)
        with fenced(fence):
            await client.create(CONFIGMAPS, _cm("one"))
            fence.close("the lease was seen taken")
            before = fake_apiserver.requests.total
            with pytest.raises(FencedError) as info:
                await client.create(CONFIGMAPS, _cm("two"))
            with pytest.raises(FencedError):
                await client.get(CONFIGMAPS, "one", "default")
        assert fake_apiserver.requests.total == before
        assert info.value.fence is fence
        assert "the lease was seen taken" in str(info.value)
        assert info.value.method == "POST"
        assert [r.name for r in fake_apiserver.writes.records] == ["one"]
        # Outside the block the fence no longer applies.
        assert await client.get(CONFIGMAPS, "one", "default") is not None


async def test_a_deadline_that_passed_while_the_loop_was_blocked_refuses_the_pending_write() -> None:
    """The pause case: the work is due to write just before its fence deadline; then the
    event loop is blocked past the deadline (as a SIGSTOP, a GC pause or a suspended VM
    would). On resuming, the work's timer and the deadline are both due. A cancel scope
    alone does not stop the write (anyio does not cancel a task whose wakeup is already
    due: the task runs on into the request, which goes out before the cancellation lands);
    the fence does. The server runs in its own process, so it is not paused with us and
    applies whatever reaches it."""
    async with ApiServerProcess() as api, Client.from_url(api.url, qps=None) as client:
        await client.create(CONFIGMAPS, _cm("work"))  # a warm connection in the pool
        outcomes: list[str] = []
        for _ in range(3):
            fence = Fence("term 1", deadline=anyio.current_time() + 0.2)

            async def work(fence: Fence = fence) -> None:
                with fenced(fence), anyio.CancelScope(deadline=fence.deadline):
                    await anyio.sleep(0.15)  # due before the deadline
                    try:
                        await client.patch(CONFIGMAPS, "work", {"data": {"late": "yes"}},
                                           "default")
                        outcomes.append("written")
                    except FencedError:
                        outcomes.append("refused")

            async with anyio.create_task_group() as tg:
                tg.start_soon(work)
                await anyio.sleep(0.1)
                time.sleep(0.4)  # the "pause": nothing in this process runs  # noqa: ASYNC251
        assert "written" not in outcomes
        writes = await api.writes()
        assert [w["verb"] for w in writes] == ["create"]


async def test_tasks_started_inside_inherit_the_fences_and_fences_nest(
    fake_apiserver: FakeApiServer,
) -> None:
    outer = Fence("leader")
    inner = Fence("shard 3")
    seen: list[tuple[Fence, ...]] = []
    async with Client.from_url(fake_apiserver.url, qps=None) as client:
        with fenced(outer):
            with fenced(inner):
                assert current_fences() == (outer, inner)

                async def child() -> None:
                    seen.append(current_fences())
                    inner.close("shard moved")
                    with pytest.raises(FencedError) as info:
                        await client.get(CONFIGMAPS, "x", "default")
                    assert info.value.fence is inner

                async with anyio.create_task_group() as tg:
                    tg.start_soon(child)
            assert current_fences() == (outer,)
            assert await client.get(CONFIGMAPS, "x", "default") is None
        assert current_fences() == ()
    assert seen == [(outer, inner)]


async def test_a_fence_closed_by_time_never_reopens() -> None:
    fence = Fence("t", deadline=anyio.current_time() - 0.001)
    assert not fence.open()
    assert fence.extend(anyio.current_time() + 10) is False
    assert not fence.open()
    open_one = Fence("u", deadline=anyio.current_time() + 10)
    assert open_one.extend(anyio.current_time() + 20)
    open_one.close("done")
    assert open_one.extend(anyio.current_time() + 30) is False
    assert open_one.deadline == float("-inf")


async def test_the_body_write_is_checked_again_and_nothing_complete_reaches_the_server(
    fake_apiserver: FakeApiServer,
) -> None:
    """A request with a body is written in two steps (headers in ``send``, the body in
    ``write_bytes``, which may run one loop turn later): a fence that closes in between
    aborts the connection before the body."""
    fence = Fence("term 1", deadline=anyio.current_time() + 60)

    async def close_fence(*_args: object) -> None:
        fence.close("closed between headers and body")

    trace = aiohttp.TraceConfig()
    trace.on_request_headers_sent.append(close_fence)
    url = f"{fake_apiserver.url}/api/v1/namespaces/default/configmaps"
    async with aiohttp.ClientSession(request_class=CheckedRequest, trace_configs=[trace]) as s:
        with fenced(fence), pytest.raises(FencedError):
            await s.post(url, json=_cm("late"))
    assert fake_apiserver.writes.records == []
    with pytest.raises(NotFound):
        fake_apiserver.get("configmaps", "late", "default")
