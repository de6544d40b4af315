"""watch_raw: lines split across reads, the line size limit, endings, errors, parameters."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence

import anyio
import orjson
import pytest
from aiohttp import web
from client_wire import Handler, WireServer, json_response
from hypothesis import given, settings
from hypothesis import strategies as st

from kcs.client import ApiConnectionError, ApiTimeoutError, Client, WatchLineTooLong, WatchStream
from kcs.core import Forbidden, Gone, builtin, status_body

pytestmark = [pytest.mark.timeout(30)]

PODS = builtin("pods")


def event(i: int, pad: int = 0) -> bytes:
    obj = {"metadata": {"name": f"p{i}", "resourceVersion": str(i)}, "pad": "x" * pad}
    return orjson.dumps({"type": "ADDED", "object": obj})


# -- the line splitting itself, with chunk boundaries chosen exactly --------------------


class FedContent:
    """Stands in for ``aiohttp.StreamReader``: each ``readany()`` returns exactly the next
    chunk, so the chunk boundaries are the test's, then ``b""`` (end) or it waits forever."""

    def __init__(self, chunks: Sequence[bytes], eof: bool) -> None:
        self.chunks = list(chunks)
        self.eof = eof

    async def readany(self) -> bytes:
        if self.chunks:
            return self.chunks.pop(0)
        if not self.eof:
            await anyio.sleep_forever()
        return b""


class FedResponse:
    """The part of ``aiohttp.ClientResponse`` that WatchStream uses."""

    def __init__(self, chunks: Sequence[bytes], eof: bool = True) -> None:
        self.content = FedContent(chunks, eof)
        self.closed = False
        self.released = False

    def close(self) -> None:
        self.closed = True

    def release(self) -> None:
        self.released = True


async def read_all(stream: WatchStream, mode: str = "bytes") -> list[list[bytes]]:
    """Every batch of ``stream``, as lines of bytes to compare: read through
    ``stream.views()`` (each line a memoryview, checked to be one) with ``views``,
    through ``stream.blocks()`` (each block a memoryview, checked, cut into its non-blank
    lines here) with ``blocks``, else as the stream's own lines."""
    async with stream:
        if mode == "bytes":
            return [batch async for batch in stream]
        out = []
        async for batch in stream.views() if mode == "views" else stream.blocks():
            assert batch and all(type(v) is memoryview and v.readonly for v in batch)
            if mode == "views":
                out.append([bytes(line) for line in batch])
            else:
                assert len(batch) <= 2  # the line straddling reads, then the read's own
                out.append([line for block in batch for line in bytes(block).split(b"\n")
                            if line])
        return out


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges) if b > a]


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 300), min_size=1, max_size=12),
    cuts=st.lists(st.integers(0, 10_000), max_size=30),
    final_newline=st.booleans(),
    mode=st.sampled_from(["bytes", "views", "blocks"]),
)
def test_lines_survive_any_chunking(
    sizes: list[int], cuts: list[int], final_newline: bool, mode: str
) -> None:
    lines = [event(i, pad) for i, pad in enumerate(sizes)]
    data = b"\n".join(lines) + (b"\n" if final_newline else b"")
    chunks = split_at(data, cuts)

    async def main() -> tuple[list[list[bytes]], FedResponse]:
        resp = FedResponse(chunks)

        async def open_response() -> FedResponse:
            return resp

        stream = WatchStream(open_response, max_line_size=1024)  # type: ignore[arg-type]
        return await read_all(stream, mode), resp

    batches, resp = anyio.run(main)
    assert [line for batch in batches for line in batch] == lines
    assert all(batch for batch in batches)
    # One batch per read that completed a line, plus the unterminated last line at the end.
    completing = [c for c in chunks if b"\n" in c]
    assert len(batches) == len(completing) + (0 if final_newline else 1)
    assert resp.released and not resp.closed


