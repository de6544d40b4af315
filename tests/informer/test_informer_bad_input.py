"""Bad input at the byte level, from a scripted server: each case asserts the error the
user sees, what is (and is not) in the cache, and that the informer syncs again and keeps
following changes — never a half-readable object in the cache, never a request repeated
forever."""

from __future__ import annotations

import logging

import pytest
from informer_helpers import FAST_BACKOFF, PODS, running
from watch_wire import (
    Fail,
    Hold,
    Script,
    WireServer,
    bookmark,
    line,
    modified,
    pod,
    pod_list,
)

from kcs.client import NO_RETRY, Client
from kcs.informer import Informer, InformerOptions
from kcs.watch import WatchError, WatchOptions

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(20)]

OPTIONS = InformerOptions(
    watch=WatchOptions(backoff=FAST_BACKOFF, permanent_error_backoff=FAST_BACKOFF)
)


def informer_of(client: Client, heard: list[WatchError]) -> Informer:
    informer = Informer(client, PODS, options=OPTIONS)
    informer.add_error_hook(heard.append)
    return informer


def readable(informer: Informer) -> dict[str, str]:
    """key -> rv of the cache, after reading every cached object in full (as user code
    would): an object that raises here should never have been cached."""
    out = {}
    for obj in informer.lister.list():
        obj.to_dict()
        obj.fields()
        out[obj.key] = obj.resource_version
    return out


def with_data(name: str, rv: int, marker: bytes, raw: bytes, etype: str = "MODIFIED") -> bytes:
    return line(etype, {**pod(name, rv), "data": {"k": marker.decode()}}).replace(marker, raw)


