"""Store: apply/delete with staleness checks, atomic relists with true deltas, rv waits."""

from __future__ import annotations

import anyio
import msgspec
import pytest
from cache_objects import bump, node, pod

from kcs.cache import Added, Deleted, IndexOptions, Lister, Store, StoreOptions, Updated
from kcs.core import Object

pytestmark = pytest.mark.timeout(10)


# --- apply / delete ----------------------------------------------------------------------


def test_apply_adds_then_updates_and_advances_the_resource_version() -> None:
    store = Store()
    a1 = pod("a", rv="10")
    added = store.apply(a1)
    assert added == Added(a1)
    assert store.get("default/a") is a1
    assert store.resource_version == "10"
    a2 = bump(a1, "12", phase="Succeeded")
    updated = store.apply(a2)
    assert isinstance(updated, Updated)
    assert updated.old is a1
    assert updated.new is a2
    assert updated.key == "default/a"
    assert store.get("default/a") is a2
    assert store.resource_version == "12"
    assert len(store) == 1
    assert store.keys() == ["default/a"]
    assert "default/a" in store
    assert store.list() == [a2]


def test_stale_and_duplicate_events_are_ignored_but_rv_never_goes_back() -> None:
    store = Store()
    new = pod("a", rv="20", phase="Succeeded")
    store.apply(new)
    assert store.apply(pod("a", rv="15", phase="Pending")) is None  # older
    assert store.apply(pod("a", rv="20", phase="Failed")) is None  # as old
    assert store.get("default/a") is new
    assert store.resource_version == "20"
    # An event for another key with an older rv is applied, but the cache's rv stays.
    assert isinstance(store.apply(pod("b", rv="18")), Added)
    assert store.resource_version == "20"


def test_numeric_rvs_compare_as_integers_not_strings() -> None:
    store = Store()
    store.apply(pod("a", rv="9"))
    assert isinstance(store.apply(pod("a", rv="10", phase="Done")), Updated)  # "10" < "9" as text
    assert store.apply(pod("a", rv="9")) is None
    assert store.resource_version == "10"


def test_non_numeric_rvs_are_only_compared_for_equality() -> None:
    store = Store()
    store.apply(pod("a", rv="abc"))
    assert store.apply(pod("a", rv="abc", phase="Other")) is None  # the same version again
    changed = store.apply(pod("a", rv="abb", phase="Other"))  # cannot tell: take it
    assert isinstance(changed, Updated)
    assert store.resource_version == "abb"


def test_delete_returns_the_final_state_and_ignores_unknown_or_older() -> None:
    store = Store()
    a = pod("a", rv="5")
    store.apply(a)
    assert store.delete(pod("zzz", rv="6")) is None
    assert store.resource_version == "6"
    # The cached object is newer than the delete (it was created again): keep it.
    store.apply(bump(a, "9"))
    assert store.delete(pod("a", rv="7")) is None
    assert "default/a" in store
    final = pod("a", rv="11", phase="Succeeded")
    deleted = store.delete(final)
    assert deleted == Deleted(final)
    assert "default/a" not in store
    assert store.resource_version == "11"
    assert store.delete(final) is None


def test_cluster_scoped_objects_are_keyed_by_name() -> None:
    store = Store()
    n = node("node-1")
    store.apply(n)
    assert store.get("node-1") is n
    assert Lister(store).get("node-1") is n


def test_keys_come_in_the_order_of_list_each_beside_its_cached_instance() -> None:
    # The informer hands a handler its initial objects as keys() beside list().
    store = Store()
    objs = [pod("a"), pod("b", namespace="other"), node("node-1"), pod("c")]
    for o in objs:
        store.apply(o)
    store.delete(objs[0])
    store.apply(pod("a"))  # back, at the end of the order
    keys, listed = store.keys(), store.list()
    assert sorted(keys) == ["default/a", "default/c", "node-1", "other/b"]
    assert keys[-1] == "default/a"
    assert [store.get(k) for k in keys] == listed
    assert all(store.get(k) is o for k, o in zip(keys, listed, strict=True))
    store.delete(objs[1])
    assert len(keys) == 4 and len(store.keys()) == 3  # a copy, not a view


# --- relist --------------------------------------------------------------------------------


def test_first_replace_adds_everything_and_marks_synced() -> None:
    store = Store()
    synced_before = store.has_synced
    assert not synced_before
    objs = [pod(f"p{i}", rv=str(i + 1)) for i in range(5)]
    deltas = store.replace(objs, "100")
    assert deltas == [Added(o) for o in objs]
    assert store.has_synced
    assert store.resource_version == "100"
    assert sorted(store.keys()) == sorted(o.key for o in objs)


