"""The deployment artefacts of examples/deploy/: the kustomize base as ``kubectl kustomize``
renders it (alone and under an overlay), the Deployment checked for what matters, the RBAC
checked against what kcs's manager actually sends, and the Dockerfile's inputs and pins.
(The image itself is not built here: there is no container runtime; hadolint lints the
Dockerfile in scripts/test.)"""

from __future__ import annotations

import functools
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "examples" / "deploy"
BASE = DEPLOY / "base"


def kustomize(path: Path) -> list[dict[str, Any]]:
    proc = subprocess.run(["kubectl", "kustomize", str(path)], capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind]
    assert len(found) == 1, f"{len(found)} {kind}s"
    return found[0]


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    return kustomize(BASE)


@pytest.fixture(scope="module")
def container(rendered: list[dict[str, Any]]) -> dict[str, Any]:
    pod = one(rendered, "Deployment")["spec"]["template"]["spec"]
    assert len(pod["containers"]) == 1
    return dict(pod["containers"][0])


def run_args(container: dict[str, Any]) -> Any:
    """The container's arguments as ``kcs`` itself parses them."""
    from kcs.cli._main import parser

    args = parser().parse_args(container["args"])
    assert args.command == "run"
    return args


def env_source(container: dict[str, Any], name: str) -> Any:
    entry = next(e for e in container["env"] if e["name"] == name)
    return entry.get("value", entry.get("valueFrom"))


@pytest.mark.timeout(60)
def test_the_base_renders_what_every_controller_needs(rendered: list[dict[str, Any]]) -> None:
    kinds = sorted(o["kind"] for o in rendered)
    assert kinds == ["ClusterRole", "ClusterRoleBinding", "Deployment", "Namespace", "Role",
                     "RoleBinding", "ServiceAccount"]
    namespace = one(rendered, "Namespace")["metadata"]["name"]
    for o in rendered:
        if o["kind"] in ("ServiceAccount", "Role", "RoleBinding", "Deployment"):
            assert o["metadata"]["namespace"] == namespace, o["metadata"]
    sa = one(rendered, "ServiceAccount")["metadata"]["name"]
    assert one(rendered, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == sa
    for kind in ("RoleBinding", "ClusterRoleBinding"):
        assert one(rendered, kind)["subjects"] == [
            {"kind": "ServiceAccount", "name": sa, "namespace": namespace}]


@pytest.mark.timeout(60)
def test_the_deployment_has_two_replicas_probes_on_served_paths_and_the_pod_as_identity(
    rendered: list[dict[str, Any]], container: dict[str, Any],
) -> None:
    deployment = one(rendered, "Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    args = run_args(container)
    # identity and Lease namespace from the downward API
    assert args.identity == "$(POD_NAME)" and args.lease_namespace == "$(POD_NAMESPACE)"
    assert env_source(container, "POD_NAME") == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env_source(container, "POD_NAMESPACE") == {
        "fieldRef": {"fieldPath": "metadata.namespace"}}
    assert args.leader_elect and args.lease_name == "$(KCS_LEASE_NAME)"
    assert args.targets == ["$(KCS_TARGET)"] and env_source(container, "KCS_TARGET")
    # the probes hit the port kcs serves health on, on every interface of the pod
    host, port = args.health_bind_address
    assert host == "0.0.0.0"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = container[probe]["httpGet"]
        assert get["path"] == path
        assert ports.get(get["port"], get["port"]) == port
    assert args.metrics_bind_address == "health"  # /metrics on that port too
    annotations = spec["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(port)
    assert annotations["prometheus.io/path"] == "/metrics"
    assert set(container["resources"]["requests"]) == {"cpu", "memory"}


@pytest.mark.timeout(60)
def test_the_grace_period_outlasts_the_hand_off_bound(
    rendered: list[dict[str, Any]], container: dict[str, Any],
) -> None:
    args = run_args(container)
    pod = one(rendered, "Deployment")["spec"]["template"]["spec"]
    # The Manager drains and hands off within shutdown_timeout; when that bound is hit the
    # elector still releases the Lease, shielded, within its renew deadline.
    assert args.drain_timeout < args.shutdown_timeout
    bound = args.shutdown_timeout + args.renew_deadline
    assert pod["terminationGracePeriodSeconds"] > bound, (pod["terminationGracePeriodSeconds"],
                                                           bound)


@pytest.mark.timeout(60)
def test_the_pod_is_locked_down(rendered: list[dict[str, Any]], container: dict[str, Any]
                                ) -> None:
    pod = one(rendered, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001  # the Dockerfile's USER
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert mounts == {"/tmp"}


def rules(rendered: list[dict[str, Any]], kind: str) -> set[tuple[str, str, str]]:
    return {(group, resource, verb) for rule in one(rendered, kind)["rules"]
            for group in rule["apiGroups"] for resource in rule["resources"]
            for verb in rule["verbs"]}


@pytest.mark.timeout(60)
def test_the_rbac_is_exactly_leases_in_the_namespace_and_events(
    rendered: list[dict[str, Any]],
) -> None:
    assert rules(rendered, "Role") == {("coordination.k8s.io", "leases", v) for v in
                                       ("get", "list", "watch", "create", "update", "delete")}
    assert rules(rendered, "ClusterRole") == {("", "events", "create"), ("", "events", "patch")}


@pytest.mark.timeout(60)
def test_an_overlay_renames_moves_and_rebinds_everything(tmp_path: Path) -> None:
    overlay = tmp_path / "mirror"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "resources": [os.path.relpath(BASE, overlay)],
        "namespace": "mirror", "namePrefix": "mirror-",
        "labels": [{"pairs": {"app.kubernetes.io/instance": "mirror"},
                    "includeSelectors": True}],
        "images": [{"name": "kcs-controller", "newName": "registry.example.org/mirror",
                    "newTag": "0.1.0"}],
        # as examples/deploy/README.md shows: env merged by name
        "patches": [{"target": {"kind": "Deployment"}, "patch": yaml.safe_dump({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "kcs-controller"},
            "spec": {"template": {"spec": {"containers": [{"name": "controller", "env": [
                {"name": "KCS_TARGET", "value": "mirror:Mirror"},
                {"name": "KCS_LEASE_NAME", "value": "mirror"}]}]}}}})}],
    }))
    objects = kustomize(overlay)
    assert one(objects, "Namespace")["metadata"]["name"] == "mirror"
    sa = one(objects, "ServiceAccount")["metadata"]["name"]
    assert sa.startswith("mirror-")
    for kind in ("RoleBinding", "ClusterRoleBinding"):
        assert one(objects, kind)["subjects"] == [
            {"kind": "ServiceAccount", "name": sa, "namespace": "mirror"}]
    deployment = one(objects, "Deployment")
    assert deployment["spec"]["selector"]["matchLabels"]["app.kubernetes.io/instance"] == "mirror"
    mirror = deployment["spec"]["template"]["spec"]["containers"][0]
    assert mirror["image"] == "registry.example.org/mirror:0.1.0"
    assert env_source(mirror, "KCS_TARGET") == "mirror:Mirror"
    assert env_source(mirror, "KCS_LEASE_NAME") == "mirror"
    assert env_source(mirror, "POD_NAME") == {"fieldRef": {"fieldPath": "metadata.name"}}


