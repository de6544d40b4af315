"""The watcher against a scripted server: exactly what it asks for, and what it does with
answers a correct apiserver never gives (malformed lines, unknown types, stalls)."""

from __future__ import annotations

import logging
import socket
from typing import Any

import anyio
import pytest
from watch_wire import (
    FAST_BACKOFF,
    Fail,
    Hold,
    Script,
    WireServer,
    added,
    bookmark,
    deleted,
    error_event,
    line,
    modified,
    pod,
    pod_list,
    summary,
    take,
)

from kcs.client import NO_RETRY, Client
from kcs.core import builtin
from kcs.watch import Apply, Watcher, WatchErrorKind, WatchOptions

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(20)]

PODS = builtin("pods")


def watcher(client: Client, *, resource_version: str | None = None, **options: Any) -> Watcher:
    """A watcher of every pod, with fast retries unless ``options`` say otherwise."""
    options.setdefault("backoff", FAST_BACKOFF)
    return Watcher(
        client, PODS, options=WatchOptions(**options), resource_version=resource_version
    )


async def test_paginated_list_then_watch_from_its_rv(
    wire: WireServer, wire_client: Client
) -> None:
    wire.lists = [
        pod_list(10, [pod("a", 3), pod("b", 4)], continue_="tok1"),
        pod_list(10, [pod("c", 5)]),
    ]
    wire.watches = [Script([modified("a", 11), deleted("b", 12), Hold()])]
    w = watcher(wire_client, page_size=2, watch_timeout=100)
    async with w:
        events = await take(aiter(w), 7)
    assert [summary(e) for e in events] == [
        ("InitStart", ""),
        ("InitApply", "a@3"),
        ("InitApply", "b@4"),
        ("InitApply", "c@5"),
        ("InitDone", "10"),
        ("Apply", "a@11"),
        ("Delete", "b@12"),
    ]
    first, second = wire.list_queries
    assert first["limit"] == "2" and "continue" not in first
    assert "resourceVersion" not in first  # the first list is a consistent read
    assert second["continue"] == "tok1" and "resourceVersion" not in second
    (wq,) = wire.watch_queries
    assert wq["resourceVersion"] == "10"
    assert wq["allowWatchBookmarks"] == "true"
    assert 100 <= int(wq["timeoutSeconds"]) <= 200
    assert "sendInitialEvents" not in wq
    assert w.resource_version == "12"
    assert (w.stats.lists, w.stats.pages, w.stats.events, w.stats.relists) == (1, 2, 5, 0)


async def test_batches_group_the_events_of_one_read(
    wire: WireServer, wire_client: Client
) -> None:
    wire.lists = [pod_list(10, [pod("a", 3), pod("b", 4)])]
    wire.watches = [Script([modified("a", 11) + modified("b", 12) + modified("a", 13), Hold()])]
    w = watcher(wire_client)
    async with w:
        batches = w.batches()
        first = await anext(batches)
        second = await anext(batches)
    assert [summary(e)[0] for e in first] == ["InitStart", "InitApply", "InitApply", "InitDone"]
    assert [summary(e) for e in second] == [("Apply", "a@11"), ("Apply", "b@12"), ("Apply", "a@13")]


async def test_timeout_seconds_are_randomized(wire: WireServer, wire_client: Client) -> None:
    wire.lists = [pod_list(10, [])]
    wire.watches = [Script([]) for _ in range(8)]  # each ends at once, cleanly
    wire.watches.append(Script([modified("a", 11), Hold()]))
    w = watcher(wire_client, watch_timeout=300)
    async with w:
        await take(aiter(w), 3)
    timeouts = {int(q["timeoutSeconds"]) for q in wire.watch_queries}
    assert all(300 <= t <= 600 for t in timeouts)
    assert len(timeouts) > 1  # 9 draws from 300 values: all equal has probability ~1e-20
    assert all(q["resourceVersion"] == "10" for q in wire.watch_queries)


