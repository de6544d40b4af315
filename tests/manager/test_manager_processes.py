"""The manager across real OS processes (``python -m kcs.demo replica``) against the fake
apiserver, which records every write with the writer's User-Agent. Each test ends by
checking on the write log that no two replicas were ever at work as leaders."""

from __future__ import annotations

import sys
import time

import anyio
import pytest
from manager_helpers import (
    LEASE,
    LEASE_DURATION,
    LEASES,
    SLACK,
    TIMINGS,
    check_never_two_leaders,
    churning_apiserver,
    lease_writes,
    work_writes,
)

from kcs.core import NotFound
from kcs.demo import Replicas, with_replicas
from kcs.leaderelection import ANNOTATION_SYNCED, candidate_lease_name
from kcs.testing import FakeApiServer, eventually

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


def _candidate_synced(api: FakeApiServer, identity: str) -> bool:
    try:
        lease = api.get(LEASES, candidate_lease_name(LEASE, identity), "default")
    except NotFound:
        return False
    return (lease["metadata"].get("annotations") or {}).get(ANNOTATION_SYNCED) == "true"


async def test_graceful_handoff_then_sigkill_never_two_leaders() -> None:
    async with churning_apiserver() as api:
        async def body(rs: Replicas) -> None:
            r0 = await rs.start("r0", *TIMINGS)
            await r0.wait_for("started_leading")
            r1 = await rs.start("r1", *TIMINGS)
            await r1.wait_for("synced")
            await eventually(lambda: len(work_writes(api.writes.records, "r0")) >= 5, 10,
                             "r0 at work")
            # standby readiness is true before it leads (warm standby)
            assert not r1.leading
            # The hand-off goes to a candidate that has *published* that it is synced (its
            # candidate Lease), which can lag the replica's own "synced" line under load.
            await eventually(lambda: _candidate_synced(api, "r1"), 10, "r1 a synced candidate")

            asked = time.monotonic()
            r0.terminate()
            started = await r1.wait_for("started_leading", after=asked)
            first = await r1.wait_for("reconcile", after=asked)
            exit_event = await r0.wait_for("exit")
            assert exit_event["handed_to"] == "r1"
            assert (await r0.wait_for("process_exit"))["code"] == 0
            assert first["syncs"] == 1  # the warm cache was used: no relist
            assert first["cache"] >= 10
            # a hand-off, not an expiry: far quicker than the lease duration
            assert started["at"] - asked < LEASE_DURATION
            await eventually(lambda: len(work_writes(api.writes.records, "r1")) >= 5, 10,
                             "r1 at work")

            r2 = await rs.start("r2", *TIMINGS)
            await r2.wait_for("synced")
            killed = time.monotonic()
            r1.kill()
            taken = await r2.wait_for("started_leading", after=killed)
            assert taken["at"] - killed <= LEASE_DURATION + 0.5 + SLACK
            await eventually(lambda: len(work_writes(api.writes.records, "r2")) >= 3, 10,
                             "r2 at work")

        await with_replicas(api.url, body)
        runs = check_never_two_leaders(api.writes.records)
        assert runs[:3] == ["r0", "r1", "r2"]


@pytest.mark.parametrize("mode", ["hang", "close"])
async def test_leader_cut_off_stops_work_before_its_lease_expires(mode: str) -> None:
    async with churning_apiserver() as api:
        async def body(rs: Replicas) -> None:
            r0 = await rs.start("r0", *TIMINGS)
            await r0.wait_for("started_leading")
            r1 = await rs.start("r1", *TIMINGS)
            await r1.wait_for("synced")
            await eventually(lambda: len(work_writes(api.writes.records, "r0")) >= 5, 10,
                             "r0 at work")
            cut = time.monotonic()
            # only the election client is cut off: the controller's writes still land, so
            # the write log shows when the work stopped
            api.faults.partition(user_agent="replica/r0/election", mode=mode)  # type: ignore[arg-type]
            fenced = await r0.wait_for("stopped_leading", after=cut)
            await r1.wait_for("started_leading", after=cut)
            recs = list(api.writes.records)
            last_work = work_writes(recs, "r0")[-1]
            takeover = lease_writes(recs, "r1")[0]
            assert last_work.time < takeover.time
            assert fenced["at"] < cut + LEASE_DURATION
            api.faults.heal()
            await eventually(lambda: len(work_writes(api.writes.records, "r1")) >= 3, 10,
                             "r1 at work")

        await with_replicas(api.url, body)
        check_never_two_leaders(api.writes.records)


async def test_lease_deleted_or_corrupted_while_held() -> None:
    async with churning_apiserver() as api:
        async def body(rs: Replicas) -> None:
            r0 = await rs.start("r0", *TIMINGS)
            await r0.wait_for("started_leading")
            r1 = await rs.start("r1", *TIMINGS)
            await r1.wait_for("synced")
            await eventually(lambda: len(work_writes(api.writes.records, "r0")) >= 3, 10,
                             "r0 at work")

            deleted = time.monotonic()
            api.delete("leases.coordination.k8s.io", LEASE, "default")
            await r0.wait_for("stopped_leading", after=deleted)
            leader = None
            with anyio.fail_after(10):
                while leader is None:
                    leader = next((r for r in rs.leaders()), None)
                    await anyio.sleep(0.02)
            await eventually(lambda: len(api.writes.records) > 0 and any(
                w.time > deleted for w in work_writes(api.writes.records, leader.name)),
                10, "work resumed after the Lease was deleted")

            corrupted = time.monotonic()
            lease = api.get("leases.coordination.k8s.io", LEASE, "default")
            lease["spec"] = {"holderIdentity": "", "leaseDurationSeconds": "nonsense"}
            lease["spec"] = {"holderIdentity": 42}
            api.update("leases.coordination.k8s.io", lease, unchecked=True)  # refused by the API
            await leader.wait_for("stopped_leading", after=corrupted)
            again = None
            with anyio.fail_after(15):
                while again is None:
                    again = next((r for r in rs.leaders()), None)
                    await anyio.sleep(0.02)
            await eventually(lambda: any(
                w.time > corrupted for r in ("r0", "r1")
                for w in work_writes(api.writes.records, r)), 10, "work resumed")

        await with_replicas(api.url, body)
        check_never_two_leaders(api.writes.records)


@pytest.mark.timeout(90)
async def test_the_demo_reports_a_takeover_and_exits_0() -> None:
    result = await anyio.run_process([sys.executable, "-m", "kcs.demo"], check=False)
    out = result.stdout.decode()
    assert result.returncode == 0, out[-3000:] + result.stderr.decode()[-3000:]
    assert "r2 took over" in out
    assert "no relist" in out
    assert "handed the lease to r3" in out