# -- the RBAC against what the manager sends ----------------------------------------------------

EMITTING = '''
from kcs.controller import Builder, Context, Controller, Result
from kcs.core import ObjectKey, builtin

CONFIGMAPS = builtin("configmaps")


class Noticer(Controller):
    name = "noticer"

    def setup(self, builder: Builder) -> None:
        builder.for_(CONFIGMAPS, namespace="apps")

    async def reconcile(self, ctx: Context, key: ObjectKey) -> Result | None:
        obj = await ctx.cache.get(CONFIGMAPS, key.name, key.namespace)
        if obj is not None:
            ctx.events.normal(obj, "Noticed", "seen by the noticer")
        return None
'''

_PATH = re.compile(r"^/(?:api/v1|apis/(?P<group>[^/]+)/[^/]+)(?:/namespaces/(?P<ns>[^/]+))?"
                   r"/(?P<resource>[^/?]+)")


def _recording(api: Any) -> list[Any]:
    """Keep every request the fake apiserver handles (its RequestLog drops finished ones)."""
    from kcs.testing import RequestLog

    seen: list[Any] = []

    class Recording(RequestLog):
        def begin(self, record: Any) -> Any:
            seen.append(record)
            return super().begin(record)

    api.requests = Recording()
    return seen


def _substituted(container: dict[str, Any], env: dict[str, str]) -> list[str]:
    """The container's args with ``$(VAR)`` expanded as the kubelet does."""
    return [re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], a) for a in container["args"]]


