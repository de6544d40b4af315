"""kubectl (client-go) against the fake's lifecycle: deletion that waits for finalizers and
garbage collection, and server-side apply with conflicts."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import anyio
import pytest
from test_apiserver_kubectl import KUBECTL, Kubectl

from kcs.testing import FakeApiServer

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.timeout(60),
    pytest.mark.skipif(not os.path.exists(KUBECTL), reason="kubectl is not installed"),
]


@pytest.fixture
async def kubectl(api: FakeApiServer, tmp_path: Path) -> Kubectl:
    return Kubectl(api.write_kubeconfig(tmp_path / "kubeconfig"), tmp_path)

NAMESPACE = """\
apiVersion: v1
kind: Namespace
metadata: {name: team}
"""

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: app, image: "nginx:1"}
"""


def _ref(owner: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"],
            "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
            "controller": True, "blockOwnerDeletion": True}


async def _family(api: FakeApiServer, kubectl: Kubectl) -> None:
    """A Deployment with a ReplicaSet and two scheduled pods, as the controllers make them."""
    await kubectl.run("apply", "-f", "-", stdin=DEPLOYMENT)
    dep = api.get("deployments.apps", "web", "default")
    template = dep["spec"]["template"]
    rs = api.create("replicasets.apps", {
        "metadata": {"name": "web-1", "namespace": "default", "ownerReferences": [_ref(dep)]},
        "spec": {"selector": dep["spec"]["selector"], "template": template}})
    for i in range(2):
        api.create("pods", {"metadata": {"name": f"web-1-{i}", "namespace": "default",
                                         "labels": {"app": "web"},
                                         "ownerReferences": [_ref(rs)]},
                            "spec": {**template["spec"], "nodeName": "node-1"}})
    await api.controllers.wait_idle()


def _names(api: FakeApiServer, resource: str) -> list[str]:
    return [o["metadata"]["name"] for o in api.list(resource, "default")]


async def test_delete_namespace_waits_for_its_finalizers(api: FakeApiServer,
                                                         kubectl: Kubectl) -> None:
    await kubectl.run("apply", "-f", "-", stdin=NAMESPACE)
    api.create("configmaps", {"metadata": {"name": "held", "namespace": "team",
                                           "finalizers": ["example.com/hold"]}})
    proc = await asyncio.create_subprocess_exec(
        KUBECTL, "delete", "namespace", "team", "--timeout=30s", env=kubectl.env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        with anyio.fail_after(15):
            # kubectl's DELETE, then its watch: re-checked as each of its requests comes.
            await api.requests.wait_until(lambda _log: api.get("namespaces", "team")[
                "status"]["phase"] == "Terminating")
            await api.controllers.wait_idle()
        assert proc.returncode is None  # kubectl is still waiting
        ns = api.get("namespaces", "team")
        assert {c["type"]: c["status"] for c in ns["status"]["conditions"]}[
            "NamespaceFinalizersRemaining"] == "True"
        api.patch("configmaps", "held", {"metadata": {"finalizers": None}}, namespace="team")
        with anyio.fail_after(20):
            out, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert await proc.wait() == 0, err.decode()  # (its exit status, now that it ended)
    assert out.decode().strip() == 'namespace "team" deleted'
    assert [n["metadata"]["name"] for n in api.list("namespaces")].count("team") == 0


async def test_delete_cascade_foreground_waits_for_the_dependents(
        api: FakeApiServer, kubectl: Kubectl) -> None:
    await _family(api, kubectl)
    out = await kubectl.run("delete", "deployment", "web", "--cascade=foreground",
                            "--timeout=30s")
    assert out.strip() == 'deployment.apps "web" deleted'
    # Foreground: by the time the owner is gone, so are its dependents.
    assert _names(api, "replicasets.apps") == [] and _names(api, "pods") == []


async def test_delete_cascade_background_then_the_collector(api: FakeApiServer,
                                                            kubectl: Kubectl) -> None:
    await _family(api, kubectl)
    out = await kubectl.run("delete", "deployment", "web", "--cascade=background")
    assert out.strip() == 'deployment.apps "web" deleted'
    with anyio.fail_after(10):
        await api.controllers.wait_idle()
    assert _names(api, "deployments.apps") == []
    assert _names(api, "replicasets.apps") == [] and _names(api, "pods") == []


async def test_delete_cascade_orphan_keeps_the_dependents(api: FakeApiServer,
                                                          kubectl: Kubectl) -> None:
    await _family(api, kubectl)
    out = await kubectl.run("delete", "deployment", "web", "--cascade=orphan",
                            "--timeout=30s")
    assert out.strip() == 'deployment.apps "web" deleted'
    await api.controllers.wait_idle()
    assert _names(api, "deployments.apps") == []
    assert _names(api, "replicasets.apps") == ["web-1"]
    assert "ownerReferences" not in api.get("replicasets.apps", "web-1", "default")["metadata"]
    assert _names(api, "pods") == ["web-1-0", "web-1-1"]


async def test_server_side_apply_conflict_and_force(api: FakeApiServer,
                                                    kubectl: Kubectl) -> None:
    out = await kubectl.run("apply", "--server-side", "-f", "-",
                            stdin=DEPLOYMENT)
    assert out.strip() == "deployment.apps/web serverside-applied"
    await kubectl.run("patch", "deployment", "web", "--type=merge",
                      "-p", '{"spec":{"replicas":5}}')
    refused = await kubectl.run("apply", "--server-side", "-f", "-",
                                stdin=DEPLOYMENT, check=False)
    assert ('Apply failed with 1 conflict: conflict with "kubectl-patch" using apps/v1: '
            ".spec.replicas") in refused
    assert api.get("deployments.apps", "web", "default")["spec"]["replicas"] == 5
    forced = await kubectl.run("apply", "--server-side", "--force-conflicts",
                               "-f", "-", stdin=DEPLOYMENT)
    assert forced.strip() == "deployment.apps/web serverside-applied"
    dep = api.get("deployments.apps", "web", "default")
    assert dep["spec"]["replicas"] == 2
    owners = {(e["manager"], e["operation"]) for e in dep["metadata"]["managedFields"]}
    assert ("kubectl", "Apply") in owners and ("kubectl-patch", "Update") not in owners
    fields = await kubectl.json("get", "deployment", "web", "--show-managed-fields")
    assert fields["metadata"]["managedFields"][0]["manager"] == "kubectl"
