"""The cluster's own controllers, run inside the fake apiserver's event loop.

Every controller test assumes what a cluster does on its own: the namespace controller
empties a terminating namespace, the service-account controller creates ``default`` in
each namespace, the garbage collector follows ownerReferences, and kubelets confirm the
graceful deletion of their pods. :class:`ClusterControllers` runs stand-ins for them:

==================================  ===============================================================
``namespace-controller``            ``_namespacecontroller``
``serviceaccount-controller``       ``_serviceaccounts``
``garbage-collector-controller``    ``_gc``
``node-agent``                      ``_kubelet`` (the kubelets of every node named by a pod)
==================================  ===============================================================

They are on by default and can be switched off by name for tests that need the raw
behaviour. They observe every commit of the store synchronously (cheaply: they only queue
keys) and do their work in one task of the server's event loop, writing through the same
verbs as clients (so admission, finalizers and managedFields apply), under the User-Agent of
the real component (``kube-controller-manager/<version> ... /system:serviceaccount:
kube-system:<controller>``, ``kubelet/<version> ...``); their writes are in the write log.

Guarantees:

* work is queued at commit time and done as soon as the event loop is free, one key at a
  time, yielding to requests between keys; a key queued several times is done once;
* a write a controller loses to a concurrent change (409, 404) is retried after a short
  backoff; any other failure is kept in :attr:`ClusterControllers.errors` and logged;
* :meth:`ClusterControllers.wait_idle` returns once nothing is queued or scheduled.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from collections.abc import Callable, Hashable, Iterable
from typing import TYPE_CHECKING, Any

from kcs.core import ApiError
from kcs.testing._discovery import VERSION_INFO
from kcs.testing._registry import ServedResource
from kcs.testing._store import WatchEvent
from kcs.testing._watch import ClientInfo

if TYPE_CHECKING:
    from kcs.testing._verbs import Verbs

__all__ = ["CONTROLLERS", "ClusterControllers", "Controller", "component_client"]

log = logging.getLogger("kcs.testing.cluster")

CONTROLLERS = (
    "namespace-controller",
    "serviceaccount-controller",
    "garbage-collector-controller",
    "node-agent",
)
"""The names of the cluster's controllers, for ``FakeApiServer(disabled_controllers=...)``."""

_RETRY = 0.05


def component_client(component: str, service_account: str | None = None) -> ClientInfo:
    """The client identity of a cluster component, with a User-Agent shaped like client-go's
    (``kube-controller-manager/v1.36.2 (linux/amd64) kubernetes/abcdef0/...``)."""
    version = VERSION_INFO.get("gitVersion", "v0.0.0")
    commit = VERSION_INFO.get("gitCommit", "0" * 7)[:7]
    platform = VERSION_INFO.get("platform", "linux/amd64")
    ua = f"{component}/{version} ({platform}) kubernetes/{commit}"
    if service_account:
        ua += f"/system:serviceaccount:kube-system:{service_account}"
    return ClientInfo(ua)


class Controller:
    """A controller: observes commits, queues keys, works through them.

    Subclasses implement :meth:`observe` (cheap: queue keys with :meth:`queue`, or
    :meth:`queue_at` for later) and :meth:`handle` (do the work for one key, writing through
    ``self.verbs``).
    """

    name = ""
    resources: frozenset[str] | None = None
    """The group-resources (store keys) whose commits :meth:`observe` wants (None: all)."""

    def __init__(self, verbs: Verbs) -> None:
        self.verbs = verbs
        self._ready: dict[Hashable, None] = {}
        self._timers: list[tuple[float, int, Hashable]] = []
        self._seq = 0
        self.wake: Callable[[], None] = lambda: None

    # --- queue ------------------------------------------------------------------------------

    def queue(self, key: Hashable) -> None:
        """Do the work for ``key`` soon (once, however often it is queued)."""
        self._ready[key] = None
        self.wake()

    def queue_at(self, when: float, key: Hashable) -> None:
        """Do the work for ``key`` at ``time.monotonic()`` ``when``."""
        self._seq += 1
        heapq.heappush(self._timers, (when, self._seq, key))
        self.wake()

    def _promote(self, now: float) -> None:
        while self._timers and self._timers[0][0] <= now:
            _, _, key = heapq.heappop(self._timers)
            self._ready[key] = None

    def next_due(self) -> float | None:
        """When the earliest scheduled key is due (``None``: nothing scheduled)."""
        return self._timers[0][0] if self._timers else None

    def has_work(self, now: float) -> bool:
        """Whether a key is ready (or due)."""
        self._promote(now)
        return bool(self._ready)

    def busy(self) -> bool:
        """Whether anything is queued or scheduled."""
        return bool(self._ready or self._timers)

    def pop(self) -> Hashable | None:
        """The next ready key."""
        if not self._ready:
            return None
        key = next(iter(self._ready))
        del self._ready[key]
        return key

    # --- to implement -----------------------------------------------------------------------

    def observe(self, group_resource: str, ev: WatchEvent) -> None:
        """Look at one commit (called synchronously at commit time; keep it cheap)."""

    def handle(self, key: Any) -> None:
        """Do the work for one key."""

    # --- helpers ------------------------------------------------------------------------------

    def served_for_store(self, store_key: str) -> ServedResource | None:
        """The canonical served resource of a store (its storage version)."""
        for s in self.verbs.registry.all():
            if s.store_key == store_key and s.stored_as is None and (
                    s.resource.version == s.storage_version):
                return s
        return None

    def stores(self) -> Iterable[ServedResource]:
        """One served resource per store, the canonical one."""
        seen: set[str] = set()
        for s in self.verbs.registry.all():
            if s.stored_as is not None or s.resource.version != s.storage_version:
                continue
            if s.store_key in seen:
                continue
            seen.add(s.store_key)
            yield s


