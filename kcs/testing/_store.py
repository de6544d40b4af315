"""Objects by key, the one revision counter and the bounded event history.

This is the fake apiserver's etcd plus watch cache, and nothing more: it knows no
Kubernetes semantics beyond ``metadata.resourceVersion``. Every commit bumps the global
revision by one, stamps it into the object, serializes the object once, and records a
:class:`WatchEvent` in the history of the object's resource, which is handed to every
listener (the open watches) synchronously, so a watcher registered in the same step as a
snapshot is taken can never miss or repeat an event.

Guarantees:

* Stored objects (``StoredObject.obj``) are never mutated after a commit; a write builds a
  new dict (nested values may be shared with the previous version and must not be mutated
  either).
* Each resource keeps every event with a revision greater than its ``history_start``; older
  ones are gone (the history is bounded, and :meth:`Store.compact` drops it all).
* Each resource has its own watch-cache revision (``ResourceStore.cache_rv``): the revision
  of its latest event, or later when a consistent read brought it up to date. Faithful
  watch bookmarks carry it; a write to another resource never moves it.
* :meth:`ResourceStore.view` answers "the objects as of revision R" for any R at or after
  ``history_start``, in key order, without copying the current state.
"""

from __future__ import annotations

import asyncio
import heapq
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from sortedcontainers import SortedDict

__all__ = [
    "EventType",
    "ResourceStore",
    "Store",
    "StoredObject",
    "WatchEvent",
    "convert_object",
    "register_conversion",
    "stamp",
]

EventType = Literal["ADDED", "MODIFIED", "DELETED"]

Conversion = Callable[[dict[str, Any]], dict[str, Any]]
_CONVERSIONS: dict[tuple[str, str, str], Conversion] = {}


def register_conversion(kind: str, from_api_version: str, to_api_version: str,
                        fn: Conversion) -> None:
    """Convert objects of ``kind`` between two API versions with ``fn`` (instead of just
    rewriting ``apiVersion``, the CRD conversion strategy "None")."""
    _CONVERSIONS[(kind, from_api_version, to_api_version)] = fn


def convert_object(obj: dict[str, Any], api_version: str) -> dict[str, Any]:
    """``obj`` as served at ``api_version`` (a new dict; ``obj`` itself when it already is)."""
    have = obj.get("apiVersion")
    if have == api_version:
        return obj
    fn = _CONVERSIONS.get((str(obj.get("kind")), str(have), api_version))
    if fn is not None:
        return fn(obj)
    return {**obj, "apiVersion": api_version}


def stamp(obj: dict[str, Any], rv: int) -> dict[str, Any]:
    """A shallow copy of ``obj`` whose ``metadata.resourceVersion`` is ``rv``."""
    out = dict(obj)
    meta = dict(out.get("metadata") or {})
    meta["resourceVersion"] = str(rv)
    out["metadata"] = meta
    return out


@dataclass(slots=True, eq=False)
class StoredObject:
    """One object as stored: the dict (never mutated), its JSON bytes and its revision.

    The bytes start with ``kind`` and ``apiVersion`` (as kube-apiserver writes them);
    ``head`` is the length of that prefix, so that :meth:`list_item` (the object as an item
    of a list, which kube-apiserver writes without them for built-in kinds) is a slice.
    """

    obj: dict[str, Any]
    raw: bytes
    rv: int
    head: int = 0

    @classmethod
    def build(cls, obj: dict[str, Any], rv: int) -> StoredObject:
        """Stamp ``rv`` into a copy of ``obj`` and serialize it once."""
        stamped = stamp(obj, rv)
        kind, api_version = stamped.get("kind"), stamped.get("apiVersion")
        if kind is None or api_version is None:
            return cls(stamped, orjson.dumps(stamped), rv)
        rest = {k: v for k, v in stamped.items() if k not in ("kind", "apiVersion")}
        prefix = orjson.dumps({"kind": kind, "apiVersion": api_version})[:-1] + b","
        ordered = {"kind": kind, "apiVersion": api_version, **rest}
        return cls(ordered, prefix + orjson.dumps(rest)[1:], rv, len(prefix))

    def list_item(self) -> bytes:
        """The JSON bytes without ``kind`` and ``apiVersion`` (a built-in list's item)."""
        if not self.head:
            return self.raw
        return b"{" + self.raw[self.head:]

    def as_version(self, api_version: str) -> bytes:
        """The JSON bytes as served at ``api_version`` (see :func:`convert_object`)."""
        if self.obj.get("apiVersion") == api_version:
            return self.raw
        return orjson.dumps(convert_object(self.obj, api_version))


