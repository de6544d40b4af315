"""Crash detection across real OS processes: a killed leader is replaced at once; a
paused, partitioned or unreachable one is still waited out. Proved on the fake
apiserver's write log (see le_harness.check_never_two_leaders)."""

from __future__ import annotations

import re

import anyio
import pytest
from le_harness import (
    Replica,
    Replicas,
    check_never_two_leaders,
    lease_writes,
    replica_processes,
    work_writes,
)

from kcs.testing import FakeApiServer, eventually
from kcs.testing.chaos import TcpProxy

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(90)]

FAST = ("--lease-duration", "1.5", "--renew-deadline", "1.0", "--retry-period", "0.2")
DEFAULT = ("--lease-duration", "15", "--renew-deadline", "10", "--retry-period", "2")
_LISTENING = re.compile(r"listening on ([\d.]+):(\d+)")


async def _server() -> FakeApiServer:
    api = FakeApiServer()
    await api.start()
    api.create("configmaps", {"metadata": {"name": "work", "namespace": "default"}, "data": {}})
    return api


async def _working(api: FakeApiServer, identity: str, writes: int = 5) -> None:
    await eventually(lambda: len(work_writes(api.writes.records, identity)) >= writes, 10,
                     f"{identity} to do leader-only work")


async def _leader_and_standby(
    rs: Replicas, api: FakeApiServer, timings: tuple[str, ...], *, proxy: TcpProxy | None = None,
    advertise: str | None = None,
) -> tuple[Replica, Replica]:
    args = [*timings, "--crash-detection"]
    if proxy is not None:
        advertise = proxy.address
    r0 = await rs.start("r0", *args, *(["--advertise", advertise] if advertise else []))
    opened = await r0.wait_for("endpoint_opened")
    if proxy is not None:
        m = _LISTENING.search(opened["detail"])
        assert m is not None
        proxy.target = (m.group(1), int(m.group(2)))
    await r0.wait_for("started_leading")
    r1 = await rs.start("r1", *args)
    await _working(api, "r0")
    return r0, r1


@pytest.mark.parametrize("through_proxy", [False, True])
async def test_a_killed_leader_is_replaced_at_once_with_the_default_15s_lease(
    through_proxy: bool,
) -> None:
    api = await _server()
    try:
        async with TcpProxy() as proxy, replica_processes(api.url) as rs:
            r0, r1 = await _leader_and_standby(rs, api, DEFAULT,
                                               proxy=proxy if through_proxy else None)
            await r1.wait_for("watching_holder", 10, holder="r0")
            killed_at = anyio.current_time()
            r0.kill()
            started = await r1.wait_for("started_leading", 5, after=killed_at)
            failover = started["at"] - killed_at
            assert started["detail"] == "crash"
            assert r1.find("holder_crashed", holder="r0")
            # Against a lease of 15 s; the events say where the time went if it fails.
            assert failover < 1.0, [(e["event"], round(e["at"] - killed_at, 3))
                                    for e in r1.events[-8:]]
            await _working(api, "r1", 3)
            recs = list(api.writes.records)
            assert max(r.time for r in work_writes(recs, "r0")) < lease_writes(recs, "r1")[0].time
            terms = check_never_two_leaders(recs)
            assert [t.identity for t in terms] == ["r0", "r1"]
            print(f"\nSIGKILL -> standby leading {failover * 1000:.0f} ms (lease 15 s"
                  f"{', through a proxy' if through_proxy else ''})")
    finally:
        await api.stop()


async def test_a_paused_leader_is_waited_out_and_never_writes_after_the_takeover() -> None:
    api = await _server()
    try:
        async with replica_processes(api.url) as rs:
            r0, r1 = await _leader_and_standby(rs, api, FAST)
            await r1.wait_for("watching_holder", 10, holder="r0")
            r0.pause()
            paused_at = anyio.current_time()
            started = await r1.wait_for("started_leading", 10, after=paused_at)
            await anyio.sleep(max(0.0, paused_at + 3.0 - anyio.current_time()))
            resumed_at = anyio.current_time()
            r0.resume()
            await r0.wait_for("stopped_leading", 5, after=paused_at)
            await _working(api, "r1", 5)
            recs = list(api.writes.records)
            last_renewal = lease_writes(recs, "r0")[-1]
            # Waited out: nothing told r1 that r0 was gone, so it waited a lease duration
            # on its own clock from (at the earliest) the commit of r0's last renewal.
            assert started["sent"] - last_renewal.time >= 1.5
            assert started["detail"] == "" and not r1.find("holder_crashed")
            takeover = lease_writes(recs, "r1")[0]
            assert not [r for r in work_writes(recs, "r0") if r.time > takeover.time]
            assert resumed_at > takeover.time
            check_never_two_leaders(recs)
    finally:
        await api.stop()


async def test_a_partitioned_leader_is_waited_out() -> None:
    """r0 is cut off from the apiserver (its election client) and from the other replica
    (its liveness endpoint, behind a proxy). Its work client still reaches the apiserver,
    so the write log shows exactly when its work stopped."""
    api = await _server()
    try:
        async with TcpProxy() as proxy, replica_processes(api.url) as rs:
            r0, r1 = await _leader_and_standby(rs, api, FAST, proxy=proxy)
            await r1.wait_for("watching_holder", 10, holder="r0")
            cut_at = anyio.current_time()
            api.faults.partition(user_agent="replica/r0/election")
            proxy.partition()
            fenced = await r0.wait_for("stopped_leading", 5, after=cut_at)
            assert fenced["detail"] == "fenced"
            started = await r1.wait_for("started_leading", 10, after=cut_at)
            recs = list(api.writes.records)
            last_renewal = lease_writes(recs, "r0")[-1]
            takeover = lease_writes(recs, "r1")[0]
            assert started["sent"] - last_renewal.time >= 1.5
            assert not r1.find("holder_crashed")
            assert work_writes(recs, "r0")[-1].time < takeover.time
            api.faults.heal()
            proxy.heal()
            await _working(api, "r1", 3)
            await r0.wait_for("leader_changed", 5, after=cut_at, holder="r1")
            assert not r0.find("started_leading", term=2)
            check_never_two_leaders(api.writes.records)
    finally:
        await api.stop()


async def test_an_endpoint_that_never_greeted_proves_nothing() -> None:
    """r0 advertises an address where nothing listens (a misconfiguration): r1 is refused
    from the start, which proves nothing, so a crash of r0 is waited out."""
    api = await _server()
    try:
        async with TcpProxy() as dead_end, replica_processes(api.url) as rs:
            closed = dead_end.address
            await dead_end.stop()  # nothing listens there any more: connections are refused
            r0, r1 = await _leader_and_standby(rs, api, FAST, advertise=closed)
            # r1 keeps leaving r0 alone while r0 renews...
            await r0.wait_for("renewed", 5, after=anyio.current_time() + 1.0)
            assert not r1.find("started_leading") and not r1.find("watching_holder")
            killed_at = anyio.current_time()
            r0.kill()
            started = await r1.wait_for("started_leading", 10, after=killed_at)
            recs = list(api.writes.records)
            assert started["sent"] - lease_writes(recs, "r0")[-1].time >= 1.5
            assert not r1.find("holder_crashed") and started["detail"] == ""
            check_never_two_leaders(recs)
    finally:
        await api.stop()
