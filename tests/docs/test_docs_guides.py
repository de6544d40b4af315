"""The code of the watch, cache, informer and consistency guides runs as written.

Each ``python`` block of a page runs in order, in one namespace (top-level ``await``
allowed, as in ``python -m asyncio``), against the fake apiserver over HTTP; the checks
below then hold the pages to what they say.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from doc_blocks import pod, run_page

from kcs.client import Client
from kcs.informer import InformerFactory
from kcs.testing import FakeApiServer

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]


@pytest.fixture
async def api() -> AsyncIterator[FakeApiServer]:
    async with FakeApiServer(bookmark_frequency=0.1) as server:
        for p in (pod("web-0", "web"), pod("web-1", "web", "node-2"), pod("db-0", "db")):
            server.create("pods", p)
        yield server


@pytest.fixture
async def client(api: FakeApiServer) -> AsyncIterator[Client]:
    async with Client.from_url(api.url, qps=None) as c:
        yield c


async def test_watch_page(client: Client) -> None:
    ns = await run_page("watch.md", {"client": client})
    assert sorted(ns["state"]) == ["default/web-0", "default/web-1"]
    assert len(ns["store"]) == 3 and ns["store"].has_synced
    assert ns["watcher"].stats.lists == 1 and not ns["watcher"].stats.errors


async def test_caches_and_indexes_page() -> None:
    ns = await run_page("caches-and-indexes.md", {})
    assert sorted(ns["store"].keys()) == ["default/web-1", "default/web-2", "default/web-3"]


async def test_informers_page(client: Client, tmp_path: Path) -> None:
    ns = await run_page("informers.md", {"client": client, "state_dir": str(tmp_path)})
    assert sorted(o.name for o in ns["on_node"]) == ["db-0", "web-0"]
    assert sorted(o.name for o in ns["web"]) == ["web-0", "web-1"]
    assert ns["fresh"] is not None and ns["fresh"].name == "web-0"
    assert ns["a"] is ns["b"]
    assert ns["conflict"][0].startswith("store.transform: None != <function <lambda>")
    assert (tmp_path / "pods.snapshot").stat().st_size > 0
    assert ns["owned"].options.store.metadata_only


async def test_consistency_page(api: FakeApiServer, client: Client) -> None:
    api.create("deployments.apps", {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
    })
    informers = InformerFactory(client)
    async with anyio.create_task_group() as tg:
        tg.start_soon(informers.run)
        ns = await run_page("consistency.md", {"client": client, "informers": informers})
        tg.cancel_scope.cancel()
    assert ns["updated"]["spec"]["replicas"] == 3
    assert ns["pod"] is not None and ns["pod"].name == "web-0"
    assert sorted(o.name for o in ns["on_node"]) == ["db-0", "web-0"]