@dataclass(slots=True, eq=False)
class WatchEvent:
    """One change to one object, as a watch reports it.

    ``obj`` is the state after the change; for ``DELETED`` it is the last state, stamped
    with the deletion's revision (as kube-apiserver does). ``prev`` is the state before
    (``None`` for ``ADDED``). Lines are serialized lazily, once per type and version.
    """

    type: EventType
    rv: int
    key: str
    namespace: str
    obj: StoredObject
    prev: StoredObject | None
    _gone: StoredObject | None = None
    _lines: dict[tuple[str, str], bytes] = field(default_factory=dict)

    def gone(self) -> StoredObject:
        """The previous state stamped with this event's revision (a DELETED's object)."""
        if self.type == "DELETED" or self.prev is None:
            return self.obj
        if self._gone is None:
            self._gone = StoredObject.build(self.prev.obj, self.rv)
        return self._gone

    def line(self, type_: str, api_version: str = "") -> bytes:
        """``{"type":...,"object":...}\\n`` for this event, as ``type_`` and ``api_version``."""
        cached = self._lines.get((type_, api_version))
        if cached is not None:
            return cached
        src = self.gone() if type_ == "DELETED" else self.obj
        raw = src.as_version(api_version) if api_version else src.raw
        out = b'{"type":"' + type_.encode() + b'","object":' + raw + b"}\n"
        self._lines[(type_, api_version)] = out
        return out


Listener = Callable[[WatchEvent], None]


class ResourceStore:
    """The objects of one group-resource (such as ``deployments.apps``), keyed and sorted.

    Keys are ``namespace/name`` for namespaced resources and ``name`` otherwise, so key
    order is kube-apiserver's list order.
    """

    def __init__(self, group_resource: str, capacity: int, revision: int = 0) -> None:
        self.group_resource = group_resource
        self.objects: SortedDict = SortedDict()
        self.history: deque[WatchEvent] = deque()
        self.capacity = capacity
        self.history_start = 0
        self.last_rv = 0
        self.cache_rv = revision
        self.dropped = False
        self.listeners: set[Listener] = set()

    def oldest_watchable(self) -> int:
        """The oldest resourceVersion a watch may start from (older ones are 410), by the
        watch cache's rule: the revision its history starts after, or, once events fell
        out of the bounded history, the one just before the oldest event kept."""
        if self.dropped and self.history:
            return self.history[0].rv - 1
        return self.history_start

    def freshen(self, revision: int) -> None:
        """Bring the watch-cache revision up to ``revision`` (the global one), as an etcd
        progress notification does when a consistent read finds the cache behind."""
        self.cache_rv = max(self.cache_rv, revision)

    def get(self, key: str) -> StoredObject | None:
        """The current object at ``key``, or ``None``."""
        return self.objects.get(key)  # type: ignore[no-any-return]

    def events_after(self, rv: int) -> list[WatchEvent]:
        """The events with a revision greater than ``rv`` (``rv >= history_start``)."""
        out: list[WatchEvent] = []
        for ev in reversed(self.history):
            if ev.rv <= rv:
                break
            out.append(ev)
        out.reverse()
        return out

    def record(self, ev: WatchEvent) -> None:
        """Append ``ev`` to the history (dropping the oldest when full) and notify listeners."""
        if self.capacity <= 0:
            self.history_start = ev.rv
        else:
            if len(self.history) >= self.capacity:
                self.history_start = self.history.popleft().rv
                self.dropped = True
            self.history.append(ev)
        self.last_rv = ev.rv
        self.cache_rv = ev.rv
        for listener in list(self.listeners):
            listener(ev)

    def compact(self, revision: int) -> None:
        """Forget every event up to ``revision``."""
        while self.history and self.history[0].rv <= revision:
            self.history.popleft()
        self.history_start = max(self.history_start, revision)
        self.dropped = False

    def _range(self, namespace: str | None, after: str | None) -> tuple[str | None, str | None]:
        lo: str | None = None
        hi: str | None = None
        if namespace:
            lo, hi = f"{namespace}/", f"{namespace}0"  # "0" sorts right after "/"
        if after is not None and (lo is None or after >= lo):
            lo = after + "\x00"
        return lo, hi

    def view(
        self, rv: int, namespace: str | None = None, after: str | None = None
    ) -> Iterator[StoredObject]:
        """Objects as of revision ``rv``, in key order, optionally after key ``after``.

        ``rv`` must be at least ``history_start`` (the caller checks and answers 410).
        """
        lo, hi = self._range(namespace, after)
        current = self.objects.irange(lo, hi, inclusive=(True, False))
        if rv >= self.last_rv:
            return (self.objects[k] for k in current)
        overlay = self._overlay(rv)
        okeys = sorted(k for k in overlay if _in_range(k, lo, hi))
        merged = heapq.merge((k for k in current if k not in overlay), okeys)
        return _resolve(merged, overlay, self.objects)

    def at_key(self, rv: int, key: str) -> StoredObject | None:
        """The object at ``key`` as of revision ``rv`` (``None``: there was none), read
        by its key alone: what kube-apiserver does for a list selecting one name."""
        if rv < self.last_rv:
            overlay = self._overlay(rv)
            if key in overlay:
                return overlay[key]
        return self.objects.get(key)  # type: ignore[no-any-return]

    def count_after(self, rv: int, namespace: str | None, after: str | None) -> int:
        """How many objects :meth:`view` would still yield after key ``after``."""
        lo, hi = self._range(namespace, after)
        n = self._count_current(lo, hi)
        if rv < self.last_rv:
            for k, v in self._overlay(rv).items():
                if _in_range(k, lo, hi):
                    n += (v is not None) - (k in self.objects)
        return n

    def _count_current(self, lo: str | None, hi: str | None) -> int:
        start = 0 if lo is None else self.objects.bisect_left(lo)
        end = len(self.objects) if hi is None else self.objects.bisect_left(hi)
        return max(0, end - start)

    def _overlay(self, rv: int) -> dict[str, StoredObject | None]:
        overlay: dict[str, StoredObject | None] = {}
        for ev in reversed(self.history):
            if ev.rv <= rv:
                break
            overlay[ev.key] = ev.prev
        return overlay


