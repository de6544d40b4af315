"""Helpers shared by the work queue tests (not a test module)."""

from __future__ import annotations

from typing import Any

import anyio
from anyio.lowlevel import checkpoint

from kcs.workqueue import NoQueueMetrics, WorkQueue


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        assert seconds >= 0
        self.now += seconds


class RecordingMetrics(NoQueueMetrics):
    """Keeps every report, to compare with what the test did."""

    def __init__(self) -> None:
        self.adds = 0
        self.depths: list[int] = []
        self.latencies: list[float] = []
        self.durations: list[float] = []
        self.retries = 0
        self.ignores = 0
        self.drops: list[int] = []

    def added(self) -> None:
        self.adds += 1

    def depth(self, waiting: int) -> None:
        self.depths.append(waiting)

    def latency(self, seconds: float) -> None:
        self.latencies.append(seconds)

    def work_duration(self, seconds: float) -> None:
        self.durations.append(seconds)

    def retried(self) -> None:
        self.retries += 1

    def ignored(self) -> None:
        self.ignores += 1

    def dropped(self, count: int) -> None:
        self.drops.append(count)


async def settle() -> None:
    """Let every other task run until it blocks.

    ``anyio.wait_all_tasks_blocked`` sleeps 0.1 s whenever it finds a task merely yielding;
    a few plain yields first usually let the others reach their waits, so it returns at once.
    """
    for _ in range(10):
        await checkpoint()
    await anyio.wait_all_tasks_blocked()


async def get_blocks(queue: WorkQueue[Any]) -> bool:
    """Whether ``get()`` waits (rather than returning or raising) when called now.

    The getter is cancelled once every task is blocked; a cancelled ``get()`` takes no key.
    """
    outcome: list[object] = []

    async def getter() -> None:
        try:
            outcome.append(await queue.get())
        except Exception as exc:  # QueueShutDown
            outcome.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(getter)
        await settle()
        tg.cancel_scope.cancel()
    return not outcome


async def drain_now(queue: WorkQueue[Any]) -> list[Any]:
    """Get and finish every key that is due now, in the order they are handed out."""
    keys: list[Any] = []
    while len(queue):
        key = await queue.get()
        queue.done(key)
        keys.append(key)
    return keys
