"""Indexes: every kind, their maintenance on update/delete/relist, compact buckets."""

from __future__ import annotations

import weakref
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from cache_objects import bump, node, pod
from hypothesis import given, settings
from hypothesis import strategies as st

from kcs.cache import (
    NAMESPACE_INDEX,
    OWNER_INDEX,
    Added,
    IndexOptions,
    Store,
    StoreOptions,
    field_index_name,
    label_index_name,
)
from kcs.cache._buckets import Buckets, bucket_add, bucket_discard, bucket_keys, bucket_size
from kcs.core import Object, field_reader, field_value, get_path

pytestmark = pytest.mark.timeout(30)


def keys_of(objs: Iterable[Object]) -> set[str]:
    return {o.key for o in objs}


# --- buckets -----------------------------------------------------------------------------------


def test_a_bucket_of_one_key_is_the_bare_key_and_becomes_a_set_at_two() -> None:
    b: Buckets = {}
    bucket_add(b, "v", "ns/a")
    assert b == {"v": "ns/a"}
    bucket_add(b, "v", "ns/a")  # again: still one key
    assert b == {"v": "ns/a"}
    bucket_add(b, "v", "ns/b")
    assert b == {"v": {"ns/a", "ns/b"}}
    assert set(bucket_keys(b, "v")) == {"ns/a", "ns/b"}
    assert bucket_size(b, "v") == 2
    bucket_discard(b, "v", "ns/a")
    assert b == {"v": "ns/b"}  # back to a bare key
    assert bucket_keys(b, "v") == ("ns/b",)
    bucket_discard(b, "v", "ns/zzz")
    assert b == {"v": "ns/b"}
    bucket_discard(b, "v", "ns/b")
    assert b == {}
    assert bucket_keys(b, "v") == ()
    assert bucket_size(b, "v") == 0
    bucket_discard(b, "v", "ns/b")  # nothing there: no error


def test_unique_label_values_cost_no_sets() -> None:
    store = Store(StoreOptions(indexes=IndexOptions(labels=True)))
    for i in range(50):
        store.apply(pod(f"p{i}", labels={"pod-template-hash": f"h{i}", "app": "web"}))
    hashes = store._indexer.buckets(label_index_name("pod-template-hash"))
    assert len(hashes) == 50
    assert all(isinstance(v, str) for v in hashes.values())
    apps = store._indexer.buckets(label_index_name("app"))
    assert isinstance(apps["web"], set)
    assert len(apps["web"]) == 50


# --- each kind -----------------------------------------------------------------------------------


def test_namespace_index_leaves_out_cluster_scoped_objects() -> None:
    store = Store()
    store.apply(pod("a", "ns1"))
    store.apply(pod("b", "ns1"))
    store.apply(pod("c", "ns2"))
    store.apply(node("n1"))
    assert keys_of(store.by_index(NAMESPACE_INDEX, "ns1")) == {"ns1/a", "ns1/b"}
    assert sorted(store.index_values(NAMESPACE_INDEX)) == ["ns1", "ns2"]
    store.delete(pod("a", "ns1", rv="2"))
    assert store.index_keys(NAMESPACE_INDEX, "ns1") == ["ns1/b"]
    store.delete(pod("b", "ns1", rv="3"))
    assert store.index_values(NAMESPACE_INDEX) == ["ns2"]


def test_label_index_follows_label_changes() -> None:
    store = Store(StoreOptions(indexes=IndexOptions(labels=True)))
    a = pod("a", labels={"app": "web", "tier": "front"})
    store.apply(a)
    store.apply(pod("b", labels={"app": "web"}))
    assert keys_of(store.by_index("label:app", "web")) == {"default/a", "default/b"}
    store.apply(bump(a, "2", labels={"app": "api", "canary": "yes"}))
    assert store.index_keys("label:app", "web") == ["default/b"]
    assert store.index_keys("label:app", "api") == ["default/a"]
    assert store.index_keys("label:canary", "yes") == ["default/a"]
    assert store.index_values("label:tier") == []  # the last holder dropped it
    assert label_index_name("tier") not in store.index_names()
    assert store.by_index("label:never-seen", "x") == []  # every key is indexed


