"""Priorities with aging, on a fake clock: the documented rule, exactly."""

from __future__ import annotations

import pytest
from wq_helpers import FakeClock, drain_now

from kcs.workqueue import Priority, WorkQueue

LOW, NORMAL, HIGH = Priority.LOW, Priority.NORMAL, Priority.HIGH


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.mark.anyio
async def test_fresh_changes_go_before_the_initial_list(clock: FakeClock) -> None:
    queue: WorkQueue[str] = WorkQueue(clock=clock, aging_interval=60.0)
    initial = [f"ns/{i}" for i in range(1000)]
    for key in initial:
        queue.add(key, LOW)
    clock.advance(1.0)
    queue.add("ns/fresh", NORMAL)
    queue.add("ns/urgent", HIGH)
    assert await drain_now(queue) == ["ns/urgent", "ns/fresh", *initial]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("low_waited", "other", "low_first"),
    [
        (9.0, NORMAL, False),  # effective -0.1 < 0
        (10.0, NORMAL, True),  # a tie (0 == 0): arrival order
        (11.0, NORMAL, True),  # effective 0.1 > 0
        (19.0, HIGH, False),  # -0.1 < 1 ... i.e. 0.9 < 1
        (21.0, HIGH, True),  # 1.1 > 1
    ],
)
async def test_each_level_is_worth_aging_interval_seconds(
    clock: FakeClock, low_waited: float, other: Priority, low_first: bool
) -> None:
    queue: WorkQueue[str] = WorkQueue(clock=clock, aging_interval=10.0)
    queue.add("ns/low", LOW)
    clock.advance(low_waited)
    queue.add("ns/other", other)
    order = await drain_now(queue)
    assert (order[0] == "ns/low") is low_first


@pytest.mark.anyio
async def test_low_priority_does_not_starve(clock: FakeClock) -> None:
    """Fresh NORMAL keys keep coming; the LOW key is served once it has aged a level."""
    queue: WorkQueue[str] = WorkQueue(clock=clock, aging_interval=10.0)
    queue.add("ns/low", LOW)
    served_at = None
    for step in range(100):
        queue.add(f"ns/fresh-{step}", NORMAL)
        clock.advance(1.0)
        key = await queue.get()
        queue.done(key)
        if key == "ns/low":
            served_at = step
            break
    assert served_at is not None
    assert served_at == 10  # fresh-10 arrived when the LOW key had aged a full level: a tie


@pytest.mark.anyio
async def test_without_aging_priority_is_strict(clock: FakeClock) -> None:
    queue: WorkQueue[str] = WorkQueue(clock=clock, aging_interval=None)
    queue.add("ns/low", LOW)
    for step in range(50):
        clock.advance(100.0)
        queue.add(f"ns/fresh-{step}", NORMAL)
        key = await queue.get()
        queue.done(key)
        assert key != "ns/low"
    queue.add("ns/n1", NORMAL)
    queue.add("ns/h", HIGH)
    queue.add("ns/n2", NORMAL)
    assert await drain_now(queue) == ["ns/h", "ns/n1", "ns/n2", "ns/low"]


@pytest.mark.anyio
async def test_readding_at_a_higher_priority_raises_and_keeps_time_waited(
    clock: FakeClock,
) -> None:
    queue: WorkQueue[str] = WorkQueue(clock=clock, aging_interval=10.0)
    queue.add("ns/a", LOW)  # since t=0
    clock.advance(5.0)
    queue.add("ns/b", NORMAL)  # since t=5
    clock.advance(1.0)
    queue.add("ns/a", NORMAL)  # raised; it still counts its wait from t=0
    queue.add("ns/c", NORMAL)  # since t=6
    assert await drain_now(queue) == ["ns/a", "ns/b", "ns/c"]


@pytest.mark.anyio
async def test_readding_at_a_lower_priority_does_not_lower(clock: FakeClock) -> None:
    queue: WorkQueue[str] = WorkQueue(clock=clock, aging_interval=10.0)
    queue.add("ns/b", NORMAL)
    queue.add("ns/a", HIGH)
    queue.add("ns/a", LOW)
    assert len(queue) == 2
    assert await drain_now(queue) == ["ns/a", "ns/b"]


@pytest.mark.anyio
async def test_a_dirty_key_keeps_the_highest_priority_it_was_added_at(
    clock: FakeClock,
) -> None:
    queue: WorkQueue[str] = WorkQueue(clock=clock, aging_interval=10.0)
    queue.add("ns/a")
    assert await queue.get() == "ns/a"
    queue.add("ns/a", LOW)
    queue.add("ns/a", HIGH)
    queue.add("ns/b", NORMAL)
    queue.done("ns/a")
    assert await drain_now(queue) == ["ns/a", "ns/b"]


@pytest.mark.anyio
async def test_a_delayed_key_ages_from_its_deadline(clock: FakeClock) -> None:
    queue: WorkQueue[str] = WorkQueue(clock=clock, aging_interval=10.0)
    queue.add_after("ns/a", 5.0, LOW)  # due at t=5
    queue.add("ns/b", LOW)  # since t=0: ahead of ns/a at any time
    clock.advance(8.0)
    queue.add("ns/c", LOW)  # since t=8: behind ns/a, although ns/a was promoted now
    assert await drain_now(queue) == ["ns/b", "ns/a", "ns/c"]


def test_aging_interval_must_be_positive() -> None:
    with pytest.raises(ValueError):
        WorkQueue(aging_interval=0.0)


@pytest.mark.anyio
async def test_many_raises_keep_one_entry_per_key(clock: FakeClock) -> None:
    """Thousands of raises (stale heap entries, compacted away) leave each key queued once."""
    queue: WorkQueue[str] = WorkQueue(clock=clock, aging_interval=10.0)
    queue.add("ns/first", 2500)
    for priority in range(5000):
        queue.add("ns/raised", priority)
        queue.add(f"ns/{priority}", 0)
    assert len(queue) == 5002
    order = await drain_now(queue)
    assert order[:2] == ["ns/raised", "ns/first"]
    assert sorted(order[2:]) == sorted(f"ns/{p}" for p in range(5000))