def test_replace_returns_only_the_true_differences() -> None:
    store = Store()
    same = pod("same", rv="1")
    changed = pod("changed", rv="2")
    gone = pod("gone", rv="3")
    store.replace([same, changed, gone], "10")

    relisted_same = pod("same", rv="1")  # a new instance, same resourceVersion
    changed2 = bump(changed, "11", phase="Failed")
    new = pod("new", rv="12")
    deltas = store.replace([relisted_same, changed2, new], "20")

    assert deltas == [Updated(changed, changed2), Added(new), Deleted(gone)]
    # The unchanged object keeps the instance readers already hold.
    assert store.get("default/same") is same
    assert store.get("default/changed") is changed2
    assert "default/gone" not in store
    assert store.resource_version == "20"
    assert store.replace([pod("same", rv="1"), changed2, new], "21") == []


def test_objects_without_rv_are_compared_by_content_in_a_relist() -> None:
    store = Store()
    store.replace([pod("a", rv="")], "1")
    assert store.replace([pod("a", rv="")], "2") == []
    deltas = store.replace([pod("a", rv="", phase="Failed")], "3")
    assert len(deltas) == 1
    assert isinstance(deltas[0], Updated)


def test_relist_is_built_aside_and_abandoning_it_changes_nothing() -> None:
    store = Store()
    old = [pod(f"old{i}", rv="1") for i in range(3)]
    store.replace(old, "1")
    relist = store.relist()
    relist.add_many([pod("x", rv="5"), pod("y", rv="5")])
    assert len(relist) == 2
    assert sorted(store.keys()) == sorted(o.key for o in old)  # untouched before commit
    del relist  # a list that had to restart: just drop it
    assert sorted(store.keys()) == sorted(o.key for o in old)
    assert store.resource_version == "1"


def test_relist_commits_once_and_a_duplicate_key_keeps_the_last_object() -> None:
    store = Store(StoreOptions(indexes=IndexOptions(labels=True)))
    relist = store.relist()
    relist.add(pod("a", rv="1", labels={"v": "first"}))
    last = pod("a", rv="2", labels={"v": "second"})
    relist.add(last)
    assert relist.commit("2") == [Added(last)]
    assert store.index_keys("label:v", "first") == []
    assert store.index_keys("label:v", "second") == ["default/a"]
    with pytest.raises(RuntimeError):
        relist.commit("3")
    with pytest.raises(RuntimeError):
        relist.add(pod("b"))


@pytest.mark.anyio
async def test_readers_see_the_old_or_the_new_contents_never_half() -> None:
    """A relist fed page by page, with a reader running between every two pages."""
    store = Store(StoreOptions(indexes=IndexOptions(labels=True)))
    lister = Lister(store)
    old = [pod(f"old{i}", rv="1", labels={"gen": "old"}) for i in range(40)]
    store.replace(old, "1")
    old_keys = {o.key for o in old}
    new = [pod(f"new{i}", rv="2", labels={"gen": "new"}) for i in range(50)]
    new_keys = {o.key for o in new}
    pages = [new[i : i + 10] for i in range(0, len(new), 10)]

    observations: list[tuple[set[str], set[str], set[str]]] = []
    to_reader, reader_inbox = anyio.create_memory_object_stream[str](1)
    to_writer, writer_inbox = anyio.create_memory_object_stream[None](1)

    async def reader() -> None:
        async with reader_inbox, to_writer:
            async for _ in reader_inbox:
                observations.append(
                    (
                        set(store.keys()),
                        {o.key for o in lister.list(label_selector="gen=old")},
                        {o.key for o in lister.list("default")},
                    )
                )
                await to_writer.send(None)

    async def writer() -> None:
        async with to_reader, writer_inbox:
            relist = store.relist()
            for page in pages:
                relist.add_many(page)
                await to_reader.send("page")  # let the reader look mid-relist
                await writer_inbox.receive()
            deltas = relist.commit("2")
            assert len(deltas) == len(old) + len(new)
            await to_reader.send("committed")
            await writer_inbox.receive()

    async with anyio.create_task_group() as tg:
        tg.start_soon(reader)
        tg.start_soon(writer)

    assert len(observations) == len(pages) + 1
    for keys, by_label, by_namespace in observations[:-1]:
        assert keys == old_keys
        assert by_label == old_keys
        assert by_namespace == old_keys
    assert observations[-1] == (new_keys, set(), new_keys)


# --- transforms ------------------------------------------------------------------------------


def test_transform_projects_objects_before_they_are_stored() -> None:
    def drop_status(obj: Object) -> Object:
        fields = obj.fields()
        fields.pop("status", None)
        return Object(obj.api_version, obj.kind, obj.metadata, msgspec.json.encode(fields))

    store = Store(StoreOptions(indexes=IndexOptions(fields=["spec.nodeName"]), transform=drop_status))
    store.apply(pod("a", node="n1", phase="Running"))
    cached = store.get("default/a")
    assert cached is not None
    assert "status" not in cached
    assert cached["spec"]["nodeName"] == "n1"
    assert store.index_keys("field:spec.nodeName", "n1") == ["default/a"]
    deleted = store.delete(pod("a", rv="2", node="n1"))
    assert isinstance(deleted, Deleted)
    assert "status" not in deleted.obj


