"""Watches: resumption, initial events, bookmarks, selectors, timeouts, 410."""

from __future__ import annotations

import anyio
import pytest
from apiserver_http import CM, Http, configmap, http, summary

from kcs.testing import FakeApiServer

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(20)]

CMS = CM.format(ns="default")


async def test_resume_delivers_exactly_the_events_after_the_rv(api: FakeApiServer,
                                                              client: Http) -> None:
    a = await client.post(CMS, configmap("a"))
    await client.patch(f"{CMS}/a", {"data": {"x": "1"}})
    await client.post(CMS, configmap("b"))
    await client.delete(f"{CMS}/a")
    async with client.watch(CMS, resourceVersion=a.rv) as w:
        assert w.status == 200
        events = await w.take(3)
    assert summary(events) == [("MODIFIED", "a"), ("ADDED", "b"), ("DELETED", "a")]
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert rvs == sorted(rvs) and rvs[-1] == api.revision
    assert events[2]["object"]["data"] == {"x": "1"}  # last state, with the deletion's rv


async def test_watch_without_rv_or_rv0_starts_with_the_current_state(api: FakeApiServer,
                                                                     client: Http) -> None:
    # kube-apiserver: "Get State and Start at Most Recent" / "... at Any": synthetic ADDED
    # events for every object, then the changes, and no initial-events-end bookmark.
    await client.post(CMS, configmap("old"))
    async with client.watch(CMS, allowWatchBookmarks="true") as now, \
            client.watch(CMS, resourceVersion="0") as zero:
        with anyio.fail_after(5):
            await api.wait_for_watchers(2)
        await client.post(CMS, configmap("new"))
        assert summary(await now.take(2)) == [("ADDED", "old"), ("ADDED", "new")]
        assert summary(await zero.take(2)) == [("ADDED", "old"), ("ADDED", "new")]


async def test_send_initial_events_false_starts_now(api: FakeApiServer, client: Http) -> None:
    await client.post(CMS, configmap("old"))
    async with client.watch(CMS, sendInitialEvents="false",
                            resourceVersionMatch="NotOlderThan") as w:
        with anyio.fail_after(5):
            await api.wait_for_watchers(1)
        await client.post(CMS, configmap("new"))
        assert summary(await w.take(1)) == [("ADDED", "new")]


