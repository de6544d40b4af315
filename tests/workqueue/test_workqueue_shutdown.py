"""Shutting down: adds ignored and counted, delayed keys dropped, what remains drained."""

from __future__ import annotations

import gc
import weakref

import anyio
import pytest
from wq_helpers import FakeClock, get_blocks, settle

from kcs.workqueue import QueueShutDown, WorkQueue


@pytest.mark.anyio
async def test_after_shut_down_adds_are_ignored_and_counted() -> None:
    clock = FakeClock()
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    queue.add("ns/a")
    queue.add_after("ns/b", 1.0)
    queue.add_after("ns/c", 2.0)
    queue.shut_down()
    assert queue.shutting_down
    assert (len(queue), queue.delayed, queue.dropped) == (1, 0, 2)  # delayed keys dropped
    queue.add("ns/d")
    queue.add_after("ns/e", 1.0)
    queue.add_rate_limited("ns/f")
    queue.add("ns/a")
    assert queue.ignored == 4
    assert queue.retries("ns/f") == 0  # an ignored retry is no failure
    clock.advance(10.0)
    assert await queue.get() == "ns/a"  # what was waiting is still handed out
    queue.done("ns/a")
    with pytest.raises(QueueShutDown):
        await queue.get()
    queue.shut_down()  # idempotent
    assert queue.dropped == 2


@pytest.mark.anyio
async def test_keys_already_due_are_not_dropped() -> None:
    clock = FakeClock()
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    queue.add_after("ns/a", 1.0)
    clock.advance(1.0)
    queue.shut_down()
    assert (len(queue), queue.dropped) == (1, 0)


@pytest.mark.anyio
@pytest.mark.timeout(10)
async def test_waiting_getters_are_released() -> None:
    queue: WorkQueue[str] = WorkQueue()
    outcomes: list[str] = []

    async def getter() -> None:
        try:
            await queue.get()
        except QueueShutDown:
            outcomes.append("shut down")

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(getter)
            await settle()
            queue.shut_down()
    assert outcomes == ["shut down"] * 3


@pytest.mark.anyio
@pytest.mark.timeout(10)
async def test_a_dirty_key_is_still_processed_after_shut_down() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("ns/a")
    assert await queue.get() == "ns/a"
    queue.add("ns/a")  # dirty: accepted before the shutdown
    queue.shut_down()
    assert await get_blocks(queue)  # not QueueShutDown: ns/a will be due again
    queue.done("ns/a")
    assert await queue.get() == "ns/a"
    queue.done("ns/a")
    with pytest.raises(QueueShutDown):
        await queue.get()


@pytest.mark.anyio
@pytest.mark.timeout(10)
async def test_other_getters_stop_once_the_last_dirty_key_is_taken() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("ns/a")
    assert await queue.get() == "ns/a"
    queue.add("ns/a")
    queue.shut_down()
    outcomes: list[str] = []

    async def getter() -> None:
        try:
            outcomes.append(await queue.get())  # never done: it keeps ns/a
        except QueueShutDown:
            outcomes.append("shut down")

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(getter)
            tg.start_soon(getter)
            await settle()
            queue.done("ns/a")
    assert sorted(outcomes) == ["ns/a", "shut down"]
    assert queue.processing == 1


@pytest.mark.anyio
@pytest.mark.timeout(10)
async def test_drain_waits_for_keys_in_flight() -> None:
    queue: WorkQueue[str] = WorkQueue()
    for key in ("ns/a", "ns/b"):
        queue.add(key)
    assert await queue.get() == "ns/a"
    drained: list[bool] = []

    async def drain() -> None:
        drained.append(await queue.shut_down_with_drain())

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(drain)
            await settle()
            queue.done("ns/a")
            await settle()
            assert not drained  # ns/b was still waiting to be handed out
            assert await queue.get() == "ns/b"
            await settle()
            assert not drained
            queue.done("ns/b")
    assert drained == [True]
    assert await queue.shut_down_with_drain() is True  # already drained: at once


@pytest.mark.anyio
@pytest.mark.timeout(10)
async def test_drain_gives_up_after_its_timeout() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("ns/stuck")
    assert await queue.get() == "ns/stuck"
    with anyio.fail_after(5):
        assert await queue.shut_down_with_drain(timeout=0.05) is False
    assert queue.shutting_down and queue.processing == 1


@pytest.mark.anyio
@pytest.mark.timeout(10)
async def test_drop_waiting_leaves_only_the_keys_in_flight() -> None:
    queue: WorkQueue[str] = WorkQueue()
    for key in ("ns/a", "ns/b", "ns/c"):
        queue.add(key)
    queue.add_after("ns/d", 60.0)
    assert await queue.get() == "ns/a"
    queue.add("ns/a")  # dirty: dropped too
    drained: list[bool] = []

    async def drain() -> None:
        drained.append(await queue.shut_down_with_drain(drop_waiting=True))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(drain)
            await settle()
            assert (len(queue), queue.delayed, queue.dropped) == (0, 0, 4)
            with pytest.raises(QueueShutDown):
                await queue.get()
            assert not drained
            queue.done("ns/a")
    assert drained == [True]
    assert len(queue) == 0


class _CountedKey(str):
    """A key that counts how often it is hashed (the queue's dict hashes it per lookup)."""

    hashes = 0

    def __hash__(self) -> int:
        _CountedKey.hashes += 1
        return str.__hash__(self)


@pytest.mark.anyio
@pytest.mark.timeout(10)
async def test_drop_waiting_drops_the_keys_without_looking_each_one_up() -> None:
    # A leader with a long backlog hands off only after this: deleting 100,000 keys one by
    # one hashed each again (ObjectKey hashes in Python), about 55 ms of the hand-off.
    queue: WorkQueue[str] = WorkQueue()
    keys = [_CountedKey(f"ns/k{i}") for i in range(1000)]
    for key in keys:
        queue.add(key)
    queue.add_after(_CountedKey("ns/later"), 60.0)
    _CountedKey.hashes = 0
    queue.shut_down(drop_waiting=True)
    assert _CountedKey.hashes == 0
    assert (len(queue), queue.delayed, queue.dropped) == (0, 0, 1001)
    queue.add(keys[0])  # ignored: shut down
    assert (len(queue), queue.ignored) == (0, 1)
    with anyio.fail_after(5), pytest.raises(QueueShutDown):
        await queue.get()


class _WeakKey(str):
    """A key a test can hold weakly (``str`` itself cannot be)."""

    __slots__ = ("__weakref__",)


@pytest.mark.anyio
@pytest.mark.timeout(10)
async def test_drop_waiting_frees_the_dropped_entries_with_the_queue_not_in_the_call() -> None:
    # Freeing 100,000 entries takes about 30 ms: a manager handing off its Lease lets go
    # of the queue after the Lease is written, so shut_down itself must not free them.
    queue: WorkQueue[str] = WorkQueue()
    waiting, later = _WeakKey("ns/waiting"), _WeakKey("ns/later")
    queue.add(waiting)
    queue.add_after(later, 60.0)
    refs = [weakref.ref(waiting), weakref.ref(later)]
    del waiting, later
    queue.shut_down(drop_waiting=True)
    queue.shut_down(drop_waiting=True)  # idempotent: the second call frees nothing either
    assert (len(queue), queue.delayed, queue.dropped) == (0, 0, 2)
    assert all(ref() is not None for ref in refs)  # dropped, still held by the queue
    del queue
    gc.collect()
    assert all(ref() is None for ref in refs)  # freed with it
