# ruff: noqa: ASYNC109  (timeouts bound the waits of a test run, as documented)
"""Election schedules: replica faults against leader-elected replicas run as processes,
checked on the write log.

:func:`run_election` applies one schedule to a :class:`~kcs.testing.chaos.ReplicaSet`:
kills (the replica is replaced by a new one), pauses, partitions and latency, one after
another; then it lifts every fault and waits for a leader to work again. It reports every
leader-only write made by a replica that did not hold the Lease
(:func:`~kcs.testing.chaos.check_leader_writes`), and, given the lease duration, every
takeover from a paused or partitioned leader that came before the lease could have
expired.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import anyio

from kcs.testing._accounting import WriteRecord
from kcs.testing._leaderwrites import ReplicaWrites, Violation, check_leader_writes
from kcs.testing._replicas import Replica, ReplicaSet
from kcs.testing._schedule import Fault, Schedule, Step
from kcs.testing._server import FakeApiServer

__all__ = ["ElectionReport", "run_election", "wait_for_leader_at_work"]


@dataclass(frozen=True, slots=True)
class ElectionReport:
    """How one election schedule ended.

    ``violations`` are leader-only writes by replicas that did not hold the Lease;
    ``early`` lists takeovers from a paused or partitioned leader that came sooner than
    the lease duration after its last Lease write (they prove nothing was waited out).
    ``converged`` is true when a leader was working again within the settle timeout
    after the faults were lifted (``settle_seconds``). ``kill_takeovers`` are the seconds
    from each SIGKILL of the leader to the next replica's Lease write.
    """

    schedule: Schedule
    violations: tuple[Violation, ...]
    early: tuple[str, ...]
    converged: bool
    settle_seconds: float
    leader: str | None
    takeovers: int
    kill_takeovers: tuple[float, ...]
    skipped: tuple[str, ...] = ()
    exited: tuple[str, ...] = ()
    """Replicas that exited on their own during the schedule (identity, exit code and the
    end of their output): a replica must survive faults, not die of them."""

    @property
    def ok(self) -> bool:
        """No violation, no early takeover, no replica that died on its own, and a leader
        at work at the end."""
        return (not self.violations and not self.early and not self.exited
                and self.converged)

    def __str__(self) -> str:
        state = "ok" if self.ok else "FAILED"
        text = (f"{self.schedule.kind} {self.schedule.seed}: {state}, {self.takeovers} "
                f"takeovers, leader {self.leader} working {self.settle_seconds:.2f}s after "
                f"the faults")
        problems = [str(v) for v in self.violations] + list(self.early)
        problems += [f"{e.splitlines()[0]} exited on its own" for e in self.exited]
        if not self.converged:
            problems.append("no leader at work within the settle timeout")
        if problems:
            text += ": " + "; ".join(problems[:10])
        return text


class _Log:
    """The write log from one index on, read as the replicas see it."""

    def __init__(self, api: FakeApiServer, writes: ReplicaWrites) -> None:
        self.api = api
        self.writes = writes
        self.start = len(api.writes.records)

    def records(self) -> Sequence[WriteRecord]:
        return self.api.writes.records

    def holder(self) -> tuple[str | None, int]:
        """The last Lease writer in the whole log, and the index of that write."""
        recs = self.records()
        for i in range(len(recs) - 1, -1, -1):
            who = self.writes.lease_writer(recs[i])
            if who is not None:
                return who, i
        return None, -1

    def work_since(self, identity: str, index: int) -> int:
        return sum(1 for r in self.records()[index:] if self.writes.work_writer(r) == identity)


async def _until(condition: Callable[[], bool], seconds: float) -> bool:
    """Poll ``condition`` every 20 ms for up to ``seconds`` (the state of other processes
    and of the write log: there is no event to await)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() >= deadline:
            return False
        await anyio.sleep(0.02)
    return True


async def wait_for_leader_at_work(
    api: FakeApiServer, writes: ReplicaWrites, replicas: ReplicaSet, *, after: int,
    work_writes: int = 5, timeout: float = 20.0,
) -> str | None:
    """Wait until the replica that wrote the Lease last is alive and has made
    ``work_writes`` leader-only writes since write-log index ``after``; its identity, or
    ``None`` at the timeout."""
    log = _Log(api, writes)

    def working() -> bool:
        holder, _ = log.holder()
        replica = replicas.all.get(holder or "")
        return (replica is not None and replica.alive and not replica.paused
                and log.work_since(replica.identity, after) >= work_writes)

    if not await _until(working, timeout):
        return None
    return log.holder()[0]


