"""Leader election across real OS processes against the fake apiserver.

Each replica is ``le_replica.py`` in its own process; the fake apiserver runs in the test
and records every write with the writer's User-Agent. Timings: lease 1.5 s, renew
deadline 1 s, retry period 0.2 s; the leader's work patches the ConfigMap ``work`` every
50 ms. Every test ends by checking, on the write log, that no two replicas were ever at
work as leaders (see :func:`le_harness.check_never_two_leaders`).
"""

from __future__ import annotations

import os
from typing import Any

import anyio
import pytest
from le_harness import (
    LEASE,
    check_never_two_leaders,
    lease_writes,
    replica_processes,
    work_writes,
)

from kcs.testing import FakeApiServer, eventually

LEASE_DURATION = 1.5
RENEW_DEADLINE = 1.0
# Scheduling slack for assertions about when something happened on a 2-core machine that
# other test suites share.
SLACK = 0.5

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

PAUSE_TRIALS = int(os.environ.get("KCS_PAUSE_TRIALS", "3"))


def _rv(record: Any) -> int:
    return int(record.resource_version)


async def _server() -> FakeApiServer:
    api = FakeApiServer()
    await api.start()
    api.create("configmaps", {"metadata": {"name": "work", "namespace": "default"}, "data": {}})
    return api


async def _working(api: FakeApiServer, identity: str, writes: int = 5) -> None:
    def done() -> bool:
        return len(work_writes(api.writes.records, identity)) >= writes

    await eventually(done, 10, f"{identity} to do leader-only work")


async def test_graceful_handoff_to_a_synced_standby_then_release_to_an_unsynced_one() -> None:
    api = await _server()
    try:
        async with replica_processes(api.url) as rs:
            r0 = await rs.start("r0")
            await r0.wait_for("started_leading")
            r1 = await rs.start("r1")
            r2 = await rs.start("r2", "--synced-after", "-1")  # never synced: not eligible
            await r1.wait_for("synced")
            await _working(api, "r0")

            r0.terminate()
            exit0 = await r0.wait_for("exit")
            assert exit0["handed_to"] == "r1"
            started1 = await r1.wait_for("started_leading", 5)
            recs = list(api.writes.records)
            handoff_write = lease_writes(recs, "r0")[-1]
            # From the commit of r0's hand-off write to r1 leading (one clock: the machine's
            # monotonic clock, shared by the processes).
            handoff = started1["at"] - handoff_write.time
            stop_to_lead = started1["at"] - r0.find("stopping")[0]["at"]
            assert 0 <= handoff < 0.5
            # r0's work stopped before it wrote the hand-off, and r0 exited cleanly.
            assert _rv(work_writes(recs, "r0")[-1]) < _rv(handoff_write)
            assert r0.find("work_ended")[0]["at"] < handoff_write.time
            with anyio.fail_after(10):
                assert await r0.process.wait() == 0

            # r2 never published synced, so r1 has no eligible successor: it releases the
            # lease, and r2 (watching) takes it at once.
            await _working(api, "r1")
            r1.terminate()
            exit1 = await r1.wait_for("exit")
            assert exit1["handed_to"] is None
            started2 = await r2.wait_for("started_leading", 5)
            release_write = lease_writes(list(api.writes.records), "r1")[-1]
            assert r1.find("released")
            release_to_lead = started2["at"] - release_write.time
            assert 0 <= release_to_lead < 0.5
            await _working(api, "r2", 3)

            terms = check_never_two_leaders(api.writes.records)
            assert [t.identity for t in terms] == ["r0", "r1", "r2"]
            print(
                f"\nhand-off: lease write committed -> successor leading {handoff * 1000:.1f} ms; "
                f"SIGTERM -> successor leading {stop_to_lead * 1000:.1f} ms; "
                f"release committed -> standby leading {release_to_lead * 1000:.1f} ms"
            )
    finally:
        await api.stop()


async def test_sigkill_of_the_leader_fails_over_after_the_lease_duration() -> None:
    api = await _server()
    try:
        async with replica_processes(api.url) as rs:
            r0 = await rs.start("r0")
            await r0.wait_for("started_leading")
            r1 = await rs.start("r1")
            await _working(api, "r0")

            killed_at = anyio.current_time()
            r0.kill()
            started = await r1.wait_for("started_leading", 10)
            recs = list(api.writes.records)
            last_renewal = lease_writes(recs, "r0")[-1]
            # r1 waited a full lease duration, on its own clock, from (at the earliest)
            # the commit of r0's last renewal before it sent its takeover.
            assert started["sent"] - last_renewal.time >= LEASE_DURATION
            failover = started["at"] - killed_at
            assert failover < LEASE_DURATION + 0.2 * 2.2 + SLACK
            await _working(api, "r1", 3)
            terms = check_never_two_leaders(api.writes.records)
            assert [t.identity for t in terms] == ["r0", "r1"]
            print(f"\nSIGKILL -> standby leading {failover * 1000:.0f} ms "
                  f"(lease duration {LEASE_DURATION * 1000:.0f} ms)")
    finally:
        await api.stop()


