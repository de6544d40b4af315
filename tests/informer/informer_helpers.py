"""Helpers of the informer tests: objects, a handler that rebuilds the collection, waits."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import anyio

from kcs.core import Object, builtin
from kcs.informer import HandlerRegistration, Informer, ResourceEventHandler
from kcs.testing import FakeApiServer
from kcs.watch import Backoff

PODS = builtin("pods")
CONFIGMAPS = builtin("configmaps")
FAST_BACKOFF = Backoff(initial=0.01, maximum=0.05, reset_after=60.0)
"""Fast watcher retries: the same code paths as the defaults, in milliseconds."""


def new_pod(name: str, ns: str = "default", node: str = "", **labels: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "main", "image": "nginx"}]}
    if node:
        spec["nodeName"] = node
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": spec,
    }


def server_state(api: FakeApiServer, resource: str = "pods") -> dict[str, str]:
    """key -> resourceVersion of every object the server holds now."""
    out = {}
    for obj in api.list(resource):
        meta = obj["metadata"]
        key = f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]
        out[key] = meta["resourceVersion"]
    return out


def cache_state(informer: Informer) -> dict[str, str]:
    return {obj.key: obj.resource_version for obj in informer.lister.list()}


class Recorder(ResourceEventHandler):
    """Rebuilds the collection from handler calls and records what breaks the contract.

    ``delay`` makes it slow (awaited in every call); ``gate``, when set, holds every call
    until it is set.
    """

    def __init__(self, delay: float = 0.0) -> None:
        self.state: dict[str, Object] = {}
        self.calls: list[tuple[str, str, str]] = []  # (method, key, rv)
        self.violations: list[str] = []
        self.delay = delay
        self.gate: anyio.Event | None = None
        self.busy = anyio.Event()  # set once a call is in progress

    async def _pause(self) -> None:
        self.busy.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.delay:
            await anyio.sleep(self.delay)

    async def on_add(self, obj: Object, is_initial: bool) -> None:
        await self._pause()
        if obj.key in self.state:
            self.violations.append(f"on_add of {obj.key}, which the handler already has")
        self.state[obj.key] = obj
        self.calls.append(("add-initial" if is_initial else "add", obj.key, obj.resource_version))

    async def on_update(self, old: Object, new: Object) -> None:
        await self._pause()
        seen = self.state.get(new.key)
        if seen is None:
            self.violations.append(f"on_update of {new.key}, which the handler does not have")
        elif seen is not old:
            self.violations.append(f"on_update of {new.key}: old is not what it last saw")
        if old.key != new.key:
            self.violations.append(f"on_update with keys {old.key} -> {new.key}")
        self.state[new.key] = new
        self.calls.append(("update", new.key, new.resource_version))

    async def on_delete(self, obj: Object) -> None:
        await self._pause()
        if self.state.pop(obj.key, None) is None:
            self.violations.append(f"on_delete of {obj.key}, which the handler does not have")
        self.calls.append(("delete", obj.key, obj.resource_version))

    def versions(self) -> dict[str, str]:
        return {k: o.resource_version for k, o in self.state.items()}


async def caught_up(
    api: FakeApiServer,
    informer: Informer,
    *registrations: HandlerRegistration,
    within: float = 10.0,
) -> None:
    """Wait (on events) until the cache has reached the server's revision and every
    registration has delivered everything."""
    with anyio.fail_after(within):
        assert await informer.wait_for(str(api.revision), within)
        for reg in registrations:
            assert await reg.wait_idle(within)


@contextlib.asynccontextmanager
async def running(informer: Informer, *, sync: bool = True) -> AsyncIterator[Informer]:
    """Run ``informer`` for the duration of the block (cancelled at its end)."""
    async with anyio.create_task_group() as tg:
        tg.start_soon(informer.run)
        if sync:
            await informer.wait_synced(10)
        yield informer
        tg.cancel_scope.cancel()