def test_label_index_on_chosen_keys_only() -> None:
    store = Store(StoreOptions(indexes=IndexOptions(labels=["app"])))
    store.apply(pod("a", labels={"app": "web", "tier": "front"}))
    assert store.index_keys("label:app", "web") == ["default/a"]
    with pytest.raises(KeyError, match="label:tier"):
        store.by_index("label:tier", "front")
    store.add_label_index("tier")  # indexes what is cached already
    assert store.index_keys("label:tier", "front") == ["default/a"]
    store.apply(pod("a", rv="2", labels={"app": "web"}))
    assert store.index_keys("label:tier", "front") == []
    no_labels = Store(StoreOptions(indexes=IndexOptions(labels=False)))
    with pytest.raises(KeyError):
        no_labels.index_values("label:app")


def test_no_label_is_indexed_by_default_and_selectors_still_answer() -> None:
    """Label indexes are opt-in by key: the default store has none, and a label selector
    gives what it gives with an index (found by checking the namespace's objects)."""
    plain, indexed = Store(), Store(StoreOptions(indexes=IndexOptions(labels=["app"])))
    assert IndexOptions().labels is False
    for store in (plain, indexed):
        store.apply(pod("a", labels={"app": "web", "tier": "front"}))
        store.apply(pod("b", labels={"app": "api"}))
        store.apply(pod("c", "other", labels={"app": "web"}))
    assert not [n for n in plain.index_names() if n.startswith("label:")]
    for selector in ("app=web", "app in (web,api),tier!=front", "tier", "!tier"):
        assert keys_of(plain.list(None, label_selector=selector)) == keys_of(
            indexed.list(None, label_selector=selector)), selector
        assert keys_of(plain.list("default", label_selector=selector)) == keys_of(
            indexed.list("default", label_selector=selector)), selector
    assert keys_of(plain.list(None, label_selector="app=web")) == {"default/a", "other/c"}


def test_field_index_reads_the_path_and_moves_on_change() -> None:
    store = Store(StoreOptions(indexes=IndexOptions(fields=["spec.nodeName"])))
    a = pod("a", node="n1")
    store.apply(a)
    store.apply(pod("b", node="n1"))
    store.apply(pod("pending"))  # no nodeName: indexed under "" like the apiserver
    assert keys_of(store.by_index(field_index_name("spec.nodeName"), "n1")) == {
        "default/a",
        "default/b",
    }
    assert store.index_keys("field:spec.nodeName", "") == ["default/pending"]
    # Body changed, field did not: the index keeps the key where it was.
    store.apply(bump(a, "2", phase="Failed"))
    assert "default/a" in store.index_keys("field:spec.nodeName", "n1")
    store.apply(bump(a, "3", node="n2"))
    assert store.index_keys("field:spec.nodeName", "n1") == ["default/b"]
    assert store.index_keys("field:spec.nodeName", "n2") == ["default/a"]
    store.delete(pod("b", rv="4", node="n1"))
    assert sorted(store.index_values("field:spec.nodeName")) == ["", "n2"]


def test_field_index_on_scalars_and_metadata() -> None:
    store = Store(StoreOptions(indexes=IndexOptions(fields=["spec.priority", "spec.hostNetwork", "metadata.name"])))
    store.apply(pod("a", extra_spec={"priority": 5, "hostNetwork": True}))
    store.apply(pod("b", extra_spec={"priority": {"not": "scalar"}}))
    assert store.index_keys("field:spec.priority", "5") == ["default/a"]
    assert store.index_keys("field:spec.priority", "") == ["default/b"]
    assert store.index_keys("field:spec.hostNetwork", "true") == ["default/a"]
    assert store.index_keys("field:metadata.name", "b") == ["default/b"]
    store.add_field_index("spec.nodeName")  # later, over the cached objects
    assert sorted(store.index_keys("field:spec.nodeName", "")) == ["default/a", "default/b"]


def test_owner_index_maps_owner_uids_to_keys() -> None:
    store = Store(StoreOptions(indexes=IndexOptions(owners=True)))
    a = pod("a", owners=["rs-1"])
    store.apply(a)
    store.apply(pod("b", owners=["rs-1", "job-9"]))
    store.apply(pod("orphan"))
    assert keys_of(store.by_index(OWNER_INDEX, "rs-1")) == {"default/a", "default/b"}
    assert store.index_keys(OWNER_INDEX, "job-9") == ["default/b"]
    store.apply(bump(a, "2", owners=["rs-2"]))  # adopted by another owner
    assert store.index_keys(OWNER_INDEX, "rs-1") == ["default/b"]
    assert store.index_keys(OWNER_INDEX, "rs-2") == ["default/a"]
    assert sorted(store.index_values(OWNER_INDEX)) == ["job-9", "rs-1", "rs-2"]


