"""The fake apiserver driven by kubectl (client-go), a client nobody here wrote."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path
from typing import Any

import anyio
import pytest

from kcs.testing import FakeApiServer

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.timeout(60),
    pytest.mark.skipif(not os.path.exists(KUBECTL), reason="kubectl is not installed"),
]

MANIFEST = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  labels: {app: demo, tier: config}
data:
  mode: fast
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: demo}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: app
        image: nginx:1
        env: [{name: A, value: "1"}]
      - name: sidecar
        image: envoy:1
"""

CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
    subresources: {status: {}}
"""


class Kubectl:
    def __init__(self, kubeconfig: Path, home: Path) -> None:
        self.env = {**os.environ, "KUBECONFIG": str(kubeconfig), "HOME": str(home)}

    async def run(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        proc = await asyncio.create_subprocess_exec(
            KUBECTL, *args, env=self.env, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate(stdin.encode() if stdin else None)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {err.decode()}")
        return out.decode() + (err.decode() if not check else "")

    async def json(self, *args: str) -> Any:
        return json.loads(await self.run(*args, "-o", "json"))


@pytest.fixture
async def kubectl(api: FakeApiServer, tmp_path: Path) -> Kubectl:
    return Kubectl(api.write_kubeconfig(tmp_path / "kubeconfig"), tmp_path)


async def test_apply_get_list_patch_delete(api: FakeApiServer, kubectl: Kubectl,
                                           tmp_path: Path) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(MANIFEST)
    out = await kubectl.run("apply", "-f", str(manifest))
    assert "configmap/settings created" in out and "deployment.apps/web created" in out
    assert api.get("deployments", "web", "default")["spec"]["replicas"] == 1
    manifest.write_text(MANIFEST.replace("nginx:1", "nginx:2"))
    out = await kubectl.run("apply", "-f", str(manifest))
    assert "deployment.apps/web configured" in out and "configmap/settings unchanged" in out
    dep = await kubectl.json("get", "deployment", "web")
    assert [c["image"] for c in dep["spec"]["template"]["spec"]["containers"]] == [
        "nginx:2", "envoy:1"]
    assert dep["metadata"]["generation"] == 2

    names = await kubectl.run("get", "configmaps,deployments", "-l", "app=demo", "-o", "name")
    assert names.split() == ["configmap/settings", "deployment.apps/web"]
    by_field = await kubectl.run("get", "cm", "--field-selector", "metadata.name=settings",
                                 "-o", "name")
    assert by_field.split() == ["configmap/settings"]
    table = await kubectl.run("get", "cm")
    assert table.split()[:3] == ["NAME", "DATA", "AGE"] and "settings" in table  # kube's

    await kubectl.run("patch", "deployment", "web", "-p",
                      '{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"n:3"}]}}}}')
    containers = api.get("deployments", "web", "default")["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [("app", "n:3"), ("sidecar", "envoy:1")]
    assert containers[0]["env"] == [{"name": "A", "value": "1"}]  # strategic: merged by name
    await kubectl.run("patch", "cm", "settings", "--type", "merge", "-p", '{"data":{"b":"2"}}')
    await kubectl.run("patch", "cm", "settings", "--type", "json",
                      "-p", '[{"op":"remove","path":"/data/mode"}]')
    assert api.get("configmaps", "settings", "default")["data"] == {"b": "2"}

    out = await kubectl.run("delete", "-f", str(manifest))
    assert out.count("deleted") == 2
    assert api.list("configmaps", "default") == [] and api.list("deployments") == []
    agents = {w.user_agent.split("/")[0] for w in api.writes.records}
    assert agents == {"kubectl"}


async def test_create_from_stdin_and_errors(api: FakeApiServer, kubectl: Kubectl) -> None:
    pod = ('{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","labels":{"a":"b"}},'
           '"spec":{"containers":[{"name":"c","image":"busybox"}]}}')
    out = await kubectl.run("create", "-f", "-", stdin=pod)
    assert "pod/p created" in out
    again = await kubectl.run("create", "-f", "-", stdin=pod, check=False)
    assert "AlreadyExists" in again
    missing = await kubectl.run("get", "pod", "nope", check=False)
    assert "NotFound" in missing and 'pods "nope" not found' in missing
    bad = await kubectl.run("get", "pods", "--field-selector", "spec.bogus=1", check=False)
    assert "field label not supported" in bad
    pending = await kubectl.run("get", "pods", "--field-selector", "status.phase=Pending",
                                "-o", "name")
    assert pending.split() == ["pod/p"]


async def test_get_watch_streams_changes(api: FakeApiServer, kubectl: Kubectl) -> None:
    api.create("configmaps", {"metadata": {"name": "before", "namespace": "default"}})
    proc = await asyncio.create_subprocess_exec(
        KUBECTL, "get", "configmaps", "-w", "--output-watch-events",
        env=kubectl.env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        with anyio.fail_after(20):
            header = await proc.stdout.readline()
            assert header.split() == [b"EVENT", b"NAME", b"DATA", b"AGE"]
            first = await proc.stdout.readline()
            assert first.split()[:2] == [b"ADDED", b"before"]
            await api.wait_for_watchers(1, "configmaps")
            api.create("configmaps", {"metadata": {"name": "during", "namespace": "default"}})
            api.delete("configmaps", "before", "default")
            lines = [await proc.stdout.readline() for _ in range(2)]
        assert [ln.split()[:2] for ln in lines] == [[b"ADDED", b"during"],
                                                    [b"DELETED", b"before"]]
    finally:
        proc.kill()
        await proc.wait()


async def test_kubectl_against_a_crd_it_created(api: FakeApiServer, kubectl: Kubectl) -> None:
    await kubectl.run("apply", "-f", "-", stdin=CRD)
    await kubectl.run("wait", "--for", "condition=established",
                      "crd/widgets.example.com", "--timeout=10s")
    widget = ("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1, labels: {c: red}}\n"
              "spec: {color: red}\n")
    assert "widget.example.com/w1 created" in await kubectl.run(
        "apply", "-f", "-", stdin=widget)
    assert "configured" in await kubectl.run(
        "apply", "-f", "-", stdin=widget.replace("color: red", "color: blue"))
    got = await kubectl.json("get", "wd", "w1")
    assert got["spec"] == {"color": "blue"} and got["metadata"]["generation"] == 2
    await kubectl.run("patch", "widget", "w1", "--type", "merge", "-p", '{"spec":{"size":3}}')
    assert api.get("widgets", "w1", "default")["spec"] == {"color": "blue", "size": 3}
    assert (await kubectl.run("get", "widgets", "-l", "c=red", "-o", "name")).split() == [
        "widget.example.com/w1"]
    await kubectl.run("delete", "crd", "widgets.example.com")
    assert api.registry.lookup("example.com", "v1", "widgets") is None


WIDGET_CRD_AND_CR = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gizmos.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: gizmos, singular: gizmo, kind: Gizmo}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        description: A gizmo.
        properties:
          spec:
            type: object
            required: [color]
            properties:
              color: {type: string, enum: [red, blue], description: The colour.}
              size: {type: integer, minimum: 1, maximum: 10, default: 3}
---
apiVersion: example.com/v1
kind: Gizmo
metadata: {name: g1}
spec: {color: red}
"""


