"""Tests of the StaticSite controller: what it wants as plain functions, then the
controller under a Manager against kcs's fake apiserver, with the CRD of deploy/crd.yaml.

The fake apiserver runs no controllers of its own: these tests play the Deployment
controller (they write the Deployment's status) and, as the fake does not collect
garbage, they check the ownerReferences instead of waiting for the collector."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml
from static_site import (
    CONFIGMAPS,
    DEPLOYMENTS,
    DIRECTORY,
    FILES_HASH,
    FINALIZER,
    SITES,
    StaticSites,
    configmap_patch,
    deployment_patch,
    desired_configmap,
    desired_deployment,
    ready_condition,
    spec_problem,
)

from kcs.client import Client
from kcs.core import Invalid, NotFound, Object, object_from_dict
from kcs.manager import Manager
from kcs.testing import FakeApiServer

# --8<-- [start:crd]
CRD = yaml.safe_load((Path(__file__).parent / "deploy" / "crd.yaml").read_text())
# --8<-- [end:crd]


def site(name: str = "hello", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "examples.kcs.dev/v1alpha1", "kind": "StaticSite",
            "metadata": {"name": name, "namespace": "default", "uid": "u-1", "generation": 1},
            "spec": {"files": {"index.html": "<h1>hi</h1>"}, **spec}}


def obj(d: dict[str, Any]) -> Object:
    return object_from_dict(d)


# -- what the controller wants ---------------------------------------------------------------


def test_the_owned_objects_carry_the_files_the_owner_and_the_label() -> None:
    s = obj(site(replicas=3))
    cm, dep = desired_configmap(s), desired_deployment(s)
    assert cm["data"] == {"index.html": "<h1>hi</h1>"}
    for o in (cm, dep):
        assert o["metadata"]["ownerReferences"] == [{
            "apiVersion": "examples.kcs.dev/v1alpha1", "kind": "StaticSite", "name": "hello",
            "uid": "u-1", "controller": True}]
        assert o["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "static-site-controller"
    assert dep["spec"]["replicas"] == 3
    pod = dep["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == "nginx:1.27"  # the CRD's default
    assert pod["volumes"] == [{"name": "files", "configMap": {"name": "hello-files"}}]
    # a change of the files changes the pod template: the pods roll
    other = desired_deployment(obj(site(files={"index.html": "<h1>bye</h1>"})))
    assert (other["spec"]["template"]["metadata"]["annotations"][FILES_HASH]
            != dep["spec"]["template"]["metadata"]["annotations"][FILES_HASH])


def test_patches_put_back_only_what_drifted() -> None:
    s = obj(site(files={"index.html": "a", "about.html": "b"}))
    cm = desired_configmap(s)
    assert configmap_patch(obj(cm), cm) is None
    stale = obj({**cm, "data": {"index.html": "old", "gone.html": "x", "about.html": "b"}})
    assert configmap_patch(stale, cm) == {"metadata": {"labels": cm["metadata"]["labels"]},
                                          "data": {"index.html": "a", "gone.html": None}}
    dep = desired_deployment(s)
    # the apiserver's defaults are not drift ...
    defaulted = json.loads(json.dumps(dep))
    defaulted["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "IfNotPresent"
    defaulted["spec"]["strategy"] = {"type": "RollingUpdate"}
    assert deployment_patch(obj(defaulted), dep) is None
    # ... a manual scale is
    defaulted["spec"]["replicas"] = 5
    patch = deployment_patch(obj(defaulted), dep)
    assert patch is not None and patch["spec"]["replicas"] == 1


def test_spec_problems_the_schema_cannot_catch() -> None:
    assert spec_problem(obj(site())) is None
    assert "files is empty" in str(spec_problem(obj(site(files={}))))
    assert "'a/b.html'" in str(spec_problem(obj(site(files={"a/b.html": "x"}))))
    assert "longer than 50" in str(spec_problem(obj(site(name="x" * 51))))


def test_ready_follows_the_deployments_available_replicas() -> None:
    s = obj(site(replicas=2))
    dep = desired_deployment(s)
    dep["metadata"]["generation"] = 4

    def with_status(**status: Any) -> Object:
        return obj({**dep, "status": status})

    assert ready_condition(s, None)[:2] == (False, "Progressing")
    assert ready_condition(s, with_status(observedGeneration=3, availableReplicas=2))[1] == (
        "Progressing")
    assert ready_condition(s, with_status(observedGeneration=4, availableReplicas=1)) == (
        False, "Progressing", "1 of 2 web servers available")
    assert ready_condition(s, with_status(observedGeneration=4, availableReplicas=2)) == (
        True, "Available", "2 of 2 web servers available")


# -- the CRD: what the apiserver checks before the controller sees a site ----------------------


# --8<-- [start:schema]
@pytest.mark.anyio
async def test_the_schema_defaults_and_refuses_what_it_should(
    fake_apiserver: FakeApiServer,
) -> None:
    api = fake_apiserver
    api.create("customresourcedefinitions.apiextensions.k8s.io", CRD)
    created = api.create(SITES, {**site(), "metadata": {"name": "a", "namespace": "default"}})
    assert created["spec"]["replicas"] == 1 and created["spec"]["image"] == "nginx:1.27"
    for spec, message in (({"files": {}}, "spec.files"),
                          ({"files": {"i": "x"}, "replicas": 50}, "spec.replicas"),
                          ({"replicas": 1}, "spec.files")):
        with pytest.raises(Invalid, match=message):
            api.create(SITES, {**site(), "metadata": {"name": "b", "namespace": "default"},
                               "spec": spec})
    # unknown fields are pruned, and status is the status subresource's alone
    pruned = api.create(SITES, {**site(), "metadata": {"name": "c", "namespace": "default"},
                                "spec": {"files": {"i": "x"}, "colour": "red"},
                                "status": {"replicas": 3}})
    assert "colour" not in pruned["spec"] and not pruned.get("status")
# --8<-- [end:schema]


# -- the controller against the fake apiserver ------------------------------------------------


async def eventually(condition: Callable[[], Any], within: float = 10.0) -> Any:
    """Wait until ``condition()`` is truthy (polled), or fail after ``within`` seconds."""
    with anyio.fail_after(within):
        while True:
            try:
                value = condition()
            except NotFound:
                value = None
            if value:
                return value
            await anyio.sleep(0.02)


def ready(api: FakeApiServer, name: str = "hello") -> dict[str, Any] | None:
    status = api.get(SITES, name, "default").get("status") or {}
    return next((c for c in status.get("conditions") or () if c["type"] == "Ready"), None)


# --8<-- [start:play]
def play_the_deployment_controller(api: FakeApiServer, name: str, available: int) -> None:
    """What kube-controller-manager would write: the Deployment's status."""
    dep = api.get(DEPLOYMENTS, name, "default")
    api.patch(DEPLOYMENTS, name, {"status": {
        "observedGeneration": dep["metadata"]["generation"],
        "replicas": dep["spec"]["replicas"], "availableReplicas": available}},
        namespace="default", status=True)
