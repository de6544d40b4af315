"""Fidelity: the OpenAPI documents clients read (kubectl apply, explain) describe what the
fake serves, built-in kinds from kubernetes-asyncio's models and CRDs from their schemas."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from apiserver_http import Http

from kcs.testing import FakeApiServer

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
GADGET_SCHEMA: dict[str, Any] = {"type": "object", "properties": {"spec": {"type": "object", "properties": {
    "size": {"type": "integer", "description": "How big."}}}}}


def gadget_crd(schema: dict[str, Any] = GADGET_SCHEMA) -> dict[str, Any]:
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "gadgets.example.com"},
            "spec": {"group": "example.com", "scope": "Cluster",
                     "names": {"plural": "gadgets", "kind": "Gadget"},
                     "versions": [{"name": "v1", "served": True, "storage": True,
                                   "schema": {"openAPIV3Schema": schema}}]}}


async def v3(client: Http, gv: str) -> dict[str, Any]:
    index = (await client.get("/openapi/v3")).body["paths"]
    url = index[gv]["serverRelativeURL"]
    path, _, query = url.partition("?")
    r = await client.get(path, **dict([query.split("=", 1)]))
    assert r.status == 200
    assert r.headers["Cache-Control"] == "public, immutable"
    body: dict[str, Any] = r.body
    return body


async def test_the_v3_index_lists_every_group_version(api: FakeApiServer, client: Http) -> None:
    index = (await client.get("/openapi/v3")).body["paths"]
    served = {f"apis/{s.resource.group}/{s.resource.version}" if s.resource.group else
              f"api/{s.resource.version}" for s in api.registry.all()}
    assert set(index) == served
    assert {"api/v1", "apis/apps/v1", "apis/batch/v1", "apis/policy/v1",
            "apis/networking.k8s.io/v1", "apis/storage.k8s.io/v1",
            "apis/autoscaling/v2"} <= set(index)
    url = index["apis/apps/v1"]["serverRelativeURL"]
    assert url.startswith("/openapi/v3/apis/apps/v1?hash=") and len(url.split("=")[1]) == 128
    stale = await client.req("GET", "/openapi/v3/apis/apps/v1", params={"hash": "0" * 128},
                             headers={})
    assert stale.status == 200  # the client followed the 301 to the current hash
    unhashed = await client.get("/openapi/v3/apis/apps/v1")
    assert unhashed.headers["Cache-Control"] == "no-cache, private"


async def test_operations_name_their_kind_and_take_field_validation(client: Http) -> None:
    doc = await v3(client, "api/v1")
    assert doc["openapi"] == "3.0.0" and doc["info"]["version"].startswith("v1.36")
    item = doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]
    patch = item["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {"group": "", "kind": "Pod",
                                                        "version": "v1"}
    assert {p["name"] for p in patch["parameters"]} == {
        "dryRun", "fieldManager", "fieldValidation", "force"}
    assert set(patch["requestBody"]["content"]) == {
        "application/apply-patch+yaml", "application/json-patch+json",
        "application/merge-patch+json", "application/strategic-merge-patch+json"}
    assert "post" in doc["paths"]["/api/v1/namespaces/{namespace}/pods"]
    assert "get" in doc["paths"]["/api/v1/pods"]
    assert "put" in doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}/status"]


async def test_schemas_carry_types_descriptions_and_patch_metadata(client: Http) -> None:
    schemas = (await v3(client, "api/v1"))["components"]["schemas"]
    pod_schema = schemas["io.k8s.api.core.v1.Pod"]
    assert pod_schema["x-kubernetes-group-version-kind"] == [
        {"group": "", "kind": "Pod", "version": "v1"}]
    assert pod_schema["description"].startswith("Pod is a collection of containers")
    assert pod_schema["properties"]["spec"]["allOf"] == [
        {"$ref": "#/components/schemas/io.k8s.api.core.v1.PodSpec"}]
    spec = schemas["io.k8s.api.core.v1.PodSpec"]
    assert spec["required"] == ["containers"]
    containers = spec["properties"]["containers"]
    assert containers["type"] == "array"
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert containers["x-kubernetes-patch-strategy"] == "merge"
    assert containers["description"].startswith("List of containers belonging to the pod.")
    limits = schemas["io.k8s.api.core.v1.ResourceRequirements"]["properties"]["limits"]
    assert limits["additionalProperties"] == {
        "$ref": "#/components/schemas/io.k8s.apimachinery.pkg.api.resource.Quantity"}
    assert "type" not in schemas["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]
    meta = schemas["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]
    assert meta["properties"]["finalizers"]["x-kubernetes-list-type"] == "set"
    apps = (await v3(client, "apis/apps/v1"))["components"]["schemas"]
    assert "io.k8s.api.core.v1.PodTemplateSpec" in apps  # core types keep their core name
    assert apps["io.k8s.api.apps.v1.RollingUpdateDeployment"]["properties"]["maxSurge"][
        "allOf"] == [{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.util.intstr."
                              "IntOrString"}]


async def test_a_crd_brings_its_schema_and_takes_it_away(client: Http) -> None:
    before = (await client.get("/openapi/v3")).body["paths"]
    assert "apis/example.com/v1" not in before
    assert (await client.post(CRDS, gadget_crd())).status == 201
    doc = await v3(client, "apis/example.com/v1")
    schema = doc["components"]["schemas"]["com.example.v1.Gadget"]
    assert schema["x-kubernetes-group-version-kind"] == [
        {"group": "example.com", "kind": "Gadget", "version": "v1"}]
    assert schema["properties"]["spec"] == GADGET_SCHEMA["properties"]["spec"]
    assert schema["properties"]["metadata"]["allOf"] == [
        {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}]
    patch = doc["paths"]["/apis/example.com/v1/gadgets/{name}"]["patch"]
    assert "fieldValidation" in {p["name"] for p in patch["parameters"]}
    assert "application/strategic-merge-patch+json" not in patch["requestBody"]["content"]
    first = (await client.get("/openapi/v3")).body["paths"]["apis/example.com/v1"]
    current = (await client.get(f"{CRDS}/gadgets.example.com")).body
    current["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"][
        "properties"]["colour"] = {"type": "string"}
    assert (await client.put(f"{CRDS}/gadgets.example.com", current)).status == 200
    second = (await client.get("/openapi/v3")).body["paths"]["apis/example.com/v1"]
    assert second != first  # a new hash: clients' caches see the change
    assert (await client.delete(f"{CRDS}/gadgets.example.com")).status == 200
    assert "apis/example.com/v1" not in (await client.get("/openapi/v3")).body["paths"]


def fields(data: bytes) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value) of a protobuf message (varints and bytes only)."""
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        field, wire = key >> 3, key & 7
        value: int | bytes
        if wire == 0:
            value, i = _varint(data, i)
        elif wire == 2:
            size, i = _varint(data, i)
            value, i = data[i:i + size], i + size
        elif wire == 1:
            value, i = data[i:i + 8], i + 8
        else:
            raise AssertionError(f"unexpected wire type {wire}")
        yield field, wire, value