@pytest.mark.parametrize("mode", ["hang", "close"])
async def test_a_leader_cut_off_from_the_apiserver_stops_working_before_its_lease_expires(
    mode: str,
) -> None:
    api = await _server()
    try:
        async with replica_processes(api.url) as rs:
            r0 = await rs.start("r0")
            await r0.wait_for("started_leading")
            r1 = await rs.start("r1")
            await _working(api, "r0")

            # Only r0's election client is cut off: its work client still reaches the
            # apiserver, so the write log shows exactly when its work stopped.
            cut_at = anyio.current_time()
            api.faults.partition(user_agent="replica/r0/election", mode=mode)  # type: ignore[arg-type]
            fenced = await r0.wait_for("stopped_leading", 5, after=cut_at)
            assert fenced["detail"] == "fenced"
            last_renewal_sent = max(e["sent"] for e in r0.find("renewed"))
            assert fenced["at"] <= last_renewal_sent + RENEW_DEADLINE + SLACK
            started = await r1.wait_for("started_leading", 10)
            assert fenced["at"] < started["at"]

            recs = list(api.writes.records)
            last_work = work_writes(recs, "r0")[-1]
            takeover = lease_writes(recs, "r1")[0]
            assert last_work.time > cut_at  # the work went on until the fence closed...
            assert last_work.time < takeover.time  # ...and stopped before r1 took over
            margin = takeover.time - last_work.time
            api.faults.heal()
            await _working(api, "r1", 3)
            # r0 is a standby again: it sees r1 lead and does not take the lease back.
            await r0.wait_for("leader_changed", 5, after=cut_at, holder="r1")
            assert not r0.find("started_leading", term=2)
            check_never_two_leaders(api.writes.records)
            print(f"\npartition ({mode}): r0's last work write came {margin * 1000:.0f} ms "
                  "before r1 took the lease")
    finally:
        await api.stop()


async def test_lease_deleted_while_held_stops_the_work_and_the_leader_recreates_it() -> None:
    api = await _server()
    try:
        async with replica_processes(api.url) as rs:
            r0 = await rs.start("r0")
            await r0.wait_for("started_leading")
            r1 = await rs.start("r1")
            await _working(api, "r0")
            await r1.wait_for("leader_changed", holder="r0")

            deleted_at = anyio.current_time()
            api.delete("leases", LEASE, "default")
            stopped = await r0.wait_for("stopped_leading", 3, after=deleted_at)
            assert stopped["detail"] == "deleted"
            assert stopped["at"] - deleted_at < 0.5
            # The standby waits out r0's lease; r0, which knows its work has stopped,
            # recreates the lease at once.
            again = await r0.wait_for("started_leading", 3, after=deleted_at)
            assert again["term"] == 2
            assert again["at"] - deleted_at < 1.0
            assert not r1.find("started_leading")
            await _working(api, "r0", 10)
            check_never_two_leaders(api.writes.records)
    finally:
        await api.stop()


async def test_lease_corrupted_while_held_leaves_no_leader_for_a_lease_duration() -> None:
    api = await _server()
    try:
        async with replica_processes(api.url) as rs:
            r0 = await rs.start("r0")
            await r0.wait_for("started_leading")
            r1 = await rs.start("r1")
            await _working(api, "r0")
            await r1.wait_for("leader_changed", holder="r0")

            lease = api.get("leases", LEASE, "default")
            lease["spec"] = {
                "holderIdentity": {"not": "a string"},
                "leaseDurationSeconds": "forever",
                "renewTime": "yesterday",
                "leaseTransitions": -3,
            }
            corrupted_at = anyio.current_time()
            api.update("leases", lease, unchecked=True)  # the API would refuse it: 400
            stopped = await r0.wait_for("stopped_leading", 3, after=corrupted_at)
            assert stopped["detail"] == "lost"
            leader = await rs.wait_leader(10, after=corrupted_at)
            started = leader.find("started_leading")[-1]
            # Nobody took the nonsense lease before it stayed unchanged for a full lease
            # duration on their own clock.
            assert started["sent"] - corrupted_at >= LEASE_DURATION
            assert started["at"] - corrupted_at < LEASE_DURATION + 0.2 * 2.2 + SLACK
            assert "invalid fields" in r1.log()
            await _working(api, leader.identity, 3)
            check_never_two_leaders(api.writes.records)
            fixed = api.get("leases", LEASE, "default")["spec"]
            assert fixed["holderIdentity"] == leader.identity
            assert fixed["leaseDurationSeconds"] == 2
    finally:
        await api.stop()