# --8<-- [end:play]


@pytest.mark.anyio
async def test_a_site_gets_its_objects_its_status_and_its_directory_entry(
    fake_apiserver: FakeApiServer,
) -> None:
    api = fake_apiserver
    api.create("customresourcedefinitions.apiextensions.k8s.io", CRD)
    created = api.create(SITES, {**site(replicas=2), "metadata": {"name": "hello",
                                                                  "namespace": "default"}})
    async with Client.from_url(api.url) as client:
        manager = Manager(client, health_port=None, handle_signals=False)
        runner = manager.add(StaticSites(directory_namespace="default"))
        async with anyio.create_task_group() as tg:
            tg.start_soon(manager.run)
            # the owned objects, the finalizer, the directory entry, a status in progress
            cm = await eventually(lambda: api.get(CONFIGMAPS, "hello-files", "default"))
            assert cm["data"] == {"index.html": "<h1>hi</h1>"}
            assert cm["metadata"]["ownerReferences"][0]["uid"] == created["metadata"]["uid"]
            dep = await eventually(lambda: api.get(DEPLOYMENTS, "hello-web", "default"))
            assert dep["spec"]["replicas"] == 2
            condition = await eventually(lambda: ready(api))
            assert condition["status"] == "False" and condition["reason"] == "Progressing"
            stored = api.get(SITES, "hello", "default")
            assert stored["metadata"]["finalizers"] == [FINALIZER]
            assert stored["status"]["observedGeneration"] == 1
            directory = api.get(CONFIGMAPS, DIRECTORY, "default")["data"]
            assert json.loads(directory["default.hello"])["replicas"] == 2

            # the Deployment becomes available: so does the site
            play_the_deployment_controller(api, "hello-web", available=2)
            await eventually(lambda: (ready(api) or {}).get("status") == "True")
            became_ready = ready(api)
            assert became_ready is not None and became_ready["reason"] == "Available"
            assert api.get(SITES, "hello", "default")["status"]["availableReplicas"] == 2

            # a new file: the ConfigMap follows, the pods roll, observedGeneration moves on
            api.patch(SITES, "hello", {"spec": {"files": {"about.html": "<p>about</p>"}}},
                      namespace="default")
            await eventually(lambda: "about.html" in (
                api.get(CONFIGMAPS, "hello-files", "default").get("data") or {}))
            await eventually(lambda: api.get(SITES, "hello", "default")["status"]
                             ["observedGeneration"] == 2)
            assert api.get(DEPLOYMENTS, "hello-web", "default")["metadata"]["generation"] == 2
            # the Deployment controller has not seen the new template yet: not ready
            await eventually(lambda: (ready(api) or {}).get("reason") == "Progressing")
            play_the_deployment_controller(api, "hello-web", available=2)
            await eventually(lambda: (ready(api) or {}).get("status") == "True")

            # drift is put back: a deleted ConfigMap, a manual scale
            api.delete(CONFIGMAPS, "hello-files", "default")
            await eventually(lambda: api.get(CONFIGMAPS, "hello-files", "default"))
            api.patch(DEPLOYMENTS, "hello-web", {"spec": {"replicas": 7}}, namespace="default")
            await eventually(lambda: api.get(DEPLOYMENTS, "hello-web", "default")["spec"]
                             ["replicas"] == 2)

            # a file name the schema cannot refuse: the status says what is wrong
            api.patch(SITES, "hello", {"spec": {"files": {"a/b.html": "x"}}}, namespace="default")
            await eventually(lambda: (ready(api) or {}).get("reason") == "InvalidSpec")
            assert "'a/b.html'" in (ready(api) or {})["message"]

            # deleted: unlisted from the directory, finalizer removed, gone
            api.delete(SITES, "hello", "default")
            await eventually(lambda: "default.hello" not in (
                api.get(CONFIGMAPS, DIRECTORY, "default").get("data") or {}))
            await eventually(lambda: not api.list(SITES, "default"))
            await manager.shutdown()
    assert runner.stats.errors == 0
    reasons = [e["reason"] for e in api.list("events", "default")
               if e["involvedObject"]["kind"] == "StaticSite"]
    assert {"Created", "Available", "Updated", "InvalidSpec"} <= set(reasons), reasons