class ClusterControllers:
    """Runs the enabled controllers in one task of the event loop (see the module doc).

    ``controllers`` maps each name of :data:`CONTROLLERS` to its controller, ``enabled``
    lists the ones running. :attr:`errors` keeps unexpected failures (a failure is a bug of
    the fake and fails a test that checks it).
    """

    def __init__(self, verbs: Verbs, controllers: dict[str, Controller],
                 disabled: Iterable[str] = ()) -> None:
        disabled = set(disabled)
        unknown = disabled - set(CONTROLLERS)
        if unknown:
            raise ValueError(f"unknown controllers {sorted(unknown)}; the controllers are "
                             f"{list(CONTROLLERS)}")
        self.verbs = verbs
        self.controllers = controllers
        self.enabled = tuple(n for n in CONTROLLERS if n not in disabled and n in controllers)
        self.errors: list[BaseException] = []
        self._active = [controllers[n] for n in self.enabled]
        self._routes: dict[str, tuple[Callable[[str, WatchEvent], None], ...]] = {}
        self._wake = asyncio.Event()
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._working = False
        for c in self._active:
            c.wake = self._wake.set
        if self._active:
            verbs.store.observers.append(self._observe)

    def _observe(self, group_resource: str, ev: WatchEvent) -> None:
        route = self._routes.get(group_resource)
        if route is None:
            route = self._routes[group_resource] = tuple(
                c.observe for c in self._active
                if c.resources is None or group_resource in c.resources)
        for observe in route:
            observe(group_resource, ev)

    # --- running ----------------------------------------------------------------------------

    def start(self) -> None:
        """Start working (in the running event loop); idempotent."""
        if self._task is None and self._active:
            self._task = asyncio.get_running_loop().create_task(self._run(),
                                                                name="kcs-fake-controllers")

    async def stop(self) -> None:
        """Stop working (queued work stays queued)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def drain(self) -> None:
        """Do every ready key now, synchronously (used while the server is built)."""
        while self._step():
            pass

    def _step(self) -> bool:
        now = time.monotonic()
        worked = False
        for c in self._active:
            if not c.has_work(now):
                continue
            key = c.pop()
            if key is None:
                continue
            worked = True
            try:
                c.handle(key)
            except ApiError as e:
                if e.code in (404, 409):
                    c.queue_at(time.monotonic() + _RETRY, key)
                else:
                    self._fail(c, key, e)
            except Exception as e:  # a bug of the fake: keep it, log it, go on
                self._fail(c, key, e)
        return worked

    def _fail(self, c: Controller, key: Any, e: BaseException) -> None:
        self.errors.append(e)
        log.error("%s failed on %r: %s", c.name, key, e, exc_info=e)

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            self._working = True
            try:
                worked = self._step()
            finally:
                self._working = False
            if worked:
                await asyncio.sleep(0)
                continue
            self._changed.set()
            dues = [d for d in (c.next_due() for c in self._active) if d is not None]
            timeout = max(0.0, min(dues) - time.monotonic()) if dues else None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()

    def busy(self) -> bool:
        """Whether any controller has work queued or scheduled."""
        return self._working or any(c.busy() for c in self._active)

    async def wait_idle(self) -> None:
        """Wait until no controller has work queued or scheduled. Bound it with the
        caller's scope (``with anyio.fail_after(5):``); the server must be running."""
        while self.busy():
            self._changed.clear()
            self._wake.set()
            await self._changed.wait()
