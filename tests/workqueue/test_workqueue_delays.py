"""add_after: one deadline per key, the earliest wins, an immediate add supersedes."""

from __future__ import annotations

import time

import anyio
import pytest
from wq_helpers import FakeClock, drain_now, settle

from kcs.workqueue import WorkQueue


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_a_delayed_key_becomes_due_at_its_deadline(clock: FakeClock) -> None:
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    queue.add_after("ns/a", 5.0)
    assert (len(queue), queue.delayed) == (0, 1)
    clock.advance(4.5)
    assert (len(queue), queue.delayed) == (0, 1)
    clock.advance(0.5)
    assert (len(queue), queue.delayed) == (1, 0)


@pytest.mark.anyio
async def test_the_earliest_deadline_wins(clock: FakeClock) -> None:
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    queue.add_after("ns/a", 10.0)
    queue.add_after("ns/a", 5.0)  # earlier: wins
    queue.add_after("ns/b", 5.0)
    queue.add_after("ns/b", 10.0)  # later: ignored
    assert queue.delayed == 2
    clock.advance(5.0)
    assert sorted(await drain_now(queue)) == ["ns/a", "ns/b"]
    clock.advance(5.0)
    assert len(queue) == 0 and queue.delayed == 0  # neither comes back at 10


@pytest.mark.anyio
async def test_an_immediate_add_supersedes_a_delay(clock: FakeClock) -> None:
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    queue.add_after("ns/a", 10.0)
    queue.add("ns/a")
    assert (len(queue), queue.delayed) == (1, 0)
    assert await drain_now(queue) == ["ns/a"]
    clock.advance(10.0)
    assert len(queue) == 0


@pytest.mark.anyio
async def test_add_after_leaves_a_due_key_alone(clock: FakeClock) -> None:
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    queue.add("ns/a")
    queue.add_after("ns/a", 3.0)
    queue.add_after("ns/b", 0.0)  # no delay: an add
    queue.add_after("ns/c", -1.0)
    assert (len(queue), queue.delayed) == (3, 0)
    assert await drain_now(queue) == ["ns/a", "ns/b", "ns/c"]
    clock.advance(3.0)
    assert len(queue) == 0


@pytest.mark.anyio
async def test_a_key_due_while_processing_waits_for_done(clock: FakeClock) -> None:
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    queue.add("ns/a")
    assert await queue.get() == "ns/a"
    queue.add_after("ns/a", 1.0)  # e.g. reconcile asked to be requeued after 1 s
    clock.advance(2.0)
    assert (len(queue), queue.delayed, queue.processing) == (0, 0, 1)
    queue.done("ns/a")
    assert len(queue) == 1
    assert await queue.get() == "ns/a"


@pytest.mark.anyio
@pytest.mark.timeout(10)
async def test_a_waiting_getter_sees_the_fake_clock_move(clock: FakeClock) -> None:
    """With a fake clock, the next use of the queue promotes what became due."""
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    queue.add_after("ns/a", 60.0)
    received: list[str] = []

    async def getter() -> None:
        received.append(await queue.get())

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(getter)
            await settle()
            assert not received
            clock.advance(60.0)
            assert len(queue) == 1  # the promotion wakes the getter
    assert received == ["ns/a"]


# -- real time: short delays, awaited through get() ---------------------------------------


@pytest.mark.anyio
@pytest.mark.timeout(10)
async def test_get_returns_a_delayed_key_after_its_delay() -> None:
    queue: WorkQueue[str] = WorkQueue()
    start = time.monotonic()
    queue.add_after("ns/a", 0.05)
    with anyio.fail_after(5):
        assert await queue.get() == "ns/a"
    assert time.monotonic() - start >= 0.05


@pytest.mark.anyio
@pytest.mark.timeout(10)
async def test_an_earlier_deadline_wakes_a_sleeping_getter() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add_after("ns/late", 60.0)
    received: list[str] = []

    async def getter() -> None:
        received.append(await queue.get())

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(getter)
            await settle()  # it sleeps until the 60 s deadline
            queue.add_after("ns/soon", 0.05)
    assert received == ["ns/soon"]
    assert queue.delayed == 1


@pytest.mark.anyio
@pytest.mark.timeout(10)
async def test_several_getters_share_one_timer() -> None:
    queue: WorkQueue[int] = WorkQueue()
    received: dict[int, float] = {}
    start = time.monotonic()

    async def getter() -> None:
        key = await queue.get()
        received[key] = time.monotonic() - start

    delays = {1: 0.02, 2: 0.04, 3: 0.06, 4: 0.06}
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for _ in delays:
                tg.start_soon(getter)
            await settle()
            for key, delay in delays.items():
                queue.add_after(key, delay)
    assert sorted(received) == sorted(delays)
    for key, elapsed in received.items():
        assert elapsed >= delays[key]


@pytest.mark.anyio
async def test_superseded_deadlines_do_not_come_back(clock: FakeClock) -> None:
    """Thousands of superseded delays (stale heap entries, compacted away) change nothing."""
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    queue.add_after("ns/kept", 500.0)
    for _ in range(5000):
        queue.add_after("ns/a", 1000.0)
        queue.add("ns/a")
        assert await drain_now(queue) == ["ns/a"]
    assert queue.delayed == 1
    clock.advance(500.0)
    assert await drain_now(queue) == ["ns/kept"]
    clock.advance(1000.0)
    assert (len(queue), queue.delayed) == (0, 0)
