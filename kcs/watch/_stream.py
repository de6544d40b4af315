"""Turning the lines of one watch stream into events.

A :class:`StreamDecoder` reads the complete lines the client hands over (one batch per
network read), decodes each with the kind's :class:`~kcs.core.Codec`, and returns the
events they stand for. It tracks the last resourceVersion it has seen, and it stops at the
first line after which the stream cannot be trusted any more (see :class:`Interruption`):
the watcher then closes the stream and resumes, relists or falls back.

This is the hot path: a few hundred nanoseconds per event on top of the codec's decode.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import Final

import msgspec

from kcs.core import BodySpans, Codec, Object
from kcs.watch._errors import WatchErrorKind
from kcs.watch._events import Apply, Bookmark, Delete, Event, InitApply, InitDone, InitStart
from kcs.watch._report import Reporter

__all__ = ["INITIAL_EVENTS_END", "Interruption", "StreamDecoder", "split_lines", "unreadable"]

INITIAL_EVENTS_END: Final = "k8s.io/initial-events-end"
"""The annotation on the bookmark that ends the initial events of a streaming list."""

_PREVIEW = 200


def unreadable(obj: Object) -> str | None:
    """Why ``obj`` must not be cached, or ``None`` when it may be.

    An object without ``metadata.name`` has no key (it would be cached under
    ``namespace/``); a body that is not valid UTF-8 would raise later, in the code that
    reads it. Cheap for the common case: an ASCII body costs one ``isascii()``.
    """
    if not obj.metadata.name:
        return "it has no metadata.name"
    body = obj.body
    if not body.isascii():
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            return f"its data is not valid UTF-8 (byte {exc.start} of its body)"
    return None


def split_lines(block: bytes | memoryview) -> Iterator[memoryview]:
    """The lines of ``block`` (joined by ``\\n``), each a view of it, blank ones too."""
    view = memoryview(block)
    data = view.obj if isinstance(view.obj, bytes) and len(view) == len(view.obj) else None
    if data is None:
        data = bytes(view)  # a slice of a larger buffer: find the lines in a copy
        view = memoryview(data)
    find = data.find
    start, end = 0, len(data)
    while start <= end:
        nl = find(b"\n", start)
        if nl < 0:
            nl = end
        yield view[start:nl]
        start = nl + 1


class Interruption(enum.Enum):
    """Why the decoder stopped reading a stream before its end."""

    GONE = "gone"
    """An ERROR event with code 410: the resume point is lost, relist."""
    ERROR_EVENT = "error_event"
    """Another ERROR event: the server gave up on this stream, resume."""
    MALFORMED = "malformed"
    """A line that is not a watch event: an event may be lost, resume from the last good rv."""
    NOT_STREAMING = "not_streaming"
    """A streaming list got a plain bookmark before the initial-events-end one: the server
    ignored ``sendInitialEvents``; fall back to a paginated list."""


class StreamDecoder:
    """Decodes the lines of one watch stream (one instance per stream).

    ``initial_events`` is true for a streaming list (``sendInitialEvents=true``): the
    events before the bookmark annotated ``k8s.io/initial-events-end`` are the initial
    state. They are delivered as they arrive, ``InitStart`` then one ``InitApply`` per
    object, and the end bookmark delivers ``InitDone``: the consumer indexes the list
    while the rest of it is still on the wire, as it does page by page with a paginated
    list. Each key is delivered once per list: when the server changes an object it
    already sent (kube-apiserver 1.27-1.29 can interleave MODIFIED and DELETED with the
    initial ADDED events), the decoder keeps the state by key from then on and, at the
    end bookmark, delivers it whole after a new ``InitStart`` (the consumer drops the
    partial list, as it does when a paginated list restarts). A stream cut before the end
    bookmark leaves a partial list, which the next list's ``InitStart`` drops.

    An object that cannot be cached (see :func:`unreadable`) is dropped as if the server
    had not sent it, and reported; the resourceVersion still advances past it, so the
    watch does not ask for it again. An object without a resourceVersion is delivered and
    reported.
    """

    __slots__ = (
        "_buffer",
        "_codec",
        "_folding",
        "_reporter",
        "_started",
        "_whole_blocks",
        "error",
        "initializing",
        "interruption",
        "resource_version",
    )

    def __init__(
        self,
        codec: Codec,
        reporter: Reporter,
        resource_version: str,
        *,
        initial_events: bool = False,
    ) -> None:
        self._codec = codec
        self._reporter = reporter
        self.resource_version = resource_version
        """The resourceVersion of the last event applied (not advanced during init)."""
        self.initializing = initial_events
        """Whether the initial events of a streaming list are still arriving."""
        # The initial state so far, by key: delivered as it grows until a key comes twice
        # (or goes), then folded here and delivered whole at the end bookmark. It holds
        # the objects only (the store holds them too), not their events and body spans,
        # which would stay alive for the whole list (about 130 bytes per object); a fold
        # recomputes the spans (Codec.body_spans).
        self._buffer: dict[str, Object] = {}
        self._started = False  # InitStart delivered
        self._whole_blocks = True  # blocks decode whole until a shape the codec lacks
        self._folding = False  # a change during the initial events: deliver at the end
        self.interruption: Interruption | None = None
        """Set when the stream must not be read further."""
        self.error: Object | None = None
        """The Status object of the ERROR event that interrupted the stream, if any."""

    def feed(self, lines: Sequence[bytes | memoryview]) -> list[Event]:
        """The events for ``lines``; stops early and sets :attr:`interruption` when needed.

        ``lines`` may be views of a network read (:meth:`kcs.client.WatchStream.views`):
        nothing decoded keeps a reference to them.

        The events before the interrupting line are returned and are good: deliver them.
        """
        out: list[Event] = []
        self._feed_lines(lines, out)
        return out

    def feed_blocks(self, blocks: Sequence[bytes | memoryview]) -> list[Event]:
        """:meth:`feed` for ``blocks``, each one or more complete lines joined by ``\\n``
        (:meth:`kcs.client.WatchStream.blocks`): the same events, the same stops.

        A block is decoded by one call (:meth:`~kcs.core.Codec.decode_watch_lines_spans`)
        rather than cut into lines in Python first; a block that does not decode whole
        (a malformed line, an ERROR event, an object of a shape the codec does not decode
        in one pass) is read line by line, as :meth:`feed` reads it, and after a shape
        the codec does not know every later block is (no line is decoded twice over).
        """
        out: list[Event] = []
        lines_of = self._codec.decode_watch_lines_spans
        for block in blocks:
            if self._whole_blocks:
                try:
                    decoded = lines_of(block)
                except msgspec.ValidationError:
                    self._whole_blocks = False
                except msgspec.DecodeError:
                    pass  # a malformed line: reading the lines one by one finds it
                else:
                    if not self._apply(decoded, out):
                        break
                    continue
            if not self._feed_lines(split_lines(block), out):
                break
        return out

    def _feed_lines(self, lines: Iterable[bytes | memoryview], out: list[Event]) -> bool:
        """Decode ``lines`` one by one and apply them (see :meth:`_apply`); ``False`` when
        the stream must not be read further (a malformed line, or as :meth:`_apply`)."""
        decode = self._codec.decode_watch_event_spans
        decoded: list[tuple[str, Object, BodySpans | None]] = []
        append = decoded.append
        bad: tuple[bytes, Exception] | None = None
        for line in lines:
            try:
                append(decode(line))
            except msgspec.DecodeError as exc:
                if not bytes(line).strip():
                    continue
                try:
                    # Events run together on one line are the events they are (what a
                    # whole block's decode reads them as); anything else is malformed.
                    decoded.extend(self._codec.decode_watch_lines_spans(line))
                except msgspec.DecodeError:
                    bad = (bytes(line), exc)
                    break
        if not self._apply(decoded, out):
            return False
        if bad is not None:
            self._malformed(*bad)
            return False
        return True

    def _apply(self, decoded: Iterable[tuple[str, Object, BodySpans | None]],
               out: list[Event]) -> bool:
        """Turn decoded lines into events, appended to ``out``; ``False`` when an event
        interrupts the stream (the events before it are in ``out``)."""
        append = out.append
        stats = self._reporter.stats
        rv = self.resource_version
        delivered = 0
        ok = True
        for etype, obj, spans in decoded:
            if self.initializing:
                if etype == "ADDED" and self._started and not self._folding:
                    # The common initial event, inlined: a new key, delivered at once.
                    meta = obj.metadata
                    name = meta.name
                    if meta.resource_version and name and obj.body.isascii():
                        ns = meta.namespace
                        buffer = self._buffer
                        size = len(buffer)
                        # One dict operation: a new key grows the buffer; a key again
                        # replaces what it held, as the fold below does.
                        buffer[f"{ns}/{name}" if ns else name] = obj  # meta.key, inlined
                        if len(buffer) > size:
                            append(InitApply(obj, spans))
                            delivered += 1
                        else:
                            self._folding = True  # a key again: delivered whole at the end
                        continue
                ok = self._initial(etype, obj, spans, out)
                rv = self.resource_version
                if not ok:
                    break
                continue
            # `==` chains: faster than `in` on this path.
            if etype == "MODIFIED" or etype == "ADDED" or etype == "DELETED":  # noqa: PLR1714
                meta = obj.metadata
                obj_rv = meta.resource_version
                # One test on the common path; the reasons are looked at only when it fails.
                if (not obj_rv or not meta.name or not obj.body.isascii()) and not (
                    self._acceptable(etype, obj, rv)
                ):
                    rv = obj_rv or rv
                    continue
                append(Delete(obj) if etype == "DELETED" else Apply(obj, spans))
                delivered += 1
                rv = obj_rv or rv
            elif etype == "BOOKMARK":
                stats.bookmarks += 1
                bookmark_rv = obj.metadata.resource_version
                if bookmark_rv:
                    rv = bookmark_rv
                    append(Bookmark(bookmark_rv))
            elif etype == "ERROR":
                self.resource_version = rv
                self._error_event(obj)
                ok = False
                break
            else:
                self._unknown(etype)
        stats.events += delivered
        self.resource_version = rv
        return ok

    def _acceptable(self, etype: str, obj: Object, rv: str) -> bool:
        """Report what is wrong with ``obj``; whether to deliver it anyway."""
        why = unreadable(obj)
        if why is not None:
            reject(self._reporter, obj, why, f"a watch event {etype}", rv)
            return False
        if not obj.metadata.resource_version:
            accept_without_rv(self._reporter, obj, f"a watch event {etype}", rv)
        return True

    # --- the initial events of a streaming list ------------------------------------------
    def _initial(
        self, etype: str, obj: Object, spans: BodySpans | None, out: list[Event]
    ) -> bool:
        # Delivered as it arrives, each key once between InitStart and InitDone; kept by
        # key as well, so that a change of a key already delivered (kube-apiserver
        # 1.27-1.29 interleave MODIFIED and DELETED with the initial ADDED events) folds
        # the rest, delivered whole after a new InitStart at the end bookmark.
        if etype == "ADDED" or etype == "MODIFIED" or etype == "DELETED":  # noqa: PLR1714
            meta = obj.metadata
            if (not meta.resource_version or not meta.name or not obj.body.isascii()) and not (
                self._acceptable(etype, obj, self.resource_version)
            ):
                return True
            key = meta.key
            buffer = self._buffer
            if etype == "DELETED":
                if buffer.pop(key, None) is not None:
                    self._folding = True  # a key delivered, gone again
                return True
            if not self._folding:
                if key in buffer:
                    self._folding = True  # a key again: what was delivered is replaced
                else:
                    if not self._started:
                        self._started = True
                        out.append(InitStart())
                    out.append(InitApply(obj, spans))
                    self._reporter.stats.events += 1
            buffer[key] = obj
            return True
        if etype == "BOOKMARK":
            if obj.metadata.annotations.get(INITIAL_EVENTS_END) != "true":
                # kube-apiserver never sends a plain bookmark before the end bookmark (it
                # drops bookmarks older than the initial state): this server ignored
                # sendInitialEvents and is watching from "now".
                self.interruption = Interruption.NOT_STREAMING  # reported by the watcher
                return False
            stats = self._reporter.stats
            stats.bookmarks += 1
            self.initializing = False
            rv = obj.metadata.resource_version
            self.resource_version = rv
            if self._folding or not self._started:
                out.append(InitStart())  # drops what was delivered before the fold
                spans_of = self._codec.body_spans
                out.extend(InitApply(o, spans_of(o.body)) for o in self._buffer.values())
                stats.events += len(self._buffer)
            out.append(InitDone(rv))
            self._buffer = {}
            return True
        if etype == "ERROR":
            self._error_event(obj)
            return False
        self._unknown(etype)
        return True

    # --- trouble --------------------------------------------------------------------------
    def _error_event(self, obj: Object) -> None:
        self.error = obj
        fields = obj.fields()
        raw_code = fields.get("code")
        code = raw_code if isinstance(raw_code, int) else None
        message = str(fields.get("message") or fields.get("reason") or "no message")
        reporter = self._reporter
        if code == 410:
            self.interruption = Interruption.GONE
            reporter.report(
                WatchErrorKind.GONE,
                f"{reporter.scope}: the watch expired (ERROR event 410: {message})",
                code=410,
                resource_version=self.resource_version,
                then="relisting",
                level=logging.INFO,
            )
        else:
            self.interruption = Interruption.ERROR_EVENT
            reporter.report(
                WatchErrorKind.ERROR_EVENT,
                f"{reporter.scope}: the watch stream sent an ERROR event ({raw_code}: {message})",
                code=code,
                resource_version=self.resource_version,
                then=f"resuming at rv {self.resource_version or '(now)'}",
            )

    def _malformed(self, line: bytes, exc: Exception) -> None:
        self.interruption = Interruption.MALFORMED
        preview = line[:_PREVIEW].decode("utf-8", "replace")
        reporter = self._reporter
        reporter.report(
            WatchErrorKind.MALFORMED,
            f"{reporter.scope}: malformed watch line ({exc}; {len(line)} bytes, "
            f"starts {preview!r}); an event may be lost",
            resource_version=self.resource_version,
            then=f"resuming at rv {self.resource_version or '(now)'}",
        )

    def _unknown(self, etype: str) -> None:
        reporter = self._reporter
        reporter.report(
            WatchErrorKind.UNKNOWN_TYPE,
            f"{reporter.scope}: skipped a watch event of unknown type {etype[:64]!r}",
            resource_version=self.resource_version,
        )


def reject(reporter: Reporter, obj: Object, why: str, where: str, rv: str) -> None:
    """Report ``obj`` as dropped: it is not cached and nothing downstream sees it."""
    reporter.stats.rejected += 1
    name = obj.metadata.key or "(no name)"
    reporter.report(
        WatchErrorKind.REJECTED_OBJECT,
        f"{reporter.scope}: rejected the object {name} at rv "
        f"{obj.metadata.resource_version or '(none)'} in {where}: {why}; it is not cached",
        resource_version=rv,
        level=logging.ERROR,
    )


def accept_without_rv(reporter: Reporter, obj: Object, where: str, rv: str) -> None:
    """Report ``obj`` as cached although it has no resourceVersion."""
    reporter.report(
        WatchErrorKind.NO_RESOURCE_VERSION,
        f"{reporter.scope}: the object {obj.metadata.key} in {where} has no "
        "metadata.resourceVersion; cached anyway (it replaces what the cache holds for "
        "its key, and the resume point does not move)",
        resource_version=rv,
    )