@pytest.mark.parametrize("mode", ["bytes", "views", "blocks"])
def test_blank_lines_are_dropped_and_a_long_line_is_refused(mode: str) -> None:
    async def main() -> None:
        ok = FedResponse([b"\n\na\n", b"\n", b"b", b"\n\n"])

        async def open_ok() -> FedResponse:
            return ok

        got = await read_all(WatchStream(open_ok), mode)  # type: ignore[arg-type]
        assert got == [[b"a"], [b"b"]]

        # A line that grows past the limit across reads, before its newline arrives.
        long = FedResponse([b"x" * 600, b"x" * 600, b"\n"], eof=False)

        async def open_long() -> FedResponse:
            return long

        with pytest.raises(WatchLineTooLong) as caught:
            await read_all(WatchStream(open_long, max_line_size=1000), mode)  # type: ignore[arg-type]
        assert caught.value.limit == 1000
        assert long.closed

        # A complete line over the limit inside one read.
        whole = FedResponse([b"short\n" + b"y" * 2000 + b"\nafter\n"])

        async def open_whole() -> FedResponse:
            return whole

        with pytest.raises(WatchLineTooLong):
            await read_all(WatchStream(open_whole, max_line_size=1000), mode)  # type: ignore[arg-type]
        assert whole.closed

    anyio.run(main)


# -- over the wire ----------------------------------------------------------------------


