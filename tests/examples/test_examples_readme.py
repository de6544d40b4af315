"""The examples' READMEs: the commands of "Run it locally" run as written (kcs
fake-apiserver, kubectl, two ``kcs run`` replicas, a crash, a graceful stop), and what
the README says they show is what the fake apiserver holds at that point."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from examples_helpers import IMAGE_POLICY, ROOT, STATIC_SITE, labels
from shell_steps import bash_blocks, commands, session

from kcs.client import Client

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def _local_run(readme: Path) -> list[str]:
    blocks = bash_blocks(readme.read_text(), after="## Run it locally", before="## Build")
    assert len(blocks) >= 2, "the fake apiserver, then the commands"
    return [c for block in blocks for c in commands(block)]


async def _get(kubeconfig: Path, resource: str, name: str, namespace: str = "default"
               ) -> dict[str, Any] | None:
    client = await Client.from_kubeconfig(str(kubeconfig))
    async with client:
        obj = await client.get(resource, name, namespace)
        return obj.to_dict() if obj is not None else None


@pytest.mark.timeout(180)
async def test_the_image_policy_readme_runs_as_written(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kcs-fake.kubeconfig"

    def violation(name: str) -> Any:
        async def check() -> Any:
            d = await _get(kubeconfig, "deployments.apps", name)
            return d is not None and labels(d).get("image-policy.kcs.dev/violation")
        return check

    async def labelled() -> bool:
        return await violation("legacy")() == "true" and not await violation("web")()

    async def unlabelled() -> bool:
        d = await _get(kubeconfig, "deployments.apps", "legacy")
        return d is not None and "image-policy.kcs.dev/violation" not in labels(d)

    async with session(ROOT, tmp_path) as shell:
        await shell.run_all(_local_run(IMAGE_POLICY.directory / "README.md"), [
            ("kubectl get deployments -L", labelled),
            ("kubectl get deployments -L", unlabelled),
        ])
        outputs = dict(shell.outputs)
    legacy = next(o for c, o in outputs.items() if "get deployments" in c)
    assert "legacy" in legacy
    events = next(o for c, o in outputs.items() if "get events" in c)
    assert "DisallowedRegistry" in events and "deployment/legacy" in events
    who = next(o for c, o in outputs.items() if "/leader" in c)
    assert json.loads(who)["identity"] == "a"


@pytest.mark.timeout(180)
async def test_the_static_site_readme_runs_as_written(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kcs-fake.kubeconfig"
    sites = "staticsites.examples.kcs.dev"

    def ready(status: str) -> Any:
        async def check() -> bool:
            site = await _get(kubeconfig, sites, "hello")
            conditions = ((site or {}).get("status") or {}).get("conditions") or []
            return any(c["type"] == "Ready" and c["status"] == status for c in conditions)
        return check

    async def owned() -> bool:
        return (await _get(kubeconfig, "configmaps", "hello-files") is not None
                and await _get(kubeconfig, "deployments.apps", "hello-web") is not None)

    async def scaled() -> bool:
        d = await _get(kubeconfig, "deployments.apps", "hello-web")
        return d is not None and d["spec"]["replicas"] == 3

    async def gone() -> bool:
        return await _get(kubeconfig, sites, "hello") is None

    async with session(ROOT, tmp_path) as shell:
        await shell.run_all(_local_run(STATIC_SITE.directory / "README.md"), [
            ("kubectl get staticsites", ready("False")),
            ("kubectl get configmaps,deployments", owned),
            ("kubectl get staticsites", ready("True")),
            ("kubectl get deployment hello-web", scaled),
            ("kubectl get configmap static-sites", gone),
        ])
        outputs = [o for c, o in shell.outputs if "configmap static-sites" in c]
    assert json.loads(outputs[0]).keys() == {"default.hello"}
    assert json.loads(outputs[-1] or "{}") == {}
