"""Lister: get, list by namespace/label/field selectors (index answer == scan answer)."""

from __future__ import annotations

from typing import Any

import pytest
from cache_objects import node, pod
from hypothesis import given, settings
from hypothesis import strategies as st

from kcs.cache import IndexOptions, Lister, Store, StoreOptions
from kcs.core import (
    FieldRequirement,
    FieldSelector,
    LabelRequirement,
    LabelSelector,
    Object,
    SelectorError,
    get_path,
)

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def store() -> Store:
    store = Store(StoreOptions(indexes=IndexOptions(labels=True, fields=["spec.nodeName"])))
    store.replace(
        [
            pod("web-1", "prod", labels={"app": "web", "tier": "front"}, node="n1"),
            pod("web-2", "prod", labels={"app": "web", "tier": "front"}, node="n2"),
            pod("api-1", "prod", labels={"app": "api", "tier": "back"}, node="n1"),
            pod("web-1", "dev", labels={"app": "web"}, node="n1"),
            pod("job-1", "dev", labels={"app": "job"}),
            node("n1", labels={"zone": "a"}),
        ],
        "10",
    )
    return store


@pytest.fixture
def lister(store: Store) -> Lister:
    return store.lister


def names(objs: list[Object]) -> set[str]:
    return {o.key for o in objs}


def test_get_by_name_and_namespace(store: Store, lister: Lister) -> None:
    got = lister.get("web-1", "prod")
    assert got is not None
    assert got.key == "prod/web-1"
    assert got is store.get("prod/web-1")  # the cached instance, no copy
    assert lister.get("web-1", "nowhere") is None
    assert lister.get("n1") is not None  # cluster-scoped


def test_list_by_namespace_and_all(lister: Lister) -> None:
    assert names(lister.list("dev")) == {"dev/web-1", "dev/job-1"}
    assert len(lister.list()) == 6
    assert len(lister.list("")) == 6


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=web", {"prod/web-1", "prod/web-2", "dev/web-1"}),
        ({"app": "web", "tier": "front"}, {"prod/web-1", "prod/web-2"}),
        (LabelSelector.parse("app in (api,job)"), {"prod/api-1", "dev/job-1"}),
        ("app=web,tier!=front", {"dev/web-1"}),
        ("tier", {"prod/web-1", "prod/web-2", "prod/api-1"}),
        ("!tier,app", {"dev/web-1", "dev/job-1"}),
        ("app notin (web)", {"prod/api-1", "dev/job-1", "n1"}),  # n1 has no app label
        ("app=nothing", set()),
        ("zone=a", {"n1"}),
    ],
)
def test_list_by_label_selector(lister: Lister, selector: Any, expected: set[str]) -> None:
    assert names(lister.list(label_selector=selector)) == expected


def test_list_by_field_selector_and_combinations(lister: Lister) -> None:
    assert names(lister.list(field_selector="spec.nodeName=n1")) == {
        "prod/web-1",
        "prod/api-1",
        "dev/web-1",
    }
    assert names(lister.list("prod", "app=web", {"spec.nodeName": "n1"})) == {"prod/web-1"}
    assert names(lister.list(field_selector="spec.nodeName=")) == {"dev/job-1", "n1"}
    assert names(lister.list(field_selector="spec.nodeName!=n1,metadata.namespace=dev")) == {
        "dev/job-1"
    }
    assert names(lister.list(field_selector=FieldSelector.parse("metadata.name=web-2"))) == {
        "prod/web-2"
    }
    assert names(lister.list(field_selector="status.phase=Running", namespace="dev")) == {
        "dev/web-1",
        "dev/job-1",
    }


def test_list_returns_a_new_list_of_the_cached_instances(store: Store, lister: Lister) -> None:
    first = lister.list(label_selector="app=web")
    first.clear()  # the caller owns the list
    again = lister.list(label_selector="app=web")
    assert len(again) == 3
    for obj in again:
        assert obj is store.get(obj.key)


def test_by_index_and_index_values(lister: Lister) -> None:
    assert names(lister.by_index("label:tier", "back")) == {"prod/api-1"}
    assert sorted(lister.index_values("field:spec.nodeName")) == ["", "n1", "n2"]
    with pytest.raises(KeyError):
        lister.by_index("nope", "x")