def test_custom_indexes_registered_up_front_or_later() -> None:
    def by_phase(obj: Object) -> Iterable[str]:
        return obj.get_path("status.phase") or ""  # a str counts as one value

    def by_containers(obj: Object) -> Iterable[str]:
        return [c["name"] for c in obj.get_path("spec.containers") or []]

    store = Store(StoreOptions(indexes=IndexOptions(custom={"phase": by_phase})))
    a = pod("a", phase="Running")
    store.apply(a)
    store.apply(pod("b", phase="Pending", extra_spec={"containers": [{"name": "x"}]}))
    assert store.index_keys("phase", "Running") == ["default/a"]
    store.add_index("containers", by_containers)  # indexes the cached objects now
    assert store.index_keys("containers", "main") == ["default/a"]
    assert store.index_keys("containers", "x") == ["default/b"]
    store.apply(bump(a, "2", phase="Succeeded"))
    assert store.index_keys("phase", "Running") == []
    assert store.index_keys("phase", "Succeeded") == ["default/a"]
    assert "phase" in store.index_names()
    assert "containers" in store.index_names()


@pytest.mark.parametrize("name", ["namespace", "owner", "label:x", "field:spec.x", ""])
def test_reserved_index_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError):
        Store().add_index(name, lambda o: [])


def test_duplicate_index_name_and_unknown_index() -> None:
    store = Store(StoreOptions(indexes=IndexOptions(custom={"x": lambda o: []})))
    with pytest.raises(ValueError, match="already"):
        store.add_index("x", lambda o: [])
    with pytest.raises(KeyError, match="nope"):
        store.by_index("nope", "v")
    with pytest.raises(KeyError):
        Store(StoreOptions(indexes=IndexOptions(namespace=False))).by_index(NAMESPACE_INDEX, "default")


def test_a_failing_index_function_leaves_the_store_unchanged() -> None:
    calls: list[str] = []

    def picky(obj: Object) -> Iterable[str]:
        calls.append(obj.name)
        if obj.labels.get("bad"):
            raise RuntimeError("boom")
        return [obj.name]

    store = Store(StoreOptions(indexes=IndexOptions(custom={"picky": picky}, labels=True)))
    good = pod("a", labels={"app": "web"})
    store.apply(good)
    with pytest.raises(RuntimeError):
        store.apply(bump(good, "2", labels={"app": "api", "bad": "1"}))
    with pytest.raises(RuntimeError):
        store.apply(pod("new", labels={"bad": "1"}))
    assert store.get("default/a") is good
    assert "default/new" not in store
    assert store.index_keys("label:app", "web") == ["default/a"]
    assert store.index_values("label:bad") == []
    assert store.index_keys("picky", "a") == ["default/a"]
    assert calls  # the function did run


def test_relist_rebuilds_indexes_and_keeps_indexes_added_meanwhile() -> None:
    store = Store(StoreOptions(indexes=IndexOptions(fields=["spec.nodeName"], owners=True)))
    store.replace([pod("a", node="n1", owners=["o1"]), pod("b", node="n1")], "1")
    relist = store.relist()
    relist.add_many([pod("a", node="n1", owners=["o1"]), pod("c", node="n2")])
    store.add_index("name", lambda o: [o.name])  # while the relist is in progress
    store.add_field_index("status.phase")
    relist.commit("2")
    assert store.index_keys("field:spec.nodeName", "n1") == ["default/a"]
    assert store.index_keys("field:spec.nodeName", "n2") == ["default/c"]
    assert store.index_keys(OWNER_INDEX, "o1") == ["default/a"]
    assert store.index_keys("name", "c") == ["default/c"]
    assert sorted(store.index_keys("field:status.phase", "Running")) == ["default/a", "default/c"]


# --- property: indexes always equal a rebuild from the cached objects ------------------------------

NAMES = ["a", "b", "c", "d"]
NAMESPACES = ["ns1", "ns2"]
LABEL_VALUES = st.dictionaries(st.sampled_from(["app", "tier", "hash"]), st.sampled_from("xyz"))

PodSpec = tuple[str, str, dict[str, str], str | None, list[str], str]

pods: st.SearchStrategy[PodSpec] = st.tuples(
    st.sampled_from(NAMES),
    st.sampled_from(NAMESPACES),
    LABEL_VALUES,
    st.sampled_from([None, "n1", "n2"]),
    st.lists(st.sampled_from(["o1", "o2", "o3"]), unique=True, max_size=2),
    st.sampled_from(["Running", "Pending"]),
)
ops = st.lists(
    st.one_of(
        st.tuples(st.just("apply"), pods),
        st.tuples(st.just("delete"), pods),
        st.tuples(st.just("replace"), st.lists(pods, max_size=6)),
    ),
    max_size=25,
)


