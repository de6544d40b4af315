"""Fidelity: DELETE, graceful deletion of pods, the node agent, and the garbage collector,
pinned to kube-apiserver 1.36 and kube-controller-manager's behaviour."""

from __future__ import annotations

import calendar
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from apiserver_http import CM, POD, Http, http, summary

from kcs.testing import FakeApiServer

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

PODS = POD.format(ns="default")
CMS = CM.format(ns="default")
DEPLOYS = "/apis/apps/v1/namespaces/default/deployments"
RSS = "/apis/apps/v1/namespaces/default/replicasets"


def pod(name: str, node: str | None = "node-1", **spec: Any) -> dict[str, Any]:
    s: dict[str, Any] = {"containers": [{"name": "c", "image": "busybox:1"}], **spec}
    if node:
        s["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": s}


def ref(owner: dict[str, Any], block: bool | None = None) -> dict[str, Any]:
    out = {"apiVersion": owner["apiVersion"], "kind": owner["kind"],
           "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"]}
    if block is not None:
        out["blockOwnerDeletion"] = block
    return out


def names(api: FakeApiServer, resource: str) -> list[str]:
    return [o["metadata"]["name"] for o in api.list(resource, "default")]


@pytest.fixture
async def raw_api() -> AsyncIterator[FakeApiServer]:
    """A server whose node agent never confirms (pods stay Terminating)."""
    async with FakeApiServer(disabled_controllers=["node-agent"]) as server:
        yield server


# --- graceful deletion -----------------------------------------------------------------------


async def test_scheduled_pod_stays_until_its_node_confirms(raw_api: FakeApiServer) -> None:
    async with http(raw_api.url) as client:
        await client.post(PODS, pod("p"))
        before = time.time()
        r = await client.delete(f"{PODS}/p")
        assert r.status == 200 and r.body["kind"] == "Pod"
        meta = r.body["metadata"]
        assert meta["deletionGracePeriodSeconds"] == 30
        ts = calendar.timegm(time.strptime(meta["deletionTimestamp"], "%Y-%m-%dT%H:%M:%SZ"))
        assert 28 <= ts - before <= 32  # now + the grace period
        assert meta["generation"] == 2
        assert (await client.get(f"{PODS}/p")).status == 200
        # Deleting again with a longer grace period changes nothing; a shorter one shortens it.
        same = await client.delete(f"{PODS}/p", {"gracePeriodSeconds": 60})
        assert same.rv == r.rv and same.body["metadata"]["deletionGracePeriodSeconds"] == 30
        shorter = await client.delete(f"{PODS}/p", {"gracePeriodSeconds": 10})
        assert shorter.body["metadata"]["deletionGracePeriodSeconds"] == 10
        assert (await client.get(f"{PODS}/p")).status == 200
        # The kubelet's confirmation: grace period 0 with the uid as precondition.
        uid = meta["uid"]
        wrong = await client.delete(f"{PODS}/p", {"gracePeriodSeconds": 0,
                                                  "preconditions": {"uid": "other"}})
        assert wrong.status == 409 and wrong.body["message"].startswith(
            'Operation cannot be fulfilled on Pod "p": the UID in the precondition (other)')
        gone = await client.delete(f"{PODS}/p", {"gracePeriodSeconds": 0,
                                                 "preconditions": {"uid": uid}})
        assert gone.status == 200
        assert (await client.get(f"{PODS}/p")).status == 404


async def test_grace_period_comes_from_the_pod_or_the_request(raw_api: FakeApiServer) -> None:
    async with http(raw_api.url) as client:
        await client.post(PODS, pod("own", terminationGracePeriodSeconds=5))
        r = await client.delete(f"{PODS}/own")
        assert r.body["metadata"]["deletionGracePeriodSeconds"] == 5
        await client.post(PODS, pod("asked"))
        r = await client.delete(f"{PODS}/asked?gracePeriodSeconds=7")
        assert r.body["metadata"]["deletionGracePeriodSeconds"] == 7
        await client.post(PODS, pod("negative"))
        r = await client.delete(f"{PODS}/negative", {"gracePeriodSeconds": -5})
        assert r.body["metadata"]["deletionGracePeriodSeconds"] == 1


async def test_unscheduled_pod_goes_at_once_after_one_modified(api: FakeApiServer,
                                                               client: Http) -> None:
    created = await client.post(PODS, pod("free", node=None))
    async with client.watch(PODS, resourceVersion=created.rv) as w:
        r = await client.delete(f"{PODS}/free")
        assert r.status == 200 and r.body["metadata"]["deletionGracePeriodSeconds"] == 0
        events = await w.take(2)
    assert summary(events) == [("MODIFIED", "free"), ("DELETED", "free")]
    assert events[0]["object"]["metadata"]["deletionTimestamp"]
    assert (await client.get(f"{PODS}/free")).status == 404