async def run_election(
    api: FakeApiServer,
    schedule: Schedule,
    replicas: ReplicaSet,
    writes: ReplicaWrites,
    *,
    count: int = 3,
    lease_duration: float | None = None,
    settle_timeout: float = 20.0,
    work_writes: int = 5,
) -> ElectionReport:
    """Run ``schedule`` (an election schedule) against ``replicas`` (kept at ``count``
    living processes) and check the write log of ``api`` (see the module docstring)."""
    if schedule.kind != "election":
        raise ValueError(f"not an election schedule: {schedule}")
    rng = random.Random(f"targets-{schedule.seed}")
    while len(replicas.living()) < count:
        await replicas.start()
    crashed_before = {r.identity for r in replicas.crashed()}
    log = _Log(api, writes)
    begin = log.start
    initial = await wait_for_leader_at_work(api, writes, replicas, after=begin,
                                            work_writes=1, timeout=settle_timeout)
    skipped: list[str] = []
    kills: list[tuple[str, int, float]] = []  # (leader, its last Lease write index, when)
    held: list[_Held] = []  # leaders paused or partitioned, to check for early takeovers
    if initial is None:
        skipped.append("no leader at work before the schedule")
    start = time.monotonic()
    for step in schedule.steps:
        delay = start + step.at - time.monotonic()
        if delay > 0:
            await anyio.sleep(delay)
        if held and held[-1].until < 0:
            held[-1].until = len(log.records())
        target = _target(step, replicas, log, rng)
        if target is None and step.fault is not Fault.LATENCY:
            skipped.append(f"{step}: no {step.target} to aim at")
            continue
        holder, held_at = log.holder()
        if target is not None and target.identity == holder:
            if step.fault is Fault.KILL:
                kills.append((holder, held_at, time.monotonic()))
            elif step.fault in (Fault.PAUSE, Fault.PARTITION):
                held.append(_Held(holder, held_at, step))
        await _apply(step, target, api, replicas, writes, schedule.seed)
    if held and held[-1].until < 0:
        held[-1].until = -1  # up to the end
    lifted_index = len(log.records())
    api.faults.clear()
    for replica in replicas.all.values():
        replicas.resume(replica)
        if replica.proxy is not None:
            replica.proxy.heal()
    lifted = time.monotonic()
    leader = await wait_for_leader_at_work(api, writes, replicas, after=lifted_index,
                                           work_writes=work_writes, timeout=settle_timeout)
    settle = time.monotonic() - lifted
    recs = log.records()
    before_holder, before_index = _holder_before(log, begin)
    check = check_leader_writes(recs[before_index + 1:], writes, holder=before_holder)
    early: list[str] = []
    if lease_duration is not None:
        for h in held:
            found = _early_takeover(log, h, lease_duration)
            if found:
                early.append(found)
    kill_takeovers = []
    for identity, index, killed_at in kills:
        took = _takeover_after(log, identity, index)
        if took is not None:
            # The write log's clock is time.monotonic(), as is killed_at.
            kill_takeovers.append(max(0.0, took - killed_at))
    exited = tuple(
        f"{r.identity} (exit code {r.process.returncode})\n{r.log()[-4000:]}"
        for r in replicas.crashed() if r.identity not in crashed_before
    )
    return ElectionReport(
        schedule=schedule,
        exited=exited,
        violations=check.violations,
        early=tuple(early),
        converged=leader is not None,
        settle_seconds=settle,
        leader=leader,
        takeovers=_takeovers(log, begin, writes),
        kill_takeovers=tuple(kill_takeovers),
        skipped=tuple(skipped),
    )


@dataclass(slots=True)
class _Held:
    """A leader that a step paused or partitioned: ``identity``, the index of its last
    Lease write before the step, and where to stop looking (the next step's start)."""

    identity: str
    index: int
    step: Step
    until: int = -2  # -2: the step is in progress; -1: up to the end


async def _apply(
    step: Step, target: Replica | None, api: FakeApiServer, replicas: ReplicaSet,
    writes: ReplicaWrites, seed: int,
) -> None:
    """Inject one fault and lift it when its duration is over."""
    if step.fault is Fault.KILL:
        assert target is not None
        replicas.kill(target)
        await replicas.start()
    elif step.fault is Fault.PAUSE:
        assert target is not None
        replicas.pause(target)
        await anyio.sleep(step.duration)
        replicas.resume(target)
    elif step.fault is Fault.PARTITION:
        assert target is not None
        client = f"replica/{target.identity}/"
        if step.variant == "election":
            client += writes.lease_client
        api.faults.partition(user_agent=client)
        if step.variant != "election" and target.proxy is not None:
            target.proxy.partition()
        await anyio.sleep(step.duration)
        api.faults.heal()
        if target.proxy is not None:
            target.proxy.heal()
    else:
        remove = api.faults.delay(step.value, jitter=step.value / 4, seed=seed)
        await anyio.sleep(step.duration)
        remove()


def _target(step: Step, replicas: ReplicaSet, log: _Log, rng: random.Random) -> Replica | None:
    if step.fault is Fault.LATENCY:
        return None
    holder, _ = log.holder()
    living = [r for r in replicas.living() if not r.paused]
    if step.target == "leader":
        return next((r for r in living if r.identity == holder), None)
    standbys = [r for r in living if r.identity != holder]
    return rng.choice(standbys) if standbys else None


def _holder_before(log: _Log, index: int) -> tuple[str | None, int]:
    recs = log.records()
    for i in range(index - 1, -1, -1):
        who = log.writes.lease_writer(recs[i])
        if who is not None:
            return who, i
    return None, -1


def _takeover_after(log: _Log, identity: str, index: int) -> float | None:
    """The commit time of the first Lease write by anyone but ``identity`` after
    ``index``."""
    for r in log.records()[index + 1:]:
        who = log.writes.lease_writer(r)
        if who is not None and who != identity:
            return r.time
    return None


def _early_takeover(log: _Log, held: _Held, lease_duration: float) -> str:
    """A takeover from ``held.identity`` sooner than a lease duration after its last
    Lease write (``""``: none)."""
    recs = log.records()
    end = len(recs) if held.until < 0 else held.until
    last = recs[held.index].time if held.index >= 0 else 0.0
    for r in recs[held.index + 1:end]:
        who = log.writes.lease_writer(r)
        if who == held.identity:
            last = r.time
        elif who is not None:
            if r.time - last < lease_duration:
                return (f"{held.step}: {who} took the lease {r.time - last:.3f}s after "
                        f"{held.identity}'s last Lease write (lease {lease_duration:g}s)")
            return ""
    return ""


def _takeovers(log: _Log, begin: int, writes: ReplicaWrites) -> int:
    n = 0
    holder, _ = _holder_before(log, begin)
    for r in log.records()[begin:]:
        who = writes.lease_writer(r)
        if who is not None and who != holder:
            n += 1
            holder = who
    return n
