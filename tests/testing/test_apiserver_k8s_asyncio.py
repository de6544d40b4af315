"""The fake apiserver driven by kubernetes-asyncio: its models, its errors, its Watch."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import config as k8s_config
from kubernetes_asyncio import watch as k8s_watch
from kubernetes_asyncio.client.exceptions import ApiException

from kcs.core import Resource
from kcs.testing import FakeApiServer

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]


@pytest.fixture
async def api_client(api: FakeApiServer, tmp_path: Path) -> AsyncIterator[k8s.ApiClient]:
    path = api.write_kubeconfig(tmp_path / "kubeconfig")
    async with await k8s_config.new_client_from_config(config_file=str(path)) as c:
        yield c


def _cm(name: str, **labels: str) -> k8s.V1ConfigMap:
    return k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name=name, labels=labels or None),
                           data={"k": name})


async def test_crud_with_models(api_client: k8s.ApiClient) -> None:
    core = k8s.CoreV1Api(api_client)
    made = await core.create_namespaced_config_map("default", _cm("m1", app="x"))
    assert made.metadata.uid and made.metadata.resource_version
    got = await core.read_namespaced_config_map("m1", "default")
    assert got.data == {"k": "m1"}
    got.data = {"k": "changed"}
    replaced = await core.replace_namespaced_config_map("m1", "default", got)
    assert int(replaced.metadata.resource_version) > int(made.metadata.resource_version)
    with pytest.raises(ApiException) as conflict:
        await core.replace_namespaced_config_map("m1", "default", got)  # stale now
    assert conflict.value.status == 409
    patched = await core.patch_namespaced_config_map("m1", "default",
                                                     {"metadata": {"labels": {"b": "c"}}})
    assert patched.metadata.labels == {"app": "x", "b": "c"}
    await core.delete_namespaced_config_map("m1", "default")
    with pytest.raises(ApiException) as missing:
        await core.read_namespaced_config_map("m1", "default")
    assert missing.value.status == 404


async def test_list_with_selectors(api: FakeApiServer, api_client: k8s.ApiClient) -> None:
    core = k8s.CoreV1Api(api_client)
    for i in range(4):
        await core.create_namespaced_config_map("default", _cm(f"s{i}", parity=str(i % 2)))
    even = await core.list_namespaced_config_map("default", label_selector="parity=0")
    assert [i.metadata.name for i in even.items] == ["s0", "s2"]
    one = await core.list_config_map_for_all_namespaces(field_selector="metadata.name=s3")
    assert [i.metadata.name for i in one.items] == ["s3"]
    page = await core.list_namespaced_config_map("default", limit=3)
    assert len(page.items) == 3 and page.metadata.remaining_item_count == 1
    rest = await core.list_namespaced_config_map("default", limit=3,
                                                 _continue=page.metadata._continue)
    assert [i.metadata.name for i in rest.items] == ["s3"]
    assert page.metadata.resource_version == str(api.revision)
    with pytest.raises(ApiException) as bad:
        await core.list_namespaced_config_map("default", field_selector="data.k=s1")
    assert bad.value.status == 400


async def test_watch_resumes_from_a_resource_version(api: FakeApiServer,
                                                     api_client: k8s.ApiClient) -> None:
    core = k8s.CoreV1Api(api_client)
    await core.create_namespaced_config_map("default", _cm("w0"))
    listed = await core.list_namespaced_config_map("default")
    rv = listed.metadata.resource_version
    await core.create_namespaced_config_map("default", _cm("w1"))
    await core.patch_namespaced_config_map("w0", "default", {"data": {"k": "new"}})
    await core.delete_namespaced_config_map("w1", "default")
    seen: list[tuple[str, str]] = []
    async with k8s_watch.Watch() as w:
        with anyio.fail_after(10):
            async for event in w.stream(core.list_namespaced_config_map, "default",
                                        resource_version=rv, timeout_seconds=5):
                seen.append((event["type"], event["object"].metadata.name))
                assert isinstance(event["object"], k8s.V1ConfigMap)
                if len(seen) == 3:
                    w.stop()
    assert seen == [("ADDED", "w1"), ("MODIFIED", "w0"), ("DELETED", "w1")]
    assert w.resource_version == str(api.revision)


async def test_watch_from_a_compacted_rv_is_410(api: FakeApiServer,
                                                api_client: k8s.ApiClient) -> None:
    core = k8s.CoreV1Api(api_client)
    old = (await core.create_namespaced_config_map("default", _cm("g0"))).metadata
    await core.create_namespaced_config_map("default", _cm("g1"))
    api.compact()
    with pytest.raises(ApiException) as gone:
        async with k8s_watch.Watch() as w:
            with anyio.fail_after(10):
                async for _ in w.stream(core.list_namespaced_config_map, "default",
                                        resource_version=old.resource_version,
                                        timeout_seconds=5):
                    pass
    assert gone.value.status == 410 and "too old resource version" in str(gone.value.reason)
    with pytest.raises(ApiException) as gone_list:
        await core.list_namespaced_config_map("default", resource_version=old.resource_version,
                                              resource_version_match="Exact")
    assert gone_list.value.status == 410


async def test_custom_objects(api: FakeApiServer, api_client: k8s.ApiClient) -> None:
    api.register(Resource("example.com", "v1", "gizmos", "Gizmo", True))
    custom = k8s.CustomObjectsApi(api_client)
    body: dict[str, Any] = {"apiVersion": "example.com/v1", "kind": "Gizmo",
                            "metadata": {"name": "gz"}, "spec": {"size": 1}}
    made = await custom.create_namespaced_custom_object("example.com", "v1", "default",
                                                        "gizmos", body)
    assert made["metadata"]["generation"] == 1
    patched = await custom.patch_namespaced_custom_object(
        "example.com", "v1", "default", "gizmos", "gz", {"spec": {"size": 2}},
        # the .pyi leaves out _content_type, which the generated method takes in **kwargs
        _content_type="application/merge-patch+json")  # type: ignore[call-arg]
    assert patched["spec"] == {"size": 2} and patched["metadata"]["generation"] == 2
    listed = await custom.list_namespaced_custom_object("example.com", "v1", "default", "gizmos")
    assert [i["metadata"]["name"] for i in listed["items"]] == ["gz"]


async def test_kubeconfig_token_reaches_the_server(tmp_path: Path) -> None:
    async with FakeApiServer(token="tok-123") as api:
        path = api.write_kubeconfig(tmp_path / "kc")
        async with await k8s_config.new_client_from_config(config_file=str(path)) as c:
            await k8s.CoreV1Api(c).create_namespace(
                k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name="authed")))
        async with k8s.ApiClient(k8s.Configuration(host=api.url)) as anonymous:
            with pytest.raises(ApiException) as denied:
                await k8s.CoreV1Api(anonymous).list_namespace()
        assert denied.value.status == 401
        mine = [w for w in api.writes.records if w.resource == "namespaces"]
        assert [w.name for w in mine] == ["authed"] and mine[0].token is not None