async def test_finished_pods_go_at_once(api: FakeApiServer, client: Http) -> None:
    await client.post(PODS, pod("done"))
    await client.patch(f"{PODS}/done/status", {"status": {"phase": "Succeeded"}})
    r = await client.delete(f"{PODS}/done")
    assert r.body["metadata"]["deletionGracePeriodSeconds"] == 0
    assert (await client.get(f"{PODS}/done")).status == 404


async def test_node_agent_confirms_at_once_by_default(api: FakeApiServer, client: Http) -> None:
    created = await client.post(PODS, pod("p"))
    async with client.watch(PODS, resourceVersion=created.rv) as w:
        await client.delete(f"{PODS}/p")
        with anyio.fail_after(5):
            events = await w.take(3)
    assert [e["type"] for e in events] == ["MODIFIED", "MODIFIED", "DELETED"]
    assert events[0]["object"]["metadata"]["deletionGracePeriodSeconds"] == 30
    assert events[1]["object"]["metadata"]["deletionGracePeriodSeconds"] == 0
    kubelet = [w for w in api.writes.records if w.user_agent.startswith("kubelet/")]
    assert [(w.verb, w.name) for w in kubelet] == [("delete", "p"), ("delete", "p")]


async def test_node_agent_modes(api: FakeApiServer, client: Http) -> None:
    api.node_agent.set_mode("never")
    api.node_agent.set_mode("delay", seconds=0.3, node="fast")
    await client.post(PODS, pod("stuck", node="dead"))
    await client.post(PODS, pod("slow", node="fast"))
    started = time.monotonic()
    await client.delete(f"{PODS}/stuck")
    await client.delete(f"{PODS}/slow")
    with anyio.fail_after(5):
        await api.controllers.wait_idle()
    assert time.monotonic() - started >= 0.3
    assert names(api, "pods") == ["stuck"]
    assert api.node_agent.terminating() == ["default/stuck"]
    assert api.node_agent.confirm("default", "stuck")
    assert names(api, "pods") == []
    assert not api.node_agent.confirm("default", "stuck")
    with pytest.raises(ValueError, match="unknown node agent mode"):
        api.node_agent.set_mode("sometimes")  # type: ignore[arg-type]


async def test_node_agent_grace_mode_waits_for_the_grace_period(api: FakeApiServer,
                                                                client: Http) -> None:
    api.node_agent.set_mode("grace")
    await client.post(PODS, pod("p", terminationGracePeriodSeconds=1))
    started = time.monotonic()
    await client.delete(f"{PODS}/p")
    with anyio.fail_after(5):
        await api.controllers.wait_idle()
    assert time.monotonic() - started >= 0.5
    assert names(api, "pods") == []


async def test_confirmed_pod_with_finalizers_waits_for_them(api: FakeApiServer,
                                                            client: Http) -> None:
    held = pod("held")
    held["metadata"]["finalizers"] = ["example.com/x"]
    await client.post(PODS, held)
    await client.delete(f"{PODS}/held")
    await api.controllers.wait_idle()
    cur = (await client.get(f"{PODS}/held")).body
    assert cur["metadata"]["deletionGracePeriodSeconds"] == 0  # the kubelet confirmed
    await client.patch(f"{PODS}/held", {"metadata": {"finalizers": None}})
    assert (await client.get(f"{PODS}/held")).status == 404


async def test_removing_finalizers_before_the_grace_period_ends_keeps_the_pod(
        raw_api: FakeApiServer) -> None:
    async with http(raw_api.url) as client:
        held = pod("held")
        held["metadata"]["finalizers"] = ["example.com/x"]
        await client.post(PODS, held)
        await client.delete(f"{PODS}/held")
        r = await client.patch(f"{PODS}/held", {"metadata": {"finalizers": None}})
        assert r.status == 200 and (await client.get(f"{PODS}/held")).status == 200


# --- options -------------------------------------------------------------------------------


