"""The Client end to end against kcs.testing.FakeApiServer (the real wire protocol)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest

from kcs.client import ApiTimeoutError, Client, RetryPolicy
from kcs.core import AlreadyExists, Conflict, Gone, NotFound, Resource, Unauthorized, builtin

try:
    from kcs.testing import FakeApiServer
except ImportError:  # pragma: no cover - while kcs.testing is being written
    pytest.skip("kcs.testing.FakeApiServer is not available", allow_module_level=True)

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

CONFIGMAPS = builtin("configmaps")
PODS = builtin("pods")


def configmap(name: str, ns: str = "default", **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "data": {"k": "v"},
    }


@pytest.fixture
async def api() -> AsyncIterator[FakeApiServer]:
    async with FakeApiServer() as server:
        yield server


async def test_crud_round_trip(api: FakeApiServer) -> None:
    async with Client.from_url(api.url) as client:
        created = await client.create(CONFIGMAPS, configmap("a"))
        rv = created.resource_version
        got = await client.get(CONFIGMAPS, "a")
        assert got is not None and got["data"] == {"k": "v"}
        with pytest.raises(AlreadyExists):
            await client.create(CONFIGMAPS, configmap("a"))

        edited = created.to_dict()
        edited["data"] = {"k": "v2"}
        replaced = await client.replace(CONFIGMAPS, edited)
        assert int(replaced.resource_version) > int(rv)
        with pytest.raises(Conflict):
            await client.replace(CONFIGMAPS, edited)  # still carries the old resourceVersion

        merged = await client.patch(CONFIGMAPS, "a", {"data": {"x": "1"}})
        assert merged["data"] == {"k": "v2", "x": "1"}
        ops = [{"op": "remove", "path": "/data/x"}]
        assert "x" not in (await client.patch(CONFIGMAPS, "a", ops, type="json"))["data"]

        with pytest.raises(Conflict):
            await client.delete(CONFIGMAPS, "a", preconditions={"uid": "not-the-uid"})
        assert await client.delete(CONFIGMAPS, "a") is None  # gone: a success Status
        assert await client.get(CONFIGMAPS, "a") is None
        with pytest.raises(NotFound):
            await client.delete(CONFIGMAPS, "a")


async def test_status_subresource(api: FakeApiServer) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default"},
        "spec": {"containers": [{"name": "c", "image": "i"}]},
    }
    async with Client.from_url(api.url) as client:
        created = (await client.create(PODS, pod)).to_dict()
        created["status"] = {"phase": "Running"}
        updated = await client.update_status(PODS, created)
        assert updated["status"]["phase"] == "Running"
        patched = await client.patch_status(PODS, "p", {"status": {"phase": "Succeeded"}})
        assert patched["status"]["phase"] == "Succeeded"


async def test_list_selectors_and_pages(api: FakeApiServer) -> None:
    async with Client.from_url(api.url) as client:
        for i in range(5):
            await client.create(CONFIGMAPS, configmap(f"cm{i}", app="web" if i % 2 else "db"))
        web = await client.list(CONFIGMAPS, "default", label_selector={"app": "web"})
        assert sorted(o.name for o in web) == ["cm1", "cm3"]
        assert int(web.resource_version) == api.revision
        names: list[str] = []
        token: str | None = None
        while True:
            page = await client.list(CONFIGMAPS, "default", limit=2, continue_=token)
            names += [o.name for o in page]
            token = page.continue_ or None
            if not token:
                break
        assert names == [f"cm{i}" for i in range(5)]
        raw = await client.list_raw(CONFIGMAPS, field_selector="metadata.name=cm4")
        assert [o["metadata"]["name"] for o in orjson.loads(raw)["items"]] == ["cm4"]


async def test_watch_resume_bookmarks_and_gone(api: FakeApiServer) -> None:
    # Fast bookmarks, asked for by name: this test is about the client passing BOOKMARK
    # lines through, not about when kube-apiserver sends them (once a minute, and only after
    # the configmaps revision moved).
    api.fast_bookmarks = 0.1
    async with Client.from_url(api.url) as client:
        first = await client.create(CONFIGMAPS, configmap("w0"))
        start_rv = first.resource_version
        await client.create(CONFIGMAPS, configmap("w1"))
        await client.delete(CONFIGMAPS, "w0")
        events: list[dict[str, Any]] = []
        with anyio.fail_after(10):
            async with client.watch_raw(CONFIGMAPS, resource_version=start_rv) as stream:
                async for lines in stream:
                    events += [orjson.loads(line) for line in lines]
                    if any(e["type"] == "BOOKMARK" for e in events):
                        break
        kinds = [(e["type"], e["object"]["metadata"].get("name")) for e in events]
        assert kinds[:2] == [("ADDED", "w1"), ("DELETED", "w0")]
        assert kinds[-1][0] == "BOOKMARK"

        api.compact()
        events.clear()
        with anyio.fail_after(10):
            async with client.watch_raw(CONFIGMAPS, resource_version=start_rv) as stream:
                async for lines in stream:
                    events += [orjson.loads(line) for line in lines]
                    break
        assert events[0]["type"] == "ERROR"
        assert events[0]["object"]["code"] == 410
        with pytest.raises(Gone):
            await client.list(
                CONFIGMAPS, resource_version=start_rv, resource_version_match="Exact"
            )


async def test_token_and_kubeconfig(tmp_path: Path) -> None:
    async with FakeApiServer(token="fake-secret") as api:
        async with Client.from_url(api.url) as anonymous:
            with pytest.raises(Unauthorized):
                await anonymous.list(CONFIGMAPS)
        path = api.write_kubeconfig(tmp_path / "kubeconfig", namespace="kube-system")
        async with await Client.from_kubeconfig(str(path), user_agent_suffix="replica-a") as c:
            assert c.namespace == "kube-system"
            await c.create(CONFIGMAPS, configmap("k", ns="kube-system"))
        (write,) = api.writes.since(0)
        assert write.user_agent.endswith("replica-a")
        assert write.namespace == "kube-system"


async def test_discovery_of_a_registered_custom_resource(api: FakeApiServer) -> None:
    widget = Resource("example.com", "v1", "widgets", "Widget", namespaced=True)
    api.register(widget)
    async with Client.from_url(api.url) as client:
        found = await client.resource_for("example.com/v1", "Widget")
        assert (found.plural, found.namespaced) == ("widgets", True)
        body = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
        created = await client.create("widgets.example.com", body)
        assert created.namespace == "default"


async def test_faults_429_and_500_are_handled_by_policy(api: FakeApiServer) -> None:
    async with Client.from_url(api.url, retry=RetryPolicy(backoff_initial=0.001)) as client:
        api.faults.fail(429, verbs="create", retry_after=0, times=2)
        await client.create(CONFIGMAPS, configmap("throttled"))
        api.faults.fail(500, verbs="list", times=1)
        assert len(await client.list(CONFIGMAPS, "default")) == 1
        assert api.faults.counts["fail_429"] == 2
        assert api.faults.counts["fail_500"] == 1


async def test_cancelled_request_leaves_nothing_running(api: FakeApiServer) -> None:
    api.faults.delay(5.0, verbs="get")
    async with Client.from_url(api.url) as client:
        with pytest.raises(ApiTimeoutError):
            await client.get(CONFIGMAPS, "x", timeout=0.2)
        await api.requests.wait_cancelled(1)
        await api.requests.wait_idle()
        assert api.requests.in_flight == 0
