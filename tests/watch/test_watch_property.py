"""Property: whatever the schedule of writes and faults, once writes stop, the state rebuilt
from a watcher's events equals the server's, and the events obeyed the contract."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from watch_mirror import Mirror, new_pod
from watch_wire import FAST_BACKOFF

from kcs.client import NO_RETRY, Client
from kcs.core import NotFound, builtin
from kcs.testing import FakeApiServer
from kcs.watch import Watcher, WatchErrorKind, WatchOptions

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

NAMES = 6

write = st.tuples(st.sampled_from(["create", "update", "delete"]), st.integers(0, NAMES - 1))
fault = st.tuples(
    st.sampled_from(
        ["drop", "compact_and_drop", "restart", "fail_watch", "fail_list", "throttle", "settle"]
    ),
    st.just(0),
)
schedule = st.lists(st.one_of(write, write, fault), min_size=1, max_size=30)


async def apply_op(api: FakeApiServer, mirror: Mirror, op: str, i: int) -> None:
    name, ns = f"p{i}", f"ns{i % 2}"
    try:
        if op == "create":
            api.create("pods", new_pod(name, ns))
        elif op == "update":
            api.patch("pods", name, {"metadata": {"labels": {"v": str(api.revision)}}},
                      namespace=ns)
        elif op == "delete":
            api.delete("pods", name, ns)
    except NotFound:
        pass
    except Exception as exc:  # AlreadyExists
        if type(exc).__name__ != "AlreadyExists":
            raise
    if op in ("drop", "compact_and_drop", "fail_watch", "throttle"):
        await api.wait_for_watchers(1)  # so that the fault hits an open watch
    if op == "drop":
        api.faults.drop_watches()
    elif op == "compact_and_drop":  # the resume point may be gone: 410 -> relist
        api.create("pods", new_pod(f"c{api.revision}", "ns0"))
        api.compact()
        api.faults.drop_watches()
    elif op == "restart":
        await api.restart()
    elif op == "fail_watch":
        api.faults.fail(500, verbs="watch", times=1)
        api.faults.drop_watches()
    elif op == "fail_list":
        api.faults.fail(500, verbs="list", times=1)
    elif op == "throttle":
        api.faults.fail(429, verbs=["list", "watch"], times=1, retry_after=0)
        api.faults.drop_watches()
    elif op == "settle":
        await mirror.wait_caught_up(api)


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=schedule, initial_list=st.sampled_from(["list", "stream"]),
       page_size=st.sampled_from([2, 500]))
async def test_state_from_events_converges_to_the_server(
    ops: list[tuple[str, int]], initial_list: Any, page_size: int
) -> None:
    async with FakeApiServer() as api:
        api.seed("pods", [new_pod(f"p{i}", f"ns{i % 2}") for i in range(0, NAMES, 2)])
        async with Client.from_url(api.url, retry=NO_RETRY, qps=None) as client:
            w = Watcher(client, builtin("pods"), options=WatchOptions(
                initial_list=initial_list, page_size=page_size, backoff=FAST_BACKOFF))
            async with anyio.create_task_group() as tg, w:
                mirror = Mirror(w)
                tg.start_soon(mirror.run)
                await mirror.wait_until(lambda: mirror.synced)
                for op, i in ops:
                    await apply_op(api, mirror, op, i)
                api.faults.clear()
                await mirror.wait_caught_up(api, within=5)
                await w.stop()
    assert not mirror.violations, mirror.violations
    assert w.stats.errors.get(WatchErrorKind.UNEXPECTED, 0) == 0
