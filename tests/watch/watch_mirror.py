"""A consumer that rebuilds a collection from a watcher's events, for end-to-end tests.

It does what a store does (buffer between InitStart and InitDone, then swap), records
every change it applied, and lets a test wait — on events, not on time — until it has
caught up with the server.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio

from kcs.core import parse_resource_version
from kcs.testing import FakeApiServer
from kcs.watch import Apply, Bookmark, Delete, InitApply, InitDone, InitStart, Watcher


class Mirror:
    def __init__(self, watcher: Watcher) -> None:
        self.watcher = watcher
        self.state: dict[str, str] = {}  # key -> resourceVersion
        self.rv = ""
        self.synced = False
        self.lists = 0
        self.changes: list[tuple[str, str, str]] = []  # (type, key, rv) after a list
        self.bookmarks: list[str] = []
        self.violations: list[str] = []
        self._buffer: dict[str, str] | None = None
        self._changed = anyio.Event()

    async def run(self) -> None:
        async for batch in self.watcher.batches():
            for event in batch:
                self._apply(event)
            self._changed.set()
            self._changed = anyio.Event()

    def _apply(self, event: Any) -> None:
        match event:
            case InitStart():
                self._buffer = {}
            case InitApply(obj):
                assert self._buffer is not None, "InitApply outside a list"
                if obj.key in self._buffer:
                    self.violations.append(f"{obj.key} twice in one list")
                self._buffer[obj.key] = obj.resource_version
            case InitDone(rv):
                assert self._buffer is not None, "InitDone without InitStart"
                self.state, self._buffer = self._buffer, None
                self._advance(rv, allow_equal=True)
                self.synced = True
                self.lists += 1
                self.changes.clear()
            case Apply(obj) | Delete(obj):
                if self._buffer is not None:
                    self.violations.append("a change inside a list")
                self._advance(obj.resource_version, allow_equal=False)
                kind = "Apply" if isinstance(event, Apply) else "Delete"
                self.changes.append((kind, obj.key, obj.resource_version))
                if kind == "Apply":
                    self.state[obj.key] = obj.resource_version
                else:
                    self.state.pop(obj.key, None)
            case Bookmark(rv):
                self._advance(rv, allow_equal=True)
                self.bookmarks.append(rv)

    def _advance(self, rv: str, *, allow_equal: bool) -> None:
        new, old = parse_resource_version(rv), parse_resource_version(self.rv)
        if new is not None and old is not None and (new < old or (new == old and not
                                                                   allow_equal)):
            self.violations.append(f"rv went from {self.rv} to {rv}")
        self.rv = rv

    async def wait_until(self, predicate: Callable[[], bool], within: float = 10.0) -> None:
        with anyio.fail_after(within):
            while not predicate():
                await self._changed.wait()

    async def wait_until_within(self, predicate: Callable[[], bool], within: float) -> bool:
        """Whether ``predicate`` came true within ``within`` seconds (no exception)."""
        with anyio.move_on_after(within):
            await self.wait_until(predicate, within + 1)
            return True
        return False

    async def wait_caught_up(self, api: FakeApiServer, resource: str = "pods",
                             within: float = 10.0) -> None:
        """Until the mirror has reached the server's revision and holds its state."""
        target = api.revision

        def caught_up() -> bool:
            rv = parse_resource_version(self.rv)
            return self.synced and rv is not None and rv >= target

        await self.wait_until(caught_up, within)
        assert self.state == server_state(api, resource)


def server_state(api: FakeApiServer, resource: str = "pods") -> dict[str, str]:
    out: dict[str, str] = {}
    for obj in api.list(resource):
        meta = obj["metadata"]
        key = f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]
        out[key] = meta["resourceVersion"]
    return out


def new_pod(name: str, namespace: str = "default", **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }
