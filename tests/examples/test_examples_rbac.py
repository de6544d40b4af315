"""Each example's manifests, proved against the fake apiserver with HTTPS and RBAC
authorization on (as a cluster has them):

* ``kubectl apply -k`` of the overlay succeeds (kubectl as the admin);
* two replicas started as the applied Deployment's pods would be, as its ServiceAccount
  (a token and the CA in the in-cluster layout: ``KUBERNETES_SERVICE_HOST``/``PORT`` and
  a service-account directory with ``token``, ``ca.crt`` and ``namespace``), do the
  example's work, fail over gracefully, and are never refused: the manifests grant
  enough; every verb they grant was used (the few that only a rare path needs are named
  here), so they grant no more;
* with any one rule taken out of the applied manifests, the controller fails with a 403
  that names the resource and the verb, in its log.
"""

from __future__ import annotations

import copy
import inspect
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml
from cli_helpers import Running, kcs_process
from examples_helpers import (
    IMAGE_POLICY,
    STATIC_SITE,
    Example,
    labels,
    leader,
    one,
    pod,
    poll,
    ready,
)

from kcs.testing import FakeApiServer, RequestLog, ServedRequest

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.slow,
    pytest.mark.skipif(
        "authorization" not in inspect.signature(FakeApiServer).parameters,
        reason="needs the fake apiserver's HTTPS and RBAC authorization "
               "(FakeApiServer(tls=True, authorization='RBAC'), api.in_cluster())"),
]

ADMIN_TOKEN = "kcs-examples-admin"
DEPLOYMENTS = "deployments.apps"
SITES = "staticsites.examples.kcs.dev"
RBAC_KINDS = ("Role", "ClusterRole")

Permission = tuple[str, str, str]
"""``(apiGroup, resource[/subresource], verb)``."""

_PATH = re.compile(r"^/(?:api/v1|apis/(?P<group>[^/]+)/[^/]+)(?:/namespaces/[^/]+)?"
                   r"/(?P<resource>[^/?]+)(?:/[^/?]+(?:/(?P<sub>[^/?]+))?)?")


# -- what the manifests grant, and what the controller sent -----------------------------------


def granted(objects: list[dict[str, Any]]) -> set[Permission]:
    """Every (group, resource, verb) the manifests' Roles and ClusterRoles grant."""
    return {(group, resource, verb) for o in objects if o["kind"] in RBAC_KINDS
            for rule in o.get("rules") or () for group in rule["apiGroups"]
            for resource in rule["resources"] for verb in rule["verbs"]}


def permission(record: ServedRequest) -> Permission | None:
    m = _PATH.match(record.path)
    if m is None or (m.group("group") is None and record.path.startswith("/apis/")):
        return None
    resource = m.group("resource")
    if m.group("sub"):
        resource = f"{resource}/{m.group('sub')}"
    return (m.group("group") or "", resource, record.verb)


class Recording(RequestLog):
    """The fake apiserver's request log, keeping every request (it drops finished ones)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[ServedRequest] = []

    def begin(self, record: ServedRequest) -> ServedRequest:
        self.seen.append(record)
        return super().begin(record)

    def by(self, token: str) -> list[ServedRequest]:
        from kcs.testing._accounting import token_fingerprint

        fingerprint = token_fingerprint(token)
        return [r for r in self.seen if r.token == fingerprint]


# -- a cluster: the fake apiserver, kubectl as the admin, pods as the ServiceAccount -----------


@dataclass
class Cluster:
    api: FakeApiServer
    requests: Recording
    tmp: Path
    kubeconfig: Path
    stack: AsyncExitStack
    pods: dict[str, Running] = field(default_factory=dict)

    async def kubectl(self, *args: str, stdin: str | None = None) -> str:
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), "HOME": str(self.tmp)}
        proc = await anyio.run_process(["kubectl", *args], env=env, check=False,
                                       input=stdin.encode() if stdin else None)
        assert proc.returncode == 0, (f"kubectl {' '.join(args)}: "
                                      f"{proc.stderr.decode()}{proc.stdout.decode()}")
        return proc.stdout.decode()

    def applied_deployment(self, example: Example) -> dict[str, Any]:
        """The example's Deployment as the apiserver stored it."""
        rendered = one(example.rendered(), "Deployment")
        return self.api.get(DEPLOYMENTS, rendered["metadata"]["name"],
                            rendered["metadata"]["namespace"])

    async def start_pod(self, example: Example, name: str) -> tuple[Running, int, str]:
        """A replica of the applied Deployment as its pod ``name``, as its ServiceAccount
        with the in-cluster configuration; returns the process, its health port and the
        token it runs with."""
        deployment = self.applied_deployment(example)
        p = pod([deployment], name)
        sa = deployment["spec"]["template"]["spec"]["serviceAccountName"]
        directory = self.tmp / name / "serviceaccount"
        env = {**p.env, **self.api.in_cluster(directory, p.namespace, sa),
               "KCS_SERVICE_ACCOUNT_DIR": str(directory),
               "KUBECONFIG": ""}  # no kubeconfig: the in-cluster configuration
        proc = await self.stack.enter_async_context(
            kcs_process(p.args, env=env, cwd=example.directory))
        self.pods[name] = proc
        return proc, await proc.health_port(), (directory / "token").read_text()