def test_bad_selectors_raise(lister: Lister) -> None:
    with pytest.raises(SelectorError):
        lister.list(label_selector="a in (")
    with pytest.raises(SelectorError):
        lister.list(field_selector="nodeName")


# --- property: the planner's answer equals a brute-force scan --------------------------------

KEYS = ["app", "tier", "hash"]
VALUES = ["x", "y", "z"]

objects = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c", "d", "e", "f"]),
        st.sampled_from(["ns1", "ns2", ""]),
        st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES)),
        st.sampled_from([None, "n1", "n2"]),
        st.sampled_from([None, "h1", "h2"]),
    ),
    min_size=1,
    max_size=20,
)
label_requirements = st.one_of(
    st.builds(
        LabelRequirement,
        st.sampled_from(KEYS),
        st.sampled_from(["=", "!="]),
        st.frozensets(st.sampled_from(VALUES), min_size=1, max_size=1),
    ),
    st.builds(
        LabelRequirement,
        st.sampled_from(KEYS),
        st.sampled_from(["in", "notin"]),
        st.frozensets(st.sampled_from(VALUES), min_size=1, max_size=3),
    ),
    st.builds(LabelRequirement, st.sampled_from(KEYS), st.sampled_from(["exists", "!exists"])),
)
field_requirements = st.builds(
    FieldRequirement,
    st.sampled_from(["spec.nodeName", "spec.hostname", "metadata.name", "metadata.namespace"]),
    st.sampled_from(["=", "!="]),
    st.sampled_from(["", "n1", "n2", "h1", "a", "ns1"]),
)
configs = st.sampled_from(
    [
        IndexOptions(labels=True, fields=["spec.nodeName"]),
        IndexOptions(labels=["app"], fields=["spec.hostname", "metadata.name"]),
        IndexOptions(labels=False, namespace=False),
    ]
)


def _brute_force(
    objs: list[dict[str, Any]], namespace: str | None, ls: LabelSelector, fs: FieldSelector
) -> set[str]:
    out = set()
    for d in objs:
        meta = d["metadata"]
        if namespace and meta.get("namespace", "") != namespace:
            continue
        if not ls.matches(meta.get("labels") or {}):
            continue
        if not fs.matches(lambda path, d=d: get_path(d, path)):  # type: ignore[misc]
            continue
        key = f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]
        out.add(key)
    return out


@settings(max_examples=300, deadline=None)
@given(
    objects,
    st.sampled_from([None, "ns1", "ns2"]),
    st.lists(label_requirements, max_size=3),
    st.lists(field_requirements, max_size=2),
    configs,
)
def test_index_answer_equals_scan_answer(
    specs: list[tuple[str, str, dict[str, str], str | None, str | None]],
    namespace: str | None,
    label_reqs: list[LabelRequirement],
    field_reqs: list[FieldRequirement],
    config: IndexOptions,
) -> None:
    store = Store(StoreOptions(indexes=config))
    listed = [
        pod(name, ns, "1", labels=labels, node=node_name, extra_spec={"hostname": h} if h else {})
        for name, ns, labels, node_name, h in specs
    ]
    store.replace(listed, "1")
    objs = [o.to_dict() for o in store.list()]
    lister = Lister(store)
    ls = LabelSelector(tuple(label_reqs))
    fs = FieldSelector(tuple(field_reqs))
    # The whole query, then each part and each requirement alone (more answers that can differ).
    queries = [(namespace, ls, fs), (namespace, ls, FieldSelector()), (None, ls, FieldSelector())]
    queries += [(namespace, LabelSelector(), fs), (None, LabelSelector(), fs)]
    queries += [(None, LabelSelector((r,)), FieldSelector()) for r in label_reqs]
    queries += [(namespace, LabelSelector(), FieldSelector((r,))) for r in field_reqs]
    for ns, labels, fields in queries:
        expected = _brute_force(objs, ns, labels, fields)
        assert names(lister.list(ns, labels, fields)) == expected, (ns, str(labels), str(fields))
    # The string forms parse back to the same query.
    expected = _brute_force(objs, namespace, ls, fs)
    assert names(lister.list(namespace, str(ls), str(fs) or None)) == expected
