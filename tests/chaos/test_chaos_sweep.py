"""The short chaos sweep the test command runs on every change: a few seeds of each kind
(see sweep.py; the long sweep of docs/testing.md runs 1,000 of each)."""

from __future__ import annotations

import pytest
from sweep import convergence_one, election_session

from kcs.testing.chaos import Fault, Schedule, Step

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

CONVERGENCE_SEEDS = range(8)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("seed", CONVERGENCE_SEEDS)
async def test_the_caches_converge_after_a_convergence_schedule(seed: int) -> None:
    run = await convergence_one(seed)
    assert run.report.converged, str(run.report)
    assert run.report.faults, "the schedule injected no fault"


@pytest.mark.timeout(150)
@pytest.mark.parametrize("crash_detection", [True, False])
async def test_no_leader_only_write_by_a_replica_without_the_lease(
    crash_detection: bool,
) -> None:
    seeds = range(0, 2) if crash_detection else range(2, 4)
    reports = await election_session(seeds, crash_detection=crash_detection)
    for report in reports:
        assert report.ok, str(report)
    assert sum(r.takeovers for r in reports) > 0, "no schedule moved the lease"


@pytest.mark.timeout(90)
async def test_the_harness_catches_leader_only_writes_that_escape_the_fence() -> None:
    """The same pause, with replicas whose work is written by a plain HTTP client that no
    fence checks: the resumed ex-leader writes after the takeover, and the check says so.
    (The check can fail: what the fence prevents is really there.)"""
    pause = Schedule("election", 0, (Step(0.3, Fault.PAUSE, duration=3.0, target="leader"),))
    # Not every pause catches the unfenced work mid-write (on a loaded machine its cancel
    # scope's timer may run first on resume): five pauses, one escape is enough.
    reports = await election_session([pause] * 5, crash_detection=False,
                                     extra=["--unfenced-work"])
    assert any(r.violations for r in reports), [str(r) for r in reports]
    assert all(not r.early for r in reports)
