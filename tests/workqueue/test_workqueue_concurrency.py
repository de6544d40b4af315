"""Many workers at once: no key shared, every add processed, no key lost, 100k keys."""

from __future__ import annotations

import itertools
import random
from typing import Any

import anyio
import pytest
from anyio.lowlevel import checkpoint
from hypothesis import given, settings
from hypothesis import strategies as st
from wq_helpers import FakeClock

from kcs.workqueue import Priority, QueueShutDown, WorkQueue, run_workers

KEYS = st.sampled_from([f"ns/{i}" for i in range(6)])
SCRIPT = st.lists(
    st.one_of(
        st.tuples(st.just("add"), KEYS, st.sampled_from(list(Priority))),
        st.tuples(st.just("yield"), st.integers(1, 6)),
    ),
    min_size=5,
    max_size=120,
)


@pytest.mark.anyio
@pytest.mark.timeout(60)
@settings(max_examples=80, deadline=None)
@given(
    script=SCRIPT,
    durations=st.lists(st.integers(0, 6), min_size=1, max_size=20),
    workers=st.integers(1, 5),
)
async def test_workers_never_share_a_key_and_every_add_is_processed(
    script: list[tuple[Any, ...]], durations: list[int], workers: int
) -> None:
    queue: WorkQueue[str] = WorkQueue()
    in_flight: set[str] = set()
    log: list[tuple[str, str]] = []
    duration = itertools.cycle(durations)

    async def process(key: str) -> None:
        assert key not in in_flight, f"{key} handed to two workers at once"
        in_flight.add(key)
        log.append(("start", key))
        for _ in range(next(duration)):
            await checkpoint()
        in_flight.remove(key)

    async def produce() -> None:
        for op in script:
            if op[0] == "add":
                queue.add(op[1], op[2])
                log.append(("add", op[1]))
            else:
                for _ in range(op[1]):
                    await checkpoint()
        assert await queue.shut_down_with_drain(timeout=20)

    async with anyio.create_task_group() as tg:
        tg.start_soon(run_workers, queue, workers, process)
        tg.start_soon(produce)

    assert queue.processing == 0 and len(queue) == 0
    for key in {k for _, k in log}:
        events = [e for e, k in log if k == key]
        last_add = max(i for i, e in enumerate(events) if e == "add")
        starts = [i for i, e in enumerate(events) if e == "start"]
        assert starts and starts[-1] > last_add, f"an add of {key} was never processed"
        assert len(starts) <= events.count("add"), f"{key} processed more often than added"


@pytest.mark.anyio
@pytest.mark.timeout(30)
@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32), keys=st.integers(1, 60), getters=st.integers(1, 8))
async def test_cancelled_getters_lose_no_key(seed: int, keys: int, getters: int) -> None:
    """Getters cancelled at random points, woken or not: every key is handed out once."""
    rng = random.Random(seed)
    queue: WorkQueue[int] = WorkQueue()
    received: list[int] = []
    idle: list[anyio.CancelScope] = []  # getters inside get(), in the order they called it

    async def getter() -> None:
        with anyio.CancelScope() as scope:  # a cancelled getter leaves for good
            while True:
                idle.append(scope)
                try:
                    key = await queue.get()
                except QueueShutDown:
                    return
                finally:
                    if scope in idle:
                        idle.remove(scope)
                received.append(key)
                queue.done(key)

    async def chaos() -> None:
        for key in range(keys):
            queue.add(key)  # wakes the getter that waited longest...
            if idle and rng.random() < 0.6:  # ...which is then often cancelled at once
                idle.pop(0 if rng.random() < 0.7 else rng.randrange(len(idle))).cancel()
            for _ in range(rng.randrange(3)):
                await checkpoint()
        assert await queue.shut_down_with_drain(timeout=2)

    async with anyio.create_task_group() as tg:
        for _ in range(getters + keys):  # never fewer than `getters` left
            tg.start_soon(getter)
        tg.start_soon(chaos)
    assert sorted(received) == list(range(keys))


@pytest.mark.anyio
@pytest.mark.timeout(60)
async def test_hundred_thousand_keys() -> None:
    """A sanity check of the O(log n) structures, not a timed assertion."""
    n = 100_000
    rng = random.Random(7)
    clock = FakeClock()
    queue: WorkQueue[str] = WorkQueue(clock=clock, aging_interval=10.0)
    for i in range(n):
        queue.add(f"ns/{i}", rng.choice(list(Priority)))
        queue.add(f"ns/{rng.randrange(n)}", Priority.HIGH)  # dedup and raises
    assert len(queue) == n
    seen = set()
    while len(queue):
        key = await queue.get()
        queue.done(key)
        seen.add(key)
    assert len(seen) == n

    for i in range(n):
        queue.add_after(f"ns/{i}", rng.uniform(0.001, 100.0))
        queue.add_after(f"ns/{i}", rng.uniform(0.001, 100.0))  # an earlier deadline may win
    assert queue.delayed == n and len(queue) == 0
    clock.advance(100.0)
    processed = 0

    async def process(key: str) -> None:
        nonlocal processed
        processed += 1
        if processed == n:
            queue.shut_down()

    await run_workers(queue, 4, process)
    assert processed == n
