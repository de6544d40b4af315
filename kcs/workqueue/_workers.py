"""Running workers over a work queue."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import TypeVar

import anyio

from kcs.workqueue._queue import QueueShutDown, WorkQueue

__all__ = ["run_workers"]

K = TypeVar("K", bound=Hashable)


async def run_workers(
    queue: WorkQueue[K], workers: int, process: Callable[[K], Awaitable[None]]
) -> None:
    """Run ``workers`` tasks that take keys from ``queue`` and ``await process(key)``.

    Each task calls ``queue.done(key)`` when ``process`` finishes, however it finishes.
    Returns once the queue is shut down and every key it had is done. An exception from
    ``process`` cancels the other workers and propagates (in an exception group), so
    ``process`` should handle its own errors, e.g. with ``queue.add_rate_limited(key)``.
    Cancelling ``run_workers`` cancels the workers; their keys are marked done.
    """
    if workers < 1:
        raise ValueError("need at least one worker")
    async with anyio.create_task_group() as tg:
        for _ in range(workers):
            tg.start_soon(_work, queue, process)


async def _work(queue: WorkQueue[K], process: Callable[[K], Awaitable[None]]) -> None:
    while True:
        try:
            key = await queue.get()
        except QueueShutDown:
            return
        try:
            await process(key)
        finally:
            queue.done(key)
