"""Fidelity: custom resources are pruned, defaulted and validated by their CRD's structural
schema, with the Status kube-apiserver 1.36 answers (apiextensions-apiserver's wording)."""

from __future__ import annotations

from typing import Any

import pytest
from apiserver_http import Http, Response

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(20)]

CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
WIDGETS = "/apis/example.com/v1/namespaces/default/widgets"

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "required": ["color"],
            "properties": {
                "color": {"type": "string", "enum": ["red", "blue"]},
                "size": {"type": "integer", "minimum": 1, "maximum": 10, "default": 3},
                "name": {"type": "string", "maxLength": 5, "pattern": "^[a-z]+$"},
                "email": {"type": "string", "format": "email"},
                "tags": {"type": "array", "maxItems": 3, "items": {"type": "string"},
                         "x-kubernetes-list-type": "set"},
                "ports": {"type": "array", "x-kubernetes-list-type": "map",
                          "x-kubernetes-list-map-keys": ["name"],
                          "items": {"type": "object", "required": ["name"], "properties": {
                              "name": {"type": "string"}, "port": {"type": "integer"}}}},
                "target": {"x-kubernetes-int-or-string": True},
                "template": {"type": "object", "x-kubernetes-embedded-resource": True,
                             "x-kubernetes-preserve-unknown-fields": True},
                "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "limits": {"type": "object", "default": {"cpu": "1"}, "properties": {
                    "cpu": {"type": "string"}, "memory": {"type": "string", "default": "1Gi"}}},
            },
        },
        "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}},
    },
}


def crd(schema: Any = SCHEMA) -> dict[str, Any]:
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                     "names": {"plural": "widgets", "kind": "Widget"},
                     "versions": [{"name": "v1", "served": True, "storage": True,
                                   "subresources": {"status": {}},
                                   "schema": {"openAPIV3Schema": schema}}]}}


def widget(name: str = "w", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": name},
            "spec": {"color": "red", **spec}}


def causes(r: Response) -> list[tuple[str, str, str]]:
    assert r.status == 422 and r.reason == "Invalid", r.body
    return [(c["reason"], c.get("field", ""), c["message"]) for c in r.body["details"]["causes"]]


@pytest.fixture
async def widgets(client: Http) -> Http:
    r = await client.post(CRDS, crd())
    assert r.status == 201, r.body
    assert r.body["spec"]["names"]["listKind"] == "WidgetList"
    assert r.body["spec"]["names"]["singular"] == "widget"
    assert r.body["spec"]["conversion"] == {"strategy": "None"}
    return client


async def test_defaults_pruning_and_preserved_fields(widgets: Http) -> None:
    r = await widgets.post(WIDGETS, widget(unknown=1, extra={"anything": {"goes": True}},
                                           template={"apiVersion": "v1", "kind": "ConfigMap",
                                                     "metadata": {"name": "x", "junk": 1},
                                                     "data": {"a": "b"}}))
    assert r.status == 201, r.body
    spec = r.body["spec"]
    assert "unknown" not in spec  # pruned: not in the schema
    assert spec["extra"] == {"anything": {"goes": True}}  # preserved
    assert spec["template"] == {"apiVersion": "v1", "kind": "ConfigMap",
                                "metadata": {"name": "x"}, "data": {"a": "b"}}
    assert spec["size"] == 3  # default:
    assert spec["limits"] == {"cpu": "1", "memory": "1Gi"}  # a defaulted object's defaults
    assert r.headers.getall("Warning") == [
        '299 - "unknown field \\"spec.template.metadata.junk\\""',
        '299 - "unknown field \\"spec.unknown\\""']
    strict = await widgets.post(WIDGETS, widget("s", unknown=1), fieldValidation="Strict")
    assert strict.status == 400
    assert strict.body["message"] == ('Widget in version "v1" cannot be handled as a Widget: '
                                      'strict decoding error: unknown field "spec.unknown"')


async def test_schema_violations_are_kubes_422(widgets: Http) -> None:
    r = await widgets.post(WIDGETS, widget(size="big"))
    assert r.body["message"] == ('Widget.example.com "w" is invalid: spec.size: Invalid value: '
                                 '"string": spec.size in body must be of type integer: "string"')
    assert r.body["details"] == {"name": "w", "group": "example.com", "kind": "Widget",
                                 "causes": [{"reason": "FieldValueTypeInvalid", "field":
                                             "spec.size", "message": 'Invalid value: "string": '
                                             'spec.size in body must be of type integer: '
                                             '"string"'}]}
    got = causes(await widgets.post(WIDGETS, {**widget(), "spec": {
        "size": 11, "name": "TooLong", "email": "nope", "tags": ["a", "b", "c", "d"],
        "target": True}}))
    assert got == [
        ("FieldValueRequired", "spec.color", "Required value"),
        ("FieldValueInvalid", "spec.size",
         "Invalid value: 11: spec.size in body should be less than or equal to 10"),
        ("FieldValueTooLong", "spec.name", "Too long: may not be more than 5 bytes"),
        ("FieldValueInvalid", "spec.name",
         'Invalid value: "TooLong": spec.name in body should match \'^[a-z]+$\''),
        ("FieldValueInvalid", "spec.email",
         'Invalid value: "nope": spec.email in body must be of type email: "nope"'),
        ("FieldValueTooMany", "spec.tags", "Too many: 4: must have at most 3 items"),
        ("FieldValueTypeInvalid", "spec.target",
         'Invalid value: "boolean": spec.target in body must be of type integer,string: '
         '"boolean"'),
    ]
    enum = causes(await widgets.post(WIDGETS, widget(color="purple", size=0)))
    assert enum == [
        ("FieldValueNotSupported", "spec.color",
         'Unsupported value: "purple": supported values: "red", "blue"'),
        ("FieldValueInvalid", "spec.size",
         "Invalid value: 0: spec.size in body should be greater than or equal to 1"),
    ]


