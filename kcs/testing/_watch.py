"""Watch streams: filtering events for one watcher, and writing them out in batches.

A :class:`Watcher` is registered with its resource's store and is offered every event
synchronously at commit time. It keeps the lines it will send (pre-serialized bytes, shared
by all watchers) in a pending list; :func:`serve_watch` writes what is pending in writes of
about :data:`WRITE_BYTES`, so a fast writer is never slowed by a slow reader and a slow
reader gets large batches. The initial state of a watch (a streaming list's, or the
synthetic ADDED events of a watch without a resourceVersion) is taken as objects when the
watch opens and turned into lines a write at a time, ahead of everything pending.
Selectors are applied as kube-apiserver's watch cache applies them: an object that starts
to match on a modification is ``ADDED``, one that stops matching is ``DELETED`` (with its
previous content and the new resourceVersion).

Bookmarks follow :class:`BookmarkPolicy`. Faithful (the default) is kube-apiserver's cacher:
a bookmark carries the resource's own watch-cache revision, is due every ``frequency``
seconds (kube: one minute) and about 2 s before the watch's deadline (none at all when the
deadline is less than 2 s away), and is sent only when that revision is newer than where
the watch started; a due bookmark that is not sent waits for the next period. Fast
bookmarks (a test convenience kube-apiserver lacks) carry the global revision every
``fast`` seconds, whether or not anything happened to the resource.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from kcs.core import FieldSelector, LabelSelector
from kcs.testing._accounting import token_fingerprint
from kcs.testing._fields import FieldReader
from kcs.testing._registry import ServedResource
from kcs.testing._store import StoredObject, WatchEvent

__all__ = [
    "BookmarkPolicy",
    "ClientInfo",
    "WatchHub",
    "Watcher",
    "bookmark_line",
    "error_line",
    "serve_watch",
]

INITIAL_EVENTS_END = "k8s.io/initial-events-end"
PRE_TIMEOUT_BOOKMARK = 2.0
"""Seconds before a watch's deadline at which kube-apiserver sends its last bookmark."""


@dataclass(frozen=True, slots=True)
class BookmarkPolicy:
    """When watch bookmarks are sent, and what they carry (see the module doc).

    ``frequency``: seconds between faithful bookmarks (kube-apiserver: 60).
    ``fast``: when set, seconds between fast bookmarks carrying the global revision
    instead (not what kube-apiserver does; for tests that ask for it by name).
    ``min_request_timeout``: a watch without ``timeoutSeconds`` ends after a random time
    between this and twice this (kube-apiserver's ``--min-request-timeout``, 1800 s).
    """

    frequency: float = 60.0
    fast: float | None = None
    min_request_timeout: float = 1800.0

    def watch_timeout(self, timeout_seconds: int | None) -> float:
        """The seconds a watch lasts: ``timeoutSeconds``, or kube's randomized default."""
        if timeout_seconds:
            return float(timeout_seconds)
        return self.min_request_timeout * (1.0 + random.random())


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """Who sent a request: the User-Agent, the bearer token (kept in memory only) and the
    user it authenticated as."""

    user_agent: str
    token: str | None = None
    user: str | None = None

    @property
    def fingerprint(self) -> str | None:
        """:func:`~kcs.testing._accounting.token_fingerprint` of the token."""
        return token_fingerprint(self.token)


def bookmark_line(kind: str, api_version: str, rv: int, *, initial_end: bool = False) -> bytes:
    """A ``BOOKMARK`` event whose object carries only kind, apiVersion and resourceVersion."""
    meta: dict[str, Any] = {"resourceVersion": str(rv)}
    if initial_end:
        meta["annotations"] = {INITIAL_EVENTS_END: "true"}
    obj = {"kind": kind, "apiVersion": api_version, "metadata": meta}
    return orjson.dumps({"type": "BOOKMARK", "object": obj}) + b"\n"