@asynccontextmanager
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    api = FakeApiServer(token=ADMIN_TOKEN, tls=True, authorization="RBAC")
    requests = Recording()
    api.requests = requests
    await api.start()
    try:
        kubeconfig = api.write_kubeconfig(tmp_path / "admin.kubeconfig")
        async with AsyncExitStack() as stack:
            yield Cluster(api, requests, tmp_path, kubeconfig, stack)
    finally:
        await api.stop()


# -- the work each example does, as its ServiceAccount ------------------------------------------


def _deployment(name: str, image: str, namespace: str) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": {"matchLabels": {"app": name}}, "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]}}}}


def _violation(api: FakeApiServer, name: str) -> str | None:
    return labels(api.get(DEPLOYMENTS, name, "team-a")).get("image-policy.kcs.dev/violation")


async def image_policy_work(c: Cluster, log: Callable[[], str]) -> None:
    api = c.api
    await poll(lambda: _violation(api, "legacy") == "true", 30, "legacy labelled", log=log)
    assert _violation(api, "web") is None
    api.patch(DEPLOYMENTS, "legacy", {"metadata": {"labels": {
        "image-policy.kcs.dev/violation": None}}}, namespace="team-a")
    await poll(lambda: _violation(api, "legacy") == "true", 30, "the label put back", log=log)
    await poll(lambda: any(e.get("count", 1) >= 2 for e in api.list("events", "team-a")), 30,
               "the Warning counted twice (an Event series: a patch)", log=log)
    api.patch(DEPLOYMENTS, "legacy", {"spec": {"template": {"spec": {"containers": [
        {"name": "app", "image": "ghcr.io/acme/nginx:1.25"}]}}}}, namespace="team-a")
    await poll(lambda: _violation(api, "legacy") is None, 30, "legacy unlabelled", log=log)


def image_policy_objects(api: FakeApiServer) -> None:
    api.create("namespaces", {"metadata": {"name": "team-a"}})
    api.create(DEPLOYMENTS, _deployment("web", "registry.k8s.io/pause:3.9", "team-a"))
    api.create(DEPLOYMENTS, _deployment("legacy", "nginx:1.25", "team-a"))


def _ready_reason(api: FakeApiServer) -> str | None:
    status = api.get(SITES, "hello", "default").get("status") or {}
    return next((f"{c['status']}:{c['reason']}" for c in status.get("conditions") or ()
                 if c["type"] == "Ready"), None)


async def static_site_work(c: Cluster, log: Callable[[], str]) -> None:
    api = c.api
    dep = await poll(lambda: api.get(DEPLOYMENTS, "hello-web", "default"), 30,
                     "the Deployment created", log=log)
    await poll(lambda: _ready_reason(api) == "False:Progressing", 30, "status", log=log)
    api.patch(DEPLOYMENTS, "hello-web", {"status": {
        "observedGeneration": dep["metadata"]["generation"], "replicas": 2,
        "availableReplicas": 2}}, namespace="default", status=True)
    await poll(lambda: _ready_reason(api) == "True:Available", 30, "ready", log=log)
    for _ in range(2):  # drift, twice: the same Event again is a patch of its series
        api.patch(DEPLOYMENTS, "hello-web", {"spec": {"replicas": 9}}, namespace="default")
        await poll(lambda: api.get(DEPLOYMENTS, "hello-web", "default")["spec"]["replicas"]
                   == 2, 30, "the drift put back", log=log)
    await poll(lambda: any(e.get("count", 1) >= 2 and e["reason"] == "Updated"
                           for e in api.list("events", "default")), 30,
               "the Updated Event counted twice", log=log)
    api.delete(SITES, "hello", "default")
    await poll(lambda: not api.list(SITES, "default"), 30, "the finalizer", log=log)