@pytest.mark.parametrize("trial", range(PAUSE_TRIALS))
async def test_a_paused_leader_sends_no_write_after_another_replica_took_the_lease(
    trial: int,
) -> None:
    """SIGSTOP the leader for 3 s (twice its lease), then SIGCONT it. Its event loop
    resumes its work before the fence's cancellation; every request the work then makes
    is refused before it is written, so the write log shows no write of the ex-leader
    after the other replica took the lease. ``KCS_PAUSE_TRIALS=50`` runs 50 trials."""
    api = await _server()
    try:
        async with replica_processes(api.url) as rs:
            r0 = await rs.start("r0")
            await r0.wait_for("started_leading")
            r1 = await rs.start("r1")
            await _working(api, "r0")
            r0.pause()
            paused_at = anyio.current_time()
            await r1.wait_for("started_leading", 10, after=paused_at)
            await anyio.sleep(max(0.0, paused_at + 3.0 - anyio.current_time()))
            resumed_at = anyio.current_time()
            r0.resume()
            stopped = await r0.wait_for("stopped_leading", 5, after=paused_at)
            ended = await r0.wait_for("work_ended", 5, after=paused_at)
            await _working(api, "r1", 5)
            recs = list(api.writes.records)
            takeover = lease_writes(recs, "r1")[0]
            late = [r for r in work_writes(recs, "r0") if r.time > takeover.time]
            assert not late, f"{len(late)} writes of the paused ex-leader after the takeover"
            assert stopped["detail"] in ("fenced", "lost")
            terms = check_never_two_leaders(recs)
            assert [t.identity for t in terms] == ["r0", "r1"]
            refused = [e for e in r0.find("work_failed") if e["at"] >= resumed_at
                       and "refused: fence" in e["error"]]
            print(f"\npause trial {trial}: ex-leader stopped ({stopped['detail']}) "
                  f"{(ended['at'] - resumed_at) * 1000:.1f} ms after SIGCONT; "
                  f"{len(refused)} write(s) refused by the fence; 0 late writes")
    finally:
        await api.stop()


async def test_the_survivors_remove_the_candidate_leases_of_killed_replicas() -> None:
    api = await _server()
    try:
        async with replica_processes(api.url) as rs:
            r0 = await rs.start("r0")
            await r0.wait_for("started_leading")
            for name in ("r1", "r2", "r3"):
                await rs.start(name)

            def candidates() -> set[str]:
                found = api.list("leases", "default",
                                 label_selector=f"leaderelection.kcs.io/candidate-for={LEASE}")
                return {o["spec"]["holderIdentity"] for o in found}

            await eventually(lambda: candidates() == {"r0", "r1", "r2", "r3"}, 10,
                             "every candidate Lease")
            killed_at = anyio.current_time()
            rs.all["r0"].kill()  # the leader
            rs.all["r2"].kill()
            leader = await rs.wait_leader(10, after=killed_at)
            assert leader.identity in ("r1", "r3")
            await eventually(lambda: candidates() == {"r1", "r3"}, 15,
                             "the killed replicas' candidate Leases to be removed")
            # On a loaded machine the lease may change hands between the survivors while
            # they wait, so the removals are those of whichever survivor led at the time.
            survivors = (rs.all["r1"], rs.all["r3"])

            def removed() -> set[str]:  # the events arrive on the processes' stdout, later
                return {e["holder"] for r in survivors for e in r.find("candidate_removed")}

            await eventually(lambda: removed() == {"r0", "r2"}, 5, "both removals reported")
            deletes = [r for r in api.writes.records if r.verb == "delete"]
            assert {r.name for r in deletes} == {f"{LEASE}-candidate-r0", f"{LEASE}-candidate-r2"}
            # Only a survivor removed them, each once it had seen them unchanged for twice
            # a candidate's time to live (2 s with these timings) on its own clock.
            assert {r.user_agent.rsplit("replica/", 1)[1] for r in deletes} <= {
                "r1/election", "r3/election"}
            assert min(r.time for r in deletes) - killed_at >= 2 * 2.0
            check_never_two_leaders(api.writes.records)
    finally:
        await api.stop()
