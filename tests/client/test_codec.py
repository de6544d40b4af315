"""The compact object codec: exact round trips, the fast and generic paths, GC behaviour."""

from __future__ import annotations

import gc
from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kcs.core import (
    Object,
    codec_for,
    decode_list,
    decode_object,
    decode_watch_event,
    encode_object,
    object_from_dict,
)
from kcs.testing._workload import typical_pod


def _without_managed_fields(obj: dict[str, Any]) -> dict[str, Any]:
    out = dict(obj)
    meta = dict(out["metadata"])
    meta.pop("managedFields", None)
    out["metadata"] = meta
    return out


@pytest.mark.parametrize("kind", ["Pod", None, "Widget"])
def test_pod_round_trips_exactly_without_managed_fields(kind: str | None) -> None:
    pod = typical_pod(7)
    line = orjson.dumps({"type": "MODIFIED", "object": pod})
    etype, obj = codec_for(kind).decode_watch_event(line)
    assert etype == "MODIFIED"
    assert obj.to_dict() == _without_managed_fields(pod)
    assert obj.key == f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"
    assert obj.labels == pod["metadata"]["labels"]
    assert b"managedFields" not in encode_object(obj)


def test_managed_fields_kept_on_request() -> None:
    pod = typical_pod(3)
    obj = codec_for("Pod", keep_managed_fields=True).decode_object(orjson.dumps(pod))
    assert obj.to_dict() == pod


def test_unknown_top_level_fields_take_the_generic_path_and_lose_nothing() -> None:
    cm = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "namespace": "ns", "resourceVersion": "5"},
        "spec": {"size": 3},
        "extra": [1, 2, {"x": None}],
        "status": {"ok": True},
    }
    obj = codec_for("Widget").decode_object(orjson.dumps(cm))
    assert obj.to_dict() == cm
    assert obj["extra"] == [1, 2, {"x": None}]
    assert "extra" in obj
    assert "missing" not in obj


def test_error_event_keeps_the_status() -> None:
    status = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "too old resource version: 1 (5)",
        "reason": "Expired",
        "code": 410,
    }
    etype, obj = decode_watch_event(orjson.dumps({"type": "ERROR", "object": status}), kind="Pod")
    assert etype == "ERROR"
    assert obj.kind == "Status"
    assert obj.fields()["code"] == 410
    assert obj["reason"] == "Expired"


def test_bookmark_event() -> None:
    line = b'{"type":"BOOKMARK","object":{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":"42","annotations":{"k8s.io/initial-events-end":"true"}}}}'
    etype, obj = decode_watch_event(line, kind="Pod")
    assert etype == "BOOKMARK"
    assert obj.resource_version == "42"
    assert obj.annotations["k8s.io/initial-events-end"] == "true"


@pytest.mark.parametrize(
    "line",
    [b"", b"{", b'{"type":"ADDED"', b"[1,2]", b'{"type":"ADDED","object":5}', b'{"object":{}}'],
)
def test_malformed_lines_raise_value_errors(line: bytes) -> None:
    with pytest.raises(ValueError):  # msgspec.DecodeError and ValidationError are ValueErrors
        decode_watch_event(line, kind="Pod")


def test_list_decoding_both_paths() -> None:
    pods = [typical_pod(i) for i in range(5)]
    weird = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}, "odd": 1}
    body = orjson.dumps(
        {"kind": "PodList", "metadata": {"resourceVersion": "9", "continue": "c1"}, "items": pods}
    )
    meta, items = decode_list(body, kind="Pod")
    assert (meta.resource_version, meta.continue_) == ("9", "c1")
    assert [o.to_dict() for o in items] == [_without_managed_fields(p) for p in pods]
    meta, items = decode_list(orjson.dumps({"metadata": {}, "items": [*pods, weird]}), kind="Pod")
    assert items[-1].to_dict() == weird
    assert len(items) == 6


def test_get_path_decodes_only_the_path() -> None:
    pod = typical_pod(11)
    obj = object_from_dict(pod)
    assert obj.get_path("spec.nodeName") == pod["spec"]["nodeName"]
    assert obj.get_path("status.phase") == "Running"
    assert obj.get_path("spec.missing") is None
    assert obj.get_path("nothing.here.at.all") is None
    assert obj.get_path("metadata.name") == pod["metadata"]["name"]
    assert obj.get_path("metadata.labels.app") == pod["metadata"]["labels"]["app"]
    assert obj.get_path("kind") == "Pod"


