"""Every verb of the Client on the wire: method, path, query, headers, body, answer, errors."""

from __future__ import annotations

import pytest
from aiohttp import web
from client_wire import WireServer, json_response

import kcs
from kcs.client import Client
from kcs.core import (
    AlreadyExists,
    ApiError,
    BadRequest,
    Conflict,
    Gone,
    Invalid,
    LabelSelector,
    NotFound,
    Resource,
    SelectorError,
    builtin,
    status_body,
)

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(20)]

PODS = builtin("pods")
NODES = builtin("nodes")
DEPLOYMENTS = builtin("deployments.apps")


def echo(wire: WireServer) -> None:
    """Answer each request with a description of it, so the client's decoding is checked."""

    async def handler(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        return json_response(
            {
                "kind": "Echo",
                "method": request.method,
                "path": request.path,
                "query": dict(request.query),
                "contentType": request.headers.get("Content-Type"),
                "body": body.decode(),
            }
        )

    wire.handler = handler


def pod(name: str, namespace: str | None = None, rv: str | None = None) -> dict[str, object]:
    meta: dict[str, object] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    if rv:
        meta["resourceVersion"] = rv
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": {"containers": []}}


async def test_get_decodes_the_object_and_uses_the_default_namespace(wire: WireServer) -> None:
    wire.reply(pod("p1", "default", "7"))
    async with Client.from_url(wire.url, namespace="team-a") as client:
        obj = await client.get(PODS, "p1")
        assert obj is not None
        assert obj["metadata"]["resourceVersion"] == "7"
        await client.get(PODS, "p1", "other")
        await client.get(NODES, "n1", "ignored-for-cluster-scope")
        await client.get("deployments.apps", "d1", "ns")
        await client.get(PODS, "p1", "ns", subresource="status")
    assert [s.path for s in wire.seen] == [
        "/api/v1/namespaces/team-a/pods/p1",
        "/api/v1/namespaces/other/pods/p1",
        "/api/v1/nodes/n1",
        "/apis/apps/v1/namespaces/ns/deployments/d1",
        "/api/v1/namespaces/ns/pods/p1/status",
    ]
    assert all(s.method == "GET" for s in wire.seen)
    assert all(s.headers["Accept"] == "application/json" for s in wire.seen)


async def test_list_sends_every_parameter(wire: WireServer) -> None:
    wire.reply({"kind": "PodList", "apiVersion": "v1",
                "metadata": {"resourceVersion": "42", "continue": "next"},
                "items": [pod("p1", "ns", "41"), pod("p2", "ns", "40")]})
    async with Client.from_url(wire.url) as client:
        got = await client.list(
            PODS,
            "ns",
            label_selector={"app": "web", "tier": "front"},
            field_selector="spec.nodeName=n1",
            limit=500,
            continue_="tok",
            resource_version="42",
            resource_version_match="NotOlderThan",
        )
        await client.list(PODS)
        await client.list(PODS, label_selector=LabelSelector.parse("app in (a,b)"))
    assert [o.name for o in got] == ["p1", "p2"]
    assert (got.resource_version, got.continue_) == ("42", "next")
    sent, everywhere, with_selector_object = wire.seen
    assert sent.path == "/api/v1/namespaces/ns/pods"
    assert sent.query == {
        "labelSelector": "app=web,tier=front",
        "fieldSelector": "spec.nodeName=n1",
        "limit": "500",
        "continue": "tok",
        "resourceVersion": "42",
        "resourceVersionMatch": "NotOlderThan",
    }
    assert everywhere.path == "/api/v1/pods" and everywhere.query == {}
    assert with_selector_object.query == {"labelSelector": "app in (a,b)"}


async def test_invalid_selector_is_refused_before_sending(wire: WireServer) -> None:
    async with Client.from_url(wire.url) as client:
        with pytest.raises(SelectorError):
            await client.list(PODS, label_selector="a in ()")
    assert wire.seen == []


async def test_list_raw_returns_the_body_undecoded(wire: WireServer) -> None:
    raw = b'{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"9"},"items":[]}'

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(body=raw, content_type="application/json")

    wire.handler = handler
    async with Client.from_url(wire.url) as client:
        assert await client.list_raw(PODS, "ns", limit=1) == raw
    assert wire.seen[0].query == {"limit": "1"}


async def test_create_posts_the_body_to_the_collection(wire: WireServer) -> None:
    echo(wire)
    async with Client.from_url(wire.url) as client:
        got = await client.create(PODS, pod("p1", "from-body"), field_manager="me")
        explicit = await client.create(PODS, pod("p2"), "given", dry_run=True)
        defaulted = await client.create(PODS, pod("p3"))
    assert got["method"] == "POST"
    assert got["path"] == "/api/v1/namespaces/from-body/pods"
    assert got["query"] == {"fieldManager": "me"}
    assert got["contentType"] == "application/json"
    assert wire.seen[0].json() == pod("p1", "from-body")
    assert explicit["path"] == "/api/v1/namespaces/given/pods"
    assert explicit["query"] == {"dryRun": "All"}
    assert defaulted["path"] == "/api/v1/namespaces/default/pods"


async def test_replace_puts_with_the_resource_version(wire: WireServer) -> None:
    echo(wire)
    async with Client.from_url(wire.url) as client:
        got = await client.replace(PODS, pod("p1", "ns", rv="12"))
        upd = await client.update(DEPLOYMENTS, {"metadata": {"name": "d", "namespace": "x"}})
        status = await client.update_status(PODS, pod("p1", "ns", rv="13"))
        with pytest.raises(ValueError, match=r"metadata\.name"):
            await client.replace(PODS, {"metadata": {}})
    assert (got["method"], got["path"]) == ("PUT", "/api/v1/namespaces/ns/pods/p1")
    assert wire.seen[0].json()["metadata"]["resourceVersion"] == "12"
    assert upd["path"] == "/apis/apps/v1/namespaces/x/deployments/d"
    assert (status["method"], status["path"]) == ("PUT", "/api/v1/namespaces/ns/pods/p1/status")
    assert len(wire.seen) == 3


@pytest.mark.parametrize(
    ("patch_type", "content_type"),
    [
        ("merge", "application/merge-patch+json"),
        ("json", "application/json-patch+json"),
        ("strategic", "application/strategic-merge-patch+json"),
        ("apply", "application/apply-patch+yaml"),
    ],
)
async def test_patch_types(wire: WireServer, patch_type: str, content_type: str) -> None:
    echo(wire)
    body: object = [{"op": "add", "path": "/metadata/labels/a", "value": "b"}]
    if patch_type != "json":
        body = {"metadata": {"labels": {"a": "b"}}}
    async with Client.from_url(wire.url) as client:
        got = await client.patch(
            PODS, "p1", body, "ns", type=patch_type, field_manager="kcs-test",  # type: ignore[arg-type]
            force=True if patch_type == "apply" else None,
        )
    assert (got["method"], got["path"]) == ("PATCH", "/api/v1/namespaces/ns/pods/p1")
    assert got["contentType"] == content_type
    assert wire.seen[0].json() == body
    expected_query = {"fieldManager": "kcs-test"}
    if patch_type == "apply":
        expected_query["force"] = "true"
    assert got["query"] == expected_query


async def test_patch_status_and_patch_validation(wire: WireServer) -> None:
    echo(wire)
    async with Client.from_url(wire.url) as client:
        got = await client.patch_status(PODS, "p1", {"status": {"phase": "Running"}}, "ns")
        with pytest.raises(ValueError, match="field_manager"):
            await client.patch(PODS, "p1", {}, "ns", type="apply")
        with pytest.raises(ValueError, match="unknown patch type"):
            await client.patch(PODS, "p1", {}, "ns", type="yaml")  # type: ignore[arg-type]
    assert got["path"] == "/api/v1/namespaces/ns/pods/p1/status"
    assert got["contentType"] == "application/merge-patch+json"
    assert len(wire.seen) == 1


async def test_delete_sends_delete_options(wire: WireServer) -> None:
    echo(wire)
    async with Client.from_url(wire.url) as client:
        plain = await client.delete(PODS, "p1", "ns")
        full = await client.delete(
            PODS,
            "p2",
            "ns",
            preconditions={"uid": "u-1", "resourceVersion": "5"},
            propagation_policy="Foreground",
            grace_period_seconds=0,
        )
    assert plain is not None and full is not None, "the echo answers with an object"
    assert (plain["method"], plain["path"], plain["body"]) == (
        "DELETE",
        "/api/v1/namespaces/ns/pods/p1",
        "",
    )
    assert wire.seen[1].json() == {
        "kind": "DeleteOptions",
        "apiVersion": "v1",
        "preconditions": {"uid": "u-1", "resourceVersion": "5"},
        "propagationPolicy": "Foreground",
        "gracePeriodSeconds": 0,
    }
    assert full["contentType"] == "application/json"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (status_body(404, "NotFound", 'pods "p" not found', name="p", kind="pods"), NotFound),
        (status_body(409, "AlreadyExists", "exists", name="p"), AlreadyExists),
        (status_body(409, "Conflict", "stale resourceVersion"), Conflict),
        (status_body(410, "Expired", "too old resource version"), Gone),
        (status_body(400, "BadRequest", "bad selector"), BadRequest),
        (
            status_body(422, "Invalid", "invalid", causes=[{"field": "metadata.name"}]),
            Invalid,
        ),
    ],
)
async def test_error_answers_raise_typed_errors_with_the_status(
    wire: WireServer, status: dict[str, object], expected: type[ApiError]
) -> None:
    code = status["code"]
    assert isinstance(code, int)
    wire.reply(status, code)
    async with Client.from_url(wire.url) as client:
        with pytest.raises(expected) as caught:
            await client.create(PODS, pod("p", "ns"))
    err = caught.value
    assert err.code == code
    assert err.status == status
    assert err.message == status["message"]
    assert len(wire.seen) == 1