def _varint(data: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        b = data[i]
        i += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return result, i


async def test_v2_is_served_as_json_and_as_protobuf(client: Http) -> None:
    js = await client.get("/openapi/v2")
    assert js.body["swagger"] == "2.0"
    pod_def = js.body["definitions"]["io.k8s.api.core.v1.Pod"]
    assert pod_def["properties"]["spec"]["$ref"] == "#/definitions/io.k8s.api.core.v1.PodSpec"
    assert js.body["definitions"]["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] == {
        "type": "string", "format": "int-or-string",
        "description": "IntOrString is a type that can hold an int32 or a string."}
    async with client.session.get(client.url + "/openapi/v2",
                                  headers={"Accept": V2_PROTOBUF}) as pb:
        assert pb.status == 200
        assert pb.headers["Content-Type"] == (
            "application/com.github.proto-openapi.spec.v2.v1.0+protobuf")
        raw = await pb.read()
    top = {f: v for f, _, v in fields(raw) if f in (1, 9)}
    assert top[1] == b"2.0"
    names = {dict((f, v) for f, _, v in fields(named))[1]
             for _, _, named in fields(top[9])}
    assert {b"io.k8s.api.core.v1.Pod", b"io.k8s.api.apps.v1.Deployment"} <= names
    refused = await client.req("GET", "/openapi/v2", headers={"Accept": "text/html"})
    assert refused.status == 406 and refused.reason == "NotAcceptable"
