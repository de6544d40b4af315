"""The watcher's error path against a scripted server: what it reports (kind, code, plain
words, the hook, the state), how slowly it retries a permanent error, and how it changes
strategy instead of repeating a request that failed."""

from __future__ import annotations

import logging
from typing import Any

import anyio
import pytest
from watch_wire import (
    FAST_BACKOFF,
    Fail,
    Hold,
    Script,
    WireServer,
    bookmark,
    line,
    modified,
    pod,
    pod_list,
    summary,
    take,
)

from kcs.client import Client
from kcs.core import builtin
from kcs.watch import (
    Backoff,
    Watcher,
    WatchError,
    WatchErrorKind,
    WatcherState,
    WatchOptions,
)

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(20)]

PODS = builtin("pods")
SLOW = Backoff(initial=0.3, maximum=0.3, jitter=0.0)


def watcher(client: Client, errors: list[WatchError] | None = None, **options: Any) -> Watcher:
    options.setdefault("backoff", FAST_BACKOFF)
    options.setdefault("permanent_error_backoff", FAST_BACKOFF)
    return Watcher(
        client,
        PODS,
        options=WatchOptions(**options),
        on_error=None if errors is None else errors.append,
    )


def with_rv(name: str, rv: str) -> dict[str, Any]:
    obj = pod(name, 1)
    obj["metadata"]["resourceVersion"] = rv
    return obj


@pytest.mark.parametrize(
    "code,reason,kind,words",
    [
        (403, "Forbidden", WatchErrorKind.FORBIDDEN,
         "403 Forbidden: listing pods in all namespaces is not allowed for this identity (RBAC)"),
        (401, "Unauthorized", WatchErrorKind.UNAUTHORIZED,
         "401 Unauthorized: listing pods in all namespaces was refused because the apiserver "
         "does not accept this client's credentials"),
        (404, "NotFound", WatchErrorKind.NOT_FOUND,
         "404 Not Found: listing pods in all namespaces: the apiserver does not serve pods (v1); "
         "is its CustomResourceDefinition installed"),
    ],
)
async def test_a_permanent_error_is_reported_in_plain_words_and_retried_slowly(
    wire: WireServer, wire_client: Client, caplog: pytest.LogCaptureFixture,
    code: int, reason: str, kind: WatchErrorKind, words: str,
) -> None:
    wire.lists = [Fail(code, reason), pod_list(10, [pod("a", 3)])]
    errors: list[WatchError] = []
    w = watcher(wire_client, errors, permanent_error_backoff=SLOW)
    states: list[WatcherState] = [w.state]  # a list, not an assert: mypy keeps w.state open
    with caplog.at_level(logging.ERROR, logger="kcs.watch"):
        async with w, anyio.create_task_group() as tg:
            got: list[Any] = []

            async def consume() -> None:
                got.extend(await take(aiter(w), 3))

            tg.start_soon(consume)
            await wire.wait_for(lambda: len(wire.list_queries) == 1)
            with anyio.fail_after(2):
                while w.state is not WatcherState.BACKING_OFF:  # noqa: ASYNC110
                    await anyio.sleep(0.005)  # no event marks the state change: poll it
            states.append(w.state)
            assert w.retry_at is not None and w.retry_at - anyio.current_time() > 0.15
            await wire.wait_for(lambda: len(wire.list_queries) == 2)
    first, second = wire.list_times
    assert second - first >= 0.29  # the slow backoff, not FAST_BACKOFF's 10 ms
    assert states == [WatcherState.NEW, WatcherState.BACKING_OFF]
    rest = got
    assert [summary(e)[0] for e in rest] == ["InitStart", "InitApply", "InitDone"]
    (error,) = errors
    assert error.kind is kind and error.code == code and error.permanent
    assert str(error).startswith(words)
    assert w.stats.errors == {kind: 1}
    assert w.stats.tallies[(kind, code)].count == 1
    assert w.stats.last_error == error
    assert words in caplog.text and "retrying the list in" in caplog.text
    assert w.state is WatcherState.STOPPED


async def test_state_follows_list_watch_and_backoff(
    wire: WireServer, wire_client: Client
) -> None:
    wire.lists = [pod_list(10, [])]
    wire.watches = [Fail(500, "InternalError"), Script([modified("a", 11), Hold()])]
    w = watcher(wire_client, backoff=Backoff(initial=0.2, maximum=0.2, jitter=0.0))
    seen: list[WatcherState] = []
    async with w:
        async for event in w:
            seen.append(w.state)
            if summary(event) == ("Apply", "a@11"):
                break
    assert seen == [WatcherState.LISTING, WatcherState.LISTING, WatcherState.WATCHING]
    assert w.stats.errors == {"api_error": 1}
    assert w.stats.consecutive_failures == 0  # the watch delivered: healthy again
    assert w.state is WatcherState.STOPPED