async def test_list_types_and_int_or_string(widgets: Http) -> None:
    dup = causes(await widgets.post(WIDGETS, widget(tags=["a", "a"], ports=[
        {"name": "http", "port": 80}, {"name": "http", "port": 81}])))
    assert dup == [("FieldValueDuplicate", "spec.tags[1]", 'Duplicate value: "a"'),
                   ("FieldValueDuplicate", "spec.ports[1]",
                    'Duplicate value: map[string]interface {}{"name":"http"}')]
    for target in (8080, "http"):
        ok = await widgets.post(WIDGETS, widget(f"t{target}", target=target))
        assert ok.status == 201 and ok.body["spec"]["target"] == target
    embedded = causes(await widgets.post(WIDGETS, widget(template={"metadata": {}})))
    assert embedded == [
        ("FieldValueRequired", "spec.template.apiVersion", "Required value: must not be empty"),
        ("FieldValueRequired", "spec.template.kind", "Required value: must not be empty")]


async def test_status_subresource_and_ratcheting(widgets: Http) -> None:
    made = await widgets.post(WIDGETS, {**widget(), "status": {"ready": True}})
    assert "status" not in made.body  # the main resource ignores status
    status = await widgets.patch(f"{WIDGETS}/w/status", {"status": {"ready": "yes"}})
    assert causes(status)[0][:2] == ("FieldValueTypeInvalid", "status.ready")
    ok = await widgets.patch(f"{WIDGETS}/w/status", {"status": {"ready": True}})
    assert ok.status == 200 and ok.body["status"] == {"ready": True}
    # Tighten the schema: the stored object now breaks it, but an update that leaves the
    # offending value alone is allowed (ratcheting); one that changes it is not.
    tighter = crd()
    tighter["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"][
        "properties"]["color"]["enum"] = ["blue"]
    current = (await widgets.get(f"{CRDS}/widgets.example.com")).body
    current["spec"] = tighter["spec"]
    assert (await widgets.put(f"{CRDS}/widgets.example.com", current)).status == 200
    labelled = await widgets.patch(f"{WIDGETS}/w", {"metadata": {"labels": {"a": "b"}}})
    assert labelled.status == 200, labelled.body
    recoloured = await widgets.patch(f"{WIDGETS}/w", {"spec": {"color": "red", "size": 4}})
    assert recoloured.status == 200  # color unchanged (still red): ratcheted
    changed = await widgets.post(WIDGETS, widget("new"))
    assert causes(changed)[0][:2] == ("FieldValueNotSupported", "spec.color")


async def test_a_crd_must_have_structural_schemas(client: Http) -> None:
    no_schema = crd()
    del no_schema["spec"]["versions"][0]["schema"]
    r = await client.post(CRDS, no_schema)
    assert causes(r) == [("FieldValueRequired", "spec.versions[0].schema.openAPIV3Schema",
                          "Required value: schemas are required")]
    untyped = crd({"type": "object", "properties": {"spec": {"properties": {
        "a": {"type": "string"}}}}})
    r = await client.post(CRDS, untyped)
    assert causes(r) == [(
        "FieldValueRequired", "spec.versions[0].schema.openAPIV3Schema.properties[spec].type",
        "Required value: must not be empty for specified object fields")]
    assert r.body["details"]["kind"] == "CustomResourceDefinition"
    assert r.body["details"]["group"] == "apiextensions.k8s.io"


async def test_custom_resource_names_are_dns_subdomains(widgets: Http) -> None:
    r = await widgets.post(WIDGETS, widget("Not_Valid"))
    assert causes(r)[0][:2] == ("FieldValueInvalid", "metadata.name")


async def test_a_controller_gen_schema_keeps_metadata(client: Http) -> None:
    generated = {"type": "object", "properties": {
        "apiVersion": {"type": "string"}, "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": {"type": "object", "properties": {"replicas": {"type": "integer"}}}}}
    assert (await client.post(CRDS, crd(generated))).status == 201
    body = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {
        "name": "w", "labels": {"team": "a"}, "annotations": {"note": "x"}},
        "spec": {"replicas": 2}}
    r = await client.post(WIDGETS, body)
    assert r.status == 201, r.body
    assert r.body["metadata"]["labels"] == {"team": "a"}
    assert r.body["metadata"]["annotations"] == {"note": "x"}
