"""Cancelling get(): it takes no key, and a wake-up it received goes to another getter."""

from __future__ import annotations

import asyncio

import anyio
import pytest
from wq_helpers import get_blocks, settle

from kcs.workqueue import WorkQueue


@pytest.mark.anyio
@pytest.mark.timeout(10)
async def test_cancelled_wait_leaves_the_queue_unchanged() -> None:
    queue: WorkQueue[str] = WorkQueue()
    assert await get_blocks(queue)  # a get() that waited and was cancelled
    queue.add("ns/a")
    assert len(queue) == 1 and queue.processing == 0
    with anyio.fail_after(5):
        assert await queue.get() == "ns/a"


@pytest.mark.anyio
@pytest.mark.timeout(10)
async def test_get_in_a_cancelled_scope_takes_no_key() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("ns/a")
    with anyio.CancelScope() as scope:
        scope.cancel()
        await queue.get()
    assert scope.cancelled_caught
    assert len(queue) == 1 and queue.processing == 0


@pytest.mark.anyio
@pytest.mark.timeout(10)
async def test_a_woken_getter_cancelled_before_it_runs_passes_the_key_on() -> None:
    """asyncio's own ``Task.cancel()`` can hit a getter after its wake-up, before it runs."""
    queue: WorkQueue[str] = WorkQueue()
    first = asyncio.ensure_future(queue.get())
    await settle()
    second = asyncio.ensure_future(queue.get())
    await settle()
    queue.add("ns/a")  # wakes the first getter
    first.cancel()
    with anyio.fail_after(5):
        assert await second == "ns/a"
    with pytest.raises(asyncio.CancelledError):
        await first
    assert queue.processing == 1 and len(queue) == 0


@pytest.mark.anyio
@pytest.mark.timeout(10)
@pytest.mark.parametrize("how", ["cancel scope", "Task.cancel"])
async def test_cancelling_the_timer_holder_hands_the_timer_on(how: str) -> None:
    queue: WorkQueue[str] = WorkQueue()
    holder_scope = anyio.CancelScope()

    async def holder() -> None:
        with holder_scope:
            await queue.get()

    holder_task = asyncio.ensure_future(holder())
    await settle()
    other = asyncio.ensure_future(queue.get())
    await settle()
    queue.add_after("ns/a", 0.05)  # wakes the first getter, which then holds the timer
    await settle()
    if how == "Task.cancel":
        holder_task.cancel()
    else:
        holder_scope.cancel()
    with anyio.fail_after(5):
        assert await other == "ns/a"
    if how == "Task.cancel":
        with pytest.raises(asyncio.CancelledError):
            await holder_task
    else:
        await holder_task
        assert holder_scope.cancelled_caught
    assert queue.processing == 1 and queue.delayed == 0


@pytest.mark.anyio
@pytest.mark.timeout(10)
async def test_a_cancel_while_a_key_is_being_handed_out_loses_no_key() -> None:
    """get() yields once after taking a due key; a cancel arriving then must not lose it."""
    queue: WorkQueue[str] = WorkQueue()
    queue.add("ns/a")
    received: list[str] = []
    scope = anyio.CancelScope()

    async def getter() -> None:
        with scope:
            received.append(await queue.get())

    async def canceller() -> None:
        scope.cancel()  # runs while the getter is at its yield

    async with anyio.create_task_group() as tg:
        tg.start_soon(getter)
        tg.start_soon(canceller)
    assert received == ["ns/a"] or (len(queue), queue.processing) == (1, 0)
    assert queue.processing == len(received)
