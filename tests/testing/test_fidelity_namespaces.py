"""Fidelity: namespace termination, default service accounts, and Events served from one
store, pinned to kube-apiserver 1.36 and kube-controller-manager's behaviour."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from apiserver_http import CM, POD, Http, http

from kcs.testing import DEFAULT_NAMESPACES, FakeApiServer

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

NS = "/api/v1/namespaces"


def pod(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "busybox:1"}], **spec}}


def conditions(ns: dict[str, Any]) -> dict[str, tuple[str, str, str]]:
    return {c["type"]: (c["status"], c["reason"], c["message"])
            for c in ns["status"].get("conditions") or []}


async def test_a_new_namespace_has_the_kubernetes_finalizer(client: Http) -> None:
    made = await client.post(NS, {"metadata": {"name": "team"}})
    assert made.body["spec"] == {"finalizers": ["kubernetes"]}
    assert made.body["status"] == {"phase": "Active"}
    assert "generation" not in made.body["metadata"]
    # spec.finalizers only changes through /finalize
    obj = made.body
    obj["spec"]["finalizers"] = []
    same = await client.put(f"{NS}/team", obj)
    assert same.body["spec"] == {"finalizers": ["kubernetes"]}


async def test_namespace_termination(api: FakeApiServer, client: Http) -> None:
    await client.post(NS, {"metadata": {"name": "team"}})
    cms = CM.format(ns="team")
    await client.post(cms, {"metadata": {"name": "plain"}})
    await client.post(cms, {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}})
    await client.post(POD.format(ns="team"), pod("p", nodeName="n1"))
    api.node_agent.set_mode("never")
    deleting = await client.delete(f"{NS}/team")
    assert deleting.status == 200
    meta = deleting.body["metadata"]
    assert meta["deletionTimestamp"] and "deletionGracePeriodSeconds" not in meta
    assert deleting.body["status"] == {"phase": "Terminating"}
    assert deleting.body["spec"] == {"finalizers": ["kubernetes"]}
    refused = await client.post(cms, {"metadata": {"name": "late"}})
    assert refused.status == 403 and refused.reason == "Forbidden"
    assert refused.body["message"] == ('configmaps "late" is forbidden: unable to create new '
                                       "content in namespace team because it is being "
                                       "terminated")
    assert refused.body["details"] == {"name": "late", "kind": "configmaps", "causes": [{
        "reason": "NamespaceTerminating", "message": "namespace team is being terminated",
        "field": "metadata.namespace"}]}
    with anyio.fail_after(5):
        await api.controllers.wait_idle()
    ns = (await client.get(f"{NS}/team")).body
    assert conditions(ns) == {
        "NamespaceDeletionDiscoveryFailure": (
            "False", "ResourcesDiscovered", "All resources successfully discovered"),
        "NamespaceDeletionGroupVersionParsingFailure": (
            "False", "ParsedGroupVersions", "All legacy kube types successfully parsed"),
        "NamespaceDeletionContentFailure": (
            "False", "ContentDeleted",
            "All content successfully deleted, may be waiting on finalization"),
        "NamespaceContentRemaining": (
            "True", "SomeResourcesRemain",
            "Some resources are remaining: configmaps. has 1 resource instances, pods. has 1 "
            "resource instances"),
        "NamespaceFinalizersRemaining": (
            "True", "SomeFinalizersRemain",
            "Some content in the namespace has finalizers remaining: example.com/hold in 1 "
            "resource instances"),
    }
    assert [o["metadata"]["name"] for o in api.list("configmaps", "team")] == ["held"]
    assert [o["metadata"]["name"] for o in api.list("serviceaccounts", "team")] == []
    # The namespace controller emptied it with deletecollection, Background.
    mine = [w for w in api.writes.records if "namespace-controller" in w.user_agent]
    assert {(w.verb, w.resource) for w in mine} >= {("deletecollection", "configmaps"),
                                                    ("deletecollection", "pods"),
                                                    ("update", "namespaces")}
    api.node_agent.confirm("team", "p")
    await client.patch(f"{cms}/held", {"metadata": {"finalizers": None}})
    with anyio.fail_after(5):
        await api.controllers.wait_idle()
    assert (await client.get(f"{NS}/team")).status == 404
    finalize = [w for w in api.writes.records if w.subresource == "finalize"]
    assert [(w.verb, w.name) for w in finalize] == [("update", "team")]


async def test_an_empty_namespace_goes_after_its_conditions_and_finalize(
        api: FakeApiServer, client: Http) -> None:
    made = await client.post(NS, {"metadata": {"name": "empty"}})
    await api.controllers.wait_idle()
    async with client.watch(NS, resourceVersion=str(api.revision)) as w:
        await client.delete(f"{NS}/empty")
        with anyio.fail_after(5):
            events = await w.take(3)
    # Terminating, then the controller's conditions, then /finalize removes the kubernetes
    # finalizer and so the namespace (the DELETED carries the last stored state).
    kinds = [(e["type"], e["object"]["metadata"]["name"]) for e in events]
    assert kinds == [("MODIFIED", "empty"), ("MODIFIED", "empty"), ("DELETED", "empty")]
    assert conditions(events[1]["object"])["NamespaceContentRemaining"] == (
        "False", "ContentRemoved", "All content successfully removed")
    assert conditions(events[1]["object"])["NamespaceFinalizersRemaining"] == (
        "False", "ContentHasNoFinalizers", "All content-preserving finalizers finished")
    assert events[2]["object"]["spec"] == {"finalizers": ["kubernetes"]}
    assert made.status == 201


async def test_finalize_subresource() -> None:
    async with FakeApiServer(disabled_controllers=["namespace-controller"]) as api_off, \
            http(api_off.url) as c:
        await c.post(NS, {"metadata": {"name": "stuck"}})
        await c.delete(f"{NS}/stuck")
        again = await c.delete(f"{NS}/stuck")
        assert again.status == 200 and again.body["status"]["phase"] == "Terminating"
        body = {**again.body, "spec": {"finalizers": []}}
        done = await c.put(f"{NS}/stuck/finalize", body)
        assert done.status == 200 and done.body["spec"] == {}
        assert (await c.get(f"{NS}/stuck")).status == 404


async def test_immortal_namespaces(client: Http) -> None:
    for name in ("default", "kube-system", "kube-public"):
        r = await client.delete(f"{NS}/{name}")
        assert r.status == 403 and r.body["message"] == (
            f'namespaces "{name}" is forbidden: this namespace may not be deleted')


# --- service accounts --------------------------------------------------------------------------


async def test_every_namespace_has_a_default_service_account(api: FakeApiServer,
                                                             client: Http) -> None:
    at_start = {(o["metadata"]["namespace"], o["metadata"]["name"])
                for o in api.list("serviceaccounts")}
    assert at_start == {(ns, "default") for ns in DEFAULT_NAMESPACES}
    assert api.writes.records == []  # they are part of the new cluster, not writes
    await client.post(NS, {"metadata": {"name": "fresh"}})
    # A pod right after its namespace: the admission check finds the account (kube's
    # plugin waits for the controller).
    r = await client.post(POD.format(ns="fresh"), pod("first"))
    assert r.status == 201
    sa = (await client.get("/api/v1/namespaces/fresh/serviceaccounts/default")).body
    assert sa["metadata"]["name"] == "default" and "secrets" not in sa
    await client.delete("/api/v1/namespaces/fresh/serviceaccounts/default")
    with anyio.fail_after(5):
        await api.controllers.wait_idle()
    assert (await client.get("/api/v1/namespaces/fresh/serviceaccounts/default")).status == 200
    made_by = [w.user_agent for w in api.writes.records if w.resource == "serviceaccounts"]
    assert all("service-account-controller" in ua for ua in made_by if "kcs-tests" not in ua)


async def test_pods_need_an_existing_service_account(client: Http) -> None:
    pods = POD.format(ns="default")
    refused = await client.post(pods, pod("p", serviceAccountName="robot"))
    assert refused.status == 403 and refused.body["message"] == (
        'pods "p" is forbidden: error looking up service account default/robot: '
        'serviceaccount "robot" not found')
    assert refused.body["details"] == {"name": "p", "kind": "pods"}
    await client.post("/api/v1/namespaces/default/serviceaccounts",
                      {"metadata": {"name": "robot"}})
    assert (await client.post(pods, pod("p", serviceAccountName="robot"))).status == 201
    mirror = pod("m", serviceAccountName="nobody")
    mirror["metadata"]["annotations"] = {"kubernetes.io/config.mirror": "x"}
    assert (await client.post(pods, mirror)).status == 201


async def test_without_the_controller_the_default_account_is_missing() -> None:
    async with FakeApiServer(disabled_controllers=["serviceaccount-controller"]) as api:
        assert api.list("serviceaccounts") == []
        async with http(api.url) as c:
            r = await c.post(POD.format(ns="default"), pod("p"))
        assert r.status == 403 and "serviceaccount \"default\" not found" in r.body["message"]


# --- Events --------------------------------------------------------------------------------------


async def test_core_and_events_k8s_io_events_are_one_store(client: Http) -> None:
    core = "/api/v1/namespaces/default/events"
    new = "/apis/events.k8s.io/v1/namespaces/default/events"
    made = await client.post(core, {
        "metadata": {"name": "e1"}, "reason": "Started", "message": "container started",
        "type": "Normal", "count": 2, "source": {"component": "kubelet"},
        "reportingComponent": "kubelet",
        "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"}})
    assert made.status == 201
    seen = (await client.get(f"{new}/e1")).body
    assert seen["apiVersion"] == "events.k8s.io/v1" and seen["kind"] == "Event"
    assert seen["note"] == "container started" and seen["regarding"]["name"] == "p"
    assert seen["deprecatedCount"] == 2 and seen["deprecatedSource"] == {"component": "kubelet"}
    assert seen["reportingController"] == "kubelet"
    assert "message" not in seen and "involvedObject" not in seen
    assert seen["metadata"]["resourceVersion"] == made.rv
    selected = await client.get(new, fieldSelector="regarding.name=p")
    assert [i["metadata"]["name"] for i in selected.body["items"]] == ["e1"]
    other = await client.post(new, {
        "metadata": {"name": "e2"}, "reason": "Pulled", "note": "pulled", "type": "Normal",
        "action": "Pull", "eventTime": "2026-01-01T00:00:00.000000Z",
        "reportingController": "example.com/c", "reportingInstance": "i",
        "regarding": {"kind": "Pod", "name": "q", "namespace": "default"}})
    assert other.status == 201
    back = (await client.get(f"{core}/e2")).body
    assert back["message"] == "pulled" and back["involvedObject"]["name"] == "q"
    assert back["reportingComponent"] == "example.com/c"
    listed = await client.get(core)
    assert [i["metadata"]["name"] for i in listed.body["items"]] == ["e1", "e2"]
    async with client.watch(new, resourceVersion=made.rv) as w:
        ev = (await w.take(1))[0]
    assert ev["object"]["apiVersion"] == "events.k8s.io/v1" and ev["object"]["note"] == "pulled"
