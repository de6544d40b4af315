"""Custom resources' server-side tables, as apiextensions' table convertor makes them:
Name, then the CRD's columns with their types and priorities (Age when it has none);
each cell the first value of the column's JSON path, typed, null when nothing matches."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from kcs.testing import FakeApiServer
from kcs.testing._jsonpath import compile_json_path

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(20)]

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


def crd(columns: list[dict[str, Any]] | None) -> dict[str, Any]:
    version: dict[str, Any] = {
        "name": "v1", "served": True, "storage": True,
        "schema": {"openAPIV3Schema": {"type": "object",
                                       "x-kubernetes-preserve-unknown-fields": True}},
    }
    if columns is not None:
        version["additionalPrinterColumns"] = columns
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "gadgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                     "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
                     "versions": [version]}}


async def table(api: FakeApiServer) -> dict[str, Any]:
    async with aiohttp.ClientSession() as s, s.get(
        f"{api.url}/apis/example.com/v1/namespaces/default/gadgets",
        headers={"Accept": TABLE},
    ) as r:
        assert r.status == 200
        out: dict[str, Any] = await r.json()
        return out


async def test_typed_cells_priorities_and_null_for_nothing() -> None:
    columns: list[dict[str, Any]] = [
        {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
        {"name": "Ratio", "type": "number", "jsonPath": ".spec.ratio"},
        {"name": "On", "type": "boolean", "jsonPath": ".spec.on"},
        {"name": "Labels", "type": "string", "jsonPath": ".spec.tags", "priority": 1},
        {"name": "Ready", "type": "string",
         "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
        {"name": "Missing", "type": "string", "jsonPath": ".status.nothing"},
        {"name": "Wrong", "type": "integer", "jsonPath": ".spec.name"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]
    async with FakeApiServer() as api:
        api.create("customresourcedefinitions.apiextensions.k8s.io", crd(columns))
        api.create("gadgets.example.com", {
            "apiVersion": "example.com/v1", "kind": "Gadget",
            "metadata": {"name": "g", "namespace": "default"},
            "spec": {"size": 3, "ratio": 1, "on": True, "tags": ["a", "b"], "name": "x"},
            "status": {"conditions": [{"type": "Synced", "status": "True"},
                                      {"type": "Ready", "status": "False"}]}})
        got = await table(api)
    defs = got["columnDefinitions"]
    assert [d["name"] for d in defs] == ["Name"] + [c["name"] for c in columns]
    assert defs[0]["format"] == "name"
    assert [d["priority"] for d in defs] == [0, 0, 0, 0, 1, 0, 0, 0, 0]
    assert [d["type"] for d in defs][1:] == [c["type"] for c in columns]
    assert defs[1]["description"] == (
        "Custom resource definition column (in JSONPath format): .spec.size")
    (row,) = got["rows"]
    name, size, ratio, on, tags, ready, missing, wrong, age = row["cells"]
    assert (name, size, ratio, on, tags, ready) == ("g", 3, 1.0, True, '["a","b"]', "False")
    assert isinstance(ratio, float)
    assert missing is None and wrong is None
    assert age.endswith("s") and age[:-1].isdigit()


async def test_a_crd_without_columns_gets_age() -> None:
    async with FakeApiServer() as api:
        api.create("customresourcedefinitions.apiextensions.k8s.io", crd(None))
        api.create("gadgets.example.com", {
            "apiVersion": "example.com/v1", "kind": "Gadget",
            "metadata": {"name": "g", "namespace": "default"}})
        got = await table(api)
    assert [(d["name"], d["type"]) for d in got["columnDefinitions"]] == [
        ("Name", "string"), ("Age", "date")]
    assert got["rows"][0]["cells"][0] == "g"


def test_json_paths_of_printer_columns() -> None:
    obj = {"spec": {"items": [{"n": 1, "k": "a"}, {"n": 2, "k": "b"}], "x.y": "dotted"}}
    assert compile_json_path(".spec.items[*].n")(obj) == [1, 2]
    assert compile_json_path(".spec.items[-1].k")(obj) == ["b"]
    assert compile_json_path(".spec.items[?(@.n==2)].k")(obj) == ["b"]
    assert compile_json_path(".spec.items[?(@.k!='a')].n")(obj) == [2]
    assert compile_json_path(".spec.items[?(@.k)].n")(obj) == [1, 2]
    assert compile_json_path("{.spec['x.y']}")(obj) == ["dotted"]
    assert compile_json_path(".spec.absent.deeper")(obj) == []
    with pytest.raises(ValueError, match=r"unsupported JSON path '.spec\|x' at '\|x'"):
        compile_json_path(".spec|x")