def error_line(status: dict[str, Any]) -> bytes:
    """An ``ERROR`` event carrying a Status."""
    return orjson.dumps({"type": "ERROR", "object": status}) + b"\n"


class Watcher:
    """One open watch: its filters, the lines waiting to be written, and who opened it."""

    def __init__(
        self,
        served: ServedResource,
        api_version: str,
        namespace: str | None,
        label: LabelSelector,
        field: FieldSelector,
        reader: FieldReader,
        client: ClientInfo,
        transform: Callable[[str, StoredObject], bytes] | None = None,
    ) -> None:
        self.served = served
        self.transform = transform
        self.api_version = api_version
        self._convert = "" if api_version == served.storage_api_version else api_version
        self.namespace = namespace
        self.label = label
        self.field = field
        self._reader = reader
        self._unfiltered = label.empty and field.empty and transform is None
        self.client = client
        self.pending: deque[Line] = deque()
        # The objects of the initial state not yet written (see offer_initial): turned
        # into lines by the writer, a write at a time, before anything in ``pending``.
        self._initial: list[StoredObject] = []
        self._initial_next = 0
        self.wake = asyncio.Event()
        self.abort_reason: str | None = None
        self.done = False
        self.sent = 0
        self.position = 0
        """Faithful bookmarks are sent only with a revision newer than this (where the
        watch started, or the newest event of its initial replay)."""
        self.after = 0
        """Events with a revision up to this are not for this watch (a watch from a
        resourceVersion the server has not reached yet)."""

    def passes(self, obj: dict[str, Any]) -> bool:
        """Whether ``obj`` matches this watch's label and field selectors."""
        if self._unfiltered:
            return True
        meta = obj.get("metadata") or {}
        if not self.label.matches(meta.get("labels")):
            return False
        return self.field.empty or self.field.matches(self._reader(obj))

    def offer(self, ev: WatchEvent) -> None:
        """Queue the line ``ev`` means to this watcher, if any."""
        if self.namespace and ev.namespace != self.namespace:
            return
        if ev.rv <= self.after:
            return
        if self._unfiltered:
            self.push(ev.line(ev.type, self._convert))
            return
        now = ev.type != "DELETED" and self.passes(ev.obj.obj)
        before = ev.prev is not None and self.passes(ev.prev.obj)
        if now:
            self._emit(ev, "MODIFIED" if before else "ADDED")
        elif before:
            self._emit(ev, "DELETED")

    def _emit(self, ev: WatchEvent, type_: str) -> None:
        if self.transform is not None:
            self.push(self.transform(type_, ev.gone() if type_ == "DELETED" else ev.obj))
        else:
            self.push(ev.line(type_, self._convert))

    def offer_initial(self, objects: Iterable[StoredObject]) -> None:
        """Queue a synthetic ``ADDED`` for each object of the initial state that matches,
        ahead of every line pushed after (and of any not written yet).

        ``objects`` (a consistent state, read in the step that registers the watcher) are
        only taken here; the writer filters them and builds their lines a write at a time
        (:meth:`take_initial`), as kube-apiserver's watch cache sends each initial event
        while it walks the state: the first events of a streaming list of 100,000
        objects go out at once, not after a pass over all of them.
        """
        self._initial.extend(objects)
        self.wake.set()

    @property
    def initial_left(self) -> bool:
        """Whether objects of the initial state remain to be written."""
        return self._initial_next < len(self._initial)

    def take_initial(self) -> list[Line]:
        """The lines of the next write of the initial state, in order: those of the next
        objects that match, about :data:`WRITE_BYTES` of them (none when none of the
        objects looked at matched; call again while :attr:`initial_left`)."""
        objects, i = self._initial, self._initial_next
        end = len(objects)
        transform, convert = self.transform, self._convert
        check = not self._unfiltered
        out: list[Line] = []
        size = 0
        while i < end and size < WRITE_BYTES:
            obj = objects[i]
            i += 1
            if check and not self.passes(obj.obj):
                continue
            if transform is not None:
                line: Line = transform("ADDED", obj)
                size += len(line)
            else:
                raw = obj.as_version(convert) if convert else obj.raw
                # The line in pieces, joined by the write that sends it (no copy per line).
                line = (_ADDED_HEAD, raw, _LINE_END)
                size += len(raw) + _ADDED_SIZE
            out.append(line)
        if i < end:
            self._initial_next = i
        else:
            self._initial, self._initial_next = [], 0  # written: let the objects go
        return out

    def push(self, line: Line) -> None:
        """Queue one line and wake the writer."""
        self.pending.append(line)
        self.wake.set()

    def finish(self) -> None:
        """End the stream cleanly once what is pending has been written."""
        self.done = True
        self.wake.set()

    def abort(self, reason: str) -> None:
        """Make the writer cut the connection (as a network failure would)."""
        self.abort_reason = reason
        self.wake.set()


