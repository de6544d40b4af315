"""Each example does its work end to end through ``kcs run`` as real processes, started
as its Deployment's pods would be (the args and env of its rendered overlay): two
replicas against the fake apiserver; the leader is killed (SIGKILL: a crash, not a
hand-off), the warm standby takes the Lease once it expires, and goes on with the work."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_helpers import Running, kcs_process
from examples_helpers import (
    IMAGE_POLICY,
    LEASES,
    STATIC_SITE,
    Example,
    Pod,
    labels,
    leader,
    one,
    pod,
    poll,
    ready,
)

from kcs.testing import FakeApiServer

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

DEPLOYMENTS = "deployments.apps"
SITES = "staticsites.examples.kcs.dev"


@asynccontextmanager
async def two_replicas(example: Example, api: FakeApiServer, tmp_path: Path
                       ) -> AsyncIterator[tuple[dict[str, Running], dict[str, int], Pod]]:
    """Both replicas of the example's Deployment, running and ready (one leads)."""
    rendered = example.rendered()
    first = pod(rendered, f"{example.name}-5d8f7-a")
    api.create("namespaces", {"metadata": {"name": first.namespace}})
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
    pods = [first, pod(rendered, f"{example.name}-5d8f7-b")]
    async with kcs_process([*pods[0].args, "--kubeconfig", str(kubeconfig)],
                           env=pods[0].env, cwd=example.directory) as a, \
            kcs_process([*pods[1].args, "--kubeconfig", str(kubeconfig)],
                        env=pods[1].env, cwd=example.directory) as b:
        procs = {pods[0].name: a, pods[1].name: b}
        ports = {name: await p.health_port() for name, p in procs.items()}
        for name, port in ports.items():
            await poll(lambda port=port: ready(port), 30, f"{name} ready",
                       log=procs[name].text)
        yield procs, ports, first


async def kill_the_leader(api: FakeApiServer, procs: dict[str, Running], ports: dict[str, int],
                          first: Pod) -> str:
    """SIGKILL the replica holding the Lease; returns the survivor once it leads."""
    holder = await poll(lambda: api.get(LEASES, first.lease_name, first.namespace)["spec"]
                        .get("holderIdentity"), 20, "a leader")
    assert holder in procs, holder
    survivor = next(name for name in procs if name != holder)
    assert not (await leader(ports[survivor]))["isLeader"]  # a standby until now
    procs[holder].process.kill()
    await procs[holder].process.wait()
    await poll(lambda: _leads(ports[survivor]), 20, f"{survivor} takes over",
               log=procs[survivor].text)
    return survivor


async def _leads(port: int) -> bool:
    return bool((await leader(port)).get("isLeader"))


def _deployment(name: str, image: str, namespace: str = "default") -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": {"matchLabels": {"app": name}}, "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]}}}}


def _violation(api: FakeApiServer, name: str, namespace: str = "default") -> str | None:
    return labels(api.get(DEPLOYMENTS, name, namespace)).get("image-policy.kcs.dev/violation")


@pytest.mark.timeout(120)
async def test_image_policy_survives_the_loss_of_its_leader(tmp_path: Path) -> None:
    async with FakeApiServer() as api:
        api.create("namespaces", {"metadata": {"name": "team-a"}})
        api.create(DEPLOYMENTS, _deployment("web", "registry.k8s.io/pause:3.9"))
        api.create(DEPLOYMENTS, _deployment("legacy", "nginx:1.25", "team-a"))
        async with two_replicas(IMAGE_POLICY, api, tmp_path) as (procs, ports, first):
            await poll(lambda: _violation(api, "legacy", "team-a") == "true", 30,
                       "the leader labels legacy")
            assert _violation(api, "web") is None
            survivor = await kill_the_leader(api, procs, ports, first)
            # the new leader goes on: a new violation, and a fix
            api.create(DEPLOYMENTS, _deployment("late", "quay.io/x/y:1"))
            api.patch(DEPLOYMENTS, "legacy", {"spec": {"template": {"spec": {"containers": [
                {"name": "app", "image": "ghcr.io/acme/nginx:1.25"}]}}}}, namespace="team-a")
            await poll(lambda: _violation(api, "late") == "true", 30,
                       "the survivor labels late", log=procs[survivor].text)
            await poll(lambda: _violation(api, "legacy", "team-a") is None, 30,
                       "the survivor unlabels legacy", log=procs[survivor].text)
            await poll(lambda: {e["reason"] for e in api.list("events", "team-a")} == {
                "DisallowedRegistry", "ImagesAllowed"}, 30, "both Events")
            assert await procs[survivor].stop() == 0, procs[survivor].text()
        lease = api.get(LEASES, first.lease_name, first.namespace)
        assert lease["spec"]["leaseTransitions"] >= 1


def _ready_condition(api: FakeApiServer, name: str) -> dict[str, Any]:
    status = api.get(SITES, name, "default").get("status") or {}
    return next((c for c in status.get("conditions") or () if c["type"] == "Ready"), {})


def _directory(api: FakeApiServer, namespace: str) -> dict[str, str]:
    return dict(api.get("configmaps", "static-sites", namespace).get("data") or {})


@pytest.mark.timeout(120)
async def test_static_site_survives_the_loss_of_its_leader(tmp_path: Path) -> None:
    crd = one(STATIC_SITE.rendered(), "CustomResourceDefinition")
    async with FakeApiServer() as api:
        api.create("customresourcedefinitions.apiextensions.k8s.io", crd)
        api.create(SITES, yaml.safe_load((STATIC_SITE.directory / "site.yaml").read_text()))
        async with two_replicas(STATIC_SITE, api, tmp_path) as (procs, ports, first):
            namespace = first.namespace  # the directory lives in the controller's namespace
            await poll(lambda: api.get("configmaps", "hello-files", "default"), 30,
                       "the leader creates the ConfigMap")
            dep = await poll(lambda: api.get(DEPLOYMENTS, "hello-web", "default"), 30,
                             "the leader creates the Deployment")
            assert dep["spec"]["replicas"] == 2
            await poll(lambda: _ready_condition(api, "hello").get("reason") == "Progressing",
                       30, "a status in progress")
            await poll(lambda: "default.hello" in _directory(api, namespace), 30,
                       "the site in the directory of the controller's namespace")

            survivor = await kill_the_leader(api, procs, ports, first)
            # the Deployment becomes available (the test plays its controller)
            api.patch(DEPLOYMENTS, "hello-web", {"status": {
                "observedGeneration": dep["metadata"]["generation"], "replicas": 2,
                "availableReplicas": 2}}, namespace="default", status=True)
            await poll(lambda: _ready_condition(api, "hello").get("status") == "True", 30,
                       "the survivor reports Ready", log=procs[survivor].text)
            # a spec change, then the deletion: the finalizer is the new leader's job
            api.patch(SITES, "hello", {"spec": {"replicas": 3}}, namespace="default")
            await poll(lambda: api.get(DEPLOYMENTS, "hello-web", "default")["spec"]
                       ["replicas"] == 3, 30, "the survivor scales", log=procs[survivor].text)
            await poll(lambda: json.loads(_directory(api, namespace)["default.hello"])
                       ["replicas"] == 3, 30, "the directory follows")
            api.delete(SITES, "hello", "default")
            await poll(lambda: not api.list(SITES, "default"), 30,
                       "the survivor lets the site go", log=procs[survivor].text)
            assert "default.hello" not in _directory(api, namespace)
            assert await procs[survivor].stop() == 0, procs[survivor].text()