async def test_apply_with_validation_of_a_crd_and_its_custom_resource(
        api: FakeApiServer, kubectl: Kubectl, tmp_path: Path) -> None:
    manifest = tmp_path / "gizmos.yaml"
    manifest.write_text(WIDGET_CRD_AND_CR)
    # As on a real cluster: kubectl maps every document before it applies any, so the
    # custom resource of a CRD that does not exist yet fails the first time...
    first = await kubectl.run("apply", "-f", str(manifest), check=False)
    assert "customresourcedefinition.apiextensions.k8s.io/gizmos.example.com created" in first
    assert (f'resource mapping not found for name: "g1" namespace: "" from "{manifest}": no '
            'matches for kind "Gizmo" in version "example.com/v1"') in first
    assert "ensure CRDs are installed first" in first
    # ...and is created by the second run, defaulted by the schema.
    second = await kubectl.run("apply", "-f", str(manifest))
    assert "customresourcedefinition.apiextensions.k8s.io/gizmos.example.com unchanged" in second
    assert "gizmo.example.com/g1 created" in second
    assert api.get("gizmos", "g1", "default")["spec"] == {"color": "red", "size": 3}


async def test_an_apply_that_breaks_the_crd_schema_fails_as_on_a_real_cluster(
        api: FakeApiServer, kubectl: Kubectl, tmp_path: Path) -> None:
    manifest = tmp_path / "gizmos.yaml"
    manifest.write_text(WIDGET_CRD_AND_CR)
    await kubectl.run("apply", "-f", str(manifest), check=False)
    await kubectl.run("apply", "-f", str(manifest))
    bad = ("apiVersion: example.com/v1\nkind: Gizmo\nmetadata: {name: g2}\n"
           "spec: {color: purple, size: 11}\n")
    out = await kubectl.run("apply", "-f", "-", stdin=bad, check=False)
    assert out == ('The Gizmo "g2" is invalid: \n'
                   '* spec.color: Unsupported value: "purple": supported values: "red", "blue"\n'
                   "* spec.size: Invalid value: 11: spec.size in body should be less than or "
                   "equal to 10\n")
    typo = ("apiVersion: example.com/v1\nkind: Gizmo\nmetadata: {name: g3}\n"
            "spec: {color: red, colour: red}\n")
    out = await kubectl.run("apply", "-f", "-", stdin=typo, check=False)
    assert out == ('Error from server (BadRequest): error when creating "STDIN": Gizmo in '
                   'version "v1" cannot be handled as a Gizmo: strict decoding error: unknown '
                   'field "spec.colour"\n')
    wrong_type = ("apiVersion: example.com/v1\nkind: Gizmo\nmetadata: {name: g1}\n"
                  "spec: {color: blue, size: big}\n")
    out = await kubectl.run("apply", "-f", "-", stdin=wrong_type, check=False)
    assert out == ('The Gizmo "g1" is invalid: spec.size: Invalid value: "string": spec.size '
                   'in body must be of type integer: "string"\n')
    assert api.get("gizmos", "g1", "default")["spec"] == {"color": "red", "size": 3}
    pod_typo = ('{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":'
                '[{"name":"c","image":"busybox","imagePullPolice":"Always"}]}}')
    out = await kubectl.run("apply", "-f", "-", stdin=pod_typo, check=False)
    assert out == ('Error from server (BadRequest): error when creating "STDIN": Pod in version '
                   '"v1" cannot be handled as a Pod: strict decoding error: unknown field '
                   '"spec.containers[0].imagePullPolice"\n')