async def test_error_answer_that_is_not_a_status(wire: WireServer) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(status=418, text="<html>teapot proxy</html>")

    wire.handler = handler
    async with Client.from_url(wire.url) as client:
        with pytest.raises(ApiError) as caught:
            await client.get(PODS, "p", "ns")
    assert caught.value.code == 418
    assert "teapot proxy" in caught.value.message


async def test_user_agent_names_kcs_and_the_suffix(wire: WireServer) -> None:
    wire.reply({"kind": "Pod"})
    async with Client.from_url(wire.url, user_agent_suffix="replica-7") as client:
        await client.get(PODS, "p", "ns")
        assert client.user_agent.startswith(f"kcs/{kcs.__version__} (Python ")
        assert client.user_agent.endswith(" replica-7")
    async with Client.from_url(wire.url) as plain:
        await plain.get(PODS, "p", "ns")
    assert wire.seen[0].headers["User-Agent"] == client.user_agent
    assert wire.seen[1].headers["User-Agent"].startswith("kcs/")
    assert "replica-7" not in wire.seen[1].headers["User-Agent"]


async def test_request_raw_and_custom_resources(wire: WireServer) -> None:
    echo(wire)
    foo = Resource("example.com", "v1alpha1", "foos", "Foo", namespaced=True)
    async with Client.from_url(wire.url) as client:
        got = await client.get(foo, "f1", "ns")
        raw = await client.request_raw("GET", "/version", query={"x": "1"})
    assert got is not None
    assert got["path"] == "/apis/example.com/v1alpha1/namespaces/ns/foos/f1"
    assert b'"path":"/version"' in raw


async def test_closed_client_refuses_requests(wire: WireServer) -> None:
    from kcs.client import ClientError

    client = Client.from_url(wire.url)
    await client.close()
    await client.close()
    assert client.closed
    with pytest.raises(ClientError, match="closed"):
        await client.get(PODS, "p", "ns")
    assert wire.seen == []
