"""Discovery documents: ``/version``, ``/api``, ``/api/v1``, ``/apis``, ``/apis/GROUP[/VERSION]``.

Only the legacy (unaggregated) form is served. A client asking for aggregated discovery
(``Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList``) gets the
legacy document with ``Content-Type: application/json`` and falls back, as kubectl does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kcs.testing._registry import Registry, ServedResource

__all__ = ["VERSION_INFO", "api_group", "api_group_list", "api_resource_list", "api_versions"]

VERSION_INFO: dict[str, str] = {
    "major": "1",
    "minor": "36",
    "emulationMajor": "1",
    "emulationMinor": "36",
    "minCompatibilityMajor": "1",
    "minCompatibilityMinor": "35",
    "gitVersion": "v1.36.2-kcs-fake",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.25.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}
"""What ``/version`` answers: the kube-apiserver the fake emulates (1.36), with the fields a
1.36 server writes; ``gitVersion`` says it is the fake."""


def api_versions(host: str) -> dict[str, Any]:
    """``/api``: the core group's versions."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}],
    }


def _group_doc(name: str, versions: list[str]) -> dict[str, Any]:
    gvs = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": gvs, "preferredVersion": gvs[0]}


def api_group_list(registry: Registry) -> dict[str, Any]:
    """``/apis``: every named group with its versions, the preferred version first."""
    groups = [
        _group_doc(g, vs) for g, vs in sorted(registry.groups().items()) if g
    ]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(registry: Registry, group: str) -> dict[str, Any] | None:
    """``/apis/GROUP``, or ``None`` when the group is not served."""
    versions = registry.groups().get(group)
    if not group or not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_doc(group, versions)}


def _entry(s: ServedResource) -> dict[str, Any]:
    r = s.resource
    e: dict[str, Any] = {
        "name": r.plural,
        "singularName": r.singular or r.kind.lower(),
        "namespaced": r.namespaced,
        "kind": r.kind,
        "verbs": list(r.verbs),
    }
    if r.short_names:
        e["shortNames"] = list(r.short_names)
    if s.categories:
        e["categories"] = list(s.categories)
    return e


Extras = Callable[[ServedResource], Mapping[str, Mapping[str, Any]]]
"""The extra subresources of a resource: name -> discovery fields (kind, group, version,
verbs), such as ``scale`` -> ``autoscaling/v1`` Scale."""


def api_resource_list(registry: Registry, group: str, version: str,
                      extras: Extras | None = None) -> dict[str, Any] | None:
    """``/api/v1`` or ``/apis/GROUP/VERSION``, or ``None`` when not served."""
    served = registry.in_group_version(group, version)
    if not served:
        return None
    resources: list[dict[str, Any]] = []
    for s in served:
        resources.append(_entry(s))
        more = dict(extras(s)) if extras is not None else {}
        subs: dict[str, Mapping[str, Any]] = {
            sub: {"kind": s.resource.kind,
                  "verbs": ["update"] if sub == "finalize" else ["get", "patch", "update"]}
            for sub in s.resource.subresources if sub != "scale" or sub not in more}
        subs.update(more)
        for sub, fields in sorted(subs.items()):
            resources.append({"name": f"{s.resource.plural}/{sub}", "singularName": "",
                              "namespaced": s.resource.namespaced, **fields})
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
            "resources": resources}
