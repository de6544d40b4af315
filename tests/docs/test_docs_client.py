"""docs/client.md runs as written: its first example as the program it is (``Client.auto()``
finding the fake apiserver through ``$KUBECONFIG``), the other blocks in order in one
namespace with the client the page has built, checked on the server's side."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from doc_blocks import pod, python_blocks, run_block

from kcs.client import Client
from kcs.core import Resource, builtin
from kcs.testing import FakeApiServer

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

PAGE = "client.md"
PODS = builtin("pods")


@pytest.fixture
async def api() -> AsyncIterator[FakeApiServer]:
    async with FakeApiServer() as server:
        for p in (pod("web-0", "web"), pod("web-1", "web", "node-2"), pod("db-0", "db")):
            server.create("pods", p)
        yield server


async def test_the_first_example_runs_as_a_program(api: FakeApiServer, tmp_path: Path) -> None:
    first = python_blocks(PAGE)[0]
    assert "anyio.run(main)" in first.code
    script = tmp_path / "first.py"
    script.write_text("\n" * first.line + first.code)
    env = {**os.environ, "KUBECONFIG": str(api.write_kubeconfig(tmp_path / "kubeconfig"))}
    with anyio.fail_after(40):
        proc = await anyio.run_process([sys.executable, str(script)], env=env, check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    printed = sorted(line.split(" ")[0] for line in proc.stdout.decode().splitlines())
    assert printed == ["web-0", "web-1"], proc.stdout  # the app=web pods, db-0 not
    labels = api.get("pods", "web-0", "default")["metadata"]["labels"]
    assert labels == {"app": "web", "checked": "yes"}  # the replace was stored
    assert "checked" not in api.get("pods", "web-1", "default")["metadata"]["labels"]


async def test_resources_verbs_and_deadlines(api: FakeApiServer) -> None:
    api.register(Resource("example.com", "v1", "widgets", "Widget", True))
    discovery, watch, deadline = python_blocks(PAGE)[1:]
    async with Client.from_url(api.url, qps=None) as client:
        ns: dict[str, Any] = {"client": client, "PODS": PODS, "anyio": anyio}
        with anyio.fail_after(10):
            await run_block(discovery, ns)
        assert ns["widget"] == ns["same"]
        assert (ns["widget"].group, ns["widget"].plural) == ("example.com", "widgets")

        # The watch runs until its caller leaves: it is done once it decoded the event of
        # a pod created after it started.
        async with anyio.create_task_group() as tg:
            tg.start_soon(run_block, watch, ns)
            with anyio.fail_after(10):
                await api.wait_for_watchers(1, "pods")
                api.create("pods", pod("web-2", "web"))
                while not _event_for(ns.get("event"), "web-2"):  # noqa: ASYNC110
                    await anyio.sleep(0.01)  # the block's variable: no event to await
            tg.cancel_scope.cancel()
        assert ns["event"]["type"] == "ADDED" and ns["rv"]

        with anyio.fail_after(10):
            await run_block(deadline, ns)
        assert ns["pod"] is not None and ns["pod"].name == "web-0"


def _event_for(event: Any, name: str) -> bool:
    return isinstance(event, dict) and event["object"]["metadata"]["name"] == name

