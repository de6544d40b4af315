"""Each example's overlay, as kubectl renders it: the base's guarantees survive it, its
target is what its README builds into the image and loads into controllers, and its
RBAC binds the ServiceAccount the Deployment runs as."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from examples_helpers import EXAMPLE_LIST, Example, one, pod

pytestmark = [pytest.mark.timeout(60)]

IDS = [e.name for e in EXAMPLE_LIST]


@pytest.fixture(scope="module", params=EXAMPLE_LIST, ids=IDS)
def example(request: pytest.FixtureRequest) -> tuple[Example, list[dict[str, Any]]]:
    e: Example = request.param
    return e, e.rendered()


def test_the_base_survives_the_overlay(example: tuple[Example, list[dict[str, Any]]]) -> None:
    e, rendered = example
    deployment = one(rendered, "Deployment")
    namespace = one(rendered, "Namespace")["metadata"]["name"]
    assert namespace == e.name and deployment["metadata"]["namespace"] == namespace
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    template = spec["template"]["spec"]
    sa = one(rendered, "ServiceAccount")["metadata"]["name"]
    assert template["serviceAccountName"] == sa
    for binding in (o for o in rendered if o["kind"] in ("RoleBinding", "ClusterRoleBinding")):
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa,
                                        "namespace": namespace}], binding["metadata"]["name"]
        kind = binding["roleRef"]["kind"]
        one(rendered, kind, binding["roleRef"]["name"])  # it binds a role that is there
    p = pod(rendered, "x", fast_election=False)
    assert p.lease_name == e.name and f"--lease-namespace={namespace}" in p.args
    assert "--identity=x" in p.args
    # the selector is the overlay's own: two examples in one namespace would not mix
    assert spec["selector"]["matchLabels"]["app.kubernetes.io/instance"] == e.name
    assert template["containers"][0]["image"].startswith(f"registry.example.org/kcs-{e.name}:")


def test_the_readme_builds_the_module_the_target_names(
    example: tuple[Example, list[dict[str, Any]]],
) -> None:
    e, rendered = example
    readme = (e.directory / "README.md").read_text()
    app = re.search(r"--build-arg APP=(\S+)", readme)
    assert app, "the README's docker build names APP"
    path = Path(app.group(1))
    assert (e.directory.parents[1] / path).is_file(), path
    target = pod(rendered, "x").env["KCS_TARGET"]
    module, _, _ = target.partition(":")
    assert path.name == f"{module}.py", (path, target)  # COPY ${APP} /app/ -> /app/<module>.py


@pytest.mark.anyio
async def test_the_target_loads_into_controllers_with_the_deployments_environment(
    example: tuple[Example, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch,
) -> None:
    from kcs.cli._load import load_target
    from kcs.cli._wiring import ManagerSettings, build_manager, controller_factories
    from kcs.client import Client
    from kcs.leaderelection import ElectionTimings

    e, rendered = example
    p = pod(rendered, "x")
    for name, value in p.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(e.directory)  # the image's WORKDIR /app holds the module
    settings = ManagerSettings(
        identity="x", lease_name=p.lease_name, lease_namespace=p.namespace, namespace=None,
        health_host="127.0.0.1", health_port=None, timings=ElectionTimings(),
        drain_timeout=1.0, shutdown_timeout=2.0)
    async with Client.from_url("http://127.0.0.1:9", namespace=p.namespace) as client:
        manager = await build_manager(
            client, None, settings,
            controller_factories([load_target(p.env["KCS_TARGET"])]))
    assert [r.name for r in manager.runners] == [e.name]
    assert os.environ["POD_NAMESPACE"] == p.namespace
