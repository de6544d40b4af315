"""docs/workqueue.md runs as written: keys the handler adds are reconciled by the workers
``main`` starts, and its drain returns once they are done; the hand-written worker hands
out every key, retries a failed one with backoff, and returns at shutdown. ``reconcile`` is
the page's placeholder for the controller's work; here it records the keys."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from doc_blocks import run_page

from kcs.workqueue import WorkQueue

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

PAGE = "workqueue.md"


async def test_workqueue_page() -> None:
    reconciled: list[str] = []
    failures = {"default/flaky": 1}  # fails once, then succeeds
    retried = anyio.Event()

    async def reconcile(key: str) -> None:
        reconciled.append(key)
        if failures.get(key):
            failures[key] -= 1
            raise RuntimeError(f"{key}: the apiserver said no")
        if key == "default/flaky":
            retried.set()

    ns: dict[str, Any] = await run_page(PAGE, {"reconcile": reconcile})
    queue = ns["queue"]
    ns["on_event"]("default/a", True)   # from the initial list: LOW
    ns["on_event"]("default/b", False)  # a live change: NORMAL
    ns["on_event"]("default/b", False)  # deduplicated while it waits
    with anyio.fail_after(10):
        await ns["main"]()  # returns once the drain did and run_workers returned
    assert sorted(reconciled) == ["default/a", "default/b"]
    assert len(queue) == 0 and queue.processing == 0

    reconciled.clear()
    ns["queue"] = queue = WorkQueue[str]()  # the worker reads the page's global `queue`
    queue.add("default/flaky")
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(ns["worker"])
            await retried.wait()  # failed, backed off (5 ms), retried, succeeded
            queue.shut_down()     # the worker returns: QueueShutDown
    assert reconciled == ["default/flaky", "default/flaky"]
    assert queue.retries("default/flaky") == 0  # forgotten after the success