def test_objects_are_immutable_and_untracked_by_the_gc() -> None:
    obj = object_from_dict(typical_pod(1))
    with pytest.raises(AttributeError):
        obj.body = b"{}"  # type: ignore[misc]
    assert not gc.is_tracked(obj)
    assert not gc.is_tracked(obj.metadata)
    # CPython untracks a tuple of untracked items (and a dict of strings) at its first
    # collection; after that nothing of the object is left for the collector to traverse.
    gc.collect()
    assert not gc.is_tracked(obj.metadata.owner_references)
    assert not gc.is_tracked(obj.metadata.labels)
    # reading a field hands out a fresh value: changing it does not change the object
    spec = obj["spec"]
    spec["nodeName"] = "elsewhere"
    assert obj.get_path("spec.nodeName") != "elsewhere"


def test_decode_object_of_non_object_json_fails() -> None:
    with pytest.raises(msgspec.ValidationError):
        decode_object(b"[]")


_json_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8)
_json = st.recursive(
    _json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=200, deadline=None)
@given(
    extra=st.dictionaries(
        st.text(min_size=1, max_size=10).filter(
            lambda k: k not in ("apiVersion", "kind", "metadata")
        ),
        _json,
        max_size=4,
    ),
    labels=st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
    kind=st.sampled_from(["Pod", "ConfigMap", "Secret", "Event", "Widget"]),
)
def test_any_object_round_trips(extra: dict[str, Any], labels: dict[str, str], kind: str) -> None:
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": kind,
        "metadata": {"name": "n", "namespace": "ns", "resourceVersion": "1", "labels": labels},
        **extra,
    }
    if not labels:
        del obj["metadata"]["labels"]
    decoded = codec_for(kind).decode_object(orjson.dumps(obj))
    assert isinstance(decoded, Object)
    assert decoded.to_dict() == obj


@pytest.mark.parametrize("kind", ["Deployment", None])
def test_list_items_without_type_meta_get_the_lists(kind: str | None) -> None:
    """kube-apiserver's JSON lists of built-in kinds leave apiVersion and kind out of
    their items (they are on the list): the objects decoded must still say what they
    are, or an Event about one names no kind and an ownerReference to one is invalid."""
    bare = {"metadata": {"name": "web", "namespace": "default", "uid": "u"}, "spec": {}}
    typed = {"apiVersion": "apps/v1beta9", "kind": "Odd", "metadata": {"name": "o"}}
    body = orjson.dumps({"apiVersion": "apps/v1", "kind": "DeploymentList",
                         "metadata": {"resourceVersion": "5"}, "items": [bare, typed]})
    _, items = decode_list(body, kind=kind)
    assert [(o.api_version, o.kind) for o in items] == [("apps/v1", "Deployment"),
                                                        ("apps/v1beta9", "Odd")]
    assert items[0].to_dict() == {"apiVersion": "apps/v1", "kind": "Deployment", **bare}
    # the generic path too (an item with a field the kind's codec does not know)
    odd = {**bare, "extra": 1}
    _, items = decode_list(orjson.dumps({"apiVersion": "apps/v1", "kind": "DeploymentList",
                                         "items": [odd]}), kind="Pod")
    assert (items[0].api_version, items[0].kind) == ("apps/v1", "Deployment")


@pytest.mark.parametrize("present", [("spec", "status"), ("spec",), ("status",), ()])
def test_body_spans_cut_the_body_at_each_field(present: tuple[str, ...]) -> None:
    """Each span is the field's name and its whole JSON text, from the body built in the
    same pass; an absent field has no span; a line that is also a memoryview decodes the
    same (the watcher decodes views of its reads)."""
    pod: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a", "resourceVersion": "3"}}
    values: dict[str, Any] = {"spec": {"nodeName": "n1", "x": [1, {"status": "s"}]}, "status": {"phase": "P"}}
    for name in present:
        pod[name] = values[name]
    line = orjson.dumps({"type": "MODIFIED", "object": pod})
    codec = codec_for("Pod")
    etype, obj, spans = codec.decode_watch_event_spans(memoryview(line))
    assert (etype, obj) == codec.decode_watch_event(line)
    assert spans is not None and spans.fields == ("spec", "status")
    for name in ("spec", "status"):
        segment = spans.segment(name)
        if name not in present:
            assert segment is None
            continue
        assert segment is not None
        text = obj.body[segment[0] : segment[1]].lstrip(b"{,")
        assert orjson.loads(b"{" + text + b"}") == {name: values[name]}


@pytest.mark.parametrize("present", [("spec", "status"), ("spec",), ("status",), ()])
def test_body_spans_of_a_body_are_the_spans_its_decode_gave(present: tuple[str, ...]) -> None:
    """``Codec.body_spans`` recomputes, from the body alone, the spans the decode returned
    with it (what a decoder that did not keep them needs)."""
    pod: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a", "resourceVersion": "3"}}
    values: dict[str, Any] = {"spec": {"nodeName": "n1"}, "status": {"phase": "P"}}
    for name in present:
        pod[name] = values[name]
    codec = codec_for("Pod")
    _, obj, spans = codec.decode_watch_event_spans(orjson.dumps({"type": "ADDED", "object": pod}))
    assert spans is not None and codec.body_spans(obj.body) == spans