def _expected_indexes(objs: list[Object]) -> dict[str, dict[str, set[str]]]:
    out: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for o in objs:
        d = o.to_dict()
        meta = d["metadata"]
        if meta.get("namespace"):
            out[NAMESPACE_INDEX][meta["namespace"]].add(o.key)
        for k, v in (meta.get("labels") or {}).items():
            out[f"label:{k}"][v].add(o.key)
        out["field:spec.nodeName"][get_path(d, "spec.nodeName") or ""].add(o.key)
        for ref in meta.get("ownerReferences") or []:
            out[OWNER_INDEX][ref["uid"]].add(o.key)
        out["phase"][d["status"]["phase"]].add(o.key)
    return out


@settings(max_examples=150, deadline=None)
@given(ops)
def test_indexes_always_equal_a_rebuild(operations: list[tuple[str, Any]]) -> None:
    store = Store(StoreOptions(indexes=IndexOptions(labels=True, fields=["spec.nodeName"], owners=True, custom={"phase": lambda o: [o.get_path("status.phase") or ""]})))
    model: dict[str, Object] = {}
    for rv, (op, arg) in enumerate(operations, start=1):
        if op == "replace":
            listed = [_pod(p, rv) for p in arg]
            deltas = store.replace(listed, str(rv))
            new_model = {o.key: o for o in listed}
            assert keys_of(d.obj for d in deltas if isinstance(d, Added)) == (
                new_model.keys() - model.keys()
            )
            model = new_model
        elif op == "apply":
            obj = _pod(arg, rv)
            store.apply(obj)
            model[obj.key] = obj
        else:
            obj = _pod(arg, rv)
            store.delete(obj)
            model.pop(obj.key, None)
        assert {k: o.resource_version for k, o in model.items()} == {
            o.key: o.resource_version for o in store.list()
        }
        expected = _expected_indexes(store.list())
        for name in [NAMESPACE_INDEX, OWNER_INDEX, "field:spec.nodeName", "phase"]:
            assert {v: set(store.index_keys(name, v)) for v in store.index_values(name)} == dict(
                expected[name]
            ), name
        for name in {n for n in store.index_names() if n.startswith("label:")} | {
            n for n in expected if n.startswith("label:")
        }:
            assert {v: set(store.index_keys(name, v)) for v in store.index_values(name)} == dict(
                expected[name]
            ), name
    store.verify()


def _pod(spec: PodSpec, rv: int) -> Object:
    name, ns, labels, node_name, owners, phase = spec
    return pod(name, ns, str(rv), labels=labels, node=node_name, owners=owners, phase=phase)


# --- index options: values, merged by union -------------------------------------------------


def test_index_options_are_normalized_values() -> None:
    def fn(o: Object) -> list[str]:
        return [o.name]

    assert IndexOptions(labels=["b", "a"], fields=["x"], custom={"f": fn}) == IndexOptions(
        labels=("a", "b"), fields={"x"}, custom=[("f", fn)]
    )
    assert IndexOptions(labels=[]) == IndexOptions(labels=False)
    assert IndexOptions(custom={"f": fn}) != IndexOptions(custom={"f": lambda o: [o.name]})
    assert hash(IndexOptions(fields=["x"])) == hash(IndexOptions(fields=("x",)))
    with pytest.raises(TypeError, match="collections"):
        IndexOptions(fields="spec.nodeName")
    with pytest.raises(ValueError, match="reserved"):
        IndexOptions(custom={"owner": fn})


def test_merge_is_the_union_and_refuses_two_functions_for_one_name() -> None:
    def fn(o: Object) -> list[str]:
        return [o.name]

    some = IndexOptions(namespace=False, labels=["app"], fields=["spec.nodeName"])
    other = IndexOptions(namespace=False, labels=["tier"], owners=True, custom={"f": fn})
    assert some.merge(other) == IndexOptions(
        namespace=False, labels=["app", "tier"], fields=["spec.nodeName"], owners=True,
        custom={"f": fn},
    )
    assert some.merge(IndexOptions(labels=True)).labels is True  # every label key wins
    assert some.merge(IndexOptions()).labels == frozenset({"app"})  # none by default
    assert some.merge(IndexOptions()).namespace
    assert other.merge(IndexOptions(namespace=False, labels=False, custom={"f": fn})) == other
    with pytest.raises(ValueError, match="'f' is already defined with another function"):
        other.merge(IndexOptions(custom={"f": lambda o: []}))


