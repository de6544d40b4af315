"""The metrics hooks report what the queue did; the gauges read what it is doing."""

from __future__ import annotations

import pytest
from wq_helpers import FakeClock, RecordingMetrics

from kcs.workqueue import NoQueueMetrics, QueueMetrics, WorkQueue


@pytest.mark.anyio
async def test_hooks_report_adds_depth_latency_duration_retries() -> None:
    clock = FakeClock()
    metrics = RecordingMetrics()
    queue: WorkQueue[str] = WorkQueue(clock=clock, metrics=metrics)
    queue.add("ns/a")
    queue.add("ns/a")  # deduplicated: not an add
    queue.add("ns/b")
    assert (metrics.adds, metrics.depths) == (2, [1, 2])
    clock.advance(3.0)
    assert await queue.get() == "ns/a"
    assert metrics.latencies == [3.0] and metrics.depths[-1] == 1
    clock.advance(2.0)
    queue.done("ns/a")
    assert metrics.durations == [2.0]

    queue.add_rate_limited("ns/c")  # delayed: counted as added when it becomes due
    assert (metrics.retries, metrics.adds) == (1, 2)
    clock.advance(1.0)
    assert len(queue) == 2
    assert metrics.adds == 3 and metrics.depths[-1] == 2


@pytest.mark.anyio
async def test_hooks_report_ignored_and_dropped() -> None:
    metrics = RecordingMetrics()
    queue: WorkQueue[str] = WorkQueue(metrics=metrics)
    queue.add_after("ns/a", 60.0)
    queue.add_after("ns/b", 60.0)
    queue.shut_down()
    queue.add("ns/c")
    assert (metrics.drops, metrics.ignores) == ([2], 1)


@pytest.mark.anyio
async def test_running_processors_are_gauges() -> None:
    clock = FakeClock()
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    assert (queue.longest_running_processor(), queue.unfinished_work()) == (0.0, 0.0)
    queue.add("ns/a")
    queue.add("ns/b")
    await queue.get()
    clock.advance(4.0)
    await queue.get()
    clock.advance(1.0)
    assert queue.processing == 2
    assert queue.longest_running_processor() == 5.0
    assert queue.unfinished_work() == 6.0


def test_the_default_records_nothing_and_fits_the_protocol() -> None:
    metrics: QueueMetrics = NoQueueMetrics()
    metrics.added()
    metrics.depth(1)
    metrics.latency(0.1)
    metrics.work_duration(0.1)
    metrics.retried()
    metrics.ignored()
    metrics.dropped(1)
    assert vars(metrics) == {}