class WatchHub:
    """All open watches, and the delivery faults that apply to them.

    ``stalled`` stops every stream from writing (events queue up) until cleared;
    ``drop_every`` cuts each stream after that many lines; ``blocked`` says whether a
    client is partitioned away (its streams stop writing).
    """

    def __init__(self, counts: Counter[str]) -> None:
        self.watchers: set[Watcher] = set()
        self.counts = counts
        self.stalled = False
        self.drop_every: int | None = None
        self.blocked: Callable[[ClientInfo], bool] = lambda _c: False
        self.opened = 0
        self._changed = asyncio.Event()

    def add(self, w: Watcher) -> None:
        """Note an open watch."""
        self.watchers.add(w)
        self.opened += 1
        self._changed.set()

    def discard(self, w: Watcher) -> None:
        """Note a closed watch."""
        self.watchers.discard(w)
        self._changed.set()

    def count(self, resource: str | None = None) -> int:
        """Open watches, optionally only those on group-resource ``resource``."""
        if resource is None:
            return len(self.watchers)
        return sum(1 for w in self.watchers if w.served.group_resource == resource)

    async def wait_until(self, predicate: Callable[[WatchHub], bool]) -> None:
        """Wait until ``predicate(self)`` holds; it is re-checked whenever a watch opens or
        closes. Bound it with the caller's scope (``with anyio.fail_after(5):``)."""
        while not predicate(self):
            self._changed.clear()
            await self._changed.wait()

    async def wait_for(self, count: int = 1, resource: str | None = None) -> None:
        """Wait until at least ``count`` watches are open (on group-resource ``resource``)."""
        await self.wait_until(lambda hub: hub.count(resource) >= count)

    def may_deliver(self, w: Watcher) -> bool:
        """Whether ``w``'s stream may write now."""
        return not self.stalled and not self.blocked(w.client)

    def kick(self) -> None:
        """Wake every writer so it re-checks the delivery faults."""
        for w in self.watchers:
            w.wake.set()

    def abort_where(self, pred: Callable[[Watcher], bool], reason: str) -> int:
        """Cut every stream for which ``pred`` holds; returns how many."""
        hit = [w for w in self.watchers if pred(w) and w.abort_reason is None]
        for w in hit:
            w.abort(reason)
        return len(hit)


WRITE_BYTES = 256 * 1024
"""The most one write of a watch stream carries (it carries at least one line).

kube-apiserver writes every event on its own and flushes when its queue is empty, so a
client starts decoding the first events of a long backlog (a streaming list's initial
events) while the rest is being sent. Writing a backlog in slices of this size does the
same at a fraction of the per-write cost, instead of one write of the whole backlog
(120 MB for 20,000 pods) that the client sees only once it was all built."""


Line = bytes | tuple[bytes, bytes, bytes]
"""One pending line of a watch stream: its bytes, or the pieces that make it up."""

_ADDED_HEAD = b'{"type":"ADDED","object":'
_LINE_END = b"}\n"
_ADDED_SIZE = len(_ADDED_HEAD) + len(_LINE_END)