def test_every_index_can_be_added_later() -> None:
    store = Store(StoreOptions(indexes=IndexOptions(namespace=False, labels=["app"])))
    store.apply(pod("a", labels={"app": "web", "tier": "front"}, owners=["o1"]))
    store.apply(pod("b", "other", labels={"tier": "back"}))
    with pytest.raises(KeyError):
        store.by_index(NAMESPACE_INDEX, "default")
    store.add_indexes(IndexOptions(labels=True, owners=True))  # namespace=True by default
    assert store.index_keys(NAMESPACE_INDEX, "other") == ["other/b"]
    assert store.index_keys("label:tier", "front") == ["default/a"]
    assert store.index_keys("label:app", "web") == ["default/a"]
    assert store.index_keys(OWNER_INDEX, "o1") == ["default/a"]
    assert store.options.indexes == IndexOptions(labels=True, owners=True)
    store.apply(pod("c", labels={"zone": "z1"}, owners=["o1"]))  # followed from now on
    assert store.index_keys("label:zone", "z1") == ["default/c"]
    assert sorted(store.index_keys(OWNER_INDEX, "o1")) == ["default/a", "default/c"]


def test_a_conflicting_custom_index_adds_nothing() -> None:
    store = Store(StoreOptions(indexes=IndexOptions(custom={"x": lambda o: ["1"]})))
    before = store.options
    with pytest.raises(ValueError, match="already"):
        store.add_indexes(IndexOptions(fields=["spec.nodeName"], custom={"x": lambda o: []}))
    assert store.options == before
    assert "field:spec.nodeName" not in store.index_names()


extensions = st.builds(
    lambda ns, labels, fields, owners, phase: IndexOptions(
        namespace=ns, labels=labels, fields=fields, owners=owners,
        custom={"phase": _phase} if phase else {},
    ),
    st.booleans(),
    st.one_of(st.booleans(), st.lists(st.sampled_from(["app", "tier", "hash"]), max_size=2)),
    st.lists(st.sampled_from(["spec.nodeName", "status.phase"]), max_size=2),
    st.booleans(),
    st.booleans(),
)


def _phase(o: Object) -> list[str]:
    return [o.get_path("status.phase") or ""]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("apply"), pods),
            st.tuples(st.just("delete"), pods),
            st.tuples(st.just("replace"), st.lists(pods, max_size=6)),
            st.tuples(st.just("extend"), extensions),
            st.tuples(st.just("extend_during_relist"), st.tuples(extensions, st.lists(pods, max_size=4))),
        ),
        max_size=20,
    )
)
def test_indexes_added_at_any_time_equal_a_rebuild(operations: list[tuple[str, Any]]) -> None:
    store = Store(StoreOptions(indexes=IndexOptions(namespace=False, labels=False)))
    for rv, (op, arg) in enumerate(operations, start=1):
        if op == "replace":
            store.replace([_pod(p, rv) for p in arg], str(rv))
        elif op == "apply":
            store.apply(_pod(arg, rv))
        elif op == "delete":
            store.delete(_pod(arg, rv))
        elif op == "extend":
            store.add_indexes(arg)
        else:
            extension, listed = arg
            relist = store.relist()
            relist.add_many([_pod(p, rv) for p in listed])
            store.add_indexes(extension)
            relist.commit(str(rv))
        objs = store.list()
        expected = _expected_indexes(objs)
        options = store.options.indexes
        wanted = set(options.names())
        if options.labels is True:
            wanted |= {n for n in expected if n.startswith("label:")}
        assert set(options.names()) <= set(store.index_names())
        for name in wanted:
            want = dict(expected[name]) if name in expected else {}
            if name.startswith("field:") and name != "field:spec.nodeName":
                want = _rebuild_field(objs, name.removeprefix("field:"))
            got = {v: set(store.index_keys(name, v)) for v in store.index_values(name)}
            assert got == want, name
    store.verify()


