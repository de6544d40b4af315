"""What the examples' tests share: the examples' kustomize overlays as kubectl renders
them, and a ``kcs run`` process started as the rendered Deployment's pod would be."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cli_helpers import http_get

from kcs.testing import eventually

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
LEASES = "leases.coordination.k8s.io"


def kustomize(path: Path) -> list[dict[str, Any]]:
    """``kubectl kustomize path``, as objects."""
    import yaml

    proc = subprocess.run(["kubectl", "kustomize", str(path)], capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def one(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind
             and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, f"{len(found)} {kind}s named {name or 'anything'}"
    return found[0]


@dataclass(frozen=True)
class Example:
    """One example: its directory, its overlay, and what the overlay renders."""

    name: str

    @property
    def directory(self) -> Path:
        return EXAMPLES / self.name

    @property
    def overlay(self) -> Path:
        return self.directory / "deploy"

    def rendered(self) -> list[dict[str, Any]]:
        return kustomize(self.overlay)


IMAGE_POLICY = Example("image-policy")
STATIC_SITE = Example("static-site")
EXAMPLE_LIST = (IMAGE_POLICY, STATIC_SITE)


@dataclass(frozen=True)
class Pod:
    """How the kubelet would start the rendered Deployment's container, as a process
    here: its arguments and environment, with the downward API filled in."""

    name: str
    namespace: str
    args: list[str]
    env: dict[str, str]
    lease_name: str


def pod(rendered: list[dict[str, Any]], name: str, *,
        fast_election: bool = True) -> Pod:
    """The pod ``name`` of the rendered Deployment. Its health endpoints move from
    0.0.0.0:8081 to a free port on 127.0.0.1 (nothing binds beyond loopback in tests);
    ``fast_election`` shortens the Lease (2 s) so a crash failover takes seconds."""
    deployment = one(rendered, "Deployment")
    namespace = deployment["metadata"]["namespace"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    fields = {"metadata.name": name, "metadata.namespace": namespace}
    env: dict[str, str] = {}
    for entry in container.get("env") or ():
        if "value" in entry:
            env[entry["name"]] = str(entry["value"])
        else:
            env[entry["name"]] = fields[entry["valueFrom"]["fieldRef"]["fieldPath"]]
    args = [re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], a) for a in container["args"]]
    args = [a.replace("--health-bind-address=0.0.0.0:8081",
                      "--health-bind-address=127.0.0.1:0") for a in args]
    assert "--health-bind-address=127.0.0.1:0" in args, args
    if fast_election:
        args += ["--lease-duration", "2", "--renew-deadline", "1.2", "--retry-period", "0.3"]
    return Pod(name, namespace, args, env, env["KCS_LEASE_NAME"])


async def leader(port: int) -> dict[str, Any]:
    """What a replica's ``/leader`` says."""
    import json

    status, text, _ = await http_get(port, "/leader")
    return dict(json.loads(text)) if status == 200 else {}


async def ready(port: int) -> bool:
    return (await http_get(port, "/readyz"))[0] == 200


async def poll(check: Any, within: float, what: str, *, log: Any = None) -> Any:
    """``check()`` (sync or async) until it is truthy, within ``within`` seconds; an
    object not there yet (NotFound, KeyError) counts as not yet. On a timeout the
    assertion names ``what`` and shows ``log()`` (a process's output), if given."""
    return await eventually(check, within, what, interval=0.05, log=log)


def labels(obj: Mapping[str, Any]) -> dict[str, str]:
    return dict(obj["metadata"].get("labels") or {})
