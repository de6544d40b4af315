"""The client's one object model and its hooks, against the fake apiserver over HTTP.

Verbs answer with the same :class:`~kcs.core.Object` the caches hold (decoded by the same
codec), ``get`` answers ``None`` only for the object it was asked about, and write hooks
see every stored object.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import orjson
import pytest

from kcs.client import Client
from kcs.core import NotFound, Object, ObjectList, Reader, Resource, builtin, codec_for
from kcs.testing import FakeApiServer

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(20)]

CONFIGMAPS = builtin("configmaps")
WIDGETS = Resource("example.com", "v1", "widgets", "Widget", namespaced=True)


def configmap(name: str, **data: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default", "finalizers": []},
        "data": data,
    }


@pytest.fixture
async def api() -> AsyncIterator[FakeApiServer]:
    async with FakeApiServer() as server:
        yield server


async def test_the_client_is_a_reader(api: FakeApiServer) -> None:
    async with Client.from_url(api.url) as client:
        reader: Reader = client  # type-checked: the client implements the protocol
        assert isinstance(reader, Reader)
        created = await client.create(CONFIGMAPS, configmap("a", k="v"))
        got = await reader.get(CONFIGMAPS, "a", "default")
        listed = await reader.list(CONFIGMAPS, "default", label_selector=None)
        assert isinstance(got, Object) and got["data"] == {"k": "v"}
        assert isinstance(listed, ObjectList) and [o.name for o in listed] == ["a"]
        assert int(listed.resource_version) >= int(created.resource_version)


async def test_live_objects_are_decoded_like_cached_ones(api: FakeApiServer) -> None:
    body = configmap("m", k="v")
    body["metadata"]["managedFields"] = [  # type: ignore[index]
        {"manager": "kubectl", "operation": "Apply", "fieldsType": "FieldsV1",
         "fieldsV1": {"f:data": {"f:k": {}}}}
    ]
    api.create(CONFIGMAPS, body)
    raw = api.get(CONFIGMAPS, "m", "default")
    async with Client.from_url(api.url) as client:
        got = await client.get(CONFIGMAPS, "m", "default")
    cached_form = codec_for("ConfigMap").decode_object(orjson.dumps(raw))
    assert got == cached_form, "the same codec as the informers: equal Objects"
    assert "managedFields" not in got.to_dict()["metadata"]
    async with Client.from_url(api.url, keep_managed_fields=True) as keeping:
        kept = await keeping.get(CONFIGMAPS, "m", "default")
    assert kept is not None and kept.to_dict()["metadata"]["managedFields"]


async def test_get_is_none_only_for_the_missing_object(api: FakeApiServer) -> None:
    async with Client.from_url(api.url) as client:
        assert await client.get(CONFIGMAPS, "missing", "default") is None
        # The resource itself is not served (a CRD that is not installed): that 404 is
        # not "no such object", and hiding it would look like an empty cluster.
        with pytest.raises(NotFound):
            await client.get(WIDGETS, "w", "default")


async def test_write_hooks_see_every_stored_object(api: FakeApiServer) -> None:
    seen: list[tuple[str, str, str]] = []

    def hook(resource: Resource, obj: Object) -> None:
        seen.append((str(resource), obj.name, obj.resource_version))

    async with Client.from_url(api.url) as client:
        remove = client.add_write_hook(hook)
        created = await client.create(CONFIGMAPS, configmap("h", k="1"))
        await client.create(CONFIGMAPS, configmap("dry"), dry_run=True)
        patched = await client.patch(CONFIGMAPS, "h", {"metadata": {"finalizers": ["x/y"]}})
        edited = patched.to_dict()
        edited["data"] = {"k": "2"}
        replaced = await client.replace(CONFIGMAPS, edited)
        held = await client.delete(CONFIGMAPS, "h", "default")  # a finalizer holds it
        assert held is not None and held.metadata.deletion_timestamp
        released = await client.patch(CONFIGMAPS, "h", {"metadata": {"finalizers": None}})
        remove()
        remove()  # idempotent
        await client.create(CONFIGMAPS, configmap("after-removal"))
    assert seen == [
        ("configmaps", "h", created.resource_version),
        ("configmaps", "h", patched.resource_version),
        ("configmaps", "h", replaced.resource_version),
        ("configmaps", "h", held.resource_version),
        ("configmaps", "h", released.resource_version),
    ]


async def test_a_failing_write_hook_is_logged_and_the_write_stands(
    api: FakeApiServer, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(resource: Resource, obj: Object) -> None:
        raise RuntimeError("hook bug")

    async with Client.from_url(api.url) as client:
        client.add_write_hook(broken)
        with caplog.at_level(logging.ERROR, logger="kcs.client"):
            created = await client.create(CONFIGMAPS, configmap("w"))
    assert created.name == "w"
    assert api.get(CONFIGMAPS, "w", "default") is not None
    assert any("write hook failed" in r.message and r.exc_info for r in caplog.records)


async def test_objects_write_back_as_they_are(api: FakeApiServer) -> None:
    async with Client.from_url(api.url) as client:
        created = await client.create(CONFIGMAPS, configmap("o", k="v"))
        # An Object is a body too (its resourceVersion makes the write conditional).
        again = await client.replace(CONFIGMAPS, created)
        assert again["data"] == {"k": "v"} and again.uid == created.uid
        with pytest.raises(TypeError):
            created["data"] = {"k": "w"}  # type: ignore[index]  # immutable: edit to_dict()