def _rebuild_field(objs: list[Object], path: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for o in objs:
        out[get_path(o.to_dict(), path) or ""].add(o.key)
    return dict(out)


def test_the_lister_is_a_read_only_face() -> None:
    store = Store()
    store.replace([pod("a")], "1")
    lister = store.lister
    for writer in ("apply", "delete", "replace", "relist", "observe_resource_version",
                   "add_index", "add_indexes", "store", "_objects"):
        assert not hasattr(lister, writer), writer
    assert lister.by_key("default/a") is store.get("default/a")
    assert lister.keys() == ["default/a"] and len(lister) == 1 and "default/a" in lister
    assert lister.resource_version == "1" and lister.has_synced
    assert lister.options is store.options


def test_a_dropped_store_is_freed_at_once_not_by_the_garbage_collector() -> None:
    store = Store()
    store.replace([pod("a")], "1")
    lister = store.lister
    freed = weakref.ref(store)
    del store, lister
    assert freed() is None  # no reference cycle keeps the cached objects alive


# --- field indexes fed the codec's body spans ---------------------------------------------------


def _watch_line(name: str, rv: int, node: str | None, phase: str, extra: dict[str, Any]) -> bytes:
    import orjson

    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "busybox"}], **extra}
    if node is not None:
        spec["nodeName"] = node
    pod_ = {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "ns", "resourceVersion": str(rv)},
            "spec": spec, "status": {"phase": phase}}
    if not extra and node is None and phase == "Gone":
        del pod_["spec"]  # an object without the indexed path's top-level field at all
    return orjson.dumps({"type": "MODIFIED", "object": pod_})


_changes = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c"]),
        st.sampled_from([None, "n1", "n2"]),
        st.sampled_from(["Running", "Pending", "Gone"]),
        st.sampled_from([{}, {"hostname": "h"}, {"nodeName": "n1"}]),
    ),
    max_size=40,
)


@settings(max_examples=80, deadline=None)
@given(changes=_changes)
def test_spans_give_the_same_field_index_as_decoding_every_update(
    changes: list[tuple[str, str | None, str, dict[str, Any]]],
) -> None:
    """A store fed each event's body spans (which skips decoding a path whose top-level
    field is unchanged) holds exactly the field index of one that decodes every time."""
    from kcs.core import codec_for

    codec = codec_for("Pod")
    fields = ["spec.nodeName", "status.phase", "spec.hostname"]
    with_spans = Store(StoreOptions(indexes=IndexOptions(fields=fields)))
    without = Store(StoreOptions(indexes=IndexOptions(fields=fields)))
    for rv, (name, node_, phase, extra) in enumerate(changes, start=1):
        _, obj, spans = codec.decode_watch_event_spans(_watch_line(name, rv, node_, phase, extra))
        assert spans is not None
        with_spans.apply(obj, spans)
        without.apply(obj)
        for path in fields:
            index = field_index_name(path)
            assert {v: set(with_spans.index_keys(index, v)) for v in with_spans.index_values(index)} \
                == {v: set(without.index_keys(index, v)) for v in without.index_values(index)}