def _in_range(key: str, lo: str | None, hi: str | None) -> bool:
    return (lo is None or key >= lo) and (hi is None or key < hi)


def _resolve(
    keys: Iterator[str], overlay: dict[str, StoredObject | None], objects: SortedDict
) -> Iterator[StoredObject]:
    for k in keys:
        if k in overlay:
            v = overlay[k]
            if v is not None:
                yield v
        else:
            yield objects[k]


class Store:
    """All resources, one revision counter.

    ``revision`` is the revision of the latest write across all resources (kube's
    "current resourceVersion"). It starts at ``start_revision`` so that freshly started
    servers do not hand out tiny, easily confused numbers, and every resource's history
    starts there: as in a kube-apiserver whose watch caches were filled when it started, a
    resourceVersion older than that is too old to watch from (410).
    """

    def __init__(self, history_size: int = 10_000, start_revision: int = 100) -> None:
        self.revision = start_revision
        self.start_revision = start_revision
        self.history_size = history_size
        self._resources: dict[str, ResourceStore] = {}
        self._advanced: asyncio.Event | None = None
        self.observers: list[Callable[[str, WatchEvent], None]] = []
        """Called with ``(group_resource, event)`` after every commit, of every resource
        (the cluster's controllers watch everything through this)."""

    async def wait_for_revision(self, rv: int) -> None:
        """Wait until the revision reaches ``rv`` (bound it with a timeout)."""
        while self.revision < rv:
            if self._advanced is None:
                self._advanced = asyncio.Event()
            await self._advanced.wait()

    def _advance(self) -> int:
        self.revision += 1
        if self._advanced is not None:
            self._advanced.set()
            self._advanced = None
        return self.revision

    def resource(self, group_resource: str) -> ResourceStore:
        """The store of ``group_resource`` (created empty on first use)."""
        rs = self._resources.get(group_resource)
        if rs is None:
            rs = ResourceStore(group_resource, self.history_size, self.revision)
            # Nothing of this resource happened since the server started: the history is
            # complete from there (its watch cache was filled by a list at that revision).
            rs.history_start = self.start_revision
            self._resources[group_resource] = rs
        return rs

    def resources(self) -> list[ResourceStore]:
        """Every resource store created so far."""
        return list(self._resources.values())

    def put(
        self, rs: ResourceStore, key: str, namespace: str, obj: dict[str, Any]
    ) -> WatchEvent:
        """Create or replace ``key`` with ``obj`` at the next revision (ADDED or MODIFIED)."""
        self._advance()
        new = StoredObject.build(obj, self.revision)
        prev = rs.objects.get(key)
        rs.objects[key] = new
        ev = WatchEvent("MODIFIED" if prev is not None else "ADDED", self.revision, key,
                        namespace, new, prev)
        rs.record(ev)
        for observer in self.observers:
            observer(rs.group_resource, ev)
        return ev

    def remove(self, rs: ResourceStore, key: str, namespace: str) -> WatchEvent:
        """Delete ``key`` at the next revision (DELETED); the key must exist."""
        prev: StoredObject = rs.objects.pop(key)
        self._advance()
        ev = WatchEvent("DELETED", self.revision, key, namespace,
                        StoredObject.build(prev.obj, self.revision), prev)
        rs.record(ev)
        for observer in self.observers:
            observer(rs.group_resource, ev)
        return ev

    def compact(self) -> int:
        """Drop all history up to the current revision; returns that revision."""
        for rs in self._resources.values():
            rs.compact(self.revision)
        return self.revision
