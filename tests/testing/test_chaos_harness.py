"""kcs.testing.chaos on its own: schedules are seeded, and each check can fail."""

from __future__ import annotations

from collections import Counter

import pytest

from kcs.testing import FakeApiServer, WriteRecord
from kcs.testing.chaos import (
    Collection,
    Fault,
    ReplicaWrites,
    check_leader_writes,
    convergence_schedule,
    election_schedule,
    run_convergence,
    server_state,
)

LEASES = "leases.coordination.k8s.io"


def test_the_same_seed_gives_the_same_schedule_and_seeds_differ() -> None:
    assert convergence_schedule(7) == convergence_schedule(7)
    assert election_schedule(7) == election_schedule(7)
    assert convergence_schedule(7) != convergence_schedule(8)
    assert len({election_schedule(s) for s in range(20)}) == 20


def test_election_faults_follow_one_another_and_every_kind_occurs() -> None:
    kinds: Counter[Fault] = Counter()
    for seed in range(200):
        schedule = election_schedule(seed)
        end = 0.0
        for step in schedule.steps:
            assert step.at >= end  # the previous fault is over
            end = step.at + step.duration
            kinds[step.fault] += 1
            if step.fault is Fault.LATENCY:
                assert 0 < step.value <= 0.25
        assert 1 <= len(schedule.steps) <= 4
    assert set(kinds) == {Fault.KILL, Fault.PAUSE, Fault.PARTITION, Fault.LATENCY}


def test_convergence_schedules_mix_writes_and_every_server_fault() -> None:
    kinds: Counter[Fault] = Counter()
    for seed in range(100):
        kinds.update(convergence_schedule(seed).faults())
    for fault in (Fault.CREATE, Fault.UPDATE, Fault.RELABEL, Fault.DELETE, Fault.DROP_WATCHES,
                  Fault.COMPACT, Fault.FAIL_429, Fault.FAIL_500, Fault.DELAY, Fault.STALL,
                  Fault.RESTART, Fault.PARTITION_CLIENT):
        assert kinds[fault] > 0, fault
    assert Fault.PARTITION_CLIENT not in convergence_schedule(1, partition_client=False).faults()


def _record(i: int, who: str, client: str, *, lease: str = "le") -> WriteRecord:
    is_lease = client == "election"
    return WriteRecord(
        time=float(i), verb="update", resource=LEASES if is_lease else "configmaps",
        namespace="default", name=lease if is_lease else "work", resource_version=str(i),
        user_agent=f"kcs/0 replica/{who}/{client}", token=None,
    )


def test_check_leader_writes_accepts_a_hand_over_and_catches_a_deposed_leader() -> None:
    writes = ReplicaWrites("le")
    clean = [_record(1, "a", "election"), _record(2, "a", "work"),
             _record(3, "b", "election"), _record(4, "b", "work"),
             _record(5, "b", "election", lease="other")]  # another Lease: not the election
    check = check_leader_writes(clean, writes)
    assert check.ok and [t.identity for t in check.terms] == ["a", "b"] and check.holder == "b"
    deposed = [*clean, _record(6, "a", "work")]
    bad = check_leader_writes(deposed, writes)
    assert not bad.ok
    (v,) = bad.violations
    assert (v.identity, v.holder, v.overlap) == ("a", "b", 3.0)
    with pytest.raises(AssertionError, match="a wrote configmaps/work"):
        bad.assert_ok()
    # A slice of a longer log starts from the holder before it.
    assert check_leader_writes([_record(7, "b", "work")], writes, holder="b").ok
    assert not check_leader_writes([_record(7, "b", "work")], writes).ok


@pytest.mark.anyio
@pytest.mark.timeout(30)
async def test_run_convergence_reports_a_cache_that_misses_changes() -> None:
    """A "cache" frozen at the start is reported as diverged, naming the keys; one that
    reads the server converges at once."""
    async with FakeApiServer() as api:
        api.create("namespaces", {"metadata": {"name": "chaos"}})
        collection = Collection("chaos")
        frozen = server_state(api, collection)
        schedule = convergence_schedule(3, faults=0, length=0.3)
        bad = await run_convergence(api, schedule, lambda: frozen, settle_timeout=0.3)
        assert not bad.converged and bad.differences
        assert any(d.startswith("missing chaos/obj-") for d in bad.differences)
        good = await run_convergence(api, schedule, lambda: server_state(api, collection),
                                     settle_timeout=1.0)
        assert good.converged and good.objects > 0 and not good.differences
        problems = ["index differs"]
        checked = await run_convergence(api, schedule, lambda: server_state(api, collection),
                                        check=lambda: problems, settle_timeout=0.3)
        assert not checked.converged and checked.differences == ("index differs",)
