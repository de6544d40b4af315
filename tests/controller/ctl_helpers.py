# ruff: noqa: ASYNC109
"""Helpers for the controller tests: run informers and controllers, wait for conditions."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio

from kcs.controller import Runner
from kcs.informer import InformerFactory


@asynccontextmanager
async def running(
    factory: InformerFactory, *runners: Runner
) -> AsyncIterator[anyio.abc.TaskGroup]:
    """Run the informers and the runners until the block exits (then cancel them)."""
    async with anyio.create_task_group() as tg:
        tg.start_soon(factory.run)
        for runner in runners:
            tg.start_soon(runner.run)
        try:
            yield tg
        finally:
            tg.cancel_scope.cancel()


class Calls:
    """Keys a test controller reconciled, with an awaitable "something changed"."""

    def __init__(self) -> None:
        self.keys: list[Any] = []
        self._changed = anyio.Event()

    def record(self, key: Any) -> None:
        self.keys.append(key)
        self._changed.set()
        self._changed = anyio.Event()

    def count(self, key: Any = None) -> int:
        return len(self.keys) if key is None else self.keys.count(key)

    async def wait_until(self, condition: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait (event-driven) until ``condition()`` holds after some reconcile."""
        with anyio.fail_after(timeout):
            while not condition():
                await self._changed.wait()


def deployment(name: str, image: str = "registry.k8s.io/app:1", namespace: str = "default",
               labels: dict[str, str] | None = None) -> dict[str, Any]:
    """A minimal apps/v1 Deployment."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    }
