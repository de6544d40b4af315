"""The watcher: list + watch of one resource as one endless stream of events.

The state machine, in one place:

* **List** when there is no resume point: a paginated list (``limit``/``continue``) or a
  streaming list (a watch with ``sendInitialEvents=true``), delivered as
  ``InitStart, InitApply..., InitDone``. The first list reads the current state (no
  resourceVersion: a consistent read); a relist after 410 asks for the state not older than
  the last resourceVersion seen (served from the apiserver's watch cache), and from
  scratch if that is 410 too — as client-go's reflector does.
* **Watch** from the last resourceVersion, with bookmarks, and resume from it after every
  disconnect, server timeout, stall or bad line — no relist.
* **Relist** only when the resume point is gone (410 on the watch start, or an ERROR
  event with code 410).
* **Wait** between failed attempts with jittered exponential backoff, and as long as a
  429's Retry-After asks.
"""

from __future__ import annotations

import contextlib
import logging
import random
import types
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from functools import partial
from types import TracebackType
from typing import Final, Literal, NoReturn, Self, TypeVar

import anyio
import msgspec

from kcs.client import ApiConnectionError, ClientError, WatchLineTooLong
from kcs.core import (
    ApiError,
    BadRequest,
    Codec,
    FieldSelector,
    Gone,
    Invalid,
    LabelSelector,
    Resource,
    TooManyRequests,
    codec_for,
)
from kcs.watch._backoff import DEFAULT_BACKOFF, Backoff, BackoffState
from kcs.watch._events import Event, InitApply, InitDone, InitStart
from kcs.watch._listerwatcher import ListerWatcher
from kcs.watch._stats import WatchStats
from kcs.watch._stream import Interruption, StreamDecoder

__all__ = [
    "DEFAULT_DEAD_STREAM_TIMEOUT",
    "DEFAULT_PAGE_SIZE",
    "DEFAULT_WATCH_TIMEOUT",
    "InitialList",
    "Watcher",
]

_log = logging.getLogger("kcs.watch")
_T = TypeVar("_T")

InitialList = Literal["list", "stream"]
"""How a watcher gets the initial state: ``"list"`` (paginated) or ``"stream"``."""

DEFAULT_PAGE_SIZE: Final = 500
"""Objects per page of a paginated list (client-go's pager uses 500 too)."""
DEFAULT_WATCH_TIMEOUT: Final = 300.0
"""Base of the server-side watch timeout: each watch asks for base x (1 + random())."""
DEFAULT_DEAD_STREAM_TIMEOUT: Final = 150.0
"""A stream that delivers no line for this long is closed and resumed (kube-apiserver
sends a bookmark about every minute; this is 2.5 of those intervals)."""

# A watch that ends cleanly this quickly without a single line counts as a failure, so that
# a server (or proxy) answering every watch with an empty 200 does not make us spin.
_EMPTY_STREAM_MIN_LIFETIME: Final = 1.0

# Servers that rejected a streaming list, per client: every watcher of that client then
# lists with pages from the start instead of asking again.
_streaming_rejected: weakref.WeakSet[object] = weakref.WeakSet()


class _Stopped(Exception):
    """Internal: stop() was called; unwind the generator."""


class _StreamInterrupted(Exception):
    """Internal: a watch stream could not be read further (already counted and logged)."""

    def __init__(self, interruption: Interruption | None, kind: str) -> None:
        super().__init__(kind)
        self.interruption = interruption
        self.kind = kind


_Phase = Literal["list", "stream_list", "watch"]