async def test_streaming_list_ends_initial_events_with_a_bookmark(api: FakeApiServer,
                                                                  client: Http) -> None:
    api.seed("configmaps", [configmap(f"s{i}") for i in range(3)])
    rev = api.revision
    async with client.watch(CMS, sendInitialEvents="true", resourceVersionMatch="NotOlderThan",
                            allowWatchBookmarks="true") as w:
        first = await w.take(4)
        assert summary(first)[:3] == [("ADDED", "s0"), ("ADDED", "s1"), ("ADDED", "s2")]
        end = first[3]
        assert end["type"] == "BOOKMARK"
        assert end["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
        assert end["object"]["metadata"]["resourceVersion"] == str(rev)
        await client.post(CMS, configmap("later"))
        nxt = await w.next()
        while nxt is not None and nxt["type"] == "BOOKMARK":
            nxt = await w.next()
        assert nxt is not None and summary([nxt]) == [("ADDED", "later")]


async def test_a_streaming_list_sends_the_state_it_opened_at_whatever_changes_meanwhile(
        api: FakeApiServer, client: Http) -> None:
    # The initial events are turned into lines as they are written (a write at a time, as
    # kube-apiserver's watch cache sends each one while it walks its state), not all at
    # once when the watch opens; what they carry is still the state at that moment, and
    # the changes made while they are sent follow the end bookmark.
    from kcs.testing._watch import WRITE_BYTES

    n = 60
    big = {"v": "x" * (WRITE_BYTES // 20)}  # the initial state takes several writes
    api.seed("configmaps", [configmap(f"s{i:02d}", data=big) for i in range(n)])
    rev = api.revision
    api.faults.stall()  # nothing is written until unstall
    async with client.watch(CMS, sendInitialEvents="true", resourceVersionMatch="NotOlderThan",
                            allowWatchBookmarks="true") as w:
        with anyio.fail_after(5):
            await api.wait_for_watchers(1)
        (watcher,) = api.watches.watchers
        assert watcher.initial_left and len(watcher.pending) == 1  # no line built but the end
        await client.patch(f"{CMS}/s00", {"data": {"v": "changed"}})
        await client.delete(f"{CMS}/s01")
        await client.post(CMS, configmap("later"))
        api.faults.unstall()
        with anyio.fail_after(10):
            events = await w.take(n + 4)
    assert summary(events[:n]) == [("ADDED", f"s{i:02d}") for i in range(n)]
    assert all(e["object"]["data"] == big for e in events[:n])
    assert all(e["object"]["metadata"]["resourceVersion"] <= str(rev) for e in events[:n])
    end = events[n]
    assert end["type"] == "BOOKMARK"
    assert end["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert end["object"]["metadata"]["resourceVersion"] == str(rev)
    assert summary(events[n + 1:]) == [("MODIFIED", "s00"), ("DELETED", "s01"),
                                       ("ADDED", "later")]


def test_the_initial_state_is_written_in_slices_in_order() -> None:
    """The lines of the initial state are built a write of about WRITE_BYTES at a time,
    in order, the objects that do not match the watch's selector left out."""
    from kcs.core import FieldSelector, LabelSelector
    from kcs.testing import FakeApiServer as Api
    from kcs.testing._fields import field_reader
    from kcs.testing._store import StoredObject
    from kcs.testing._watch import WRITE_BYTES, ClientInfo, Watcher, _joined, _line_size

    served = Api().registry.lookup("", "v1", "configmaps")
    assert served is not None
    w = Watcher(served, "v1", None, LabelSelector.parse("keep=yes"), FieldSelector.parse(""),
                field_reader(served), ClientInfo("test"))
    objects = [
        StoredObject.build(configmap(f"c{i:04d}", data={"v": "y" * (500 + i % 9)},
                                     keep="yes" if i % 4 else "no"), i + 1)
        for i in range(2000)
    ]
    w.offer_initial(objects)
    w.push(b"after\n")
    writes = []
    while w.initial_left:
        write = w.take_initial()
        assert sum(map(_line_size, write[:-1])) < WRITE_BYTES  # the last may cross it
        writes.append(write)
    assert len(writes) > 3 and list(w.pending) == [b"after\n"]
    sent = b"".join(_joined(write) for write in writes).splitlines()
    kept = [o for i, o in enumerate(objects) if i % 4]
    assert sent == [b'{"type":"ADDED","object":' + o.raw + b"}" for o in kept]


async def test_faithful_bookmarks_carry_the_resource_revision_once_it_moved(
        api: FakeApiServer, client: Http) -> None:
    # kube's cacher: a bookmark is due every minute (shortened here to 0.2 s by the named
    # option, to keep the test short) but sent only when the resource's own watch-cache
    # revision is newer than where the watch started; writes to other resources do not
    # move it.
    api.bookmark_frequency = 0.2
    start = await client.post(CMS, configmap("a"))
    async with client.watch(CMS, resourceVersion=start.rv, allowWatchBookmarks="true",
                            timeoutSeconds="3") as w:
        with anyio.fail_after(5):
            await api.wait_for_watchers(1)
        api.create("pods", {"metadata": {"name": "p", "namespace": "default"},
                            "spec": {"containers": [{"name": "c", "image": "i"}]}})
        assert api.revision > int(start.rv)
        changed = await client.patch(f"{CMS}/a", {"data": {"k": "v"}})
        api.create("pods", {"metadata": {"name": "q", "namespace": "default"},
                            "spec": {"containers": [{"name": "c", "image": "i"}]}})
        events = await w.rest()
    assert summary(events[:1]) == [("MODIFIED", "a")]
    bookmarks = events[1:]
    assert bookmarks and all(e["type"] == "BOOKMARK" for e in bookmarks)
    for e in bookmarks:  # the configmaps revision, never the global one
        assert e["object"] == {"kind": "ConfigMap", "apiVersion": "v1",
                               "metadata": {"resourceVersion": changed.rv}}
    assert int(changed.rv) < api.revision


async def test_a_quiet_watch_gets_no_bookmark_at_all(api: FakeApiServer, client: Http) -> None:
    api.bookmark_frequency = 0.1
    async with client.watch(CMS, allowWatchBookmarks="true", timeoutSeconds="1") as w:
        assert await w.rest() == []  # nothing moved: no bookmark, however often one is due


async def test_the_pre_timeout_bookmark_comes_2s_before_the_deadline(api: FakeApiServer,
                                                                     client: Http) -> None:
    # With the default minute between bookmarks, the only one is 2 s before timeoutSeconds
    # (and only because the configmaps revision moved after the watch started).
    start = api.create("configmaps", configmap("p"))["metadata"]["resourceVersion"]
    async with client.watch(CMS, resourceVersion=start, allowWatchBookmarks="true",
                            timeoutSeconds="3") as w:
        began = anyio.current_time()
        with anyio.fail_after(5):
            await api.wait_for_watchers(1)
        moved = api.patch("configmaps", "p", {"data": {"x": "1"}}, namespace="default")
        first = await w.next()
        assert summary([first] if first else []) == [("MODIFIED", "p")]
        bookmark = await w.next()
        at = anyio.current_time() - began
        assert bookmark is not None and bookmark["type"] == "BOOKMARK"
        assert bookmark["object"]["metadata"]["resourceVersion"] == \
            moved["metadata"]["resourceVersion"]
        assert 0.7 < at < 2.0  # due at 3 - 2 = 1 s
        assert await w.rest() == []
    async with client.watch(CMS, resourceVersion=start, allowWatchBookmarks="true",
                            timeoutSeconds="1") as short:
        # the replayed event moves the watch's position to the newest revision: and with a
        # deadline less than 2 s away there is no bookmark at all
        assert [e["type"] for e in await short.rest()] == ["MODIFIED"]


async def test_fast_bookmarks_carry_the_global_revision_when_asked_for_by_name(
        api: FakeApiServer, client: Http) -> None:
    api.fast_bookmarks = 0.2  # a convenience kube-apiserver lacks
    api.create("pods", {"metadata": {"name": "p", "namespace": "default"},
                        "spec": {"containers": [{"name": "c", "image": "i"}]}})
    async with client.watch(CMS, resourceVersion=str(api.revision),
                            allowWatchBookmarks="true") as w:
        ev = await w.next()
        assert ev is not None and ev["type"] == "BOOKMARK"
        assert ev["object"] == {"kind": "ConfigMap", "apiVersion": "v1",
                                "metadata": {"resourceVersion": str(api.revision)}}
    async with client.watch(CMS, timeoutSeconds="1") as no_bookmarks:
        assert await no_bookmarks.rest() == []  # ends cleanly after the timeout


async def test_timeout_seconds_closes_the_stream_cleanly(client: Http) -> None:
    with anyio.fail_after(5):
        async with client.watch(CMS, timeoutSeconds="1") as w:
            assert await w.rest() == []


async def test_selector_transitions_become_added_and_deleted(api: FakeApiServer,
                                                             client: Http) -> None:
    await client.post(CMS, configmap("m", team="a"))
    async with client.watch(CMS, labelSelector="team=b") as w:
        with anyio.fail_after(5):
            await api.wait_for_watchers(1)
        await client.patch(f"{CMS}/m", {"metadata": {"labels": {"team": "b"}}})
        await client.patch(f"{CMS}/m", {"data": {"k": "v"}})
        left = await client.patch(f"{CMS}/m", {"metadata": {"labels": {"team": "c"}}})
        events = await w.take(3)
    assert summary(events) == [("ADDED", "m"), ("MODIFIED", "m"), ("DELETED", "m")]
    gone = events[2]["object"]
    assert gone["metadata"]["labels"] == {"team": "b"}  # the previous content...
    assert gone["metadata"]["resourceVersion"] == left.rv  # ...at the new revision


async def test_watch_of_a_single_object(api: FakeApiServer, client: Http) -> None:
    # kube: GET .../NAME?watch=1 is a plain GET; one object is watched through the legacy
    # /watch/ path (or a metadata.name field selector).
    api.create("configmaps", configmap("there"))
    plain = await client.get(f"{CMS}/there", watch="1")
    assert plain.status == 200 and plain.body["kind"] == "ConfigMap"
    async with client.watch("/api/v1/watch/namespaces/default/configmaps/only") as w:
        with anyio.fail_after(5):
            await api.wait_for_watchers(1)
        await client.post(CMS, configmap("other"))
        await client.post(CMS, configmap("only"))
        assert summary(await w.take(1)) == [("ADDED", "only")]


async def test_too_old_resource_version_is_an_error_event(api: FakeApiServer,
                                                          client: Http) -> None:
    old = await client.post(CMS, configmap("x"))
    await client.post(CMS, configmap("y"))
    api.compact()
    async with client.watch(CMS, resourceVersion=old.rv) as w:
        events = await w.rest()
    assert [e["type"] for e in events] == ["ERROR"]
    status = events[0]["object"]
    assert status["code"] == 410 and status["reason"] == "Expired"
    assert status["message"].startswith("too old resource version")
    assert api.faults.counts["compact"] == 1


async def test_history_is_bounded() -> None:
    async with FakeApiServer(history_size=3) as api:
        created = [api.create("configmaps", configmap(f"h{i}")) for i in range(5)]
        rvs = [int(c["metadata"]["resourceVersion"]) for c in created]
        async with http(api.url) as client:
            async with client.watch(CMS, resourceVersion=str(rvs[1])) as w:
                assert summary(await w.take(3)) == [("ADDED", "h2"), ("ADDED", "h3"),
                                                    ("ADDED", "h4")]
            async with client.watch(CMS, resourceVersion=str(rvs[0])) as w:
                assert summary(await w.rest()) == [("ERROR", "410")]


async def test_events_written_in_process_reach_watchers(api: FakeApiServer,
                                                        client: Http) -> None:
    seeded = api.seed("configmaps", [configmap(f"t{i}") for i in range(3)])
    async with client.watch(CMS, resourceVersion=str(seeded)) as w:
        with anyio.fail_after(5):
            await api.wait_for_watchers(1, "configmaps")
        rev = api.touch("configmaps", None, times=2)
        events = await w.take(6)
    assert [e["type"] for e in events] == ["MODIFIED"] * 6
    assert events[-1]["object"]["metadata"]["resourceVersion"] == str(rev)


async def test_invalid_watch_options(client: Http) -> None:
    invalid = [
        {"resourceVersionMatch": "NotOlderThan"},  # no sendInitialEvents
        {"sendInitialEvents": "true", "allowWatchBookmarks": "true"},  # no match
    ]
    for params in invalid:  # kube's ValidateListOptions: 422 Invalid ListOptions, with causes
        r = await client.get(CMS, watch="1", **params)
        assert r.status == 422 and r.reason == "Invalid", (params, r)
        assert r.body["details"]["kind"] == "ListOptions"
        assert r.body["details"]["group"] == "meta.k8s.io"
        assert r.body["details"]["causes"][0]["field"] == "resourceVersionMatch"
    cases = [
        {"labelSelector": "a in (b"},
        {"fieldSelector": "spec.x=y"},
        {"resourceVersion": "abc"},
        {"watch": "maybe"},
    ]
    for params in cases:
        r = await client.get(CMS, watch="1", **params) if "watch" not in params else \
            await client.get(CMS, **params)
        assert r.status == 400 and r.reason == "BadRequest", (params, r)


def test_a_backlog_is_written_in_slices_in_order() -> None:
    """A long backlog (a streaming list's initial events) goes out in writes of about
    WRITE_BYTES, every line whole and in order, so a client decodes the first events while
    the rest is sent (kube-apiserver writes each event on its own)."""
    import collections

    from kcs.testing._watch import WRITE_BYTES, Line, _joined, _line_size, _take_write

    # whole lines, and lines in pieces (an initial ADDED: envelope, object, end)
    lines: list[Line] = [
        b"x" * (1000 + i % 7) + b"\n" if i % 3 else (b'{"a":', b"z" * (900 + i % 5), b"}\n")
        for i in range(1000)
    ] + [b"y" * (3 * WRITE_BYTES)]
    pending: collections.deque[Line] = collections.deque(lines)
    writes = []
    while pending:
        write = _take_write(pending)
        assert write
        writes.append(write)
    assert [line for write in writes for line in write] == lines
    assert len(writes) > 3
    for write in writes:
        # under the limit until its last line, which may cross it (a line is never cut)
        assert sum(map(_line_size, write[:-1])) < WRITE_BYTES
    flat = [line if isinstance(line, bytes) else b"".join(line) for line in lines]
    assert b"".join(_joined(write) for write in writes) == b"".join(flat)
