"""The watcher: list + watch of one resource as one endless stream of events.

The state machine, in one place (:class:`~kcs.watch.WatcherState` names the states):

* **List** when there is no resume point: a paginated list (``limit``/``continue``) or a
  streaming list (a watch with ``sendInitialEvents=true``), delivered as
  ``InitStart, InitApply..., InitDone``. The first list reads the current state (no
  resourceVersion: a consistent read); a relist after 410 asks for the state not older than
  the last resourceVersion seen (served from the apiserver's watch cache), and from
  scratch if that is 410 too — as client-go's reflector does.
* **Watch** from the last resourceVersion, with bookmarks, and resume from it after every
  disconnect, server timeout, stall or bad line — no relist.
* **Relist** when the resume point is gone (410 on the watch start, or an ERROR event with
  code 410), when the server refuses it (400/422: relist from scratch), or when the same
  stream failure comes back at the same resume point (a line too long to read, a line
  that is malformed every time): resuming would only ask for it again.
* **Back off** between failed attempts with jittered exponential backoff, as long as a
  429's Retry-After asks, and slowly (``permanent_error_backoff``) after a permanent
  error (401, 403, 404 of the resource, 405).
"""

from __future__ import annotations

import contextlib
import logging
import random
import types
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from functools import partial
from typing import Final, Literal, NoReturn, Self, TypeVar

import anyio
import msgspec

from kcs.client import ApiConnectionError, ClientError, NoMatchError, WatchLineTooLong
from kcs.core import (
    ApiError,
    BadRequest,
    BodySpans,
    Codec,
    FieldSelector,
    Forbidden,
    Gone,
    Invalid,
    LabelSelector,
    ListMeta,
    MethodNotAllowed,
    NotFound,
    Object,
    Resource,
    TooManyRequests,
    Unauthorized,
    codec_for,
)
from kcs.watch._backoff import BackoffState
from kcs.watch._errors import WatchError, WatchErrorHook, WatchErrorKind
from kcs.watch._events import Event, InitApply, InitDone, InitStart
from kcs.watch._listerwatcher import ListerWatcher
from kcs.watch._options import InitialList, WatchOptions
from kcs.watch._pages import NextPage, peek_continue
from kcs.watch._report import Reporter
from kcs.watch._state import WatcherState
from kcs.watch._stats import WatchStats
from kcs.watch._stream import (
    Interruption,
    StreamDecoder,
    accept_without_rv,
    reject,
    unreadable,
)

__all__ = ["Watcher", "describe_scope"]

_log = logging.getLogger("kcs.watch")
_T = TypeVar("_T")

_DEFAULT_OPTIONS: Final = WatchOptions()

# A watch that ends cleanly this quickly without a single line counts as a failure, so that
# a server (or proxy) answering every watch with an empty 200 does not make us spin.
_EMPTY_STREAM_MIN_LIFETIME: Final = 1.0

# Servers that rejected a streaming list, per client: every watcher of that client then
# lists with pages from the start instead of asking again.
_streaming_rejected: weakref.WeakSet[object] = weakref.WeakSet()

# Failures of what a stream carried, not of the connection: when one comes back at the same
# resume point, resuming would ask for the same bytes again, so the watcher relists.
_CONTENT_FAILURES: Final = frozenset(
    {WatchErrorKind.MALFORMED, WatchErrorKind.LINE_TOO_LONG, WatchErrorKind.ERROR_EVENT}
)


class _Stopped(Exception):
    """Internal: stop() was called; unwind the generator."""


class _StreamInterrupted(Exception):
    """Internal: a watch stream could not be read further (already reported)."""

    def __init__(self, interruption: Interruption | None, kind: WatchErrorKind | None) -> None:
        super().__init__(kind or "interrupted")
        self.interruption = interruption
        self.kind = kind


class _RawList(msgspec.Struct):
    """A List whose items are kept undecoded, to read them one by one."""

    metadata: ListMeta = ListMeta()
    items: list[msgspec.Raw] | None = None