def _line_size(line: Line) -> int:
    return len(line) if isinstance(line, bytes) else sum(map(len, line))


def _take_write(pending: deque[Line]) -> list[Line]:
    """Take the lines of the next write from the front of ``pending``, in order: at least
    one, at most about :data:`WRITE_BYTES`. Constant time per line taken, however long
    the backlog (slicing the rest off a list at every write made a streaming list of
    100,000 objects quadratic)."""
    out = [pending.popleft()]
    size = _line_size(out[0])
    while pending and size < WRITE_BYTES:
        line = pending.popleft()
        out.append(line)
        size += _line_size(line)
    return out


def _joined(lines: list[Line]) -> bytes:
    """The bytes of ``lines``, in one copy."""
    parts: list[bytes] = []
    for line in lines:
        if isinstance(line, bytes):
            parts.append(line)
        else:
            parts.extend(line)
    return b"".join(parts)


def _abort(request: web.BaseRequest) -> None:
    transport = request.transport
    if transport is not None:
        transport.abort()


async def serve_watch(
    request: web.BaseRequest,
    w: Watcher,
    hub: WatchHub,
    *,
    policy: BookmarkPolicy,
    cache_revision: Callable[[], int],
    global_revision: Callable[[], int],
    timeout_seconds: int | None,
    allow_bookmarks: bool,
) -> web.StreamResponse:
    """Stream ``w``'s events until its deadline, an abort or the client's disconnect.

    Bookmarks follow ``policy`` when the client asked for them (``allow_bookmarks``):
    faithful ones carry ``cache_revision()``, fast ones ``global_revision()``. The watcher
    must already be registered with its resource store and with ``hub``.
    """
    resp = web.StreamResponse(status=200)
    resp.content_type = "application/json"
    resp.headers["Cache-Control"] = "no-cache, private"
    resp.enable_chunked_encoding()
    try:
        await resp.prepare(request)
    except ConnectionError:
        return resp  # the client went away before the headers: as below, end quietly
    loop = asyncio.get_running_loop()
    start = loop.time()
    deadline = start + policy.watch_timeout(timeout_seconds)
    fast = policy.fast

    def schedule(now: float) -> float | None:
        if not allow_bookmarks:
            return None
        if fast:
            return now + fast
        due = min(now + policy.frequency, deadline - PRE_TIMEOUT_BOOKMARK)
        return due if due >= now else None

    next_bookmark = schedule(start)
    kind, av = w.served.resource.kind, w.api_version
    try:
        while True:
            if w.abort_reason is not None:
                _abort(request)
                return resp
            deliverable = hub.may_deliver(w)
            if deliverable and (w.initial_left or w.pending):
                # The initial state first: everything pushed since comes after it.
                lines = w.take_initial() if w.initial_left else _take_write(w.pending)
                if not lines:
                    continue  # none of the initial objects looked at matched
                drop = False
                if hub.drop_every:
                    room = max(hub.drop_every - w.sent, 1)
                    if len(lines) >= room:
                        lines, drop = lines[:room], True
                w.sent += len(lines)
                await resp.write(_joined(lines))
                if drop:
                    hub.counts["drop_watch"] += 1
                    _abort(request)
                    return resp
                continue
            now = loop.time()
            if w.done or now >= deadline:
                break
            if next_bookmark is not None and deliverable and now >= next_bookmark:
                rv = global_revision() if fast else cache_revision()
                if fast or rv > w.position:
                    await resp.write(bookmark_line(kind, av, rv))
                next_bookmark = schedule(now)
                continue
            timers = [t for t in (deadline, next_bookmark if deliverable else None)
                      if t is not None]
            w.wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(min(timers)):
                    await w.wake.wait()
        await resp.write_eof()
        return resp
    except ConnectionError:
        # The client went away mid-write (as kube-apiserver, just end the watch; aiohttp
        # then skips the rest of the response quietly).
        return resp