@pytest.mark.anyio
@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_the_manifests_rbac_covers_every_request_the_manager_makes(
    rendered: list[dict[str, Any]], container: dict[str, Any], tmp_path: Path,
) -> None:
    """Two replicas started with the Deployment's own flags (the health port on 127.0.0.1
    here), a controller that records Events, a graceful hand-off: every request on leases
    and events is one the rendered Role and ClusterRole allow, and the lease ones stay in
    the Role's namespace."""
    from cli_helpers import kcs_process

    from kcs.testing import FakeApiServer, eventually

    namespace = one(rendered, "Namespace")["metadata"]["name"]
    allowed_ns = rules(rendered, "Role")
    allowed_cluster = rules(rendered, "ClusterRole")
    (tmp_path / "controller.py").write_text(EMITTING)
    api = FakeApiServer()
    seen = _recording(api)
    await api.start()
    try:
        for ns in (namespace, "apps"):
            api.create("namespaces", {"metadata": {"name": ns}})
        api.create("configmaps", {"metadata": {"name": "c", "namespace": "apps"}})
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")

        def argv(pod: str) -> list[str]:
            env = {"KCS_TARGET": "controller", "KCS_LEASE_NAME": "kcs-controller",
                   "POD_NAME": pod, "POD_NAMESPACE": namespace}
            args = [a.replace("0.0.0.0:", "127.0.0.1:") for a in _substituted(container, env)]
            return [*args, "--kubeconfig", str(kubeconfig), "--health-bind-address",
                    "127.0.0.1:0"]

        async with kcs_process(argv("pod-a"), cwd=tmp_path) as a, \
                kcs_process(argv("pod-b"), cwd=tmp_path) as b:
            port_a, port_b = await a.health_port(), await b.health_port()
            for port in (port_a, port_b):
                await eventually(functools.partial(_ok, port, "/readyz"), 30, "ready")
            await eventually(lambda: anyio.to_thread.run_sync(
                lambda: bool(api.list("events", "apps"))), 30, "an Event recorded")
            assert await a.stop(40) == 0, a.text()
            await eventually(lambda: _says(port_b, '"isLeader": true'), 30, "b leads")
            assert await b.stop(40) == 0, b.text()
    finally:
        await api.stop()
    used: set[tuple[str, str, str]] = set()
    for record in seen:
        m = _PATH.match(record.path)
        if not m or m.group("resource") not in ("leases", "events"):
            continue
        key = (m.group("group") or "", m.group("resource"), record.verb)
        used.add(key)
        if key[1] == "leases":
            assert m.group("ns") == namespace, record.path
            assert key in allowed_ns, f"{record.method} {record.path}: {key} not in the Role"
        else:
            assert key in allowed_cluster, f"{record.method} {record.path}: not in the ClusterRole"
    # and the manager did exercise the election and the events (the check was not vacuous)
    assert {("coordination.k8s.io", "leases", v) for v in ("create", "update", "watch")} <= used
    assert ("", "events", "create") in used


async def _ok(port: int, path: str) -> bool:
    from cli_helpers import http_get

    return (await http_get(port, path))[0] == 200


async def _says(port: int, text: str) -> bool:
    from cli_helpers import http_get

    return text in (await http_get(port, "/leader"))[1]


# -- the Dockerfile and its pins -----------------------------------------------------------------


def _instructions() -> Iterator[tuple[str, str]]:
    text = (DEPLOY / "Dockerfile").read_text()
    for line in re.sub(r"\\\n\s*", " ", text).splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            yield word.upper(), rest


@pytest.mark.timeout(30)
def test_the_dockerfile_is_multi_stage_pinned_non_root_and_copies_the_wheels_inputs() -> None:
    from test_packaging_wheel import BUILD_INPUTS

    steps = list(_instructions())
    froms = [rest for word, rest in steps if word == "FROM"]
    assert len(froms) == 2, froms
    base = next(rest for word, rest in steps if word == "ARG" and rest.startswith("PYTHON_IMAGE="))
    tag = base.split("=", 1)[1].split(":", 1)[1]
    assert re.fullmatch(r"3\.\d+\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", tag), tag
    copied = {p for word, rest in steps if word == "COPY" and not rest.startswith("--from")
              for p in rest.split()[:-1]}
    assert set(BUILD_INPUTS) <= copied, copied
    runs = [rest for word, rest in steps if word == "RUN" and "pip " in rest]
    assert runs and all("--no-cache-dir" in r for r in runs)
    assert any("--constraint constraints.txt" in r for r in runs)
    assert any("--no-index" in r for r in runs)  # the final stage installs only the wheels
    users = [rest for word, rest in steps if word == "USER"]
    assert users == ["10001:10001"]
    assert steps[-1][0] == "CMD" and steps[-2] == ("ENTRYPOINT", '["kcs"]')


def _requirements(dist: str, extras: frozenset[str], seen: dict[str, Any]) -> None:
    from importlib.metadata import distribution

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    for text in distribution(dist).requires or []:
        req = Requirement(text)
        env = {"python_version": "3.11", "sys_platform": "linux", "platform_system": "Linux"}
        if req.marker is not None and not any(
                req.marker.evaluate({**env, "extra": e}) for e in (extras or {""})):
            continue
        name = canonicalize_name(req.name)
        seen.setdefault(name, []).append(req.specifier)
        if len(seen[name]) == 1:
            _requirements(req.name, frozenset(req.extras), seen)


@pytest.mark.timeout(30)
def test_the_constraints_pin_every_dependency_of_kcs_prometheus_within_its_requirements(
) -> None:
    from packaging.utils import canonicalize_name
    from packaging.version import Version

    pins: dict[str, Version] = {}
    for line in (DEPLOY / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = Version(version)
    needed: dict[str, Any] = {}
    _requirements("kcs", frozenset({"prometheus"}), needed)
    assert {"opentelemetry-exporter-prometheus", "aiohttp", "kubernetes-asyncio"} <= set(needed)
    missing = sorted(set(needed) - set(pins))
    assert not missing, f"not pinned in constraints.txt: {missing}"
    for name, specifiers in needed.items():
        for spec in specifiers:
            assert spec.contains(pins[name], prereleases=True), f"{name}=={pins[name]} vs {spec}"
    assert "kcs" not in pins