class Watcher:
    """Lists and watches one resource, yielding a closed set of events forever.

    ``async for event in watcher`` yields :data:`~kcs.watch.Event` values one by one;
    ``async for batch in watcher.batches()`` yields them as lists, one per network read
    (or per page of a list) — the fast path for a store that applies many at once. Use
    one of the two, once; ``async with watcher:`` (or :meth:`stop`) ends the iteration.

    Guarantees:

    * The events are an initial list (``InitStart``, ``InitApply`` per object,
      ``InitDone``) followed by ``Apply``/``Delete``/``Bookmark`` events in
      resourceVersion order, each exactly once; a relist repeats the initial-list shape.
      Before ``InitDone`` an ``InitStart`` may come again (a list was restarted): drop
      what was buffered since the previous one.
    * After a disconnect, a server-side timeout, a stall (no line for
      ``dead_stream_timeout`` seconds), an ERROR event or a malformed line, the watch
      resumes from the last resourceVersion delivered: no event is lost or repeated, and
      no relist happens. Only a 410 Gone (the resume point is no longer in the server's
      history) leads to a relist.
    * It never raises and never ends on its own: failures are counted in :attr:`stats`,
      logged on the ``kcs.watch`` logger, and retried with backoff (``backoff``; 429's
      Retry-After is honoured). Iteration ends only when the caller's scope is cancelled
      or :meth:`stop` is called; both close the HTTP stream at once.
    * Everything runs in the iterating task (no background task): the watcher reads the
      network only when the consumer asks for the next event, so a slow consumer slows
      the stream instead of buffering without bound.

    ``resource_version`` starts with a watch from that resourceVersion instead of a list
    (a warm start from a snapshot); if the server no longer has it (410), the watcher
    relists. ``initial_list`` chooses between a paginated list (``"list"``, the default:
    every apiserver supports it) and a streaming list (``"stream"``,
    ``sendInitialEvents=true``), which falls back to pages when the server rejects it
    and remembers that for every watcher of the same client.
    """

    def __init__(
        self,
        client: ListerWatcher,
        resource: Resource,
        namespace: str | None = None,
        label_selector: LabelSelector | str | Mapping[str, str] | None = None,
        field_selector: FieldSelector | str | Mapping[str, str] | None = None,
        *,
        resource_version: str | None = None,
        initial_list: InitialList = "list",
        page_size: int = DEFAULT_PAGE_SIZE,
        watch_timeout: float = DEFAULT_WATCH_TIMEOUT,
        dead_stream_timeout: float = DEFAULT_DEAD_STREAM_TIMEOUT,
        backoff: Backoff = DEFAULT_BACKOFF,
        codec: Codec | None = None,
        keep_managed_fields: bool = False,
    ) -> None:
        if initial_list not in ("list", "stream"):
            raise ValueError(f"initial_list must be 'list' or 'stream', not {initial_list!r}")
        if page_size < 1 or watch_timeout < 1 or dead_stream_timeout <= 0:
            raise ValueError("page_size and watch_timeout must be >= 1, dead_stream_timeout > 0")
        self._client = client
        self.resource: Final = resource
        """The resource watched."""
        self.namespace: Final = namespace if resource.namespaced and namespace else None
        """The namespace watched, or ``None`` for all namespaces (or a cluster resource)."""
        labels = LabelSelector.of(label_selector)
        fields = FieldSelector.of(field_selector)
        self.label_selector: Final = None if labels.empty else str(labels)
        """The label selector as sent to the server, or ``None``."""
        self.field_selector: Final = None if fields.empty else str(fields)
        """The field selector as sent to the server, or ``None``."""
        self._initial_list: InitialList = initial_list
        self._page_size = page_size
        self._watch_timeout = watch_timeout
        self._dead_stream_timeout = dead_stream_timeout
        self._backoff = BackoffState(backoff)
        self._codec = codec or codec_for(resource.kind, keep_managed_fields=keep_managed_fields)
        self.stats: Final = WatchStats()
        """Counters of what the watcher did and recovered from."""

        self._rv = resource_version or ""
        self._need_list = not resource_version
        self._list_rv = resource_version or ""  # "" = consistent read of the current state
        self._list_continue: str | None = None
        self._list_snapshot_rv = ""
        self._phase: _Phase = "list"
        self._ever_synced = bool(resource_version)
        self._stopping = False
        self._scope: anyio.CancelScope | None = None
        self._iterating = False
        self._gen: AsyncGenerator[list[Event], None] | None = None
        self._context = self._describe()

    # --- public surface ------------------------------------------------------------------
    @property
    def resource_version(self) -> str:
        """The resourceVersion of the last event, bookmark or completed list delivered.

        ``""`` before the first list completes (unless one was given to start from).
        """
        return self._rv

    @property
    def streaming_list(self) -> bool:
        """Whether the next list will be a streaming list (``sendInitialEvents``)."""
        return self._initial_list == "stream" and self._client not in _streaming_rejected

    def batches(self) -> AsyncGenerator[list[Event], None]:
        """The events in batches: one non-empty list per network read or list page."""
        if self._iterating:
            raise RuntimeError("a Watcher can be iterated only once, by one consumer")
        self._iterating = True
        self._gen = self._run()
        return self._gen

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._events()

    async def stop(self) -> None:
        """End the iteration: the stream is closed and the iterator finishes.

        Safe to call from any task, more than once, and before iteration starts.
        """
        self._stopping = True
        if self._scope is not None:
            self._scope.cancel()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
        gen = self._gen
        if isinstance(gen, types.AsyncGeneratorType) and not gen.ag_running:
            await gen.aclose()  # closes the HTTP stream now, not when garbage collected

    def __repr__(self) -> str:
        return f"Watcher({self._context}, rv={self._rv!r})"

    # --- the loop --------------------------------------------------------------------------
    async def _events(self) -> AsyncGenerator[Event, None]:
        async with contextlib.aclosing(self.batches()) as batches:
            async for batch in batches:
                for event in batch:
                    yield event

    async def _run(self) -> AsyncGenerator[list[Event], None]:
        while not self._stopping:
            try:
                async with contextlib.aclosing(self._next_source()) as source:
                    async for batch in source:
                        yield batch
            except _Stopped:
                return
            except Exception as exc:  # the watcher must not die: count, log, retry
                delay = self._recover(exc)
                if delay > 0:
                    try:
                        await self._guarded(partial(anyio.sleep, delay))
                    except _Stopped:
                        return

    def _next_source(self) -> AsyncGenerator[list[Event], None]:
        if not self._need_list:
            return self._watch(initial_events=False)
        if self.streaming_list:
            return self._watch(initial_events=True)
        return self._paginated_list()

    async def _guarded(
        self, start: Callable[[], Awaitable[_T]], within: float | None = None
    ) -> _T | None:
        """Await ``start()`` so that stop() can interrupt it; ``None`` if ``within`` s ran out.

        Never yields inside the scope (yielding inside a cancel scope breaks anyio).
        """
        if self._stopping:
            raise _Stopped
        with anyio.CancelScope() as scope:
            if within is not None:
                scope.deadline = anyio.current_time() + within
            self._scope = scope
            try:
                return await start()
            finally:
                self._scope = None
        if self._stopping:
            raise _Stopped
        return None

    # --- paginated list --------------------------------------------------------------------
    async def _paginated_list(self) -> AsyncGenerator[list[Event], None]:
        self._phase = "list"
        client, resource, decode_list = self._client, self.resource, self._codec.decode_list
        while True:
            token = self._list_continue
            rv = None if token else (self._list_rv or None)

            def fetch(token: str | None = token, rv: str | None = rv) -> Awaitable[bytes]:
                return client.list_raw(
                    resource,
                    self.namespace,
                    label_selector=self.label_selector,
                    field_selector=self.field_selector,
                    limit=self._page_size,
                    continue_=token,
                    resource_version=rv,
                    resource_version_match="NotOlderThan" if rv else None,
                )

            body = await self._guarded(fetch)
            assert body is not None
            meta, objects = decode_list(body)
            self.stats.pages += 1
            batch: list[Event] = [InitStart()] if token is None else []
            batch.extend([InitApply(obj) for obj in objects])
            self.stats.events += len(objects)
            if token is None:
                self._list_snapshot_rv = meta.resource_version
            self._list_continue = meta.continue_ or None
            if self._list_continue is None:
                rv_done = meta.resource_version or self._list_snapshot_rv
                batch.append(InitDone(rv_done))
                self._list_done(rv_done)
                yield batch
                return
            yield batch

    def _list_done(self, rv: str) -> None:
        self._rv = rv
        self._need_list = False
        self._list_continue = None
        self._ever_synced = True
        self.stats.lists += 1
        self._backoff.reset()
        _log.debug("%s: listed at rv %s", self._context, rv)

    # --- watch (and streaming list) --------------------------------------------------------
    async def _watch(self, *, initial_events: bool) -> AsyncGenerator[list[Event], None]:
        self._phase = "stream_list" if initial_events else "watch"
        if self.stats.watches:
            self.stats.reconnects += 1
        self.stats.watches += 1
        rv = self._list_rv if initial_events else self._rv
        watch = self._client.watch_raw(
            self.resource,
            self.namespace,
            resource_version=rv or None,
            allow_watch_bookmarks=True,
            send_initial_events=True if initial_events else None,
            resource_version_match="NotOlderThan" if initial_events else None,
            timeout_seconds=max(1, int(self._watch_timeout * (1.0 + random.random()))),
            label_selector=self.label_selector,
            field_selector=self.field_selector,
        )
        decoder = StreamDecoder(
            self._codec,
            self.stats,
            self._rv,
            initial_events=initial_events,
            context=self._context,
        )
        started = anyio.current_time()
        delivered = False
        async with contextlib.AsyncExitStack() as stack:
            lines_iter = await self._guarded(
                lambda: stack.enter_async_context(watch), self._dead_stream_timeout
            )
            if lines_iter is None:
                self._dead_stream("the watch did not start")
            while True:
                lines = await self._guarded(
                    lambda: anext(lines_iter, _END), self._dead_stream_timeout
                )
                if lines is None:
                    self._dead_stream("no data")
                if lines is _END:
                    break
                assert isinstance(lines, list)
                was_initializing = decoder.initializing
                events = decoder.feed(lines)
                if not decoder.initializing:
                    if was_initializing:
                        self._list_done(decoder.resource_version)
                        self._phase = "watch"
                    self._rv = decoder.resource_version
                if events:
                    delivered = True
                    self._backoff.reset()
                    yield events
                if decoder.interruption is not None:
                    raise _StreamInterrupted(decoder.interruption, decoder.interruption.value)
        lived = anyio.current_time() - started
        if lived >= self._backoff.policy.reset_after:
            self._backoff.reset()
        elif not delivered and lived < _EMPTY_STREAM_MIN_LIFETIME:
            self.stats.count_error("connection", f"{self._context}: empty watch response")
            raise _StreamInterrupted(None, "empty_stream")
        _log.debug("%s: watch ended after %.1fs; resuming at rv %s", self._context, lived, self._rv)

    def _dead_stream(self, what: str) -> NoReturn:
        message = f"{what} for {self._dead_stream_timeout:g}s"
        self.stats.count_error("dead_stream", f"{self._context}: {message}")
        _log.warning("%s: %s; reconnecting at rv %s", self._context, message, self._rv)
        raise _StreamInterrupted(None, "dead_stream")

    # --- recovery --------------------------------------------------------------------------
    def _recover(self, exc: Exception) -> float:
        """Count and log ``exc``, update the state, and return the seconds to wait."""
        if isinstance(exc, _StreamInterrupted):
            if exc.interruption is Interruption.GONE:
                return self._gone()
            if exc.interruption is Interruption.NOT_STREAMING:
                return self._streaming_rejected(
                    "the server ignored sendInitialEvents (a plain bookmark came before "
                    "the initial-events-end bookmark)"
                )
            return self._backoff.next_delay()  # already counted and logged
        if isinstance(exc, Gone):
            self.stats.count_error("gone", f"{self._context}: {exc}")
            return self._gone()
        if self._phase == "stream_list" and isinstance(exc, BadRequest | Invalid):
            return self._streaming_rejected(str(exc))
        if isinstance(exc, TooManyRequests):
            self.stats.count_error("throttled", f"{self._context}: {exc}")
            backoff = self._backoff.next_delay()
            wait = exc.retry_after if exc.retry_after is not None else backoff
            _log.warning("%s: throttled (429); retrying in %.2fs", self._context, wait)
            return wait
        if isinstance(exc, ApiError):
            if self._phase != "watch" and self._list_rv and _too_large_rv(exc):
                self._list_rv = ""
            return self._failed("api_error", exc)
        if isinstance(exc, ApiConnectionError):
            return self._failed("connection", exc)
        if isinstance(exc, WatchLineTooLong):
            return self._failed("line_too_long", exc)
        if isinstance(exc, ClientError):
            return self._failed("client_error", exc)
        if isinstance(exc, msgspec.DecodeError | msgspec.ValidationError):
            self._list_continue = None  # a page we cannot read: start the list again
            return self._failed("malformed", exc)
        self.stats.count_error("unexpected", f"{self._context}: {type(exc).__name__}: {exc}")
        _log.exception("%s: unexpected error in the watcher; retrying", self._context)
        return self._backoff.next_delay()

    def _failed(self, kind: str, exc: Exception) -> float:
        self.stats.count_error(kind, f"{self._context}: {exc}")
        delay = self._backoff.next_delay()
        where = "the list" if self._phase == "list" else f"the watch at rv {self._rv or '(now)'}"
        _log.warning("%s: %s; retrying %s in %.2fs", self._context, exc, where, delay)
        return delay

    def _gone(self) -> float:
        """410: relist, first at the last resourceVersion, then from scratch."""
        self._list_continue = None
        if self._phase == "watch":
            self._need_list = True
            self._list_rv = self._rv
            if self._ever_synced:
                self.stats.relists += 1
            _log.info("%s: rv %s is gone (410); relisting", self._context, self._rv)
            return 0.0
        if self._list_rv:
            self._list_rv = ""
            _log.info("%s: relist at rv expired (410); listing from scratch", self._context)
            return 0.0
        # A list from scratch expired (a continue token outlived the server's history):
        # start over, after a pause if it keeps happening.
        _log.info("%s: list expired (410); starting the list again", self._context)
        return self._backoff.next_delay()

    def _streaming_rejected(self, why: str) -> float:
        with contextlib.suppress(TypeError):  # a client that cannot be weakly referenced
            _streaming_rejected.add(self._client)
        self._initial_list = "list"
        self.stats.count_error("streaming_list_rejected", f"{self._context}: {why}")
        _log.info(
            "%s: streaming list not supported by the server (%s); using paginated lists",
            self._context,
            why,
        )
        return 0.0

    def _describe(self) -> str:
        parts = [str(self.resource)]
        if self.namespace:
            parts.append(f"namespace={self.namespace}")
        if self.label_selector:
            parts.append(f"labels={self.label_selector}")
        if self.field_selector:
            parts.append(f"fields={self.field_selector}")
        return " ".join(parts)


class _EndMarker:
    pass


_END: Final = _EndMarker()


def _too_large_rv(exc: ApiError) -> bool:
    """kube-apiserver's "Too large resource version" (504 with cause ResourceVersionTooLarge)."""
    causes = exc.details.get("causes")
    if isinstance(causes, list):
        return any(isinstance(c, dict) and c.get("reason") == "ResourceVersionTooLarge"
                   for c in causes)
    return "too large resource version" in exc.message.lower()
