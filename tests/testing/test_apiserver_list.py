"""Lists: resourceVersion semantics, pagination, continue tokens, selectors."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from apiserver_http import CM, POD, Http, configmap, pod

from kcs.testing import FakeApiServer

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(20)]

CMS = CM.format(ns="default")


async def _names_at(client: Http, rv: str, match: str = "Exact") -> list[str]:
    r = await client.get(CMS, resourceVersion=rv, resourceVersionMatch=match)
    assert r.status == 200, r
    assert r.rv == (rv if match == "Exact" else r.rv)
    return r.names()


async def test_list_carries_the_current_revision_and_kind(api: FakeApiServer,
                                                          client: Http) -> None:
    await client.post(CMS, configmap("b"))
    await client.post(CMS, configmap("a"))
    r = await client.get(CMS)
    assert r.body["kind"] == "ConfigMapList" and r.body["apiVersion"] == "v1"
    assert r.rv == str(api.revision)
    assert r.names() == ["a", "b"]  # key order
    assert (await client.get(CMS, resourceVersion="0")).names() == ["a", "b"]


async def test_exact_list_serves_the_past(api: FakeApiServer, client: Http) -> None:
    r1 = await client.post(CMS, configmap("one", data={"v": "1"}))
    r2 = await client.post(CMS, configmap("two"))
    await client.patch(f"{CMS}/one", {"data": {"v": "2"}})
    await client.delete(f"{CMS}/two")
    await client.post(CMS, configmap("three"))
    assert await _names_at(client, r1.rv) == ["one"]
    at2 = await client.get(CMS, resourceVersion=r2.rv, resourceVersionMatch="Exact")
    assert at2.names() == ["one", "two"]
    assert at2.body["items"][0]["data"] == {"v": "1"}
    assert (await client.get(CMS)).names() == ["one", "three"]
    newer = await client.get(CMS, resourceVersion=r1.rv, resourceVersionMatch="NotOlderThan")
    assert newer.names() == ["one", "three"] and newer.rv == str(api.revision)
    api.compact()
    gone = await client.get(CMS, resourceVersion=r1.rv, resourceVersionMatch="Exact")
    assert gone.status == 410 and gone.reason == "Expired"


async def test_future_resource_version_times_out(api: FakeApiServer, client: Http) -> None:
    r = await client.get(CMS, resourceVersion=str(api.revision + 100),
                         resourceVersionMatch="NotOlderThan")
    assert r.status == 504 and r.reason == "Timeout"
    assert r.body["details"]["retryAfterSeconds"] == 1


async def test_a_future_resource_version_waits_for_the_write(api: FakeApiServer,
                                                             client: Http) -> None:
    async with anyio.create_task_group() as tg:
        result: list[Any] = []

        async def read() -> None:
            result.append(await client.get(CMS, resourceVersion=str(api.revision + 1),
                                           resourceVersionMatch="NotOlderThan"))

        tg.start_soon(read)
        with anyio.fail_after(5):
            await api.requests.wait_until(lambda log: log.in_flight == 1)
        api.create("configmaps", configmap("arrives"))
    assert result[0].status == 200 and result[0].names() == ["arrives"]


async def test_pagination_is_a_consistent_snapshot(api: FakeApiServer, client: Http) -> None:
    api.seed("configmaps", [configmap(f"cm{i:02d}") for i in range(10)])
    first = await client.get(CMS, limit="4")
    assert first.names() == ["cm00", "cm01", "cm02", "cm03"]
    assert first.body["metadata"]["remainingItemCount"] == 6
    token = first.body["metadata"]["continue"]
    # Changes after the first page do not show in the next ones.
    await client.delete(f"{CMS}/cm05")
    await client.post(CMS, configmap("cm04a"))
    second = await client.get(CMS, limit="4", **{"continue": token})
    assert second.names() == ["cm04", "cm05", "cm06", "cm07"]
    assert second.rv == first.rv
    third = await client.get(CMS, limit="4", **{"continue": second.body["metadata"]["continue"]})
    assert third.names() == ["cm08", "cm09"] and "continue" not in third.body["metadata"]
    api.compact()
    expired = await client.get(CMS, limit="4", **{"continue": token})
    assert expired.status == 410 and expired.reason == "Expired"
    bad = await client.get(CMS, limit="4", **{"continue": "not-a-token"})
    assert bad.status == 400


async def test_rv_zero_ignores_limit_like_the_watch_cache(api: FakeApiServer,
                                                          client: Http) -> None:
    api.seed("configmaps", [configmap(f"z{i}") for i in range(5)])
    r = await client.get(CMS, resourceVersion="0", limit="2")
    assert len(r.names()) == 5 and "continue" not in r.body["metadata"]


async def test_label_and_field_selectors(api: FakeApiServer, client: Http) -> None:
    pods = POD.format(ns="default")
    for name, node, app in (("p1", "n1", "web"), ("p2", "n2", "web"), ("p3", "n1", "db")):
        body = pod(name, app=app)
        body["spec"]["nodeName"] = node
        await client.post(pods, body)
    assert (await client.get(pods, labelSelector="app=web")).names() == ["p1", "p2"]
    assert (await client.get(pods, labelSelector="app in (db),!missing")).names() == ["p3"]
    assert (await client.get(pods, fieldSelector="spec.nodeName=n1")).names() == ["p1", "p3"]
    both = await client.get(pods, fieldSelector="spec.nodeName=n1,status.phase=Pending",
                            labelSelector="app!=db")
    assert both.names() == ["p1"]
    everywhere = await client.get("/api/v1/pods", fieldSelector="metadata.namespace=default")
    assert everywhere.names() == ["p1", "p2", "p3"]
    paged = await client.get(pods, labelSelector="app=web", limit="1")
    assert paged.names() == ["p1"] and "remainingItemCount" not in paged.body["metadata"]
    nxt = await client.get(pods, labelSelector="app=web", limit="1",
                           **{"continue": paged.body["metadata"]["continue"]})
    assert nxt.names() == ["p2"] and "continue" not in nxt.body["metadata"]


@pytest.mark.parametrize(
    ("path", "field", "supported"),
    [
        ("/api/v1/secrets", "type=Opaque", True),
        ("/api/v1/nodes", "spec.unschedulable=false", True),
        ("/api/v1/namespaces", "status.phase=Active", True),
        ("/api/v1/events", "involvedObject.kind=Pod,reason=Started,source=kubelet", True),
        ("/api/v1/pods", "spec.schedulerName=x,spec.serviceAccountName=y,status.podIP=z", True),
        ("/api/v1/pods", "status.nominatedNodeName=n,spec.restartPolicy=Always", True),
        ("/api/v1/configmaps", "data.a=b", False),
        ("/api/v1/pods", "spec.containers=x", False),
    ],
)
async def test_supported_field_selectors(client: Http, path: str, field: str,
                                         supported: bool) -> None:
    r = await client.get(path, fieldSelector=field)
    if supported:
        assert r.status == 200
    else:
        assert r.status == 400 and "field label not supported" in r.body["message"]


async def test_field_selector_values(api: FakeApiServer, client: Http) -> None:
    await client.post("/api/v1/nodes", {"metadata": {"name": "cordoned"},
                                        "spec": {"unschedulable": True}})
    await client.post("/api/v1/nodes", {"metadata": {"name": "ready"}})
    on = await client.get("/api/v1/nodes", fieldSelector="spec.unschedulable=true")
    off = await client.get("/api/v1/nodes", fieldSelector="spec.unschedulable=false")
    assert on.names() == ["cordoned"] and off.names() == ["ready"]
    ev = {"metadata": {"name": "e1"}, "involvedObject": {"kind": "Pod", "name": "p"},
          "reason": "Started", "type": "Normal", "source": {"component": "kubelet"}}
    await client.post("/api/v1/namespaces/default/events", ev)
    hit = await client.get("/api/v1/events", fieldSelector="source=kubelet,involvedObject.name=p")
    miss = await client.get("/api/v1/events", fieldSelector="type!=Normal")
    assert hit.names() == ["e1"] and miss.names() == []


async def test_a_list_of_one_name_reads_that_key_and_matches_a_scan(
    api: FakeApiServer, client: Http
) -> None:
    """kube-apiserver answers a list selecting ``metadata.name`` by reading that one key;
    the answer is the scan's: the object (within the other selectors), at any revision."""
    r1 = await client.post(CMS, configmap("one", data={"v": "1"}))
    await client.post(CMS, configmap("two"))
    await client.patch(f"{CMS}/one", {"data": {"v": "2"}})
    one = await client.get(CMS, fieldSelector="metadata.name=one")
    assert one.names() == ["one"] and one.body["items"][0]["data"] == {"v": "2"}
    assert one.rv == str(api.revision)
    past = await client.get(CMS, fieldSelector="metadata.name=one", resourceVersion=r1.rv,
                            resourceVersionMatch="Exact")
    assert past.body["items"][0]["data"] == {"v": "1"}
    assert (await client.get(CMS, fieldSelector="metadata.name=nope")).names() == []
    labelled = await client.get(CMS, fieldSelector="metadata.name=one", labelSelector="x=y")
    assert labelled.names() == []
    await client.delete(f"{CMS}/two")
    assert (await client.get(CMS, fieldSelector="metadata.name=two")).names() == []
    both = await client.get(CMS.replace("/namespaces/default", ""),
                            fieldSelector="metadata.name=one")
    assert both.names() == ["one"]  # across namespaces: a scan, same answer
