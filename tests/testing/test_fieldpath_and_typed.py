"""The building blocks of server-side apply: field sets, FieldsV1, and typed operations."""

from __future__ import annotations

from typing import Any

import pytest

from kcs.testing._fieldpath import FieldSet, field_pe, key_pe, value_pe
from kcs.testing._shapes import builtin_root, crd_root
from kcs.testing._typed import TypedError, compare, merge, prune, to_set

FIELDS_V1 = {
    "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
    "f:spec": {
        "f:containers": {'k:{"name":"a"}': {".": {}, "f:image": {}}},
        "f:replicas": {},
    },
}


def test_fields_v1_round_trip_and_order() -> None:
    s = FieldSet.from_fields_v1({"f:spec": {"f:replicas": {}, "f:containers": {
        'k:{"name":"a"}': {"f:image": {}, ".": {}}}}, "f:metadata": {"f:labels": {
            "f:app": {}, ".": {}}}})
    encoded = s.to_fields_v1()
    assert encoded == FIELDS_V1
    assert list(encoded) == ["f:metadata", "f:spec"]
    assert list(encoded["f:metadata"]["f:labels"]) == [".", "f:app"]  # the member first
    assert FieldSet.from_fields_v1(encoded) == s
    with pytest.raises(ValueError, match="invalid path element"):
        FieldSet.from_fields_v1({"x:bad": {}})


def test_path_elements_and_path_strings() -> None:
    assert key_pe({"protocol": "TCP", "containerPort": 80}) == \
        'k:{"containerPort":80,"protocol":"TCP"}'
    assert value_pe("x") == 'v:"x"'
    path = (field_pe("spec"), field_pe("containers"), key_pe({"name": "app"}), field_pe("ports"),
            key_pe({"containerPort": 80, "protocol": "TCP"}))
    assert FieldSet.path_string(path) == \
        '.spec.containers[name="app"].ports[containerPort=80,protocol="TCP"]'
    assert FieldSet.path_string((field_pe("metadata"), field_pe("finalizers"),
                                 value_pe("a"))) == '.metadata.finalizers[="a"]'


def test_set_algebra() -> None:
    a = FieldSet.of([("f:a", "f:b"), ("f:a", "f:c"), ("f:d",)])
    b = FieldSet.of([("f:a", "f:b"), ("f:a",)])
    assert list(a.difference(b).paths()) == [("f:d",), ("f:a", "f:c")]
    assert list(a.recursive_difference(b).paths()) == [("f:d",)]
    assert list(a.intersection(b).paths()) == [("f:a", "f:b")]
    assert a.union(b).has(("f:a",)) and not a.has(("f:a",))
    assert FieldSet().empty() and not a.empty()


def test_to_set_and_compare() -> None:
    shape = builtin_root("pods")
    pod: dict[str, Any] = {
        "metadata": {"labels": {"a": "1"}},
        "spec": {"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80}]}],
                 "nodeSelector": {"disk": "ssd"}}}
    s = to_set(pod, shape)
    assert s.has(("f:spec", "f:nodeSelector"))  # atomic: one member, not its keys
    assert not s.has(("f:spec", "f:nodeSelector", "f:disk"))
    port = key_pe({"containerPort": 80, "protocol": "TCP"})  # the default protocol
    assert s.has(("f:spec", "f:containers", key_pe({"name": "c"}), "f:ports", port))
    changed = {**pod, "spec": {**pod["spec"], "containers": [{"name": "c", "image": "j"}]}}
    added, modified, removed = compare(pod, changed, shape).sets()
    c = key_pe({"name": "c"})
    assert list(modified.paths()) == [("f:spec", "f:containers", c, "f:image")]
    assert removed.has(("f:spec", "f:containers", c, "f:ports")) and added.empty()


def test_merge_orders_associative_lists_as_applied() -> None:
    shape = builtin_root("pods")

    def containers(*names: str) -> dict[str, object]:
        return {"spec": {"containers": [{"name": n} for n in names]}}

    merged = merge(containers("a", "x", "b"), containers("b", "c", "a"), shape)
    assert [c["name"] for c in merged["spec"]["containers"]] == ["x", "b", "c", "a"]
    merged = merge(containers("a", "b"), containers("a", "n", "b"), shape)
    assert [c["name"] for c in merged["spec"]["containers"]] == ["a", "n", "b"]
    merged = merge(containers("a", "l", "b"), containers("a", "b"), shape)
    assert [c["name"] for c in merged["spec"]["containers"]] == ["a", "l", "b"]
    with pytest.raises(TypedError, match="duplicate entries"):
        merge({}, containers("a", "a"), shape)
    with pytest.raises(TypedError, match='omits key field "name"'):
        merge({}, {"spec": {"containers": [{"image": "i"}]}}, shape)


def test_prune_removes_only_what_nobody_owns() -> None:
    shape = crd_root("things.example.com", {"type": "object", "properties": {"spec": {
        "type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}}}})
    obj = {"spec": {"a": 1, "b": 2}}
    last = FieldSet.of([("f:spec", "f:a"), ("f:spec", "f:b")])
    owned_b = FieldSet.of([("f:spec", "f:b")])
    assert prune(obj, shape, last, owned_b) == {"spec": {"b": 2}}
    # A struct field nobody owns anything under goes as a whole.
    assert prune(obj, shape, last, FieldSet()) == {}
