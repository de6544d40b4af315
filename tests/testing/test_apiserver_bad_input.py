"""Bad input gets the right Status and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from apiserver_http import CM, Http, configmap, http

from kcs.testing import FakeApiServer

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

CMS = CM.format(ns="default")


def _cm(**meta: Any) -> dict[str, Any]:
    body = configmap("x")
    body["metadata"].update(meta)
    return body


# (method, path, body or raw bytes, content type, expected code, expected reason)
CASES: list[tuple[str, str, Any, str, int, str]] = [
    ("POST", CMS, b'{"kind": "ConfigMap", ', "application/json", 400, "BadRequest"),
    ("POST", CMS, b"[1, 2]", "application/json", 400, "BadRequest"),
    ("POST", CMS, {**configmap("k"), "kind": "Secret"}, "application/json", 400, "BadRequest"),
    ("POST", CMS, {**configmap("k"), "apiVersion": "apps/v1"}, "application/json", 400,
     "BadRequest"),
    ("POST", CMS, _cm(name=None), "application/json", 422, "Invalid"),
    ("POST", CMS, _cm(name="Not_A_Name"), "application/json", 422, "Invalid"),
    ("POST", CMS, _cm(labels={"a": 1}), "application/json", 422, "Invalid"),
    ("POST", CMS, _cm(namespace="kube-system"), "application/json", 400, "BadRequest"),
    ("POST", CMS, _cm(name="existing"), "application/json", 409, "AlreadyExists"),
    ("POST", CMS, _cm(resourceVersion="5"), "application/json", 500, "InternalError"),
    ("POST", CM.format(ns="missing"), configmap("x", ns="missing"), "application/json", 404,
     "NotFound"),
    ("POST", CMS, b"\x0a\x0bk8s", "application/vnd.kubernetes.protobuf", 415,
     "UnsupportedMediaType"),
    ("PUT", f"{CMS}/existing", _cm(name="other"), "application/json", 400, "BadRequest"),
    ("PUT", f"{CMS}/absent", _cm(name="absent"), "application/json", 404, "NotFound"),
    ("PUT", f"{CMS}/existing", _cm(name="existing", resourceVersion="1"), "application/json",
     409, "Conflict"),
    ("PATCH", f"{CMS}/existing", b"{not json", "application/merge-patch+json", 400,
     "BadRequest"),
    ("PATCH", f"{CMS}/existing", b'{"op": "add"}', "application/json-patch+json", 400,
     "BadRequest"),
    ("PATCH", f"{CMS}/existing", b'[{"op": "remove", "path": "/nope"}]',
     "application/json-patch+json", 422, "Invalid"),
    ("PATCH", f"{CMS}/existing", b'{"metadata": {"name": "renamed"}}',
     "application/merge-patch+json", 400, "BadRequest"),
    ("PATCH", f"{CMS}/existing", b"{}", "text/x-unknown", 415, "UnsupportedMediaType"),
    ("POST", f"{CMS}/existing", configmap("existing"), "application/json", 405,
     "MethodNotAllowed"),
    ("DELETE", f"{CMS}/existing", b"{bad", "application/json", 400, "BadRequest"),
    ("GET", f"{CMS}?labelSelector=a%20in%20(b", None, "application/json", 400, "BadRequest"),
    ("GET", f"{CMS}?fieldSelector=data.x%3Dy", None, "application/json", 400, "BadRequest"),
    ("GET", f"{CMS}?limit=-1", None, "application/json", 400, "BadRequest"),
    # option validation is kube's Validate*Options: 422 Invalid with causes
    ("GET", f"{CMS}?resourceVersion=1&resourceVersionMatch=Sometimes", None,
     "application/json", 422, "Invalid"),
    ("GET", f"{CMS}?resourceVersion=0&resourceVersionMatch=Exact", None, "application/json",
     422, "Invalid"),
    ("GET", f"{CMS}?resourceVersionMatch=Exact", None, "application/json", 422, "Invalid"),
    ("GET", f"{CMS}?sendInitialEvents=true", None, "application/json", 422, "Invalid"),
    ("DELETE", f"{CMS}/existing?dryRun=Some", None, "application/json", 422, "Invalid"),
    ("POST", CMS, _cm(), "text/plain", 415, "UnsupportedMediaType"),
    ("POST", CMS, _cm(), "application/octet-stream", 415, "UnsupportedMediaType"),
    ("POST", f"{CMS}?dryRun=Some", {"metadata": {"name": "n"}}, "application/json", 422,
     "Invalid"),
]


async def _state(client: Http) -> tuple[Any, ...]:
    cms = await client.get("/api/v1/configmaps")
    nss = await client.get("/api/v1/namespaces")
    return cms.rv, cms.body["items"], nss.body["items"]


@pytest.mark.parametrize(("method", "path", "body", "ctype", "code", "reason"), CASES,
                         ids=[f"{c[0]}-{c[4]}-{i}" for i, c in enumerate(CASES)])
async def test_bad_input_is_refused_and_changes_nothing(
    api: FakeApiServer, client: Http, method: str, path: str, body: Any, ctype: str,
    code: int, reason: str,
) -> None:
    api.create("configmaps", configmap("existing", data={"a": "1"}))
    before = await _state(client)
    writes = len(api.writes)
    raw = body if isinstance(body, bytes) else None
    r = await client.req(method, path, None if raw is not None else body, raw=raw,
                         content_type=ctype)
    assert r.status == code, r
    assert r.body["kind"] == "Status" and r.body["status"] == "Failure"
    assert r.body["code"] == code and r.body["reason"] == reason
    assert r.body["message"]
    assert await _state(client) == before
    assert len(api.writes) == writes


async def test_invalid_names_report_causes(client: Http) -> None:
    r = await client.post(CMS, _cm(name=None))
    assert r.body["details"]["causes"][0]["field"] == "metadata.name"


async def test_oversized_body_is_413(api: FakeApiServer, client: Http) -> None:
    before = await _state(client)
    big = configmap("big", data={"blob": "x" * (3 * 1024 * 1024)})
    r = await client.post(CMS, big)
    assert r.status == 413 and r.reason == "RequestEntityTooLarge"
    assert "3145728" in r.body["message"]
    assert await _state(client) == before
    small = FakeApiServer(max_body_bytes=1000)
    async with small, http(small.url) as c2:
        ok = await c2.post(CMS, configmap("fits"))
        too_big = await c2.post(CMS, configmap("huge", data={"b": "y" * 2000}))
        assert ok.status == 201 and too_big.status == 413
