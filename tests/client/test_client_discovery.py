"""Resource lookup: built-ins without requests, others by discovery, rediscovery on a miss."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from client_wire import WireServer, json_response

from kcs.client import Client, NoMatchError, RetryPolicy
from kcs.core import NotFound, builtin, status_body

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(20)]


class FakeDiscovery:
    """Serves discovery documents; ``groups`` can change between requests."""

    def __init__(self) -> None:
        self.groups: dict[str, dict[str, list[dict[str, Any]]]] = {
            "": {"v1": [res("pods", "Pod", True, ["po"]), res("pods/status", "Pod", True)]},
            "apps": {"v1": [res("deployments", "Deployment", True, ["deploy"])]},
            "example.com": {
                "v1": [res("widgets", "Widget", True, ["wd"]), res("widgets/scale", "Scale", True)],
                "v1beta1": [res("widgets", "Widget", True), res("gadgets", "Gadget", False)],
            },
        }
        self.preferred = {"apps": "v1", "example.com": "v1"}
        self.broken: set[str] = set()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        parts = request.path.strip("/").split("/")
        if parts == ["api"]:
            return json_response({"kind": "APIVersions", "versions": ["v1"]})
        if parts == ["apis"]:
            groups = [
                {
                    "name": g,
                    "versions": [{"groupVersion": f"{g}/{v}", "version": v} for v in vs],
                    "preferredVersion": {
                        "groupVersion": f"{g}/{self.preferred[g]}",
                        "version": self.preferred[g],
                    },
                }
                for g, vs in self.groups.items()
                if g
            ]
            return json_response({"kind": "APIGroupList", "groups": groups})
        if len(parts) > (2 if parts[0] == "api" else 3):
            return json_response(status_body(404, "NotFound", "object not found"), 404)
        group, version = ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])
        gv = f"{group}/{version}" if group else version
        if gv in self.broken:
            return json_response(status_body(503, "ServiceUnavailable", "down"), 503)
        resources = self.groups.get(group, {}).get(version)
        if resources is None:
            return json_response(status_body(404, "NotFound", "not served"), 404)
        return json_response({"kind": "APIResourceList", "groupVersion": gv, "resources": resources})


def res(name: str, kind: str, namespaced: bool, short: list[str] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "singularName": "" if "/" in name else kind.lower(),
        "namespaced": namespaced,
        "kind": kind,
        "verbs": ["get", "list", "watch"],
        "shortNames": short or [],
    }


@pytest.fixture
def api(wire: WireServer) -> FakeDiscovery:
    fake = FakeDiscovery()
    wire.handler = fake.handle
    return fake


async def test_builtins_need_no_request(wire: WireServer, api: FakeDiscovery) -> None:
    async with Client.from_url(wire.url) as client:
        assert await client.resource_for("apps/v1", "Deployment") == builtin("deployments.apps")
        assert await client.resource("pods") == builtin("pods")
        assert await client.resource("po") == builtin("pods")
        assert await client.resource("Pod") == builtin("pods")
        assert await client.resource("leases.coordination.k8s.io") == builtin(
            "leases.coordination.k8s.io"
        )
    assert wire.seen == []


async def test_custom_resources_are_discovered(wire: WireServer, api: FakeDiscovery) -> None:
    async with Client.from_url(wire.url) as client:
        widget = await client.resource_for("example.com/v1", "Widget")
        assert (widget.group, widget.version, widget.plural, widget.namespaced) == (
            "example.com",
            "v1",
            "widgets",
            True,
        )
        assert widget.subresources == frozenset({"scale"})
        assert widget.short_names == ("wd",)
        assert [s.path for s in wire.seen] == ["/apis/example.com/v1"]
        # Names: the preferred version wins; explicit versions and aliases work.
        assert await client.resource("widgets.example.com") == widget
        assert await client.resource("wd") == widget
        beta = await client.resource("widgets.v1beta1.example.com")
        assert beta.version == "v1beta1"
        gadget = await client.resource("gadgets")
        assert not gadget.namespaced
        count = len(wire.seen)
        assert await client.resource("widget") == widget
        assert len(wire.seen) == count  # cached
        # Using a discovered resource by name in a verb.
        with pytest.raises(NotFound):
            await client.get("widgets.example.com", "w1", "ns")
        assert wire.seen[-1].path == "/apis/example.com/v1/namespaces/ns/widgets/w1"


async def test_miss_rediscovers_then_raises_no_match(wire: WireServer, api: FakeDiscovery) -> None:
    async with Client.from_url(wire.url) as client:
        await client.discover()
        # A CRD installed after the first discovery is found on first use.
        api.groups["late.io"] = {"v1": [res("lates", "Late", False)]}
        api.preferred["late.io"] = "v1"
        late = await client.resource("lates.late.io")
        assert late.api_version == "late.io/v1"
        with pytest.raises(NoMatchError):
            await client.resource("nothings")
        with pytest.raises(NoMatchError):
            await client.resource_for("nope.io/v1", "Nope")
        with pytest.raises(LookupError):
            await client.resource_for("example.com/v1", "Nope")


async def test_a_broken_group_version_is_skipped(wire: WireServer, api: FakeDiscovery) -> None:
    api.broken.add("example.com/v1beta1")
    async with Client.from_url(wire.url, retry=RetryPolicy(backoff_initial=0.001)) as client:
        found = await client.discover()
    names = {(r.api_version, r.plural) for r in found}
    assert ("example.com/v1", "widgets") in names
    assert ("v1", "pods") in names
    assert ("apps/v1", "deployments") in names
    assert not any(r.version == "v1beta1" for r in found)


async def test_removed_group_version_is_forgotten(wire: WireServer, api: FakeDiscovery) -> None:
    async with Client.from_url(wire.url) as client:
        await client.resource_for("example.com/v1beta1", "Gadget")
        del api.groups["example.com"]["v1beta1"]
        assert await client.discover("example.com/v1beta1") == []
        with pytest.raises(NoMatchError):
            await client.resource_for("example.com/v1beta1", "Gadget")
