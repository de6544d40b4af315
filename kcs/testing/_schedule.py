"""Seeded fault schedules: the same seed always gives the same faults at the same times.

Two kinds:

* **convergence** schedules mix writes (creates, updates, label changes that move objects
  in and out of a selector, deletes and re-creates) with the faults the fake apiserver
  injects: dropped watches, compaction, 429 and 500 answers, slow answers, stalled
  watches, restarts (with and without compaction) and a partition of the client under
  test;
* **election** schedules inject, into replicas run as real processes, kills (SIGKILL,
  the replica replaced by a new one), pauses (SIGSTOP, then SIGCONT), partitions (from
  the apiserver, and from the other replicas when they hold liveness connections) and
  latency of every apiserver answer.

A :class:`Schedule` is plain data (frozen, comparable, printable): run it with
:func:`~kcs.testing.chaos.run_convergence` or :func:`~kcs.testing.chaos.run_election`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

__all__ = [
    "Fault",
    "Schedule",
    "ScheduleKind",
    "Step",
    "convergence_schedule",
    "election_schedule",
]

ScheduleKind = Literal["convergence", "election"]


class Fault(StrEnum):
    """What a step does."""

    # convergence: writes
    CREATE = "create"
    UPDATE = "update"
    RELABEL = "relabel"
    DELETE = "delete"
    # convergence: apiserver faults
    DROP_WATCHES = "drop_watches"
    COMPACT = "compact"
    FAIL_429 = "fail_429"
    FAIL_500 = "fail_500"
    DELAY = "delay"
    STALL = "stall"
    RESTART = "restart"
    PARTITION_CLIENT = "partition_client"
    # election: replica faults
    KILL = "kill"
    PAUSE = "pause"
    PARTITION = "partition"
    LATENCY = "latency"


@dataclass(frozen=True, slots=True)
class Step:
    """One step: at ``at`` seconds from the start, do ``fault``.

    ``duration`` is how long a fault lasts (0: instantaneous); ``target`` says whom it
    hits (an object index for writes; ``"leader"`` or ``"standby"`` for replica faults);
    ``value`` is the fault's size (seconds of delay or downtime, share of failed
    requests); ``variant`` refines it (a partition of the ``election`` client only, or of
    the ``whole`` replica; a restart that ``compact``-s; ``close`` or ``hang``).
    """

    at: float
    fault: Fault
    duration: float = 0.0
    target: str = ""
    value: float = 0.0
    variant: str = ""

    def __str__(self) -> str:
        parts = [f"{self.at:.2f}s {self.fault}"]
        if self.target:
            parts.append(f"target={self.target}")
        if self.duration:
            parts.append(f"for {self.duration:.2f}s")
        if self.value:
            parts.append(f"value={self.value:g}")
        if self.variant:
            parts.append(self.variant)
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class Schedule:
    """A seeded list of steps, in time order."""

    kind: ScheduleKind
    seed: int
    steps: tuple[Step, ...] = field(default_factory=tuple)

    @property
    def duration(self) -> float:
        """When the last fault is over (seconds from the start)."""
        return max((s.at + s.duration for s in self.steps), default=0.0)

    def faults(self) -> list[Fault]:
        """The kinds of the steps, in order."""
        return [s.fault for s in self.steps]

    def __str__(self) -> str:
        return f"{self.kind} schedule {self.seed}: " + "; ".join(str(s) for s in self.steps)


_WRITES = (Fault.CREATE, Fault.UPDATE, Fault.RELABEL, Fault.DELETE)
_SERVER_FAULTS = (
    Fault.DROP_WATCHES, Fault.COMPACT, Fault.FAIL_429, Fault.FAIL_500, Fault.DELAY,
    Fault.STALL, Fault.RESTART, Fault.PARTITION_CLIENT,
)


def convergence_schedule(
    seed: int,
    *,
    objects: int = 40,
    writes: int = 60,
    faults: int = 6,
    length: float = 1.5,
    partition_client: bool = True,
) -> Schedule:
    """Writes and apiserver faults over ``length`` seconds, from ``seed``.

    ``objects`` is the size of the pool of object names the writes use; ``writes`` and
    ``faults`` are how many of each (faults may overlap). ``partition_client=False``
    leaves out the partition of the client under test (when it cannot be told apart by
    its User-Agent).
    """
    rng = random.Random(f"convergence-{seed}")
    steps: list[Step] = []
    for _ in range(writes):
        fault = rng.choices(_WRITES, weights=(3, 4, 2, 1))[0]
        steps.append(Step(rng.uniform(0, length), fault, target=str(rng.randrange(objects))))
    kinds = [f for f in _SERVER_FAULTS if partition_client or f is not Fault.PARTITION_CLIENT]
    for _ in range(faults):
        fault = rng.choice(kinds)
        at = rng.uniform(0, length)
        if fault is Fault.FAIL_429 or fault is Fault.FAIL_500:
            steps.append(Step(at, fault, duration=rng.uniform(0.1, 0.6),
                              value=round(rng.uniform(0.2, 1.0), 2)))
        elif fault is Fault.DELAY:
            steps.append(Step(at, fault, duration=rng.uniform(0.1, 0.6),
                              value=round(rng.uniform(0.01, 0.2), 3)))
        elif fault is Fault.STALL:
            steps.append(Step(at, fault, duration=rng.uniform(0.1, 0.8)))
        elif fault is Fault.RESTART:
            steps.append(Step(at, fault, value=round(rng.uniform(0.0, 0.3), 2),
                              variant="compact" if rng.random() < 0.4 else ""))
        elif fault is Fault.PARTITION_CLIENT:
            steps.append(Step(at, fault, duration=rng.uniform(0.1, 0.8),
                              variant=rng.choice(("hang", "close"))))
        else:
            steps.append(Step(at, fault))
    steps.sort(key=lambda s: s.at)
    return Schedule("convergence", seed, tuple(steps))


def election_schedule(
    seed: int,
    *,
    faults: tuple[int, int] = (1, 4),
    pause: tuple[float, float] = (0.5, 3.0),
    partition: tuple[float, float] = (0.5, 3.0),
    latency: tuple[float, float] = (0.02, 0.25),
    gap: tuple[float, float] = (0.0, 1.5),
    kinds: tuple[Fault, ...] = (Fault.KILL, Fault.PAUSE, Fault.PARTITION, Fault.LATENCY),
) -> Schedule:
    """Replica faults, one after another (each ends before the next begins), from
    ``seed``: between ``faults[0]`` and ``faults[1]`` of them, aimed at the leader two
    times in three.

    ``latency`` bounds the extra delay of every apiserver answer during a LATENCY step.
    Keep it below the fence margin of the timings under test: a request delayed in
    flight for longer than that margin is the one case fencing by the leader cannot
    cover (see ``docs/leader-election.md``).
    """
    rng = random.Random(f"election-{seed}")
    steps: list[Step] = []
    at = 0.0
    for _ in range(rng.randint(*faults)):
        at += rng.uniform(*gap)
        fault = rng.choice(kinds)
        target = "leader" if rng.random() < 2 / 3 else "standby"
        if fault is Fault.KILL:
            step = Step(at, fault, target=target)
        elif fault is Fault.PAUSE:
            step = Step(at, fault, duration=rng.uniform(*pause), target=target)
        elif fault is Fault.PARTITION:
            step = Step(at, fault, duration=rng.uniform(*partition), target=target,
                        variant=rng.choice(("election", "whole")))
        else:
            step = Step(at, fault, duration=rng.uniform(1.0, 2.5),
                        value=round(rng.uniform(*latency), 3))
        steps.append(step)
        at += step.duration
    return Schedule("election", seed, tuple(steps))