def make_handler(pieces: Sequence[bytes], *, end: str = "clean", pause: float = 0.0) -> Handler:
    """A watch handler that writes ``pieces`` as separate chunks, then ends as told:
    ``clean`` (end of response), ``abort`` (connection cut) or ``hold`` (stay open)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for piece in pieces:
            await resp.write(piece)
            if pause:
                # Shape the wire: let the client read this piece on its own.
                await asyncio.sleep(pause)
        if end == "abort":
            assert request.transport is not None
            request.transport.abort()
            return resp
        if end == "hold":
            await asyncio.sleep(30)
        await resp.write_eof()
        return resp

    return handler


@pytest.mark.anyio
async def test_watch_over_the_wire_with_lines_cut_across_chunks(wire: WireServer) -> None:
    lines = [event(i, pad=50 * i) for i in range(6)]
    data = b"\n".join(lines) + b"\n"
    pieces = [data[i : i + 37] for i in range(0, len(data), 37)]
    wire.handler = make_handler(pieces, pause=0.005)
    async with (
        Client.from_url(wire.url) as client,
        client.watch_raw(PODS, "ns", resource_version="5") as stream,
    ):
        got = [line async for batch in stream for line in batch]
    assert got == lines
    (seen,) = wire.seen
    assert seen.path == "/api/v1/namespaces/ns/pods"
    assert seen.query == {"watch": "true", "resourceVersion": "5", "allowWatchBookmarks": "true"}


@pytest.mark.anyio
async def test_final_line_without_newline_is_yielded(wire: WireServer) -> None:
    wire.handler = make_handler([event(1) + b"\n" + event(2)])
    async with Client.from_url(wire.url) as client:
        batches = [b async for b in client.watch_raw(PODS)]
    assert [line for batch in batches for line in batch] == [event(1), event(2)]


@pytest.mark.anyio
async def test_broken_stream_drops_the_partial_line_and_raises(wire: WireServer) -> None:
    wire.handler = make_handler([event(1) + b"\n", event(2)[:10]], end="abort", pause=0.01)
    got: list[bytes] = []
    async with Client.from_url(wire.url) as client:
        with pytest.raises(ApiConnectionError):
            async with client.watch_raw(PODS) as stream:
                async for batch in stream:
                    got.extend(batch)
    assert got == [event(1)]


@pytest.mark.anyio
async def test_too_long_line_closes_the_stream(wire: WireServer) -> None:
    wire.handler = make_handler([event(1) + b"\n", b"z" * 5000], end="hold", pause=0.01)
    async with Client.from_url(wire.url, max_watch_line_size=4096) as client:
        with pytest.raises(WatchLineTooLong):
            async with client.watch_raw(PODS) as stream:
                async for _ in stream:
                    pass
        with anyio.fail_after(5):
            await wire.disconnected.wait()


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "error"),
    [
        (status_body(410, "Expired", "too old resource version: 1 (50)"), Gone),
        (status_body(403, "Forbidden", "pods is forbidden"), Forbidden),
    ],
)
async def test_error_on_watch_start_is_typed(
    wire: WireServer, status: dict[str, object], error: type[Exception]
) -> None:
    code = status["code"]
    assert isinstance(code, int)
    wire.reply(status, code)
    async with Client.from_url(wire.url) as client:
        with pytest.raises(error) as caught:
            async with client.watch_raw(PODS, resource_version="1"):
                pass
    assert getattr(caught.value, "status", None) == status


@pytest.mark.anyio
async def test_watch_parameters(wire: WireServer) -> None:
    wire.handler = make_handler([])
    async with (
        Client.from_url(wire.url) as client,
        client.watch_raw(
            "pods",
            resource_version="",
            allow_watch_bookmarks=False,
            send_initial_events=True,
            resource_version_match="NotOlderThan",
            timeout_seconds=30,
            label_selector={"app": "web"},
            field_selector={"spec.nodeName": "n1"},
        ) as stream,
    ):
        assert [b async for b in stream] == []
    assert wire.seen[0].path == "/api/v1/pods"
    assert wire.seen[0].query == {
        "watch": "true",
        "resourceVersion": "",
        "sendInitialEvents": "true",
        "resourceVersionMatch": "NotOlderThan",
        "timeoutSeconds": "30",
        "labelSelector": "app=web",
        "fieldSelector": "spec.nodeName=n1",
    }


@pytest.mark.anyio
async def test_watch_start_is_retried_like_a_get(wire: WireServer) -> None:
    from kcs.client import RetryPolicy

    calls = [0]
    stream_handler = make_handler([event(1) + b"\n"])

    async def handler(request: web.Request) -> web.StreamResponse:
        calls[0] += 1
        if calls[0] == 1:
            return json_response(status_body(503, "ServiceUnavailable", "starting"), 503)
        return await stream_handler(request)

    wire.handler = handler
    policy = RetryPolicy(backoff_initial=0.001)
    async with (
        Client.from_url(wire.url, retry=policy) as client,
        client.watch_raw(PODS) as stream,
    ):
        assert [b async for b in stream] == [[event(1)]]
    assert calls[0] == 2


@pytest.mark.anyio
async def test_stream_outlives_the_request_timeout_but_not_its_read_timeout(
    wire: WireServer,
) -> None:
    wire.handler = make_handler([event(1) + b"\n", event(2) + b"\n"], pause=0.3)
    async with Client.from_url(wire.url, request_timeout=0.1) as client:
        async with client.watch_raw(PODS) as stream:
            got = [line async for batch in stream for line in batch]
        assert got == [event(1), event(2)]

        wire.handler = make_handler([event(1) + b"\n"], end="hold")
        with pytest.raises(ApiTimeoutError):
            async with client.watch_raw(PODS, read_timeout=0.2) as stream:
                async for _ in stream:
                    pass


@pytest.mark.anyio
async def test_cancelling_a_watch_closes_the_connection(wire: WireServer) -> None:
    wire.handler = make_handler([event(1) + b"\n"], end="hold")
    async with Client.from_url(wire.url) as client:
        with anyio.move_on_after(0.3):
            async with client.watch_raw(PODS) as stream:
                async for _ in stream:
                    pass
        with anyio.fail_after(5):
            await wire.disconnected.wait()


@pytest.mark.anyio
async def test_deadline_bounds_the_watch_start(wire: WireServer) -> None:
    async def never_answers(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(30)
        raise AssertionError("unreachable")

    wire.handler = never_answers
    async with Client.from_url(wire.url) as client:
        with pytest.raises(TimeoutError), anyio.fail_after(0.2):
            async with client.watch_raw(PODS):
                pass
        with anyio.fail_after(5):
            await wire.disconnected.wait()