_raw_list: Final = msgspec.json.Decoder(_RawList)

_Phase = Literal["list", "stream_list", "watch"]


def describe_scope(
    resource: Resource,
    namespace: str | None,
    label_selector: str | None = None,
    field_selector: str | None = None,
) -> str:
    """The collection in plain words: ``"pods in all namespaces with labels app=web"``."""
    if not resource.namespaced:
        text = str(resource)
    elif namespace:
        text = f"{resource} in namespace {namespace}"
    else:
        text = f"{resource} in all namespaces"
    if label_selector:
        text += f" with labels {label_selector}"
    if field_selector:
        text += f" with fields {field_selector}"
    return text


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
      no relist happens — unless the same failure comes back at the same resume point,
      or the server refuses the resume point or has lost it (410): then it relists.
    * An object that cannot be cached (no ``metadata.name``, a body that is not valid
      UTF-8) is dropped as if the server had not sent it — never delivered, so never
      cached half-readable — and reported as ``rejected_object``.
    * It never raises and never ends on its own: every failure becomes a
      :class:`~kcs.watch.WatchError` — counted in :attr:`stats`, logged once on the
      ``kcs.watch`` logger, passed to ``on_error`` — and is retried with backoff (429's
      Retry-After is honoured; permanent errors wait ``permanent_error_backoff``).
      Iteration ends only when the caller's scope is cancelled or :meth:`stop` is called;
      both close the HTTP stream at once.
    * Everything runs in the iterating task (no background task): the watcher reads the
      network only when the consumer asks for the next event, so a slow consumer slows
      the stream instead of buffering without bound.

    ``resource_version`` starts with a watch from that resourceVersion instead of a list
    (a warm start from a snapshot); if the server no longer has it (410), the watcher
    relists. ``options`` (a :class:`~kcs.watch.WatchOptions`) choose the initial list,
    the page size, the timeouts and the backoff. ``codec`` decodes the objects (default:
    the shared codec of the resource's kind, ``managedFields`` stripped).
    """

    def __init__(
        self,
        client: ListerWatcher,
        resource: Resource,
        namespace: str | None = None,
        label_selector: LabelSelector | str | Mapping[str, str] | None = None,
        field_selector: FieldSelector | str | Mapping[str, str] | None = None,
        *,
        options: WatchOptions | None = None,
        resource_version: str | None = None,
        codec: Codec | None = None,
        on_error: WatchErrorHook | None = None,
    ) -> None:
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
        self.options: Final = options if options is not None else _DEFAULT_OPTIONS
        """The settings this watcher runs with."""
        self._initial_list: InitialList = self.options.initial_list
        self._paginate = True
        self._backoff = BackoffState(self.options.backoff)
        self._slow_backoff = BackoffState(self.options.permanent_error_backoff)
        self._codec = codec or codec_for(resource.kind)
        self.stats: Final = WatchStats()
        """Counters of what the watcher did and recovered from."""
        self.scope: Final = describe_scope(
            resource, self.namespace, self.label_selector, self.field_selector
        )
        """The collection watched, in plain words (``"pods in all namespaces"``)."""
        self._reporter = Reporter(self.stats, self.scope, on_error, lambda: self._rv)
        self.state = WatcherState.NEW
        """What the watcher is doing now (see :class:`~kcs.watch.WatcherState`)."""
        self.retry_at: float | None = None
        """While backing off, when the next attempt starts (``anyio.current_time()``)."""

        self._rv = resource_version or ""
        self._need_list = not resource_version
        self._list_rv = resource_version or ""  # "" = consistent read of the current state
        self._list_continue: str | None = None
        self._list_snapshot_rv = ""
        self._phase: _Phase = "list"
        self._ever_synced = bool(resource_version)
        self._refused_relist = False  # relisting because the server refused the resume point
        self._last_content_failure: tuple[WatchErrorKind, str] | None = None
        self._stopping = False
        self._scope: anyio.CancelScope | None = None
        self._iterating = False
        self._gen: AsyncGenerator[list[Event], None] | None = None

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

    @property
    def last_error(self) -> WatchError | None:
        """The most recent trouble (``stats.last_error``), or ``None``."""
        return self.stats.last_error

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

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
        gen = self._gen
        if isinstance(gen, types.AsyncGeneratorType) and not gen.ag_running:
            await gen.aclose()  # closes the HTTP stream now, not when garbage collected

    def __repr__(self) -> str:
        return f"Watcher({self.scope}, {self.state.value}, rv={self._rv!r})"

    # --- the loop --------------------------------------------------------------------------
    async def _events(self) -> AsyncGenerator[Event, None]:
        async with contextlib.aclosing(self.batches()) as batches:
            async for batch in batches:
                for event in batch:
                    yield event

    async def _run(self) -> AsyncGenerator[list[Event], None]:
        try:
            while not self._stopping:
                try:
                    async with contextlib.aclosing(self._next_source()) as source:
                        async for batch in source:
                            yield batch
                except _Stopped:
                    return
                except Exception as exc:  # the watcher must not die: report, retry
                    delay = self._recover(exc)
                    if delay > 0:
                        self.state = WatcherState.BACKING_OFF
                        self.retry_at = anyio.current_time() + delay
                        try:
                            await self._guarded(partial(anyio.sleep, delay))
                        except _Stopped:
                            return
                        finally:
                            self.retry_at = None
        finally:
            self.state = WatcherState.STOPPED

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

    def _healthy(self) -> None:
        """A watch delivered events (or lived long): forget every earlier failure."""
        self._backoff.reset()
        self._slow_backoff.reset()
        self._refused_relist = False
        self.stats.consecutive_failures = 0

    # --- paginated list --------------------------------------------------------------------
    async def _paginated_list(self) -> AsyncGenerator[list[Event], None]:
        self._phase = "list"
        self.state = WatcherState.LISTING
        client, resource = self._client, self.resource
        ahead = NextPage()  # the next page, asked for before this one is cached
        try:
            while True:
                token = self._list_continue
                rv = None if token else (self._list_rv or None)
                limit = self.options.page_size if self._paginate else None

                def fetch(
                    token: str | None = token, rv: str | None = rv, limit: int | None = limit
                ) -> Awaitable[bytes]:
                    return client.list_raw(
                        resource,
                        self.namespace,
                        label_selector=self.label_selector,
                        field_selector=self.field_selector,
                        limit=limit,
                        continue_=token,
                        resource_version=rv,
                        resource_version_match="NotOlderThan" if rv else None,
                    )

                body = await self._guarded(ahead.take(token) or fetch)
                assert body is not None
                following = peek_continue(body)
                if following is not None:
                    await ahead.start(following, partial(fetch, following, None, limit))
                meta, objects, spans = self._decode_page(body)
                self.stats.pages += 1
                batch: list[Event] = [InitStart()] if token is None else []
                # objects: checked, all good
                if spans is None:
                    batch.extend([InitApply(obj) for obj in objects])
                else:
                    batch.extend([InitApply(o, s) for o, s in zip(objects, spans, strict=True)])
                self.stats.events += len(objects)
                if token is None:
                    self._list_snapshot_rv = meta.resource_version
                self._list_continue = meta.continue_ or None
                if self._list_continue is None:
                    ahead.cancel()
                    rv_done = meta.resource_version or self._list_snapshot_rv
                    batch.append(InitDone(rv_done))
                    self._list_done(rv_done)
                    yield batch
                    return
                yield batch
        finally:
            ahead.cancel()  # failed, stopped or restarted: the page ahead is not used

    def _decode_page(
        self, body: bytes
    ) -> tuple[ListMeta, list[Object], list[BodySpans] | None]:
        """The page's metadata, the objects that may be cached (the others reported) and
        their body spans (``None`` when the page needed screening)."""
        try:
            meta, objects, spans = self._codec.decode_list_spans(body)
        except msgspec.DecodeError:
            # One bad object (say, invalid UTF-8 in a name) must not make the whole page
            # unreadable: decode the items one by one. An unreadable envelope still raises.
            raw = _raw_list.decode(body)
            meta, objects = raw.metadata, []
            for i, item in enumerate(raw.items or ()):
                try:
                    objects.append(self._codec.decode_object(item))
                except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                    self.stats.rejected += 1
                    self._reporter.report(
                        WatchErrorKind.REJECTED_OBJECT,
                        f"{self.scope}: rejected item {i} of a list page ({len(item)} bytes): "
                        f"{exc}; it is not cached",
                        level=logging.ERROR,
                    )
            spans = None
        for obj in objects:
            m = obj.metadata
            if not m.resource_version or not m.name or not obj.body.isascii():
                return meta, self._screen(objects), None
        return meta, objects, spans

    def _screen(self, objects: list[Object]) -> list[Object]:
        kept = []
        for obj in objects:
            why = unreadable(obj)
            if why is not None:
                reject(self._reporter, obj, why, "a list page", self._rv)
                continue
            if not obj.metadata.resource_version:
                accept_without_rv(self._reporter, obj, "a list page", self._rv)
            kept.append(obj)
        return kept

    def _list_done(self, rv: str) -> None:
        self._rv = rv
        self._need_list = False
        self._list_continue = None
        self._ever_synced = True
        self._last_content_failure = None
        self.stats.lists += 1
        self.stats.consecutive_failures = 0
        self._backoff.reset()
        _log.debug("%s: listed at rv %s", self.scope, rv)

    # --- watch (and streaming list) --------------------------------------------------------
    async def _watch(self, *, initial_events: bool) -> AsyncGenerator[list[Event], None]:
        self._phase = "stream_list" if initial_events else "watch"
        self.state = WatcherState.LISTING if initial_events else WatcherState.WATCHING
        if self.stats.watches:
            self.stats.reconnects += 1
        self.stats.watches += 1
        rv = self._list_rv if initial_events else self._rv
        options = self.options
        watch = self._client.watch_raw(
            self.resource,
            self.namespace,
            resource_version=rv or None,
            allow_watch_bookmarks=True,
            send_initial_events=True if initial_events else None,
            resource_version_match="NotOlderThan" if initial_events else None,
            timeout_seconds=max(1, int(options.watch_timeout * (1.0 + random.random()))),
            label_selector=self.label_selector,
            field_selector=self.field_selector,
        )
        decoder = StreamDecoder(
            self._codec, self._reporter, self._rv, initial_events=initial_events
        )
        dead_after = options.dead_stream_timeout
        started = anyio.current_time()
        delivered = False
        async with contextlib.AsyncExitStack() as stack:
            opened = await self._guarded(lambda: stack.enter_async_context(watch), dead_after)
            if opened is None:
                self._dead_stream("the watch did not start")
            # Each read's whole lines as one block, decoded by one call, where the stream
            # offers it (kcs.client.WatchStream does); else each line a view of its read;
            # else any RawWatch's own lines.
            blocks = getattr(opened, "blocks", None)
            views = getattr(opened, "views", None)
            lines_iter: AsyncIterator[Sequence[bytes | memoryview]] = (
                blocks() if blocks is not None else views() if views is not None else opened
            )
            feed = decoder.feed_blocks if blocks is not None else decoder.feed
            while True:
                lines = await self._guarded(lambda: anext(lines_iter, _END), dead_after)
                if lines is None:
                    self._dead_stream("no data")
                if lines is _END:
                    break
                assert isinstance(lines, list)
                was_initializing = decoder.initializing
                events = feed(lines)
                if not decoder.initializing:
                    if was_initializing:
                        self._list_done(decoder.resource_version)
                        self._phase = "watch"
                        self.state = WatcherState.WATCHING
                    self._rv = decoder.resource_version
                if events:
                    if not delivered:
                        delivered = True
                        self._healthy()
                    yield events
                if decoder.interruption is not None:
                    raise _StreamInterrupted(decoder.interruption, _KIND[decoder.interruption])
        lived = anyio.current_time() - started
        if lived >= options.backoff.reset_after:
            self._healthy()
        elif not delivered and lived < _EMPTY_STREAM_MIN_LIFETIME:
            self.stats.consecutive_failures += 1
            self._reporter.report(
                WatchErrorKind.EMPTY_WATCH,
                f"{self.scope}: the watch at rv {self._rv or '(now)'} ended after "
                f"{lived:.2f}s without a single line (a proxy answering watches with an "
                "empty 200?)",
                then="retrying after a backoff",
            )
            raise _StreamInterrupted(None, None)
        _log.debug("%s: watch ended after %.1fs; resuming at rv %s", self.scope, lived, self._rv)

    def _dead_stream(self, what: str) -> NoReturn:
        self._reporter.report(
            WatchErrorKind.DEAD_STREAM,
            f"{self.scope}: {what} for {self.options.dead_stream_timeout:g}s",
            then=f"reconnecting at rv {self._rv or '(now)'}",
        )
        raise _StreamInterrupted(None, None)

    # --- recovery --------------------------------------------------------------------------
    def _recover(self, exc: Exception) -> float:
        """Report ``exc``, choose what to try next, and return the seconds to wait first."""
        self.stats.consecutive_failures += 1
        if isinstance(exc, _StreamInterrupted):
            if exc.interruption is Interruption.GONE:
                return self._gone()
            if exc.interruption is Interruption.NOT_STREAMING:
                return self._streaming_rejected(
                    "the server ignored sendInitialEvents (a plain bookmark came before "
                    "the initial-events-end bookmark)"
                )
            if exc.kind is not None and self._repeated(exc.kind):
                return self._relist_after_repeat(exc.kind)
            return self._backoff.next_delay()  # already reported
        if isinstance(exc, Gone):
            self._reporter.report(
                WatchErrorKind.GONE,
                f"{self.scope}: {exc}",
                code=exc.code,
                level=logging.INFO,
            )
            return self._gone()
        if self._phase == "stream_list" and isinstance(exc, BadRequest | Invalid):
            return self._streaming_rejected(str(exc))
        if isinstance(exc, TooManyRequests):
            backoff = self._backoff.next_delay()
            wait = exc.retry_after if exc.retry_after is not None else backoff
            self._report(WatchErrorKind.THROTTLED, f"{self.scope}: {exc}", exc.code, wait)
            return wait
        if isinstance(exc, Unauthorized | Forbidden | NotFound | MethodNotAllowed | NoMatchError):
            return self._permanent(exc)
        if isinstance(exc, BadRequest | Invalid):
            return self._refused(exc)
        if isinstance(exc, ApiError):
            if self._phase != "watch" and self._list_rv and _too_large_rv(exc):
                self._list_rv = ""
            return self._failed(WatchErrorKind.API_ERROR, exc, exc.code)
        if isinstance(exc, ApiConnectionError):
            return self._failed(WatchErrorKind.CONNECTION, exc)
        if isinstance(exc, WatchLineTooLong):
            kind = WatchErrorKind.LINE_TOO_LONG
            if self._repeated(kind):
                self._reporter.report(
                    kind,
                    f"{self.scope}: {exc} again at rv {self._rv or '(now)'}: an event "
                    "larger than the client's max_watch_line_size was sent on every "
                    "resume",
                    then="relisting to read the collection through a list instead",
                )
                return self._relist_after_repeat(kind)
            return self._failed(kind, exc)
        if isinstance(exc, ClientError):
            return self._failed(WatchErrorKind.CLIENT_ERROR, exc)
        if isinstance(exc, msgspec.DecodeError | msgspec.ValidationError):
            self._list_continue = None  # a page we cannot read: start the list again
            return self._failed(WatchErrorKind.MALFORMED, exc)
        delay = self._backoff.next_delay()
        self._reporter.report(
            WatchErrorKind.UNEXPECTED,
            f"{self.scope}: unexpected error in the watcher: {type(exc).__name__}: {exc}",
            then=f"retrying in {delay:.2f}s",
            level=logging.ERROR,
            exc_info=True,
        )
        return delay

    def _report(
        self, kind: WatchErrorKind, message: str, code: int | None, delay: float
    ) -> WatchError:
        then = f"{self._doing()} in {delay:.2f}s"
        return self._reporter.report(
            kind, message, code=code, then=then
        )

    def _doing(self) -> str:
        if self._phase == "watch":
            return f"retrying the watch at rv {self._rv or '(now)'}"
        return "retrying the list"

    def _failed(self, kind: WatchErrorKind, exc: Exception, code: int | None = None) -> float:
        delay = self._backoff.next_delay()
        self._report(kind, f"{self.scope}: {exc}", code, delay)
        return delay

    def _repeated(self, kind: WatchErrorKind) -> bool:
        """Whether ``kind`` failed before at the current resume point (and remember it)."""
        if kind not in _CONTENT_FAILURES or self._phase != "watch":
            return False
        point = (kind, self._rv)
        if self._last_content_failure == point:
            return True
        self._last_content_failure = point
        return False

    def _relist_after_repeat(self, kind: WatchErrorKind) -> float:
        """The same stream failure twice at one resume point: relist instead of resuming."""
        self._last_content_failure = None
        self._start_relist(self._rv)
        _log.info(
            "%s: %s twice at rv %s; relisting instead of resuming there again",
            self.scope,
            kind.value,
            self._rv or "(now)",
        )
        return 0.0

    def _start_relist(self, at: str) -> None:
        self._need_list = True
        self._list_rv = at
        self._list_continue = None
        if self._ever_synced:
            self.stats.relists += 1

    def _restart_from_scratch(self) -> None:
        """List from scratch next: a relist from a watch, or the same list without its rv."""
        if self._phase == "watch":
            self._start_relist("")
        else:
            self._list_rv = ""
            self._list_continue = None

    def _permanent(self, exc: Exception) -> float:
        """401, 403, 404, 405 or an unknown resource: say so plainly, retry slowly."""
        return self._slowly(*self._plain_words(exc))

    def _slowly(
        self,
        kind: WatchErrorKind,
        code: int | None,
        message: str,
        *,
        doing: str = "",
        resource_version: str | None = None,
    ) -> float:
        """Report a trouble that asking again at once will not mend (``permanent``, at
        ERROR) and return the slow backoff's next delay. ``doing`` is what the watcher
        does after it (default: retry what failed)."""
        delay = self._slow_backoff.next_delay()
        self._reporter.report(
            kind,
            message,
            code=code,
            permanent=True,
            resource_version=resource_version,
            then=f"{doing or self._doing()} in {delay:.1f}s",
            level=logging.ERROR,
        )
        return delay

    def _plain_words(self, exc: Exception) -> tuple[WatchErrorKind, int | None, str]:
        verb = "watching" if self._phase == "watch" else "listing"
        said = exc.message if isinstance(exc, ApiError) else str(exc)
        resource = self.resource
        if isinstance(exc, Unauthorized):
            return (
                WatchErrorKind.UNAUTHORIZED,
                401,
                f"401 Unauthorized: {verb} {self.scope} was refused because the apiserver "
                f"does not accept this client's credentials (an expired or revoked "
                f"token?). The apiserver said: {said}",
            )
        if isinstance(exc, Forbidden):
            return (
                WatchErrorKind.FORBIDDEN,
                403,
                f"403 Forbidden: {verb} {self.scope} is not allowed for this identity "
                f"(RBAC). The apiserver said: {said}",
            )
        if isinstance(exc, MethodNotAllowed):
            return (
                WatchErrorKind.METHOD_NOT_ALLOWED,
                405,
                f"405 Method Not Allowed: {resource} ({resource.api_version}) cannot be "
                f"{'watched' if verb == 'watching' else 'listed'}. The apiserver said: {said}",
            )
        code = 404 if isinstance(exc, NotFound) else None
        prefix = "404 Not Found" if code else "Unknown resource"
        return (
            WatchErrorKind.NOT_FOUND,
            code,
            f"{prefix}: {verb} {self.scope}: the apiserver does not serve {resource} "
            f"({resource.api_version}); is its CustomResourceDefinition installed (or its "
            f"API group enabled)? The apiserver said: {said}",
        )

    def _refused(self, exc: ApiError) -> float:
        """400/422: the server refused a parameter; change what is asked for."""
        if self._phase == "list" and self._list_continue is not None:
            self._paginate = False
            self._list_continue = None
            self._reporter.report(
                WatchErrorKind.CONTINUE_REFUSED,
                f"{self.scope}: the server refused the continue token of a list page "
                f"({exc}); this watcher now lists without pagination",
                code=exc.code,
                then="listing again from the start, in one request",
            )
            return 0.0
        at = self._list_rv if self._phase != "watch" else self._rv
        if not at:
            # Nothing was refused but the request itself (a selector the server does not
            # accept, say): asking again will not help, so ask slowly.
            verb = "watch" if self._phase == "watch" else "list"
            return self._slowly(
                WatchErrorKind.API_ERROR,
                exc.code,
                f"{exc.code} {exc.reason}: the apiserver refused to {verb} {self.scope}. "
                f"The apiserver said: {exc.message}",
            )
        if self._refused_relist:
            # The resourceVersion of a fresh list was refused too: the server refuses its
            # own resourceVersions. Relisting at once again would be a fast loop.
            self._restart_from_scratch()
            return self._slowly(
                WatchErrorKind.RESUME_REFUSED,
                exc.code,
                f"{self.scope}: the server refused to watch from rv {at!r}, which its own "
                f"list returned ({exc})",
                doing="relisting from scratch",
                resource_version=at,
            )
        self._refused_relist = True
        self._restart_from_scratch()
        self._reporter.report(
            WatchErrorKind.RESUME_REFUSED,
            f"{self.scope}: the server refused rv {at!r} as a resume point ({exc})",
            code=exc.code,
            resource_version=at,
            then="relisting from scratch",
        )
        return 0.0

    def _gone(self) -> float:
        """410: relist, first at the last resourceVersion, then from scratch."""
        self._list_continue = None
        if self._phase == "watch":
            self._start_relist(self._rv)
            _log.info("%s: rv %s is gone (410); relisting", self.scope, self._rv)
            return 0.0
        if self._list_rv:
            self._list_rv = ""
            _log.info("%s: relist at rv expired (410); listing from scratch", self.scope)
            return 0.0
        # A list from scratch expired (a continue token outlived the server's history):
        # start over, after a pause if it keeps happening.
        _log.info("%s: list expired (410); starting the list again", self.scope)
        return self._backoff.next_delay()

    def _streaming_rejected(self, why: str) -> float:
        with contextlib.suppress(TypeError):  # a client that cannot be weakly referenced
            _streaming_rejected.add(self._client)
        self._initial_list = "list"
        self._reporter.report(
            WatchErrorKind.STREAMING_LIST_REJECTED,
            f"{self.scope}: streaming list not supported by the server ({why})",
            then="using paginated lists",
            level=logging.INFO,
        )
        return 0.0


class _EndMarker:
    pass


_END: Final = _EndMarker()

_KIND: Final = {
    Interruption.GONE: WatchErrorKind.GONE,
    Interruption.ERROR_EVENT: WatchErrorKind.ERROR_EVENT,
    Interruption.MALFORMED: WatchErrorKind.MALFORMED,
    Interruption.NOT_STREAMING: WatchErrorKind.STREAMING_LIST_REJECTED,
}


def _too_large_rv(exc: ApiError) -> bool:
    """kube-apiserver's "Too large resource version" (504 with cause ResourceVersionTooLarge)."""
    causes = exc.details.get("causes")
    if isinstance(causes, list):
        return any(isinstance(c, dict) and c.get("reason") == "ResourceVersionTooLarge"
                   for c in causes)
    return "too large resource version" in exc.message.lower()