async def test_delete_options_are_validated(client: Http) -> None:
    await client.post(CMS, {"metadata": {"name": "c"}})
    bad = await client.delete(f"{CMS}/c", {"propagationPolicy": "Sometimes"})
    assert bad.status == 422 and bad.body["message"] == (
        'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: '
        '"Sometimes": supported values: "Foreground", "Background", "Orphan", "nil"')
    both = await client.delete(f"{CMS}/c", {"propagationPolicy": "Orphan",
                                            "orphanDependents": True})
    assert both.status == 422 and both.body["details"]["causes"][0]["message"] == (
        'Invalid value: "Orphan": orphanDependents and deletionPropagation cannot be both set')
    dry = await client.delete(f"{CMS}/c?dryRun=Some")
    assert dry.status == 422 and dry.body["message"] == (
        'DeleteOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: '
        '[]string{"Some"}: supported values: "All"')
    typed = await client.delete(f"{CMS}/c", {"gracePeriodSeconds": "soon"})
    assert typed.status == 400
    assert (await client.get(f"{CMS}/c")).status == 200
    would = await client.delete(f"{CMS}/c", {"dryRun": ["All"]})
    assert would.status == 200 and (await client.get(f"{CMS}/c")).status == 200


async def test_removing_the_last_finalizer_answers_the_unstored_update(
        client: Http) -> None:
    await client.post(CMS, {"metadata": {"name": "f", "finalizers": ["example.com/x"]}})
    deleting = await client.delete(f"{CMS}/f")
    async with client.watch(CMS, resourceVersion=deleting.rv) as w:
        obj = deleting.body
        obj["metadata"]["finalizers"] = []
        done = await client.put(f"{CMS}/f", obj)
        event = (await w.take(1))[0]
    assert done.status == 200 and done.rv == deleting.rv
    assert "finalizers" not in done.body["metadata"]
    # The DELETED carries the last stored state (with its finalizer) at a new revision.
    assert event["type"] == "DELETED"
    assert event["object"]["metadata"]["finalizers"] == ["example.com/x"]
    assert int(event["object"]["metadata"]["resourceVersion"]) > int(deleting.rv)


# --- garbage collection -------------------------------------------------------------------------


