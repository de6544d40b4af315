"""The patch formats against their specifications' examples."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kcs.testing._patch import PatchError, json_patch, merge_patch, strategic_merge_patch

# RFC 7386, Appendix A.
RFC7386: list[tuple[Any, Any, Any]] = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "patch", "result"), RFC7386)
def test_merge_patch_rfc7386(target: Any, patch: Any, result: Any) -> None:
    before = copy.deepcopy(target)
    assert merge_patch(target, patch) == result
    assert target == before


# RFC 6902, Appendix A (a selection), plus errors.
RFC6902: list[tuple[Any, list[dict[str, Any]], Any]] = [
    ({"foo": "bar"}, [{"op": "add", "path": "/baz", "value": "qux"}],
     {"baz": "qux", "foo": "bar"}),
    ({"foo": ["bar", "baz"]}, [{"op": "add", "path": "/foo/1", "value": "qux"}],
     {"foo": ["bar", "qux", "baz"]}),
    ({"baz": "qux", "foo": "bar"}, [{"op": "remove", "path": "/baz"}], {"foo": "bar"}),
    ({"foo": ["bar", "qux", "baz"]}, [{"op": "remove", "path": "/foo/1"}],
     {"foo": ["bar", "baz"]}),
    ({"baz": "qux", "foo": "bar"}, [{"op": "replace", "path": "/baz", "value": "boo"}],
     {"baz": "boo", "foo": "bar"}),
    ({"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
     [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
     {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}}),
    ({"foo": ["all", "grass", "cows", "eat"]},
     [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
     {"foo": ["all", "cows", "eat", "grass"]}),
    ({"baz": "qux", "foo": ["a", 2, "c"]},
     [{"op": "test", "path": "/baz", "value": "qux"},
      {"op": "test", "path": "/foo/1", "value": 2}],
     {"baz": "qux", "foo": ["a", 2, "c"]}),
    ({"foo": "bar"}, [{"op": "add", "path": "/child", "value": {"grandchild": {}}}],
     {"foo": "bar", "child": {"grandchild": {}}}),
    ({"foo": ["bar"]}, [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}],
     {"foo": ["bar", ["abc", "def"]]}),
    ({"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": 10}], {"/": 9, "~1": 10}),
    ({"a": {"b": 1}}, [{"op": "copy", "from": "/a", "path": "/c"}],
     {"a": {"b": 1}, "c": {"b": 1}}),
]


@pytest.mark.parametrize(("doc", "ops", "result"), RFC6902)
def test_json_patch_rfc6902(doc: Any, ops: list[dict[str, Any]], result: Any) -> None:
    before = copy.deepcopy(doc)
    assert json_patch(doc, ops) == result
    assert doc == before


@pytest.mark.parametrize(
    ("doc", "ops", "malformed"),
    [
        ({"baz": "qux"}, [{"op": "test", "path": "/baz", "value": "bar"}], False),
        ({"foo": "bar"}, [{"op": "add", "path": "/baz/bat", "value": "qux"}], False),
        ({"foo": []}, [{"op": "add", "path": "/foo/5", "value": 1}], False),
        ({"foo": 1}, [{"op": "remove", "path": "/bar"}], False),
        ({"foo": 1}, [{"op": "replace", "path": "/bar", "value": 2}], False),
        ({"a": {"b": 1}}, [{"op": "move", "from": "/a", "path": "/a/b/c"}], False),
        ({"foo": 1}, [{"op": "frobnicate", "path": "/foo"}], True),
        ({"foo": 1}, [{"op": "add", "path": "/foo"}], True),
        ({"foo": 1}, {"op": "add"}, True),
    ],
)
def test_json_patch_errors(doc: Any, ops: Any, malformed: bool) -> None:
    with pytest.raises(PatchError) as err:
        json_patch(doc, ops)
    assert err.value.malformed is malformed


def _pod(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "p", "finalizers": ["a"]}, "spec": spec}


def test_strategic_merge_lists_by_key_and_directives() -> None:
    original = _pod(
        containers=[
            {"name": "app", "image": "a:1", "ports": [{"containerPort": 80, "name": "http"}],
             "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
            {"name": "side", "image": "s:1"},
        ],
        tolerations=[{"key": "x"}],
        args=["--a", "--b"],
    )
    patch = {
        "metadata": {"finalizers": ["b", "a"]},
        "spec": {
            "$setElementOrder/containers": [{"name": "app"}, {"name": "side"}],
            "containers": [
                {"name": "app", "ports": [{"containerPort": 443, "name": "https"}],
                 "env": [{"name": "B", "$patch": "delete"}, {"name": "C", "value": "3"}]},
                {"name": "side", "image": "s:2"},
            ],
            "tolerations": [{"key": "y"}],
            "$deleteFromPrimitiveList/args": ["--a"],
        },
    }
    before = copy.deepcopy(original)
    out = strategic_merge_patch(original, patch)
    assert original == before
    app, side = out["spec"]["containers"]
    assert app["image"] == "a:1" and side == {"name": "side", "image": "s:2"}
    assert app["ports"] == [{"containerPort": 80, "name": "http"},
                            {"containerPort": 443, "name": "https"}]
    assert app["env"] == [{"name": "A", "value": "1"}, {"name": "C", "value": "3"}]
    assert out["spec"]["tolerations"] == [{"key": "y"}]  # no merge key: replaced
    assert out["spec"]["args"] == ["--b"]
    assert out["metadata"]["finalizers"] == ["a", "b"]  # merged as a set
    assert not any(k.startswith("$") for k in out["spec"])


def test_strategic_merge_replace_and_delete_maps() -> None:
    original = {"spec": {"selector": {"a": "1", "b": "2"}, "strategy": {"type": "X"},
                         "conditions": [{"type": "Ready", "status": "False"}]}}
    out = strategic_merge_patch(original, {"spec": {
        "selector": {"$patch": "replace", "c": "3"},
        "strategy": {"$patch": "delete"},
        "conditions": [{"type": "Ready", "status": "True"}, {"type": "Synced", "status": "True"}],
    }})
    assert out["spec"]["selector"] == {"c": "3"}
    assert "strategy" not in out["spec"]
    assert out["spec"]["conditions"] == [{"type": "Ready", "status": "True"},
                                         {"type": "Synced", "status": "True"}]
    replaced = strategic_merge_patch(original, {"spec": {"conditions": [
        {"$patch": "replace"}, {"type": "Only", "status": "True"}]}})
    assert replaced["spec"]["conditions"] == [{"type": "Only", "status": "True"}]