_json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text("ab\"\\{}", max_size=4))
_json = st.recursive(
    _json_leaf,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(["nodeName", "a", "b", "x\"nodeName"]), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(spec=st.one_of(_json, st.dictionaries(st.sampled_from(["nodeName", "a", "hostname"]),
                                             _json, max_size=4)),
       status=st.one_of(st.none(), _json), keep_spec=st.booleans(), spaced=st.booleans(),
       path=st.sampled_from(["spec.nodeName", "spec.a.b", "spec.a", "status.phase", "spec",
                             "metadata.name", "status.x.nodeName"]))
def test_a_field_read_from_its_segment_is_the_one_read_from_the_body(
    spec: Any, status: Any, keep_spec: bool, spaced: bool, path: str,
) -> None:
    """``field_value(obj, path, spans.segment(head))`` reads only the top-level field's
    JSON and gives exactly what reading the whole body gives (or raises the same)."""
    _same_both_ways(spec, status, keep_spec, spaced, path)


@pytest.mark.parametrize(("spec", "expected"), [
    ({"a": {"nodeName": "deeper"}}, ""),  # the last "nodeName": is not spec's
    ({"nodeName": "n1", "a": [{"nodeName": "deeper"}]}, "n1"),
    ({"nodeName": "n1", "a": {"b": {"nodeName": "deeper"}}, "c": 1}, "n1"),
    ({"x\"nodeName": "key with a quote"}, ""),  # '\"nodeName":' is inside a key
    ({"nodeName": "n1", "x\"nodeName": "key with a quote"}, "n1"),
    ({"a": ',"nodeName":"in a string"'}, ""),
    ({"nodeName": "n1", "a": '{"nodeName":"in a string"}'}, "n1"),
    ({"nodeName": "first", "a": 1}, "first"),
    ({"a": 1, "nodeName": "last"}, "last"),
    ({"nodeName": None}, ""),
    ({"nodeName": True}, "true"),
    ({"nodeName": 7}, "7"),
    ({}, ""),
])
def test_a_field_read_from_its_last_key_is_the_field_of_that_object(spec: Any, expected: str) -> None:
    """The search for the last ``"nodeName":`` in ``spec`` takes only a key of ``spec``
    itself: not one of an object inside it, not one inside a string."""
    for spaced in (False, True):
        assert _same_both_ways(spec, None, True, spaced, "spec.nodeName") == expected


def _same_both_ways(spec: Any, status: Any, keep_spec: bool, spaced: bool, path: str) -> str | None:
    import json

    import orjson

    from kcs.core import codec_for

    pod_: dict[str, Any] = {"apiVersion": "v1", "kind": "Pod",
                            "metadata": {"name": "a", "namespace": "ns", "resourceVersion": "1"}}
    if keep_spec:
        pod_["spec"] = spec
    if status is not None:
        pod_["status"] = status
    event = {"type": "ADDED", "object": pod_}
    line = json.dumps(event, separators=(", ", ": ")).encode() if spaced else orjson.dumps(event)
    _, obj, spans = codec_for("Pod").decode_watch_event_spans(line)
    assert spans is not None
    segment = spans.segment(path.partition(".")[0])
    read = field_reader(path)  # what an index reads with: the same values, the same errors
    try:
        whole: str | None = field_value(obj, path)
    except ValueError as exc:  # msgspec's errors: the body's field is not an object
        with pytest.raises(type(exc)):
            field_value(obj, path, segment)
        with pytest.raises(type(exc)):
            read(obj, segment)
        with pytest.raises(type(exc)):
            read(obj, None)
        return None
    assert read(obj, None) == whole
    if segment is not None:
        assert field_value(obj, path, segment) == whole
        assert read(obj, segment) == whole
    return whole


_ws = st.sampled_from(["", " ", "\t", " \n "[:2]])
_raw_leaf = st.sampled_from(['"n1"', '"n2"', "null", "true", "7", "-0.5", "1e3", '"a\\"b"',
                             '"x,\\"nodeName\\":1"', "[]", "{}"])
_raw_key = st.sampled_from(['"nodeName"', '"node\\u004eame"', '"a"', '"x\\"nodeName"',
                            '"nodename"'])


@st.composite
def _raw_json(draw: st.DrawFn, depth: int = 0) -> str:
    """JSON text with what a dict cannot make: duplicate keys, keys spelled with escapes,
    whitespace anywhere between tokens."""
    if depth >= 2 or draw(st.booleans()):
        return str(draw(_raw_leaf))
    if draw(st.booleans()):
        items = draw(st.lists(_raw_json(depth + 1), max_size=3))
        return "[" + ",".join(items) + "]"
    members = draw(st.lists(st.tuples(_raw_key, _raw_json(depth + 1)), max_size=4))
    return "{" + ",".join(
        f"{draw(_ws)}{k}{draw(_ws)}:{draw(_ws)}{v}{draw(_ws)}" for k, v in members) + "}"


@settings(max_examples=400, deadline=None)
@given(spec=_raw_json(), listed=st.booleans())
def test_a_field_read_from_its_segment_is_the_one_read_from_the_body_for_any_json_text(
    spec: str, listed: bool,
) -> None:
    """The same over raw JSON text, through the watch and the list decoders: only the
    case of duplicate keys may differ, and only when an earlier value is not readable."""
    from kcs.core import codec_for

    item = ('{"metadata":{"name":"a","namespace":"ns","resourceVersion":"1"},"spec":'
            + spec + ',"status":{"phase":"Running"}}')
    codec = codec_for("Pod")
    if listed:
        _, objects, all_spans = codec.decode_list_spans(
            ('{"apiVersion":"v1","kind":"PodList","metadata":{},"items":[' + item + "]}").encode())
        assert all_spans is not None
        obj, spans = objects[0], all_spans[0]
    else:
        _, obj, maybe = codec.decode_watch_event_spans(
            ('{"type":"ADDED","object":' + item + "}").encode())
        assert maybe is not None
        spans = maybe
    segment = spans.segment("spec")
    assert segment is not None
    for path in ("spec.nodeName", "spec.a", "spec.a.nodeName"):
        assert field_value(obj, path, segment) == field_value(obj, path), (path, spec)
        assert field_reader(path)(obj, segment) == field_value(obj, path, segment), (path, spec)


@pytest.mark.parametrize(("spec", "whole"), [
    (b'{"nodeName":"n0","a":1,"nodeName":"n1"}', "n1"),
    (b'{"nodeName":"n0","a":{"nodeName":"deep"},"nodeName":"n1"}', "n1"),
    (b'{"nodeName":"n0","a":{"nodeName":"deep"}}', "n0"),
    (b'{"nodeName":1e400,"nodeName":"n1"}', ""),
])
def test_a_duplicate_key_is_read_as_the_last_one(spec: bytes, whole: str) -> None:
    """The apiserver never sends duplicate keys; given some, the segment read takes the
    last one, as a decode of the whole body does (and Go's encoding/json). The one case
    that differs: an earlier duplicate that cannot be read (a number out of range) makes
    the whole decode read "", while the segment read, which never looks at it, reads the
    last value."""
    from kcs.core import codec_for

    line = (b'{"type":"ADDED","object":{"metadata":{"name":"p","namespace":"d",'
            b'"resourceVersion":"2"},"spec":' + spec + b"}}")
    _, obj, spans = codec_for("Pod").decode_watch_event_spans(line)
    assert spans is not None
    assert field_value(obj, "spec.nodeName") == whole
    read = field_value(obj, "spec.nodeName", spans.segment("spec"))
    assert read == (whole or "n1")
    assert field_reader("spec.nodeName")(obj, spans.segment("spec")) == read


def test_a_field_index_never_fails_on_an_object_s_content() -> None:
    """A field path through a string, a number too large for a float, or a key that is
    not a Python name: the store indexes the value a selector sees ("" for the first
    two) and stays whole."""
    from kcs.core import codec_for, object_from_dict

    store = Store(StoreOptions(indexes=IndexOptions(fields=["data.my-key", "spec.nodeName"])))
    cm = object_from_dict({"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"name": "c", "namespace": "d", "resourceVersion": "1"},
                           "data": {"my-key": "v"}, "spec": "not an object"})
    store.apply(cm)
    line = (b'{"type":"ADDED","object":{"metadata":{"name":"p","namespace":"d",'
            b'"resourceVersion":"2"},"spec":{"nodeName":1e400}}}')
    _, pod_, spans = codec_for("Pod").decode_watch_event_spans(line)
    store.apply(pod_, spans)
    assert store.index_keys("field:data.my-key", "v") == ["d/c"]
    assert sorted(store.index_keys("field:spec.nodeName", "")) == ["d/c", "d/p"]
    assert sorted(o.key for o in store.list("d")) == ["d/c", "d/p"]
    assert cm.get_path("spec.nodeName") is None and cm.get_path("data.__module__") is None


def test_an_unchanged_top_level_field_is_not_decoded_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """The point of the spans: a status-only update decodes no spec.* path."""
    import kcs.cache._indexer as indexer_module
    from kcs.core import codec_for

    codec = codec_for("Pod")
    decoded: list[str] = []
    real = field_reader  # what the indexer module imports, and the test replaces there

    def counting_reader(path: str) -> Callable[[Object, tuple[int, int] | None], str]:
        read = real(path)

        def counting(obj: Object, segment: tuple[int, int] | None) -> str:
            decoded.append(path)
            return read(obj, segment)

        return counting

    monkeypatch.setattr(indexer_module, "field_reader", counting_reader)
    store = Store(StoreOptions(indexes=IndexOptions(fields=["spec.nodeName"])))
    _, first, spans = codec.decode_watch_event_spans(_watch_line("a", 1, "n1", "Pending", {}))
    store.apply(first, spans)
    assert decoded == ["spec.nodeName"]  # a new object: its path is read
    decoded.clear()
    _, second, spans = codec.decode_watch_event_spans(_watch_line("a", 2, "n1", "Running", {}))
    store.apply(second, spans)
    assert decoded == []
    assert store.index_keys(field_index_name("spec.nodeName"), "n1") == ["ns/a"]
    _, third, spans = codec.decode_watch_event_spans(_watch_line("a", 3, "n2", "Running", {}))
    store.apply(third, spans)
    assert decoded == ["spec.nodeName"]
    assert store.index_keys(field_index_name("spec.nodeName"), "n2") == ["ns/a"]
    assert store.index_keys(field_index_name("spec.nodeName"), "n1") == []