def static_site_objects(api: FakeApiServer) -> None:
    api.create(SITES, yaml.safe_load((STATIC_SITE.directory / "site.yaml").read_text()))


@dataclass(frozen=True)
class Case:
    example: Example
    objects: Callable[[FakeApiServer], None]
    work: Callable[[Cluster, Callable[[], str]], Awaitable[None]]
    rare: frozenset[Permission]
    """Granted for paths this scenario does not take (each named with its reason)."""


CASES = {
    "image-policy": Case(IMAGE_POLICY, image_policy_objects, image_policy_work, frozenset()),
    "static-site": Case(STATIC_SITE, static_site_objects, static_site_work, frozenset({
        # apply_finalizer and mutate_status re-read the site live after a 409 Conflict
        ("examples.kcs.dev", "staticsites", "get"),
    })),
}


@pytest.mark.timeout(180)
@pytest.mark.parametrize("name", sorted(CASES))
async def test_the_manifests_grant_exactly_what_the_controller_does(
    name: str, tmp_path: Path,
) -> None:
    case = CASES[name]
    manifests = case.example.rendered()
    async with cluster(tmp_path) as c:
        out = await c.kubectl("apply", "-k", str(case.example.overlay))
        assert "deployment.apps/" in out and "created" in out, out
        case.objects(c.api)
        replicas = [await c.start_pod(case.example, f"{name}-6c9d4-{x}") for x in "ab"]
        for proc, port, _ in replicas:
            await poll(lambda port=port: ready(port), 30, "ready", log=proc.text)

        def logs() -> str:
            return "".join(proc.text() for proc, _, _ in replicas)

        await case.work(c, logs)
        # a graceful stop of the leader: the Lease goes to the standby, which stops next
        if not (await leader(replicas[0][1])).get("isLeader"):
            replicas.reverse()
        (first, _, _), (second, port, _) = replicas
        assert await first.stop(40) == 0, first.text()
        await poll(lambda: _leads(port), 20, "the standby leads", log=second.text)
        assert await second.stop(40) == 0, second.text()

    records = [r for _, _, token in replicas for r in c.requests.by(token)]
    refused = [f"{r.method} {r.path}: {r.status}" for r in records if r.status in (401, 403)]
    assert not refused, refused
    used = {p for r in records if (p := permission(r)) is not None}
    grants = granted(manifests)
    assert used <= grants, f"sent without a grant: {sorted(used - grants)}"
    unused = grants - used - case.rare
    assert not unused, f"granted, never used: {sorted(unused)}"


async def _leads(port: int) -> bool:
    return bool((await leader(port)).get("isLeader"))


def _without(objects: list[dict[str, Any]], kind: str, name: str, index: int
             ) -> list[dict[str, Any]]:
    out = copy.deepcopy(objects)
    role = one(out, kind, name)
    del role["rules"][index]
    return out


def _rules() -> list[tuple[str, str, str, int]]:
    """``(example, kind, role name, rule index)`` of every rule the overlays grant."""
    found = []
    for name, case in sorted(CASES.items()):
        for o in case.example.rendered():
            if o["kind"] in RBAC_KINDS:
                found += [(name, o["kind"], o["metadata"]["name"], i)
                          for i in range(len(o["rules"]))]
    return found


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("name", "kind", "role", "index"), _rules(),
                         ids=[f"{n}-{r}-{i}" for n, _, r, i in _rules()])
async def test_without_any_one_rule_the_controller_says_403(
    name: str, kind: str, role: str, index: int, tmp_path: Path,
) -> None:
    case = CASES[name]
    manifests = case.example.rendered()
    rule = one(manifests, kind, role)["rules"][index]
    reduced = tmp_path / "reduced.yaml"
    reduced.write_text(yaml.safe_dump_all(_without(manifests, kind, role, index)))
    async with cluster(tmp_path) as c:
        await c.kubectl("apply", "-f", str(reduced))
        case.objects(c.api)
        proc, _, _ = await c.start_pod(case.example, f"{name}-6c9d4-a")
        resources = "|".join(re.escape(r) for r in rule["resources"])
        verbs = "|".join(rule["verbs"])
        forbidden = re.compile(rf"403.*cannot ({verbs}) resource \\?\"({resources})\\?\"")
        try:
            await proc.wait_line(forbidden, within=60)
        except TimeoutError:
            raise AssertionError(f"no 403 for {rule} in 60 s:\n{proc.text()}") from None
