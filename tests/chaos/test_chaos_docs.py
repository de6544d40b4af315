"""The chaos section of docs/testing.md runs as written."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from sweep import REPLICA

from kcs.client import Client
from kcs.core import builtin
from kcs.informer import Informer
from kcs.testing import FakeApiServer
from kcs.testing.chaos import ReplicaSpec

PAGE = Path(__file__).resolve().parents[2] / "docs" / "testing.md"
CONFIGMAPS = builtin("configmaps")

pytestmark = pytest.mark.anyio


def _snippets() -> list[str]:
    section = PAGE.read_text().split("## Chaos testing your controller", 1)[1]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


class _Cache:
    """A user's cache: one kcs informer, started in a task group of its own."""

    def __init__(self, url: str) -> None:
        self.client = Client.from_url(url, user_agent_suffix="my-controller", qps=None)
        self.informer = Informer(self.client, CONFIGMAPS, "chaos")
        self.scope = anyio.CancelScope()
        self.done = anyio.Event()

    async def _run(self) -> None:
        with self.scope:
            await self.informer.run()
        self.done.set()

    def snapshot(self) -> dict[str, str]:
        return {o.key: o.resource_version for o in self.informer.lister.list()}

    async def stop(self) -> None:
        self.scope.cancel()
        await self.done.wait()
        await self.client.close()


@pytest.mark.timeout(60)
async def test_the_convergence_example_runs() -> None:
    namespace: dict[str, Any] = {"__name__": "docs_snippet"}
    exec(compile(_snippets()[0], str(PAGE), "exec"), namespace)
    async with anyio.create_task_group() as tg:

        async def start_my_cache(url: str) -> _Cache:
            cache = _Cache(url)
            tg.start_soon(cache._run)
            with anyio.fail_after(10):
                await cache.informer.wait_synced()
            return cache

        namespace["start_my_cache"] = start_my_cache
        await namespace["check_my_cache"](5)


@pytest.mark.timeout(90)
async def test_the_election_example_runs() -> None:
    namespace: dict[str, Any] = {"__name__": "docs_snippet", "FakeApiServer": FakeApiServer}
    exec(compile(_snippets()[1], str(PAGE), "exec"), namespace)
    async with FakeApiServer() as api:
        api.create("configmaps", {"metadata": {"name": "work", "namespace": "default"}})

        def my_replica_command(spec: ReplicaSpec) -> list[str]:
            # client-go's timings, as the example's lease_duration=15 says
            return [sys.executable, str(REPLICA), "--url", api.url, "--identity",
                    spec.identity, "--lease", "my-controller", "--lease-duration", "15",
                    "--renew-deadline", "10", "--retry-period", "2"]

        namespace["my_replica_command"] = my_replica_command
        await namespace["check_my_election"](api, range(1, 2))  # a latency schedule
