"""run_workers: N at a time, done() always called, errors and cancellation propagate."""

from __future__ import annotations

import anyio
import pytest
from wq_helpers import settle

from kcs.workqueue import WorkQueue, run_workers


@pytest.mark.anyio
@pytest.mark.timeout(10)
async def test_workers_run_n_at_a_time_until_shut_down() -> None:
    queue: WorkQueue[int] = WorkQueue()
    for key in range(20):
        queue.add(key)
    running: set[int] = set()
    most = 0
    processed: list[int] = []
    all_busy = anyio.Event()
    release = anyio.Event()

    async def process(key: int) -> None:
        nonlocal most
        running.add(key)
        most = max(most, len(running))
        if len(running) == 3:
            all_busy.set()
        await release.wait()
        running.remove(key)
        processed.append(key)
        if len(processed) == 20:
            queue.shut_down()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run_workers, queue, 3, process)
            await all_busy.wait()
            await settle()
            assert queue.processing == 3 and len(queue) == 17
            release.set()
    assert most == 3
    assert sorted(processed) == list(range(20))
    assert queue.processing == 0


@pytest.mark.anyio
@pytest.mark.timeout(10)
async def test_an_error_in_process_stops_the_workers_and_marks_the_key_done() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("ns/bad")

    async def process(key: str) -> None:
        raise RuntimeError(key)

    with anyio.fail_after(5), pytest.RaisesGroup(RuntimeError):
        await run_workers(queue, 2, process)
    assert queue.processing == 0


@pytest.mark.anyio
@pytest.mark.timeout(10)
async def test_cancelling_the_workers_marks_their_keys_done() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("ns/a")
    started = anyio.Event()

    async def process(key: str) -> None:
        started.set()
        await anyio.sleep_forever()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run_workers, queue, 2, process)
            await started.wait()
            assert queue.processing == 1
            tg.cancel_scope.cancel()
    assert queue.processing == 0 and len(queue) == 0


@pytest.mark.anyio
async def test_at_least_one_worker() -> None:
    async def process(key: str) -> None:
        pass

    with pytest.raises(ValueError):
        await run_workers(WorkQueue[str](), 0, process)
