"""Read-your-writes for reconciles: never act on your own stale past.

A reconcile reads from informer caches and writes to the apiserver. Its writes reach its
caches a little later, through the watch. If the key is reconciled again before then, the
reconcile sees the world from before its own write: it creates a child a second time, or
it undoes a status it just wrote. client-go controllers guard against this with ad-hoc
"expectations"; kcs does it for every write, by resourceVersion.

:class:`WriteTracker` remembers, for each work key, the resourceVersion returned by each
write made while that key was being reconciled, per informer that will see the written
object (same resource, namespace within the informer's, labels and fields matching its
selectors). Before the key is reconciled again, :meth:`WriteTracker.wait` waits until
each of those informers has reached that resourceVersion (``Informer.wait_for``, which
is event-driven), bounded by a timeout; then the entry is dropped. A write to an object of
the primary resource is also remembered for that object's own key.

Cost: usually nothing. The event of the write is normally what enqueued the key again,
so the informer is already past the write when the key comes up. The wait matters when
another change enqueues the key first; then it lasts until the write's watch event
arrives: a few milliseconds on loopback. Memory: one small entry per key written to
and not yet reconciled again, pruned as informers catch up.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

import anyio

from kcs.core import (
    FieldSelector,
    LabelSelector,
    Object,
    ObjectKey,
    Resource,
    field_value,
    resource_version_at_least,
)
from kcs.informer import Informer

__all__ = ["WriteTracker"]

# Entries kept before the tracker prunes those whose informers have caught up.
_PRUNE_AT = 4096

_current: contextvars.ContextVar[tuple[WriteTracker, ObjectKey] | None] = (
    contextvars.ContextVar("kcs_controller_reconcile", default=None)
)


def _sees(informer: Informer, obj: Object) -> bool:
    """Whether ``informer``'s watch will deliver an event for the written ``obj``."""
    meta = obj.metadata
    namespace = informer.namespace
    if namespace and informer.resource.namespaced and meta.namespace != namespace:
        return False
    labels = LabelSelector.of(informer.label_selector)
    if not labels.empty and not labels.matches(meta.labels):
        return False
    fields = FieldSelector.of(informer.field_selector)
    return fields.empty or fields.matches(lambda path: field_value(obj, path))


class WriteTracker:
    """Per work key, the resourceVersions its informers must reach before it runs again.

    Not thread-safe; used from the controller's event loop.
    """

    def __init__(self, primary: Resource | None = None) -> None:
        self._primary = primary
        self._informers: dict[Resource, list[Informer]] = {}
        self._pending: dict[ObjectKey, dict[int, tuple[Informer, str]]] = {}
        self.enabled = True
        """While false, :meth:`record` remembers nothing."""

    def track(self, informer: Informer) -> None:
        """Have writes to ``informer``'s resource wait for ``informer``."""
        infs = self._informers.setdefault(informer.resource, [])
        if all(i is not informer for i in infs):
            infs.append(informer)

    @contextmanager
    def reconciling(self, key: ObjectKey) -> Iterator[None]:
        """Within this block (and tasks started in it), writes are attributed to ``key``."""
        token = _current.set((self, key))
        try:
            yield
        finally:
            _current.reset(token)

    def record(self, resource: Resource, obj: Object) -> None:
        """Remember a write to ``resource`` that stored ``obj`` (a
        :data:`~kcs.client.WriteHook`; no-op outside this tracker's reconciles, or when no
        tracked informer will see it)."""
        current = _current.get()
        if current is None or current[0] is not self or not self.enabled:
            return
        rv = obj.metadata.resource_version
        if not rv:
            return
        informers = [i for i in self._informers.get(resource, ()) if _sees(i, obj)]
        if not informers:
            return
        keys = {current[1]}
        if resource == self._primary:
            keys.add(ObjectKey.of(obj))
        for key in keys:
            entry = self._pending.setdefault(key, {})
            for informer in informers:
                entry[id(informer)] = (informer, str(rv))
        if len(self._pending) > _PRUNE_AT:
            self._prune()

    def pending(self, key: ObjectKey) -> dict[Informer, str]:
        """What ``key`` would wait for: informer -> resourceVersion, for the informers
        that have not reached it yet."""
        return {
            inf: rv
            for inf, rv in self._pending.get(key, {}).values()
            if not resource_version_at_least(inf.resource_version, rv)
        }

    def discard(self, key: ObjectKey) -> None:
        """Forget what ``key`` would wait for."""
        self._pending.pop(key, None)

    def __len__(self) -> int:
        return len(self._pending)

    async def wait(self, key: ObjectKey, timeout: float) -> bool:  # noqa: ASYNC109
        """Wait until the informers have seen ``key``'s recorded writes; forget them.

        Returns ``True`` when every informer caught up (at once when there was nothing to
        wait for), ``False`` when ``timeout`` seconds passed first.
        """
        entry = self._pending.pop(key, None)
        if not entry:
            return True
        deadline = anyio.current_time() + timeout
        reached = True
        for informer, rv in entry.values():
            if resource_version_at_least(informer.resource_version, rv):
                continue
            left = max(0.0, deadline - anyio.current_time())
            if not await informer.wait_for(rv, timeout=left):
                reached = False
        return reached

    def _prune(self) -> None:
        for key in list(self._pending):
            entry = self._pending[key]
            for ident, (informer, rv) in list(entry.items()):
                if resource_version_at_least(informer.resource_version, rv):
                    del entry[ident]
            if not entry:
                del self._pending[key]