async def test_clean_end_resumes_from_last_rv_without_relist(
    wire: WireServer, wire_client: Client
) -> None:
    wire.lists = [pod_list(10, [])]
    wire.watches = [
        Script([modified("a", 11), bookmark(15)]),  # ends cleanly (server timeout)
        Script([modified("a", 16), Hold()]),
    ]
    w = watcher(wire_client)
    async with w:
        events = await take(aiter(w), 5)
    assert [summary(e) for e in events[2:]] == [
        ("Apply", "a@11"),
        ("Bookmark", "15"),
        ("Apply", "a@16"),
    ]
    assert [q["resourceVersion"] for q in wire.watch_queries] == ["10", "15"]
    assert len(wire.list_queries) == 1
    assert w.stats.reconnects == 1 and w.stats.bookmarks == 1 and not w.stats.errors


async def test_malformed_line_resumes_from_last_good_rv(
    wire: WireServer, wire_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    wire.lists = [pod_list(10, [])]
    wire.watches = [
        Script([modified("a", 11), b'{"type":"MODIFIED","object":{"kind":\n', modified("a", 13)]),
        Script([modified("a", 12), modified("a", 13), Hold()]),
    ]
    w = watcher(wire_client)
    with caplog.at_level(logging.WARNING, logger="kcs.watch"):
        async with w:
            events = await take(aiter(w), 5)
    assert [summary(e) for e in events[2:]] == [
        ("Apply", "a@11"),
        ("Apply", "a@12"),
        ("Apply", "a@13"),
    ]
    assert [q["resourceVersion"] for q in wire.watch_queries] == ["10", "11"]
    assert w.stats.errors == {"malformed": 1}
    assert "malformed watch line" in caplog.text
    assert len(wire.list_queries) == 1  # no relist


async def test_truncated_last_line_resumes(wire: WireServer, wire_client: Client) -> None:
    wire.lists = [pod_list(10, [])]
    wire.watches = [
        Script([modified("a", 11), modified("a", 12)[:40]]),  # cut mid-line, then EOF
        Script([modified("a", 12), Hold()]),
    ]
    w = watcher(wire_client)
    async with w:
        events = await take(aiter(w), 4)
    assert [summary(e) for e in events[2:]] == [("Apply", "a@11"), ("Apply", "a@12")]
    assert [q["resourceVersion"] for q in wire.watch_queries] == ["10", "11"]
    assert w.stats.errors == {"malformed": 1}


async def test_unknown_event_type_is_skipped_on_the_same_stream(
    wire: WireServer, wire_client: Client
) -> None:
    wire.lists = [pod_list(10, [])]
    wire.watches = [Script([line("SURPRISE", pod("a", 11)), modified("a", 12), Hold()])]
    w = watcher(wire_client)
    async with w:
        events = await take(aiter(w), 3)
    assert summary(events[2]) == ("Apply", "a@12")
    assert w.stats.errors == {"unknown_type": 1}
    assert w.stats.watches == 1


async def test_error_event_resumes_and_410_relists(
    wire: WireServer, wire_client: Client
) -> None:
    wire.lists = [
        pod_list(10, [pod("a", 3)]),
        Fail(410, "Expired"),  # the relist at the last rv is gone too
        pod_list(30, [pod("b", 25)]),  # the relist from scratch
    ]
    wire.watches = [
        Script([modified("a", 11), error_event(500, "InternalError")]),
        Script([modified("a", 12), error_event(410, "Expired")]),
        Script([modified("b", 31), Hold()]),
    ]
    w = watcher(wire_client)
    async with w:
        events = await take(aiter(w), 9)
    assert [summary(e) for e in events] == [
        ("InitStart", ""),
        ("InitApply", "a@3"),
        ("InitDone", "10"),
        ("Apply", "a@11"),
        ("Apply", "a@12"),
        ("InitStart", ""),
        ("InitApply", "b@25"),
        ("InitDone", "30"),
        ("Apply", "b@31"),
    ]
    assert [q["resourceVersion"] for q in wire.watch_queries] == ["10", "11", "30"]
    first, at_rv, scratch = wire.list_queries
    assert at_rv["resourceVersion"] == "12" and at_rv["resourceVersionMatch"] == "NotOlderThan"
    assert "resourceVersion" not in scratch and "resourceVersion" not in first
    assert w.stats.relists == 1 and w.stats.lists == 2
    assert w.stats.errors == {"error_event": 1, "gone": 2}


async def test_http_410_on_watch_start_relists_at_last_rv(
    wire: WireServer, wire_client: Client
) -> None:
    wire.lists = [pod_list(20, [pod("a", 18)])]
    wire.watches = [Fail(410, "Expired"), Script([modified("a", 21), Hold()])]
    w = watcher(wire_client, resource_version="7")  # warm start from a snapshot
    async with w:
        events = await take(aiter(w), 4)
    assert [summary(e) for e in events] == [
        ("InitStart", ""),
        ("InitApply", "a@18"),
        ("InitDone", "20"),
        ("Apply", "a@21"),
    ]
    assert wire.watch_queries[0]["resourceVersion"] == "7"  # no list before the first watch
    (relist,) = wire.list_queries
    assert relist["resourceVersion"] == "7" and relist["resourceVersionMatch"] == "NotOlderThan"
    assert wire.watch_queries[1]["resourceVersion"] == "20"


async def test_warm_start_watches_from_the_given_rv(
    wire: WireServer, wire_client: Client
) -> None:
    wire.watches = [Script([modified("a", 124), Hold()])]
    w = watcher(wire_client, resource_version="123")
    assert w.resource_version == "123"
    async with w:
        (event,) = await take(aiter(w), 1)
    assert summary(event) == ("Apply", "a@124")
    assert wire.list_queries == []
    assert wire.watch_queries[0]["resourceVersion"] == "123"


async def test_stalled_stream_is_detected_and_resumed(
    wire: WireServer, wire_client: Client
) -> None:
    wire.lists = [pod_list(10, [])]
    wire.watches = [Script([modified("a", 11), Hold()]), Script([modified("a", 12), Hold()])]
    w = watcher(wire_client, dead_stream_timeout=0.3)
    async with w:
        events = await take(aiter(w), 4)
        await wire.wait_for(lambda: wire.disconnects >= 1)
    assert summary(events[3]) == ("Apply", "a@12")
    assert [q["resourceVersion"] for q in wire.watch_queries] == ["10", "11"]
    assert w.stats.errors == {"dead_stream": 1}


async def test_bookmarks_advance_the_resume_rv(wire: WireServer, wire_client: Client) -> None:
    wire.lists = [pod_list(10, [])]
    wire.watches = [Script([bookmark(40), bookmark(55)]), Script([modified("a", 56), Hold()])]
    w = watcher(wire_client)
    async with w:
        events = await take(aiter(w), 5)
    assert [summary(e) for e in events[2:]] == [
        ("Bookmark", "40"),
        ("Bookmark", "55"),
        ("Apply", "a@56"),
    ]
    assert wire.watch_queries[1]["resourceVersion"] == "55"


async def test_streaming_list(wire: WireServer, wire_client: Client) -> None:
    wire.watches = [
        Script([added("a", 3), added("b", 4), bookmark(10, initial_end=True), modified("a", 11),
                Hold()])
    ]
    w = watcher(wire_client, initial_list="stream")
    async with w:
        events = await take(aiter(w), 5)
    assert [summary(e) for e in events] == [
        ("InitStart", ""),
        ("InitApply", "a@3"),
        ("InitApply", "b@4"),
        ("InitDone", "10"),
        ("Apply", "a@11"),
    ]
    (q,) = wire.watch_queries  # the list and the watch are one stream
    assert q["sendInitialEvents"] == "true"
    assert q["resourceVersionMatch"] == "NotOlderThan"
    assert q["allowWatchBookmarks"] == "true"
    assert "resourceVersion" not in q
    assert wire.list_queries == []
    assert w.resource_version == "11"
    assert w.stats.lists == 1


@pytest.mark.parametrize("code,reason", [(422, "Invalid"), (400, "BadRequest")])
async def test_rejected_streaming_list_falls_back_and_is_remembered(
    wire: WireServer, wire_client: Client, code: int, reason: str
) -> None:
    wire.watches = [Fail(code, reason), Script([modified("a", 11), Hold()])]
    wire.lists = [pod_list(10, [pod("a", 3)]), pod_list(10, [pod("a", 3)])]
    w = watcher(wire_client, initial_list="stream")
    assert w.streaming_list
    async with w:
        events = await take(aiter(w), 4)
    assert [summary(e) for e in events] == [
        ("InitStart", ""),
        ("InitApply", "a@3"),
        ("InitDone", "10"),
        ("Apply", "a@11"),
    ]
    assert wire.watch_queries[0]["sendInitialEvents"] == "true"
    assert "sendInitialEvents" not in wire.watch_queries[1]
    assert w.stats.errors == {"streaming_list_rejected": 1}
    # Another watcher of the same client lists with pages at once.
    w2 = watcher(wire_client, initial_list="stream")
    assert not w2.streaming_list
    async with w2:
        await take(aiter(w2), 3)
    assert len(wire.watch_queries) == 2  # no second streaming attempt
    assert len(wire.list_queries) == 2


async def test_streaming_list_ignored_by_server_falls_back(
    wire: WireServer, wire_client: Client
) -> None:
    # A server that does not know sendInitialEvents watches from "now" (and sends
    # ordinary bookmarks); kube-apiserver never sends a plain bookmark before the end one.
    wire.watches = [
        Script([modified("a", 11), bookmark(11), Hold()]),
        Script([modified("a", 12), Hold()]),
    ]
    wire.lists = [pod_list(11, [pod("a", 11)])]
    w = watcher(wire_client, initial_list="stream")
    async with w:
        events = await take(aiter(w), 6)
    assert [summary(e) for e in events] == [
        ("InitStart", ""),  # what came before the plain bookmark: a partial list ...
        ("InitApply", "a@11"),
        ("InitStart", ""),  # ... which the paginated list's start drops
        ("InitApply", "a@11"),
        ("InitDone", "11"),
        ("Apply", "a@12"),
    ]
    assert w.stats.errors == {"streaming_list_rejected": 1}
    assert not w.streaming_list
    assert wire.watch_queries[1]["resourceVersion"] == "11"


async def test_streaming_list_cut_before_its_end_is_started_again(
    wire: WireServer, wire_client: Client
) -> None:
    wire.watches = [
        Script([added("a", 3)]),  # the connection ends before the end bookmark
        Script([added("a", 3), added("b", 4), bookmark(10, initial_end=True), Hold()]),
    ]
    w = watcher(wire_client, initial_list="stream")
    async with w:
        events = await take(aiter(w), 6)
    assert [summary(e) for e in events] == [
        ("InitStart", ""),  # the cut list, delivered as it came ...
        ("InitApply", "a@3"),
        ("InitStart", ""),  # ... and dropped by the next one
        ("InitApply", "a@3"),
        ("InitApply", "b@4"),
        ("InitDone", "10"),
    ]
    assert all(q["sendInitialEvents"] == "true" for q in wire.watch_queries)
    assert len(wire.watch_queries) == 2


async def test_throttled_and_failed_list_pages_are_retried(
    wire: WireServer, wire_client: Client
) -> None:
    wire.lists = [
        Fail(429, "TooManyRequests", {"Retry-After": "0"}),
        pod_list(10, [pod("a", 3)], continue_="tok"),
        Fail(500, "InternalError"),
        pod_list(10, [pod("b", 4)]),
    ]
    wire.watches = [Script([modified("a", 11), Hold()])]
    w = watcher(wire_client, page_size=1)
    async with w:
        events = await take(aiter(w), 5)
    assert [summary(e) for e in events] == [
        ("InitStart", ""),
        ("InitApply", "a@3"),
        ("InitApply", "b@4"),
        ("InitDone", "10"),
        ("Apply", "a@11"),
    ]
    # The failed page was asked for again with the same continue token.
    assert [q.get("continue") for q in wire.list_queries] == [None, None, "tok", "tok"]
    assert w.stats.errors == {"throttled": 1, "api_error": 1}


async def test_retry_after_is_honoured(wire: WireServer, wire_client: Client) -> None:
    wire.lists = [Fail(429, "TooManyRequests", {"Retry-After": "1"}), pod_list(10, [])]
    w = watcher(wire_client)
    async with w:
        start = anyio.current_time()
        await take(aiter(w), 2)
        waited = anyio.current_time() - start
    assert waited >= 0.9  # the 1 s the server asked for, not the 10 ms backoff
    assert w.stats.errors == {"throttled": 1}


async def test_line_too_long_resumes(wire: WireServer) -> None:
    big = line("MODIFIED", {**pod("big", 11), "data": {"x": "y" * 5000}})
    wire.lists = [pod_list(10, [])]
    wire.watches = [Script([big, Hold()]), Script([modified("a", 12), Hold()])]
    async with Client.from_url(wire.url, max_watch_line_size=1024) as client:
        w = watcher(client)
        async with w:
            events = await take(aiter(w), 3)
    assert summary(events[2]) == ("Apply", "a@12")
    assert w.stats.errors == {"line_too_long": 1}
    assert [q["resourceVersion"] for q in wire.watch_queries] == ["10", "10"]


async def test_stop_from_another_task_closes_the_stream(
    wire: WireServer, wire_client: Client
) -> None:
    wire.lists = [pod_list(10, [])]
    wire.watches = [Script([Hold()])]
    w = watcher(wire_client)
    seen: list[str] = []

    async def consume() -> None:
        async for event in w:
            seen.append(summary(event)[0])
        seen.append("ended")

    async with anyio.create_task_group() as tg:
        tg.start_soon(consume)
        await wire.wait_for(lambda: wire.open_watches == 1)
        await w.stop()
    assert seen == ["InitStart", "InitDone", "ended"]
    await wire.wait_for(lambda: wire.open_watches == 0)
    assert wire.disconnects == 1


async def test_cancelling_the_caller_closes_the_stream(
    wire: WireServer, wire_client: Client
) -> None:
    wire.lists = [pod_list(10, [])]
    wire.watches = [Script([modified("a", 11), Hold()])]
    w = watcher(wire_client)
    got: list[str] = []
    with anyio.CancelScope() as scope:
        async for event in w:
            got.append(summary(event)[0])
            if isinstance(event, Apply):
                scope.cancel()  # lands while the watcher waits for the next read
    assert scope.cancelled_caught
    assert got == ["InitStart", "InitDone", "Apply"]
    await wire.wait_for(lambda: wire.open_watches == 0)
    assert wire.disconnects == 1


async def test_server_errors_back_off_and_recover(
    wire: WireServer, wire_client: Client
) -> None:
    wire.lists = [Fail(503, "ServiceUnavailable")] * 3 + [pod_list(10, [])]
    wire.watches = [Fail(500, "InternalError"), Script([modified("a", 11), Hold()])]
    w = watcher(wire_client)
    async with w:
        events = await take(aiter(w), 3)
    assert summary(events[2]) == ("Apply", "a@11")
    assert w.stats.errors == {"api_error": 4}
    assert "InternalError" in str(w.stats.last_error)


async def test_connection_refused_is_retried() -> None:
    with socket.socket() as sock:  # a port on which nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with Client.from_url(f"http://127.0.0.1:{port}", retry=NO_RETRY) as client:
        w = watcher(client)
        async with anyio.create_task_group() as tg:
            tg.start_soon(drain, w)
            with anyio.fail_after(5):
                # Refused connections produce no event to await: poll until the deadline.
                while w.stats.errors.get(WatchErrorKind.CONNECTION, 0) < 3:  # noqa: ASYNC110
                    await anyio.sleep(0.01)
            await w.stop()
    assert w.stats.lists == 0
    assert w.last_error is not None and w.last_error.kind == "connection"


async def drain(w: Watcher) -> None:
    async for _ in w:
        pass


async def test_iterating_twice_is_refused(wire: WireServer, wire_client: Client) -> None:
    w = watcher(wire_client)
    w.batches()
    with pytest.raises(RuntimeError):
        w.batches()


async def test_stop_before_iterating_ends_at_once(wire_client: Client) -> None:
    w = watcher(wire_client)
    await w.stop()
    assert [e async for e in w] == []


async def test_leaving_async_with_closes_the_stream_at_once(
    wire: WireServer, wire_client: Client
) -> None:
    wire.lists = [pod_list(10, [])]
    wire.watches = [Script([modified("a", 11), Hold()])]
    w = watcher(wire_client)
    events = aiter(w)  # still referenced after the block: nothing waits for GC
    async with w:
        await take(events, 3)
        assert wire.open_watches == 1
    await wire.wait_for(lambda: wire.open_watches == 0, within=1.0)
    assert wire.disconnects == 1
    with pytest.raises(StopAsyncIteration):
        await anext(events)