async def test_a_refused_resume_point_relists_from_scratch(
    wire: WireServer, wire_client: Client
) -> None:
    # A non-numeric resourceVersion becomes the resume point; the server refuses to watch
    # from it (422). Resuming there again would repeat forever: relist from scratch.
    wire.lists = [pod_list(10, []), pod_list(30, [pod("a", 25)])]
    wire.watches = [
        Script([line("MODIFIED", with_rv("a", "abc"))]),
        Fail(422, "Invalid"),
        Script([modified("a", 31), Hold()]),
    ]
    errors: list[WatchError] = []
    w = watcher(wire_client, errors)
    async with w:
        events = await take(aiter(w), 7)
    assert [summary(e) for e in events] == [
        ("InitStart", ""),
        ("InitDone", "10"),
        ("Apply", "a@abc"),
        ("InitStart", ""),
        ("InitApply", "a@25"),
        ("InitDone", "30"),
        ("Apply", "a@31"),
    ]
    assert [q["resourceVersion"] for q in wire.watch_queries] == ["10", "abc", "30"]
    assert "resourceVersion" not in wire.list_queries[1]  # from scratch, not at "abc"
    assert w.stats.errors == {"resume_refused": 1}
    assert errors[0].code == 422 and not errors[0].permanent and "'abc'" in str(errors[0])
    assert w.stats.relists == 1


async def test_a_server_that_refuses_its_own_resource_versions_is_retried_slowly(
    wire: WireServer, wire_client: Client
) -> None:
    wire.lists = [pod_list(10, []), pod_list(11, []), pod_list(12, [])]
    wire.watches = [Fail(400, "BadRequest"), Fail(400, "BadRequest"),
                    Script([modified("a", 13), Hold()])]
    errors: list[WatchError] = []
    w = watcher(wire_client, errors, permanent_error_backoff=SLOW)
    async with w:
        events = aiter(w)
        await take(events, 4)  # the first list and the relist after the first refusal
        before = anyio.current_time()
        rest = await take(events, 3)
    assert anyio.current_time() - before >= 0.25  # not a fast loop of lists and watches
    assert [summary(e) for e in rest] == [("InitStart", ""), ("InitDone", "12"),
                                          ("Apply", "a@13")]
    assert [e.kind for e in errors] == ["resume_refused", "resume_refused"]
    assert [e.permanent for e in errors] == [False, True]
    assert "which its own list returned" in str(errors[1])


async def test_a_refused_continue_token_lists_again_without_pages(
    wire: WireServer, wire_client: Client
) -> None:
    wire.lists = [
        pod_list(10, [pod("a", 3)], continue_="tok"),
        Fail(400, "BadRequest"),
        pod_list(10, [pod("a", 3), pod("b", 4)]),
        pod_list(40, [pod("b", 4)]),  # the relist after a 410: still in one request
    ]
    wire.watches = [Script([error_410()]), Script([Hold()])]
    w = watcher(wire_client, page_size=1)
    async with w:
        events = await take(aiter(w), 9)
    assert [summary(e) for e in events] == [
        ("InitStart", ""),
        ("InitApply", "a@3"),
        ("InitStart", ""),  # the partial list is dropped
        ("InitApply", "a@3"),
        ("InitApply", "b@4"),
        ("InitDone", "10"),
        ("InitStart", ""),
        ("InitApply", "b@4"),
        ("InitDone", "40"),
    ]
    first, with_token, whole, relist = wire.list_queries
    assert first["limit"] == "1" and with_token["continue"] == "tok"
    assert "limit" not in whole and "continue" not in whole
    assert "limit" not in relist  # remembered for this watcher
    assert w.stats.errors == {"continue_refused": 1, "gone": 1}


def error_410() -> bytes:
    return line("ERROR", {"kind": "Status", "apiVersion": "v1", "metadata": {},
                          "status": "Failure", "reason": "Expired", "code": 410,
                          "message": "too old resource version"})


async def test_a_line_too_long_at_the_same_point_twice_relists(wire: WireServer) -> None:
    big = {**pod("big", 11), "data": {"x": "y" * 5000}}
    wire.lists = [pod_list(10, []), pod_list(20, [big])]
    wire.watches = [
        Script([line("MODIFIED", big), Hold()]),
        Script([line("MODIFIED", big), Hold()]),
        Script([modified("a", 21), Hold()]),
    ]
    errors: list[WatchError] = []
    async with Client.from_url(wire.url, max_watch_line_size=1024) as client:
        w = watcher(client, errors)
        async with w:
            events = await take(aiter(w), 6)
    assert [summary(e) for e in events] == [
        ("InitStart", ""),
        ("InitDone", "10"),
        ("InitStart", ""),
        ("InitApply", "big@11"),  # read through a list, which has no line limit
        ("InitDone", "20"),
        ("Apply", "a@21"),
    ]
    assert [q["resourceVersion"] for q in wire.watch_queries] == ["10", "10", "20"]
    relist = wire.list_queries[1]
    assert relist["resourceVersion"] == "10" and relist["resourceVersionMatch"] == "NotOlderThan"
    assert w.stats.errors == {"line_too_long": 2}
    assert "sent on every resume" in str(errors[-1])
    assert w.stats.relists == 1


