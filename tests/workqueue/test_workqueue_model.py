"""The queue against a simple model of its documented rules, driven by hypothesis.

The model keeps one record per key and picks the next key by evaluating the documented
ordering rule directly (exact arithmetic, every waiting key), so it shares nothing with
the heaps of the implementation. Checked after every step: which key ``get()`` hands out,
that ``get()`` waits exactly when the model has nothing due, the counts, and that no key
is ever handed out while it is being processed.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wq_helpers import FakeClock, get_blocks

from kcs.workqueue import QueueShutDown, WorkQueue

KEYS = st.sampled_from(["a/1", "a/2", "b/1", "b/2", "c/1"])
PRIORITIES = st.sampled_from([-1, 0, 1, 2])


@dataclass
class Record:
    state: str  # "waiting" | "delayed" | "parked"
    priority: int
    since: int
    deadline: int = 0
    seq: int = 0  # arrival order among waiting keys
    dseq: int = 0  # order in which the deadline was set


class Model:
    """The documented rules, written as plainly as possible."""

    def __init__(self, aging: int | None) -> None:
        self.aging = aging
        self.records: dict[str, Record] = {}
        self.processing: set[str] = set()
        self.counter = 0
        self.shut = False
        self.ignored = 0

    def _next(self) -> int:
        self.counter += 1
        return self.counter

    def _due(self, key: str, rec: Record) -> None:
        if key in self.processing:
            rec.state = "parked"
        else:
            rec.state, rec.seq = "waiting", self._next()

    def tick(self, now: int) -> None:
        due = [(r.deadline, r.dseq, k) for k, r in self.records.items() if r.state == "delayed"]
        for deadline, _, key in sorted(due):
            if deadline <= now:
                rec = self.records[key]
                rec.since = deadline
                self._due(key, rec)

    def add(self, key: str, priority: int, now: int) -> None:
        if self.shut:
            self.ignored += 1
            return
        self.tick(now)
        rec = self.records.get(key)
        if rec is None:
            rec = self.records[key] = Record("waiting", priority, now)
            self._due(key, rec)
        elif rec.state == "delayed":
            rec.priority, rec.since = max(rec.priority, priority), now
            self._due(key, rec)
        else:
            rec.priority = max(rec.priority, priority)

    def add_after(self, key: str, delay: int, priority: int, now: int) -> None:
        if delay <= 0:
            self.add(key, priority, now)
            return
        if self.shut:
            self.ignored += 1
            return
        self.tick(now)
        rec = self.records.get(key)
        if rec is None:
            self.records[key] = Record("delayed", priority, 0, now + delay, dseq=self._next())
        elif rec.state == "delayed":
            rec.priority = max(rec.priority, priority)
            if now + delay < rec.deadline:
                rec.deadline, rec.dseq = now + delay, self._next()

    def effective(self, rec: Record, now: int) -> tuple[Fraction, Fraction, int]:
        """Bigger is handed out first."""
        if self.aging is None:
            return (Fraction(rec.priority), Fraction(-rec.since), -rec.seq)
        return (rec.priority + Fraction(now - rec.since, self.aging), Fraction(0), -rec.seq)

    def expected_get(self, now: int) -> str | None:
        self.tick(now)
        waiting = [
            (self.effective(r, now), k) for k, r in self.records.items() if r.state == "waiting"
        ]
        if not waiting:
            return None
        key = max(waiting)[1]
        del self.records[key]
        self.processing.add(key)
        return key

    def done(self, key: str, now: int) -> None:
        self.tick(now)
        self.processing.remove(key)
        rec = self.records.get(key)
        if rec is not None and rec.state == "parked":
            self._due(key, rec)

    def shut_down(self, now: int) -> None:
        self.tick(now)
        self.shut = True
        self.records = {k: r for k, r in self.records.items() if r.state != "delayed"}

    def count(self, state: str, now: int) -> int:
        self.tick(now)
        return sum(r.state == state for r in self.records.values())


ADD = st.tuples(st.just("add"), KEYS, PRIORITIES)
ADD_AFTER = st.tuples(st.just("add_after"), KEYS, st.integers(-1, 30), PRIORITIES)
OPS = st.lists(
    st.one_of(
        ADD,
        ADD,
        ADD_AFTER,
        st.tuples(st.just("get")),
        st.tuples(st.just("done"), st.integers(0, 10)),
        st.tuples(st.just("advance"), st.integers(0, 25)),
        st.tuples(st.just("shut_down"), st.integers(0, 9)),  # acts only on 0: rare
    ),
    min_size=10,
    max_size=80,
)


@pytest.mark.anyio
@pytest.mark.timeout(60)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS, aging=st.sampled_from([None, 5, 10]))
async def test_queue_follows_the_model(ops: list[tuple[Any, ...]], aging: int | None) -> None:
    clock = FakeClock(start=0.0)
    queue: WorkQueue[str] = WorkQueue(aging_interval=aging, clock=clock)
    model = Model(aging)
    for op in ops:
        now = int(clock.now)
        if op[0] == "add":
            queue.add(op[1], op[2])
            model.add(op[1], op[2], now)
        elif op[0] == "add_after":
            queue.add_after(op[1], op[2], op[3])
            model.add_after(op[1], op[2], op[3], now)
        elif op[0] == "get":
            in_flight = set(model.processing)
            expected = model.expected_get(now)
            if expected is not None:
                key = await queue.get()
                assert key == expected
                assert key not in in_flight
            elif model.shut and model.count("parked", now) == 0:
                with pytest.raises(QueueShutDown):
                    await queue.get()
            else:
                assert await get_blocks(queue)
        elif op[0] == "done":
            if model.processing:
                key = sorted(model.processing)[op[1] % len(model.processing)]
                queue.done(key)
                model.done(key, now)
            else:
                with pytest.raises(ValueError):
                    queue.done("a/1")
        elif op[0] == "advance":
            clock.advance(op[1])
        elif op[1] == 0:
            queue.shut_down()
            model.shut_down(now)
        now = int(clock.now)
        assert len(queue) == model.count("waiting", now)
        assert queue.delayed == model.count("delayed", now)
        assert queue.processing == len(model.processing)
        assert queue.ignored == model.ignored