async def test_non_utf8_data_is_rejected_never_cached(
    wire: WireServer, wire_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    page = pod_list(10, [pod("a", 3), {**pod("bad", 4), "data": {"k": "MARK"}}])
    wire.lists = [page.replace(b"MARK", b"\xff\xfe")]
    wire.watches = [Script([
        with_data("a", 11, b"MARK", b"\xc3\x28"),  # a's new state cannot be read
        with_data("new", 12, b"MARK", b"ok \xe9", "ADDED"),
        modified("a", 13),
        Hold(),
    ])]
    heard: list[WatchError] = []
    informer = informer_of(wire_client, heard)
    with caplog.at_level(logging.ERROR, logger="kcs.watch"):
        async with running(informer):
            assert readable(informer) == {"default/a": "3"}  # synced without "bad"
            assert await informer.wait_for("13", 5)
            assert readable(informer) == {"default/a": "13"}
    assert [e.kind for e in heard] == ["rejected_object"] * 3
    assert "rejected the object default/bad at rv 4 in a list page: its data is not valid " \
           "UTF-8" in str(heard[0])
    assert "default/a at rv 11" in str(heard[1]) and "default/new at rv 12" in str(heard[2])
    assert "not valid UTF-8" in caplog.text
    assert informer.stats.watch_errors == 3
    assert len(wire.list_queries) == 1 and len(wire.watch_queries) == 1  # nothing repeated


async def test_an_object_without_a_name_is_rejected_never_cached_under_a_namespace(
    wire: WireServer, wire_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    nameless = pod("x", 4)
    nameless["metadata"]["name"] = ""
    also_nameless = pod("y", 11)
    del also_nameless["metadata"]["name"]
    wire.lists = [pod_list(10, [pod("a", 3), nameless])]
    wire.watches = [Script([line("ADDED", also_nameless), modified("a", 12), Hold()])]
    heard: list[WatchError] = []
    informer = informer_of(wire_client, heard)
    with caplog.at_level(logging.ERROR, logger="kcs.watch"):
        async with running(informer):
            assert await informer.wait_for("12", 5)
            assert readable(informer) == {"default/a": "12"}
            assert "default/" not in informer.lister
    assert [e.kind for e in heard] == ["rejected_object", "rejected_object"]
    assert all("no metadata.name" in str(e) for e in heard)
    assert caplog.text.count("it has no metadata.name") == 2


async def test_a_resource_version_the_server_refuses_as_a_resume_point_relists(
    wire: WireServer, wire_client: Client
) -> None:
    weird = pod("a", 1)
    weird["metadata"]["resourceVersion"] = "abc"
    wire.lists = [pod_list(10, [pod("a", 3)]), pod_list(30, [pod("a", 25), pod("b", 26)])]
    wire.watches = [
        Script([line("MODIFIED", weird)]),  # the resume point becomes "abc", then EOF
        Fail(422, "Invalid", message="resourceVersion: Invalid value: \"abc\""),
        Script([modified("b", 31), Hold()]),
    ]
    heard: list[WatchError] = []
    informer = informer_of(wire_client, heard)
    async with running(informer):
        assert await informer.wait_for("31", 5)
        assert readable(informer) == {"default/a": "25", "default/b": "31"}
    assert [e.kind for e in heard] == ["resume_refused"]
    assert heard[0].code == 422 and "refused rv 'abc' as a resume point" in str(heard[0])
    assert [q.get("resourceVersion") for q in wire.watch_queries] == ["10", "abc", "30"]
    assert "resourceVersion" not in wire.list_queries[1]  # from scratch
    assert informer.stats.syncs == 2


async def test_a_continue_token_the_server_rejects_restarts_the_list_without_it(
    wire: WireServer, wire_client: Client
) -> None:
    wire.lists = [
        pod_list(10, [pod("a", 3)], continue_="mangled-by-a-proxy"),
        Fail(400, "BadRequest", message="continue key is not valid"),
        pod_list(10, [pod("a", 3), pod("b", 4), pod("c", 5)]),
    ]
    wire.watches = [Script([modified("c", 11), Hold()])]
    heard: list[WatchError] = []
    informer = Informer(wire_client, PODS, options=InformerOptions(
        watch=WatchOptions(page_size=1, backoff=FAST_BACKOFF)))
    informer.add_error_hook(heard.append)
    async with running(informer):
        assert await informer.wait_for("11", 5)
        assert readable(informer) == {"default/a": "3", "default/b": "4", "default/c": "11"}
    assert [e.kind for e in heard] == ["continue_refused"]
    assert "without pagination" in str(heard[0]) and "continue key is not valid" in str(heard[0])
    assert [(q.get("limit"), q.get("continue")) for q in wire.list_queries] == [
        ("1", None), ("1", "mangled-by-a-proxy"), (None, None)
    ]  # three requests, never the refused page again


async def test_one_huge_object_resent_on_every_watch_is_read_through_a_relist(
    wire: WireServer,
) -> None:
    big = {**pod("big", 11), "data": {"x": "y" * 5000}}
    wire.lists = [pod_list(10, [pod("a", 3)]), pod_list(20, [pod("a", 3), big])]
    wire.watches = [Script([line("MODIFIED", big), Hold()]) for _ in range(2)]
    wire.watches.append(Script([modified("a", 21), Hold()]))
    heard: list[WatchError] = []
    async with Client.from_url(wire.url, retry=NO_RETRY, qps=None,
                               max_watch_line_size=1024) as client:
        informer = informer_of(client, heard)
        async with running(informer):
            assert await informer.wait_for("21", 5)
            assert readable(informer) == {"default/a": "21", "default/big": "11"}
    assert [e.kind for e in heard] == ["line_too_long", "line_too_long"]
    assert "sent on every resume" in str(heard[1])
    assert len(wire.watch_queries) == 3 and len(wire.list_queries) == 2  # not 27 watches
    assert informer.stats.syncs == 2


async def test_an_object_without_a_resource_version_is_accepted_and_reported(
    wire: WireServer, wire_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    no_rv = pod("n", 1)
    del no_rv["metadata"]["resourceVersion"]
    listed = pod("l", 1)
    del listed["metadata"]["resourceVersion"]
    wire.lists = [pod_list(10, [listed])]
    wire.watches = [Script([line("ADDED", no_rv), bookmark(12), modified("n", 13), Hold()])]
    heard: list[WatchError] = []
    informer = informer_of(wire_client, heard)
    with caplog.at_level(logging.WARNING, logger="kcs.watch"):
        async with running(informer):
            assert readable(informer) == {"default/l": ""}
            assert await informer.wait_for("13", 5)
            assert readable(informer) == {"default/l": "", "default/n": "13"}
    assert [e.kind for e in heard] == ["no_resource_version", "no_resource_version"]
    assert "default/l in a list page has no metadata.resourceVersion" in caplog.text
    assert "default/n in a watch event ADDED has no metadata.resourceVersion" in caplog.text


async def test_an_empty_watch_response_is_reported_and_recovered_from(
    wire: WireServer, wire_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    wire.lists = [pod_list(10, [pod("a", 3)])]
    wire.watches = [Script([]), Script([]), Script([modified("a", 11), Hold()])]
    heard: list[WatchError] = []
    informer = informer_of(wire_client, heard)
    with caplog.at_level(logging.WARNING, logger="kcs.watch"):
        async with running(informer):
            assert await informer.wait_for("11", 5)
            assert readable(informer) == {"default/a": "11"}
    assert [e.kind for e in heard] == ["empty_watch", "empty_watch"]
    assert caplog.text.count("without a single line") == 2
    assert [q["resourceVersion"] for q in wire.watch_queries] == ["10", "10", "10"]
