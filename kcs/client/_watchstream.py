"""A watch response read as batches of complete lines.

The apiserver writes one JSON watch event per line. Network reads cut those lines
anywhere, so :class:`WatchStream` keeps the unfinished tail of each read and yields, per
read, the list of lines it completed. That is the least Python work per event: one
``bytes.split`` per network read, no per-line awaits; decoding is the watch layer's job.
:meth:`WatchStream.views` yields the same lines as ``memoryview`` slices of the read
instead: no line is copied (the watch layer decodes from them and keeps nothing of them);
:meth:`WatchStream.blocks` yields each read's whole lines as one slice, for a decoder that
finds the lines itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Self, TypeVar

import aiohttp

from kcs.client._clienterrors import ApiConnectionError, ApiTimeoutError, WatchLineTooLong

__all__ = ["DEFAULT_MAX_LINE_SIZE", "WatchStream"]

_L = TypeVar("_L", bytes, memoryview)

DEFAULT_MAX_LINE_SIZE = 16 * 1024 * 1024
"""Longest watch line accepted (16 MiB): far above etcd's 1.5 MiB object limit."""


class WatchStream:
    """An open (or about to be opened) watch: an async iterator of ``list[bytes]``.

    Each item is a non-empty list of complete lines (without their ``\\n``; blank lines
    are dropped) in the order the server sent them. Use it as an async context manager
    so the connection is closed however the loop ends::

        async with client.watch_raw(pods, resource_version=rv) as stream:
            async for lines in stream:
                for line in lines:
                    event = orjson.loads(line)

    Iterating without ``async with`` opens the stream on the first ``__anext__`` and closes
    it when the iteration ends or fails (but not when the loop is left with ``break``: call
    :meth:`aclose` then).

    Guarantees: a line is yielded only once complete. When the server ends the response
    cleanly, a final line without ``\\n`` is yielded too; when the connection breaks
    mid-response, the partial line is dropped and :class:`~kcs.client.ApiConnectionError`
    is raised. A line longer than ``max_line_size`` raises
    :class:`~kcs.client.WatchLineTooLong`. Errors on the start of the watch are the typed
    :class:`~kcs.core.ApiError` of the server's Status. The stream is closed after any
    of these.
    """

    __slots__ = ("_closed", "_content", "_max", "_open", "_parts", "_parts_len", "_response")

    def __init__(
        self,
        open_response: Callable[[], Awaitable[aiohttp.ClientResponse]],
        *,
        max_line_size: int = DEFAULT_MAX_LINE_SIZE,
    ) -> None:
        self._open = open_response
        self._max = max_line_size
        self._response: aiohttp.ClientResponse | None = None
        self._content: aiohttp.StreamReader | None = None
        self._parts: list[bytes] = []
        self._parts_len = 0
        self._closed = False

    @property
    def response(self) -> aiohttp.ClientResponse | None:
        """The HTTP response once the stream is open (for its headers), else ``None``."""
        return self._response

    @property
    def closed(self) -> bool:
        """Whether the stream was closed (it cannot be reopened)."""
        return self._closed

    async def start(self) -> None:
        """Send the watch request and wait for the response headers (idempotent)."""
        if self._response is not None:
            return
        if self._closed:
            raise RuntimeError("this watch stream is closed; open a new one")
        self._response = await self._open()
        self._content = self._response.content

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.aclose_now()

    async def aclose(self) -> None:
        """Close the connection; iteration ends. Safe to call more than once."""
        self.aclose_now()

    def aclose_now(self) -> None:
        """Close the connection without awaiting (usable from synchronous cleanup)."""
        self._closed = True
        resp, self._response = self._response, None
        self._content = None
        if resp is not None:
            resp.close()

    def __aiter__(self) -> Self:
        return self

    def __anext__(self) -> Awaitable[list[bytes]]:
        return self._next(self._read_lines)

    def views(self) -> AsyncIterator[list[memoryview]]:
        """The same lines, each a read-only ``memoryview`` of the network read it ended in.

        Same guarantees as iterating the stream itself (order, completeness, errors,
        ``max_line_size``), without copying each line out of the read: a decoder that
        copies what it keeps (as :class:`~kcs.core.Codec` does) reads every byte once. A
        view keeps its read alive: do not hold on to the views past the next batch.
        Iterate either the stream or its views, not both.
        """
        return _Reads(self, self._read_views)

    def blocks(self) -> AsyncIterator[list[memoryview]]:
        """The same lines in blocks: per network read, one or two read-only ``memoryview``
        of whole lines joined by ``\\n`` (without the last line's ``\\n``; blank lines
        may be among them).

        For a decoder that reads newline-delimited JSON itself
        (:meth:`kcs.core.Codec.decode_watch_lines_spans`): the lines are not cut in
        Python at all. Same guarantees as :meth:`views` (order, completeness, errors, no
        line longer than ``max_line_size``), and the same rule: do not hold on to a block
        past the next batch. Iterate the stream, its views or its blocks, one of them.
        """
        return _Reads(self, self._read_blocks)

    async def _next(self, read: Callable[[aiohttp.StreamReader], Awaitable[list[_L]]]) -> list[_L]:
        """The next batch as ``read`` cuts it (lines or views), opening the stream first if
        it is not open yet; the end of the response gives the connection back to the
        pool, any failure closes it."""
        content = self._content
        if content is None:
            content = await self._open_content()
        try:
            return await read(content)
        except StopAsyncIteration:
            self._finish()
            raise
        except BaseException:
            self.aclose_now()
            raise

    async def _open_content(self) -> aiohttp.StreamReader:
        if self._closed:
            raise StopAsyncIteration
        try:
            await self.start()
        except BaseException:
            self.aclose_now()
            raise
        content = self._content
        assert content is not None
        return content

    def _finish(self) -> None:
        """The server ended the response: give the connection back to the pool."""
        self._closed = True
        resp, self._response = self._response, None
        self._content = None
        if resp is not None:
            resp.release()

    @staticmethod
    async def _read_chunk(content: aiohttp.StreamReader) -> bytes:
        try:
            return await content.readany()
        except TimeoutError as exc:
            msg = "no data on the watch stream within its read_timeout"
            raise ApiTimeoutError(msg) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise ApiConnectionError(
                f"the watch stream broke: {type(exc).__name__}: {exc}"
            ) from exc

    async def _lines_chunk(self, content: aiohttp.StreamReader) -> bytes:
        """The next network read that ends a line, for the readers to cut into lines.

        A read without a ``\\n`` is kept as the start of the next line (at most
        ``max_line_size`` bytes of it: more raises :class:`WatchLineTooLong`). When the
        server ends the response, its final line without ``\\n`` (unless blank) comes
        back with one, and the next call raises ``StopAsyncIteration``.
        """
        parts = self._parts
        while True:
            chunk = await self._read_chunk(content)
            if not chunk:
                if not parts:
                    raise StopAsyncIteration
                last = b"".join(parts)
                parts.clear()
                self._parts_len = 0
                if not last.strip():
                    raise StopAsyncIteration
                return last + b"\n"
            if b"\n" in chunk:
                return chunk
            self._parts_len += len(chunk)
            if self._parts_len > self._max:
                raise WatchLineTooLong(self._max)
            parts.append(chunk)

    def _finish_straddler(self, chunk: bytes) -> tuple[list[memoryview], int]:
        """The line that the reads before ``chunk`` began and ``chunk`` ends (the one copy
        of its bytes), if any, and where ``chunk``'s own lines start."""
        parts = self._parts
        if not parts:
            return [], 0
        first = chunk.find(b"\n")
        if self._parts_len + first > self._max:
            raise WatchLineTooLong(self._max)
        parts.append(chunk[:first])
        line = b"".join(parts)
        parts.clear()
        return ([memoryview(line)] if line else []), first + 1

    def _keep_tail(self, chunk: bytes, end: int) -> None:
        """Keep what follows ``chunk``'s last ``\n`` (at ``end``) as the start of a line."""
        tail_len = len(chunk) - end - 1
        if tail_len:
            if tail_len > self._max:
                raise WatchLineTooLong(self._max)
            self._parts.append(chunk[end + 1 :])
        self._parts_len = tail_len

    async def _read_views(self, content: aiohttp.StreamReader) -> list[memoryview]:
        limit = self._max
        while True:
            chunk = await self._lines_chunk(content)
            end = chunk.rfind(b"\n")
            lines, start = self._finish_straddler(chunk)
            view = memoryview(chunk)
            find = chunk.find
            check = end - start > limit  # only a read longer than the limit can hold one
            while start < end:
                nl = find(b"\n", start)
                if nl > start:
                    if check and nl - start > limit:
                        raise WatchLineTooLong(limit)
                    lines.append(view[start:nl])
                start = nl + 1
            self._keep_tail(chunk, end)
            if lines:
                return lines

    async def _read_blocks(self, content: aiohttp.StreamReader) -> list[memoryview]:
        limit = self._max
        while True:
            chunk = await self._lines_chunk(content)
            end = chunk.rfind(b"\n")
            blocks, start = self._finish_straddler(chunk)
            if end > start:
                if end - start > limit:  # only a read longer than the limit can hold one
                    _check_line_lengths(chunk, start, end, limit)
                blocks.append(memoryview(chunk)[start:end])
            self._keep_tail(chunk, end)
            if blocks:
                return blocks

    async def _read_lines(self, content: aiohttp.StreamReader) -> list[bytes]:
        parts = self._parts
        limit = self._max
        while True:
            chunk = await self._lines_chunk(content)
            if parts:
                parts.append(chunk)
                data = b"".join(parts)
                parts.clear()
            else:
                data = chunk
            lines = data.split(b"\n")
            tail = lines.pop()
            if tail:
                if len(tail) > limit:
                    raise WatchLineTooLong(limit)
                parts.append(tail)
            self._parts_len = len(tail)
            if len(data) > limit and any(len(line) > limit for line in lines):
                raise WatchLineTooLong(limit)
            if b"" in lines:
                lines = [line for line in lines if line]
                if not lines:
                    continue
            return lines


class _Reads:
    """The async iterator of :meth:`WatchStream.views` and :meth:`WatchStream.blocks`:
    each batch as ``read`` cuts the stream's next read."""

    __slots__ = ("_read", "_stream")

    def __init__(
        self,
        stream: WatchStream,
        read: Callable[[aiohttp.StreamReader], Awaitable[list[memoryview]]],
    ) -> None:
        self._stream = stream
        self._read = read

    def __aiter__(self) -> _Reads:
        return self

    def __anext__(self) -> Awaitable[list[memoryview]]:
        return self._stream._next(self._read)


def _check_line_lengths(chunk: bytes, start: int, end: int, limit: int) -> None:
    """Raise :class:`WatchLineTooLong` if a line of ``chunk[start:end]`` is longer than
    ``limit``."""
    find = chunk.find
    while start < end:
        nl = find(b"\n", start, end)
        if nl < 0:
            nl = end
        if nl - start > limit:
            raise WatchLineTooLong(limit)
        start = nl + 1
