"""Fidelity: the fake answers as kube-apiserver 1.36 does (status, reason, message shape).

Each case is pinned to the real server's answer, from the facts measured against a
kube-apiserver v1.36.2 and the Kubernetes API reference ("Semantics for watch", the
ListOptions validation, the watch cache).
"""

from __future__ import annotations

import anyio
import pytest
from apiserver_http import CM, Http, configmap, summary

from kcs.testing import FakeApiServer

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(20)]

CMS = CM.format(ns="default")


async def test_watch_from_rv_1_on_a_server_that_moved_on_is_error_410(client: Http) -> None:
    await client.post(CMS, configmap("a"))
    async with client.watch(CMS, resourceVersion="1") as w:
        assert w.status == 200
        events = await w.rest()
    assert [e["type"] for e in events] == ["ERROR"]
    status = events[0]["object"]
    assert status == {"kind": "Status", "apiVersion": "v1", "metadata": {},
                      "status": "Failure", "message": "too old resource version: 1 (100)",
                      "reason": "Expired", "code": 410}


async def test_exact_list_at_rv_1_is_410(client: Http) -> None:
    r = await client.get(CMS, resourceVersion="1", resourceVersionMatch="Exact")
    assert r.status == 410 and r.reason == "Expired"
    assert r.body["message"] == "The resourceVersion for the provided list is too old."


async def test_watch_at_a_future_rv_waits_instead_of_504(api: FakeApiServer,
                                                         client: Http) -> None:
    future = api.revision + 2
    async with client.watch(CMS, resourceVersion=str(future)) as w:
        assert w.status == 200
        with anyio.fail_after(5):
            await api.wait_for_watchers(1)
        api.create("configmaps", configmap("first"))  # future - 1: not for this watch
        api.create("configmaps", configmap("second"))  # == future: not after it either
        api.create("configmaps", configmap("third"))
        assert summary(await w.take(1)) == [("ADDED", "third")]


async def test_streaming_list_without_bookmarks_is_200_and_has_no_end_bookmark(
        api: FakeApiServer, client: Http) -> None:
    api.create("configmaps", configmap("s"))
    async with client.watch(CMS, sendInitialEvents="true", resourceVersionMatch="NotOlderThan",
                            timeoutSeconds="1") as w:
        assert w.status == 200
        assert summary(await w.rest()) == [("ADDED", "s")]


async def test_list_options_errors_are_422_invalid_with_causes(client: Http) -> None:
    r = await client.get(CMS, resourceVersionMatch="Exact")
    assert r.status == 422
    assert r.body == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: '
                   "resourceVersionMatch is forbidden unless resourceVersion is provided",
        "reason": "Invalid",
        "details": {"group": "meta.k8s.io", "kind": "ListOptions", "causes": [{
            "reason": "FieldValueForbidden",
            "message": "Forbidden: resourceVersionMatch is forbidden unless resourceVersion "
                       "is provided",
            "field": "resourceVersionMatch"}]},
        "code": 422}
    two = await client.get(CMS, resourceVersionMatch="Sometimes", sendInitialEvents="true")
    assert two.status == 422 and two.body["message"].count(":") >= 4
    assert two.body["message"].split("is invalid: ")[1].startswith("[")  # an aggregate
    assert len(two.body["details"]["causes"]) == 3


async def test_bad_dry_run_is_422_create_options(client: Http) -> None:
    r = await client.post(CMS, configmap("d"), dryRun="Some")
    assert r.status == 422 and r.body["details"]["kind"] == "CreateOptions"
    assert r.body["message"] == ('CreateOptions.meta.k8s.io "" is invalid: dryRun: Unsupported '
                                 'value: []string{"Some"}: supported values: "All"')


async def test_field_selectors_per_kind(client: Http) -> None:
    assert (await client.get("/api/v1/services", fieldSelector="spec.clusterIP=None")
            ).status == 200
    assert (await client.get("/api/v1/services", fieldSelector="spec.type=ClusterIP")
            ).status == 200
    rs = await client.get("/apis/apps/v1/replicasets", fieldSelector="status.replicas=1")
    assert (await client.get("/api/v1/nodes", fieldSelector="metadata.namespace=x")
            ).status == 400
    assert rs.status == 400 and rs.body["message"] == (
        'field label not supported: status.replicas')


async def test_post_text_plain_is_415(client: Http) -> None:
    r = await client.req("POST", CMS, configmap("t"), content_type="text/plain")
    assert r.status == 415 and r.reason == "UnsupportedMediaType"
    assert r.body["message"] == (
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json, application/yaml, application/vnd.kubernetes.protobuf")


async def test_list_items_of_built_in_kinds_carry_no_kind_or_api_version(
        api: FakeApiServer, client: Http) -> None:
    api.create("configmaps", configmap("i"))
    r = await client.get(CMS)
    assert r.body["kind"] == "ConfigMapList" and r.body["apiVersion"] == "v1"
    item = r.body["items"][0]
    assert "kind" not in item and "apiVersion" not in item and item["metadata"]["name"] == "i"
    one = await client.get(f"{CMS}/i")
    assert one.body["kind"] == "ConfigMap" and one.body["apiVersion"] == "v1"


async def test_unknown_paths_are_the_plain_text_404(client: Http) -> None:
    for path in ("/nope", "/apis/nope.example.com/v1/things", "/api/v2", "/apis/nope"):
        r = await client.get(path)
        assert r.status == 404 and r.body == "404 page not found\n", path
        assert r.headers["Content-Type"].startswith("text/plain")
    unknown = await client.get("/api/v1/things")  # a served group version: a Status
    assert unknown.status == 404 and unknown.body["message"] == (
        "the server could not find the requested resource") and unknown.body["details"] == {}


async def test_version_says_what_it_emulates(client: Http) -> None:
    v = (await client.get("/version")).body
    assert (v["major"], v["minor"]) == ("1", "36")
    assert v["gitVersion"].startswith("v1.36.") and "fake" in v["gitVersion"]
    assert {"emulationMajor", "emulationMinor", "gitCommit", "goVersion", "platform"} <= set(v)


async def test_tables_have_per_kind_columns(api: FakeApiServer, client: Http) -> None:
    api.create("pods", {"metadata": {"name": "p", "namespace": "default"},
                        "spec": {"containers": [{"name": "c", "image": "i"}]}})
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io"
    t = (await client.req("GET", "/api/v1/namespaces/default/pods",
                          headers={"Accept": accept})).body
    assert [c["name"] for c in t["columnDefinitions"] if c["priority"] == 0] == [
        "Name", "Ready", "Status", "Restarts", "Age"]
    assert t["rows"][0]["cells"][:4] == ["p", "0/1", "Pending", 0]
    d = (await client.req("GET", "/apis/apps/v1/deployments",
                          headers={"Accept": accept})).body
    assert [c["name"] for c in d["columnDefinitions"] if c["priority"] == 0] == [
        "Name", "Ready", "Up-to-date", "Available", "Age"]