@pytest.mark.parametrize("present", [("subjects", "roleRef"), ("subjects",), ("roleRef",)])
def test_body_spans_of_any_kind_with_two_fields(present: tuple[str, ...]) -> None:
    """A kind whose codec has two top-level fields other than spec and status (a
    RoleBinding's subjects and roleRef) is laid out and cut the same way, with both or
    one of them present."""
    binding: dict[str, Any] = {"apiVersion": "rbac.authorization.k8s.io/v1",
                               "kind": "RoleBinding", "metadata": {"name": "b"}}
    values: dict[str, Any] = {"subjects": [{"kind": "User", "name": "u"}],
                              "roleRef": {"kind": "Role", "name": "r"}}
    for name in present:
        binding[name] = values[name]
    codec = codec_for("RoleBinding")
    _, obj, spans = codec.decode_watch_event_spans(
        orjson.dumps({"type": "ADDED", "object": binding}))
    assert obj.to_dict() == binding
    assert spans is not None and codec.body_spans(obj.body) == spans
    for name in ("subjects", "roleRef"):
        segment = spans.segment(name)
        assert (segment is not None) == (name in present)
        if segment is not None:
            text = obj.body[segment[0] : segment[1]].lstrip(b"{,")
            assert orjson.loads(b"{" + text + b"}") == {name: values[name]}


@pytest.mark.parametrize("body", [
    b'{"status":{},"spec":{}}',  # another order: the spans would point at the wrong field
    b'{"spec": {}}',  # whitespace
    b'{"spec":{},"extra":1}',  # a field the codec does not know
    b'{"metadata":{"name":"a"},"spec":{}}',  # not a body (it holds metadata)
    b'{"spec":{}',  # malformed
    b"[]",
])
def test_body_spans_are_none_for_a_body_the_codec_did_not_lay_out(body: bytes) -> None:
    assert codec_for("Pod").body_spans(body) is None


def test_body_spans_are_none_on_the_generic_path() -> None:
    line = orjson.dumps({"type": "ADDED", "object": {"metadata": {"name": "a"}, "extra": 1}})
    _, obj, spans = codec_for("Pod").decode_watch_event_spans(line)
    assert spans is None and obj.fields() == {"extra": 1}


def test_watch_lines_decode_as_each_line_does_all_or_nothing() -> None:
    codec = codec_for("Pod")
    lines = [orjson.dumps({"type": t, "object": typical_pod(i)})
             for i, t in enumerate(["ADDED", "MODIFIED", "DELETED"])]
    lines.append(orjson.dumps({"type": "BOOKMARK", "object": {
        "kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": "9"}}}))
    read = b"junk\n" + b"\n".join(lines[:2]) + b"\n\n  \n" + b"\n".join(lines[2:]) + b"\ntail"
    start = len(b"junk\n")
    block = memoryview(read)[start : len(read) - len(b"\ntail")]
    decoded = codec.decode_watch_lines_spans(block)
    assert decoded == [codec.decode_watch_event_spans(line) for line in lines]  # blanks skipped
    del block, read  # nothing decoded holds on to the read (bodies are copies)
    assert all(type(obj.body) is bytes for _, obj, _ in decoded)
    # all or nothing: a malformed line, or one the codec does not decode in one pass
    with pytest.raises(msgspec.DecodeError) as malformed:
        codec.decode_watch_lines_spans(b"\n".join([lines[0], b'{"type":"ADDED"', lines[1]]))
    assert not isinstance(malformed.value, msgspec.ValidationError)
    extra = orjson.dumps({"type": "ADDED", "object": {"metadata": {"name": "a"}, "extra": 1}})
    with pytest.raises(msgspec.ValidationError):
        codec.decode_watch_lines_spans(b"\n".join([lines[0], extra]))


@pytest.mark.parametrize("typed", [True, False])
def test_list_spans_match_decode_list(typed: bool) -> None:
    items = [typical_pod(i) for i in range(3)]
    if not typed:
        for item in items:
            del item["apiVersion"], item["kind"]
    body = orjson.dumps({"apiVersion": "v1", "kind": "PodList",
                         "metadata": {"resourceVersion": "9"}, "items": items})
    codec = codec_for("Pod")
    meta, objects, spans = codec.decode_list_spans(body)
    assert (meta, objects) == codec.decode_list(body)
    assert spans is not None and len(spans) == len(objects)
    for obj, span, item in zip(objects, spans, items, strict=True):
        segment = span.segment("spec")
        assert segment is not None
        text = obj.body[segment[0] : segment[1]].lstrip(b"{,")
        assert orjson.loads(b"{" + text + b"}") == {"spec": item["spec"]}