async def _family(client: Http, api: FakeApiServer) -> tuple[dict[str, Any], dict[str, Any]]:
    template = {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "busybox:1"}]}}
    dep = (await client.post(DEPLOYS, {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": template}})).body
    rs = (await client.post(RSS, {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "web-1", "ownerReferences": [ref(dep, True)]},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": template}})).body
    for i in range(2):
        p = pod(f"web-1-{i}")
        p["metadata"]["ownerReferences"] = [ref(rs, True)]
        assert (await client.post(PODS, p)).status == 201
    await api.controllers.wait_idle()
    assert names(api, "pods") == ["web-1-0", "web-1-1"]
    return dep, rs


async def test_background_deletes_the_owner_first_then_the_dependents(
        api: FakeApiServer, client: Http) -> None:
    await _family(client, api)
    r = await client.delete(f"{DEPLOYS}/web", {"propagationPolicy": "Background"})
    assert r.status == 200 and r.body["kind"] == "Status"  # gone at once
    await api.controllers.wait_idle()
    assert names(api, "replicasets.apps") == [] and names(api, "pods") == []
    gc = [w for w in api.writes.records if "generic-garbage-collector" in w.user_agent]
    assert {(w.resource, w.name) for w in gc} == {
        ("replicasets.apps", "web-1"), ("pods", "web-1-0"), ("pods", "web-1-1")}
    assert all(w.user_agent.startswith("kube-controller-manager/") for w in gc)


async def test_background_is_the_default(api: FakeApiServer, client: Http) -> None:
    await _family(client, api)
    await client.delete(f"{DEPLOYS}/web")
    await api.controllers.wait_idle()
    assert names(api, "replicasets.apps") == [] and names(api, "pods") == []


async def test_foreground_deletes_dependents_before_the_owner(api: FakeApiServer,
                                                              client: Http) -> None:
    await _family(client, api)
    async with client.watch(DEPLOYS, resourceVersion=str(api.revision)) as w:
        r = await client.delete(f"{DEPLOYS}/web", {"propagationPolicy": "Foreground"})
        meta = r.body["metadata"]
        assert r.status == 200 and meta["finalizers"] == ["foregroundDeletion"]
        assert meta["deletionTimestamp"] and meta["deletionGracePeriodSeconds"] == 0
        with anyio.fail_after(5):
            events = await w.take(2)
    # Removing the last finalizer deletes it: the DELETED carries the last stored state.
    assert [e["type"] for e in events] == ["MODIFIED", "DELETED"]
    assert events[1]["object"]["metadata"]["finalizers"] == ["foregroundDeletion"]
    assert names(api, "replicasets.apps") == [] and names(api, "pods") == []
    last = {(w.resource, w.name): int(w.resource_version) for w in api.writes.records}
    assert max(last[("pods", "web-1-0")], last[("pods", "web-1-1")]) < last[
        ("replicasets.apps", "web-1")] < last[("deployments.apps", "web")]
    # The ReplicaSet, which had dependents of its own, went in the foreground too: the
    # collector deleted it (it got foregroundDeletion), then removed that finalizer.
    gc = [(w.resource, w.verb) for w in api.writes.records
          if "generic-garbage-collector" in w.user_agent and w.resource != "pods"]
    assert gc == [("replicasets.apps", "delete"), ("replicasets.apps", "patch"),
                  ("deployments.apps", "patch")]


async def test_orphan_keeps_dependents_and_drops_their_references(
        api: FakeApiServer, client: Http) -> None:
    await _family(client, api)
    r = await client.delete(f"{DEPLOYS}/web", {"propagationPolicy": "Orphan"})
    assert r.body["metadata"]["finalizers"] == ["orphan"]
    await api.controllers.wait_idle()
    assert names(api, "deployments.apps") == []
    rs = api.get("replicasets.apps", "web-1", "default")
    assert "ownerReferences" not in rs["metadata"]
    assert names(api, "pods") == ["web-1-0", "web-1-1"]


async def test_orphan_dependents_flag_is_the_old_orphan_policy(api: FakeApiServer,
                                                               client: Http) -> None:
    await _family(client, api)
    r = await client.delete(f"{DEPLOYS}/web", {"orphanDependents": True})
    assert r.body["metadata"]["finalizers"] == ["orphan"]
    await api.controllers.wait_idle()
    assert names(api, "replicasets.apps") == ["web-1"]


async def test_dangling_references_are_collected(api: FakeApiServer, client: Http) -> None:
    owner = (await client.post(CMS, {"metadata": {"name": "owner"}})).body
    ghost = {"apiVersion": "v1", "kind": "ConfigMap", "name": "ghost", "uid": "1234"}
    wrong_uid = {**ref(owner), "uid": "5678"}
    unknown_kind = {"apiVersion": "example.com/v1", "kind": "Nothing", "name": "x", "uid": "9"}
    for name, refs in (("never", [ghost]), ("mismatch", [wrong_uid]),
                       ("unresolvable", [unknown_kind]), ("mixed", [ghost, ref(owner)])):
        await client.post(CMS, {"metadata": {"name": name, "ownerReferences": refs}})
    await api.controllers.wait_idle()
    assert names(api, "configmaps") == ["mixed", "owner", "unresolvable"]
    mixed = api.get("configmaps", "mixed", "default")
    assert mixed["metadata"]["ownerReferences"] == [ref(owner)]


async def test_cluster_scoped_owner_of_namespaced_dependents(api: FakeApiServer,
                                                             client: Http) -> None:
    node = (await client.post("/api/v1/nodes", {"metadata": {"name": "n"}})).body
    await client.post(CMS, {"metadata": {"name": "per-node", "ownerReferences": [ref(node)]}})
    await api.controllers.wait_idle()
    assert names(api, "configmaps") == ["per-node"]
    await client.delete("/api/v1/nodes/n")
    await api.controllers.wait_idle()
    assert names(api, "configmaps") == []


async def test_controllers_can_be_switched_off_by_name() -> None:
    async with FakeApiServer(disabled_controllers=["garbage-collector-controller"]) as api:
        assert "garbage-collector-controller" not in api.controllers.enabled
        api.create("configmaps", {"metadata": {"name": "c", "namespace": "default",
                                               "ownerReferences": [
                                                   {"apiVersion": "v1", "kind": "ConfigMap",
                                                    "name": "ghost", "uid": "1"}]}})
        await api.controllers.wait_idle()
        assert names(api, "configmaps") == ["c"]
    with pytest.raises(ValueError, match="unknown controllers"):
        FakeApiServer(disabled_controllers=["garbage-collector"])


async def test_batch_v1_jobs_orphan_their_pods_by_default(api: FakeApiServer,
                                                         client: Http) -> None:
    jobs = "/apis/batch/v1/namespaces/default/jobs"
    template = {"spec": {"restartPolicy": "Never",
                         "containers": [{"name": "c", "image": "busybox:1"}]}}
    job = (await client.post(jobs, {"apiVersion": "batch/v1", "kind": "Job",
                                    "metadata": {"name": "j"},
                                    "spec": {"template": template}})).body
    p = pod("j-1")
    p["metadata"]["ownerReferences"] = [ref(job, True)]
    await client.post(PODS, p)
    # For compatibility, batch/v1 Jobs default to orphaning their pods (kubectl sends
    # Background explicitly).
    r = await client.delete(f"{jobs}/j")
    assert r.body["metadata"]["finalizers"] == ["orphan"]
    await api.controllers.wait_idle()
    assert names(api, "jobs.batch") == [] and names(api, "pods") == ["j-1"]
    assert "ownerReferences" not in api.get("pods", "j-1", "default")["metadata"]
