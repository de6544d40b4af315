"""The shell commands of the tutorial and the custom resources guide run as written.

Their code is included from the examples (tests/docs/test_docs_pages.py checks that every
code block is); this runs their commands one at a time, as a user types them, in the
example's folder (the tutorial's folder is examples/image-policy), and checks that what
the page says they show holds by then. Blocks that need what this machine lacks (a
package index with kcs, a container runtime, a cluster) are listed, with the reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from examples_helpers import IMAGE_POLICY, ROOT, STATIC_SITE, labels
from shell_steps import bash_blocks, commands, session

from kcs.client import Client

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

DOCS = ROOT / "docs"

NOT_RUN = {
    "tutorial.md": {
        "mkdir image-policy && cd image-policy": "installs kcs from a package index",
        "docker build -f examples/deploy/Dockerfile --build-arg "
        "APP=examples/image-policy/image_policy.py": "no container runtime",
        "kubectl -n image-policy get lease image-policy": "a cluster (the overlay is "
        "applied to the fake apiserver by test_examples_rbac.py)",
    },
    "custom-resources.md": {},
}


def _blocks(page: str) -> list[list[str]]:
    return [commands(b) for b in bash_blocks((DOCS / page).read_text())]


def _section(page: str, heading: str, until: str) -> list[str]:
    return [c for b in bash_blocks((DOCS / page).read_text(), after=heading, before=until)
            for c in commands(b)]


@pytest.mark.parametrize("page", sorted(NOT_RUN))
def test_every_shell_block_is_run_here_or_says_why_not(page: str) -> None:
    run = {"tutorial.md": ["## 5. Tests", "## Run it locally"],
           "custom-resources.md": ["## Running it"]}[page]
    text = (DOCS / page).read_text()
    covered = {c for heading in run for c in _section(page, heading, "\n## ")}
    for block in _blocks(page):
        if any(c in covered for c in block):
            continue
        reason = next((why for start, why in NOT_RUN[page].items() if block[0].startswith(start)),
                      None)
        assert reason, f"{page}: a shell block neither run nor explained: {block}"
    assert text.count("```bash") == len(_blocks(page))


async def _get(kubeconfig: Path, resource: str, name: str, namespace: str = "default"
               ) -> dict[str, Any] | None:
    client = await Client.from_kubeconfig(str(kubeconfig))
    async with client:
        obj = await client.get(resource, name, namespace)
        return obj.to_dict() if obj is not None else None


@pytest.mark.timeout(240)
async def test_the_tutorial_runs_as_written(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kcs-fake.kubeconfig"

    async def violation() -> str | None:
        d = await _get(kubeconfig, "deployments.apps", "legacy")
        return labels(d).get("image-policy.kcs.dev/violation") if d else "missing"

    async def labelled() -> bool:
        return await violation() == "true"

    async def unlabelled() -> bool:
        return await violation() is None

    async def a_leads() -> bool:
        lease = await _get(kubeconfig, "leases.coordination.k8s.io",
                           "kcs-image-policy-controllers")
        return bool(lease) and lease["spec"].get("holderIdentity") == "a"  # type: ignore[index]

    async with session(IMAGE_POLICY.directory, tmp_path) as shell:
        await shell.run_all(_section("tutorial.md", "## 5. Tests", "\n## "), [])
        assert " passed" in shell.outputs[-1][1], shell.outputs[-1][1]
        await shell.run_all(_section("tutorial.md", "## Run it locally", "\n## "), [
            ("kubectl get deployments -L", labelled),
            ("curl -s 127.0.0.1:8081/leader", a_leads),
            ("kubectl get deployments -L", unlabelled),
        ])
        outputs = shell.outputs
    leader = next(o for c, o in outputs if "/leader" in c)
    assert json.loads(leader)["isLeader"] is True
    ready = next(o for c, o in outputs if "/readyz" in c)
    assert ready.strip()  # b answers: ready
    table = next(o for c, o in outputs if "get deployments -L" in c)
    assert "VIOLATION" in table and "legacy" in table


@pytest.mark.timeout(180)
async def test_the_custom_resources_guide_runs_as_written(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kcs-fake.kubeconfig"
    sites = "staticsites.examples.kcs.dev"

    async def reported() -> bool:
        site = await _get(kubeconfig, sites, "hello")
        return bool(((site or {}).get("status") or {}).get("conditions"))

    async def created() -> bool:
        return await _get(kubeconfig, "deployments.apps", "hello-web") is not None

    async with session(STATIC_SITE.directory, tmp_path) as shell:
        await shell.run_all(_section("custom-resources.md", "## Running it", "\n## "), [
            ("kubectl get staticsites", created),
            ("kubectl get staticsite hello -o jsonpath", reported),
        ])
        outputs = dict(shell.outputs)
        gone = await _get(kubeconfig, sites, "hello") is None  # the finalizer was removed
    explained = next(o for c, o in outputs.items() if "explain" in c)
    assert "The files to serve" in explained
    header, row = next(o for c, o in outputs.items() if c == "kubectl get staticsites"
                       ).splitlines()[:2]
    assert {"REPLICAS", "AVAILABLE"} <= set(header.split()), header
    assert row.split()[0] == "hello" and " 2 " in row, row  # spec.replicas, from site.yaml
    reason = next(o for c, o in outputs.items() if "jsonpath" in c)
    assert reason.strip() == "Progressing"
    assert "condition met" in next(o for c, o in outputs.items() if "kubectl wait" in c)
    assert gone