def test_metadata_only_stores_metadata_and_rejects_body_field_indexes() -> None:
    store = Store(StoreOptions(indexes=IndexOptions(fields=["metadata.name"]), metadata_only=True))
    store.replace([pod("a", node="n1", labels={"app": "web"})], "1")
    cached = store.get("default/a")
    assert cached is not None
    assert cached.body == b"{}"
    assert cached.labels == {"app": "web"}
    assert store.by_index("field:metadata.name", "a") == [cached]
    with pytest.raises(ValueError, match="metadata-only"):
        Store(StoreOptions(indexes=IndexOptions(fields=["spec.nodeName"]), metadata_only=True))
    with pytest.raises(ValueError, match="metadata-only"):
        store.add_field_index("spec.nodeName")


# --- resourceVersion and waiting --------------------------------------------------------------


def test_bookmarks_advance_the_resource_version_never_backwards() -> None:
    store = Store()
    store.observe_resource_version("50")
    assert store.resource_version == "50"
    store.observe_resource_version("40")
    assert store.resource_version == "50"
    store.observe_resource_version("")
    assert store.resource_version == "50"
    store.apply(pod("a", rv="45"))
    assert store.resource_version == "50"


@pytest.mark.anyio
async def test_wait_for_returns_at_once_when_reached() -> None:
    store = Store()
    store.observe_resource_version("10")
    with anyio.fail_after(1):
        assert await store.wait_for("10", timeout=5)
        assert await store.wait_for("9", timeout=5)
        assert await store.wait_for("", timeout=5)


@pytest.mark.anyio
@pytest.mark.parametrize("how", ["event", "bookmark", "relist", "delete"])
async def test_wait_for_wakes_when_the_store_reaches_the_rv(how: str) -> None:
    store = Store()
    store.apply(pod("a", rv="1"))
    results: list[bool] = []

    async def waiter() -> None:
        results.append(await store.wait_for("7", timeout=5))

    with anyio.fail_after(2):
        async with anyio.create_task_group() as tg:
            tg.start_soon(waiter)
            await anyio.wait_all_tasks_blocked()
            store.apply(pod("b", rv="6"))  # not yet
            await anyio.wait_all_tasks_blocked()
            assert results == []
            if how == "event":
                store.apply(pod("c", rv="7"))
            elif how == "bookmark":
                store.observe_resource_version("8")
            elif how == "relist":
                store.replace([pod("a", rv="1")], "9")
            else:
                store.delete(pod("a", rv="7"))
    assert results == [True]


@pytest.mark.anyio
async def test_wait_for_times_out_with_false_and_forgets_the_waiter() -> None:
    store = Store()
    store.observe_resource_version("3")
    with anyio.fail_after(2):
        assert not await store.wait_for("4", timeout=0.05)
    assert store._waiters.count == 0
    store.observe_resource_version("4")  # nothing left to wake


@pytest.mark.anyio
async def test_many_waiters_wake_exactly_when_their_rv_is_reached() -> None:
    store = Store()
    woke: list[str] = []

    async def waiter(rv: str) -> None:
        assert await store.wait_for(rv, timeout=5)
        woke.append(rv)

    with anyio.fail_after(2):
        async with anyio.create_task_group() as tg:
            for rv in ["30", "10", "20", "abc"]:
                tg.start_soon(waiter, rv)
            await anyio.wait_all_tasks_blocked()
            store.observe_resource_version("15")
            await anyio.wait_all_tasks_blocked()
            assert woke == ["10"]
            store.observe_resource_version("30")
            await anyio.wait_all_tasks_blocked()
            assert sorted(woke) == ["10", "20", "30"]
            store.observe_resource_version("abc")  # non-numeric: reached by equality only
    assert sorted(woke) == ["10", "20", "30", "abc"]


@pytest.mark.anyio
async def test_wait_synced() -> None:
    store = Store()
    with anyio.fail_after(2):
        assert not await store.wait_synced(timeout=0.01)
        async with anyio.create_task_group() as tg:
            results: list[bool] = []

            async def waiter() -> None:
                results.append(await store.wait_synced(timeout=5))

            tg.start_soon(waiter)
            await anyio.wait_all_tasks_blocked()
            store.apply(pod("a"))  # events alone do not sync a store
            await anyio.wait_all_tasks_blocked()
            assert results == []
            store.replace([], "5")
        assert results == [True]
        assert await store.wait_synced(timeout=0)