async def test_explain_built_in_and_custom_kinds(kubectl: Kubectl, tmp_path: Path) -> None:
    pods = await kubectl.run("explain", "pods")
    assert pods.startswith("KIND:       Pod\nVERSION:    v1\n\nDESCRIPTION:\n    Pod is a "
                           "collection of containers that can run on a host.")
    assert "  spec\t<PodSpec>\n    Specification of the desired behavior of the pod." in pods
    surge = await kubectl.run("explain", "deployment.spec.strategy.rollingUpdate.maxSurge")
    assert surge.startswith("GROUP:      apps\nKIND:       Deployment\nVERSION:    v1\n\n"
                            "FIELD: maxSurge <IntOrString>")
    assert "The maximum number of pods that can be scheduled above the desired" in surge
    limits = await kubectl.run("explain", "pod.spec.containers.resources")
    assert "  limits\t<map[string]Quantity>" in limits
    v2 = await kubectl.run("explain", "pods.spec.restartPolicy", "--output=plaintext-openapiv2")
    assert "FIELD:    restartPolicy <string>" in v2 and "One of Always, OnFailure," in v2
    manifest = tmp_path / "gizmos.yaml"
    manifest.write_text(WIDGET_CRD_AND_CR)
    await kubectl.run("apply", "-f", str(manifest), check=False)
    gizmo = await kubectl.run("explain", "gizmo.spec")
    assert gizmo.startswith("GROUP:      example.com\nKIND:       Gizmo\nVERSION:    v1\n")
    assert "  color\t<string> -required-\n  enum: red, blue\n    The colour." in gizmo
    missing = await kubectl.run("explain", "pods.spec.nope", check=False)
    assert 'field "nope" does not exist' in missing
