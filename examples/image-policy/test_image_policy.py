"""Tests of the image policy: its rules as plain functions, then the controller under a
Manager against kcs's fake apiserver (a real apiserver's HTTP API on 127.0.0.1)."""

# --8<-- [start:imports]
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import anyio
import pytest
from image_policy import (
    DEPLOYMENTS,
    LABEL,
    ImagePolicy,
    allowed,
    disallowed,
    registries_from_env,
    registry_path,
)

from kcs.client import Client
from kcs.manager import Manager
from kcs.testing import FakeApiServer

REGISTRIES = ["registry.k8s.io", "ghcr.io/acme"]
# --8<-- [end:imports]


# -- the rules ------------------------------------------------------------------------------


# --8<-- [start:rules]
@pytest.mark.parametrize(
    ("image", "path"),
    [
        ("nginx", "docker.io/library/nginx"),
        ("nginx:1.25", "docker.io/library/nginx"),
        ("acme/app:1", "docker.io/acme/app"),
        ("ghcr.io/acme/app:1.2", "ghcr.io/acme/app"),
        ("localhost:5000/app", "localhost:5000/app"),
        ("registry.k8s.io/pause@sha256:abc", "registry.k8s.io/pause"),
    ],
)
def test_registry_path(image: str, path: str) -> None:
    assert registry_path(image) == path


def test_allowed_prefixes_match_whole_path_components() -> None:
    assert allowed("ghcr.io/acme/app:1", ["ghcr.io/acme"])
    assert not allowed("ghcr.io/acme-evil/app:1", ["ghcr.io/acme"])
    assert not allowed("nginx", ["registry.k8s.io"])


def test_disallowed_covers_init_containers_and_names_each_image_once() -> None:
    spec = pod_spec(["nginx:1", "registry.k8s.io/pause:3.9", "nginx:1"], init=["busybox"])
    assert disallowed(spec, REGISTRIES) == ["busybox", "nginx:1"]
    assert disallowed(pod_spec(["ghcr.io/acme/api:2"]), REGISTRIES) == []


def test_registries_come_from_the_environment_and_none_is_an_error() -> None:
    env = {"IMAGE_POLICY_ALLOWED_REGISTRIES": "registry.k8s.io, ghcr.io/acme"}
    assert registries_from_env(env) == REGISTRIES
    with pytest.raises(SystemExit, match="set IMAGE_POLICY_ALLOWED_REGISTRIES"):
        registries_from_env({})
    with pytest.raises(ValueError, match="non-empty"):
        ImagePolicy([])
# --8<-- [end:rules]


# -- the controller against the fake apiserver -----------------------------------------------


# --8<-- [start:helpers]
def pod_spec(containers: Sequence[str], init: Sequence[str] = ()) -> dict[str, Any]:
    return {"selector": {"matchLabels": {"app": "x"}}, "template": {
        "metadata": {"labels": {"app": "x"}},
        "spec": {"initContainers": [{"name": f"i{n}", "image": i} for n, i in enumerate(init)],
                 "containers": [{"name": f"c{n}", "image": i}
                                for n, i in enumerate(containers)]}}}


def deployment(name: str, image: str) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "default"}, "spec": pod_spec([image])}


def label(api: FakeApiServer, name: str) -> str | None:
    return (api.get(DEPLOYMENTS, name, "default")["metadata"].get("labels") or {}).get(LABEL)


def reasons(api: FakeApiServer, name: str) -> list[str]:
    return sorted(e["reason"] for e in api.list("events", "default")
                  if e["involvedObject"]["name"] == name)


async def eventually(condition: Callable[[], bool], within: float = 10.0) -> None:
    """Wait until ``condition()`` holds (polled: the apiserver's state has no event to
    await here), or fail after ``within`` seconds."""
    with anyio.fail_after(within):
        while True:
            if condition():
                return
            await anyio.sleep(0.02)
# --8<-- [end:helpers]


# --8<-- [start:controller]
@pytest.mark.anyio
async def test_labels_a_deployment_until_its_images_are_fixed(
    fake_apiserver: FakeApiServer,
) -> None:
    api = fake_apiserver
    api.create(DEPLOYMENTS, deployment("web", "registry.k8s.io/pause:3.9"))
    api.create(DEPLOYMENTS, deployment("legacy", "nginx:1.25"))
    async with Client.from_url(api.url) as client:
        # No Lease (it always leads), no health port, no signal handlers: a test's manager.
        manager = Manager(client, health_port=None, handle_signals=False)
        runner = manager.add(ImagePolicy(REGISTRIES))
        async with anyio.create_task_group() as tg:
            tg.start_soon(manager.run)
            await eventually(lambda: label(api, "legacy") == "true")
            await eventually(lambda: reasons(api, "legacy") == ["DisallowedRegistry"])
            assert label(api, "web") is None and reasons(api, "web") == []

            # someone removes the label: it comes back
            api.patch(DEPLOYMENTS, "legacy", {"metadata": {"labels": {LABEL: None}}},
                      namespace="default")
            await eventually(lambda: label(api, "legacy") == "true")

            # the image moves to an allowed registry: the label goes, a Normal Event says so
            api.patch(DEPLOYMENTS, "legacy", {"spec": {"template": {"spec": {"containers": [
                {"name": "c0", "image": "ghcr.io/acme/nginx:1.25"}]}}}}, namespace="default")
            await eventually(lambda: label(api, "legacy") is None)
            await eventually(lambda: reasons(api, "legacy") == ["DisallowedRegistry",
                                                                "ImagesAllowed"])
            await manager.shutdown()
    assert runner.stats.errors == 0
    warning = next(e for e in api.list("events", "default") if e["reason"] == "DisallowedRegistry")
    assert warning["type"] == "Warning" and "nginx:1.25" in warning["message"]
    # the second violation was the same Event again: one object, counted twice
    assert warning["count"] == 2
# --8<-- [end:controller]