async def test_a_malformed_line_at_the_same_point_twice_relists(
    wire: WireServer, wire_client: Client
) -> None:
    broken = b'{"type":"MODIFIED","object":{"kind":\n'
    wire.lists = [pod_list(10, []), pod_list(20, [pod("a", 12)])]
    wire.watches = [Script([modified("a", 11), broken]), Script([broken]),
                    Script([Hold()])]
    w = watcher(wire_client)
    async with w:
        events = await take(aiter(w), 6)
    assert [summary(e) for e in events][2:] == [
        ("Apply", "a@11"),
        ("InitStart", ""),
        ("InitApply", "a@12"),
        ("InitDone", "20"),
    ]
    assert [q["resourceVersion"] for q in wire.watch_queries] == ["10", "11"]
    assert wire.list_queries[1]["resourceVersion"] == "11"  # a relist, not a third resume
    assert w.stats.errors == {"malformed": 2}


async def test_an_empty_watch_response_is_logged_and_counted(
    wire: WireServer, wire_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    wire.lists = [pod_list(10, [])]
    wire.watches = [Script([]), Script([modified("a", 11), Hold()])]
    errors: list[WatchError] = []
    w = watcher(wire_client, errors)
    with caplog.at_level(logging.WARNING, logger="kcs.watch"):
        async with w:
            events = await take(aiter(w), 3)
    assert summary(events[2]) == ("Apply", "a@11")
    assert w.stats.errors == {"empty_watch": 1}
    assert "without a single line" in caplog.text and "without a single line" in str(errors[0])


async def test_objects_that_cannot_be_cached_are_dropped_and_reported(
    wire: WireServer, wire_client: Client
) -> None:
    nameless = pod("x", 11)
    nameless["metadata"]["name"] = ""
    not_utf8 = line("MODIFIED", {**pod("bad", 12), "data": {"k": "MARK"}}).replace(
        b"MARK", b"\xff\xfe"
    )
    no_rv = pod("norv", 1)
    del no_rv["metadata"]["resourceVersion"]
    wire.lists = [pod_list(10, [])]
    wire.watches = [
        Script([line("ADDED", nameless), not_utf8, line("ADDED", no_rv), modified("a", 13)]),
        Script([bookmark(14), Hold()]),
    ]
    errors: list[WatchError] = []
    w = watcher(wire_client, errors)
    async with w:
        events = await take(aiter(w), 5)
    assert [summary(e) for e in events][2:] == [
        ("Apply", "norv@"),
        ("Apply", "a@13"),
        ("Bookmark", "14"),
    ]
    assert [q["resourceVersion"] for q in wire.watch_queries] == ["10", "13"]
    assert w.stats.errors == {"rejected_object": 2, "no_resource_version": 1}
    assert w.stats.rejected == 2
    assert "no metadata.name" in str(errors[0])
    assert "default/bad" in str(errors[1]) and "not valid UTF-8" in str(errors[1])
    assert "default/norv" in str(errors[2])


async def test_a_list_page_with_an_unreadable_object_keeps_the_others(
    wire: WireServer, wire_client: Client
) -> None:
    page = pod_list(10, [pod("a", 3), pod("MARK", 4), {**pod("c", 5), "data": {"k": "DATA"}},
                         pod("d", 6)])
    wire.lists = [page.replace(b"MARK", b"b\xff").replace(b"DATA", b"\xc3\x28")]
    w = watcher(wire_client)
    async with w:
        events = await take(aiter(w), 4)
    assert [summary(e) for e in events] == [
        ("InitStart", ""),
        ("InitApply", "a@3"),
        ("InitApply", "d@6"),
        ("InitDone", "10"),
    ]
    assert w.stats.errors == {"rejected_object": 2}
    assert w.stats.rejected == 2


async def test_the_error_hook_cannot_break_the_watcher(
    wire: WireServer, wire_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    wire.lists = [Fail(500, "InternalError"), pod_list(10, [])]

    def broken(error: WatchError) -> None:
        raise RuntimeError("hook bug")

    w = Watcher(wire_client, PODS, options=WatchOptions(backoff=FAST_BACKOFF), on_error=broken)
    with caplog.at_level(logging.ERROR, logger="kcs.watch"):
        async with w:
            await take(aiter(w), 2)
    assert "hook bug" in caplog.text
    assert w.stats.errors == {"api_error": 1}


def test_options_are_values_checked_once() -> None:
    assert WatchOptions() == WatchOptions()
    assert WatchOptions(page_size=10) != WatchOptions()
    assert hash(WatchOptions(backoff=FAST_BACKOFF)) == hash(WatchOptions(backoff=FAST_BACKOFF))
    with pytest.raises(ValueError, match="page_size"):
        WatchOptions(page_size=0)
    with pytest.raises(ValueError, match="initial_list"):
        WatchOptions(initial_list="later")  # type: ignore[arg-type]
