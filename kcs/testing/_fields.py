"""Selectable fields: which field selectors each resource supports, and how to read them.

As in kube-apiserver, every resource supports ``metadata.name`` and ``metadata.namespace``;
a few built-in kinds add their own (pods ``spec.nodeName``, events ``involvedObject.*``,
...), custom resources add their CRD's ``selectableFields``. Selecting on anything else is
a 400 BadRequest ``field label not supported``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kcs.core import FieldSelector, get_path
from kcs.testing._registry import ServedResource
from kcs.testing._status import bad_request

__all__ = ["FieldReader", "check_field_selector", "field_reader", "matches"]

Getter = Callable[[Mapping[str, Any]], str | None]
FieldReader = Callable[[Mapping[str, Any]], Callable[[str], str | None]]


def _path(path: str) -> Getter:
    return lambda obj: get_path(obj, path)


def _bool(path: str) -> Getter:
    # kube formats these with strconv.FormatBool: a missing value reads "false".
    return lambda obj: get_path(obj, path) or "false"


def _meta_namespace(obj: Mapping[str, Any]) -> str | None:
    return get_path(obj, "metadata.namespace") or ""


_COMMON: dict[str, Getter] = {
    "metadata.name": _path("metadata.name"),
    "metadata.namespace": _meta_namespace,
}

_INVOLVED = ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")

_BY_GROUP_RESOURCE: dict[str, dict[str, Getter]] = {
    "pods": {
        "spec.nodeName": _path("spec.nodeName"),
        "spec.restartPolicy": _path("spec.restartPolicy"),
        "spec.schedulerName": _path("spec.schedulerName"),
        "spec.serviceAccountName": _path("spec.serviceAccountName"),
        "spec.hostNetwork": _bool("spec.hostNetwork"),
        "status.phase": _path("status.phase"),
        "status.podIP": _path("status.podIP"),
        "status.podIPs": _path("status.podIP"),
        "status.nominatedNodeName": _path("status.nominatedNodeName"),
    },
    "services": {"spec.clusterIP": _path("spec.clusterIP"), "spec.type": _path("spec.type")},
    "replicationcontrollers": {"status.replicas": _path("status.replicas")},
    "events": {
        **{f"involvedObject.{f}": _path(f"involvedObject.{f}") for f in _INVOLVED},
        "reason": _path("reason"),
        "reportingComponent": _path("reportingComponent"),
        "source": _path("source.component"),
        "type": _path("type"),
    },
    # events.k8s.io Events are stored as core Events: their fields select the stored ones.
    "events.events.k8s.io": {
        **{f"regarding.{f}": _path(f"involvedObject.{f}") for f in _INVOLVED},
        "reason": _path("reason"),
        "reportingController": _path("reportingComponent"),
        "type": _path("type"),
    },
    "secrets": {"type": _path("type")},
    "nodes": {"spec.unschedulable": _bool("spec.unschedulable")},
    "namespaces": {"status.phase": _path("status.phase")},
}

# kube's field-label conversion functions (pkg/apis/core/v1/conversion.go) that do not
# accept metadata.namespace: these kinds' selectable fields are exactly the listed ones.
_ONLY_NAME = frozenset({"nodes", "namespaces"})


def _getters(served: ServedResource) -> dict[str, Getter]:
    out = dict(_COMMON)
    if served.group_resource in _ONLY_NAME:
        out.pop("metadata.namespace")
    out.update(_BY_GROUP_RESOURCE.get(served.group_resource, {}))
    for f in served.selectable_fields:
        out[f] = _path(f)
    return out


def check_field_selector(served: ServedResource, selector: FieldSelector) -> None:
    """Raise 400 BadRequest when ``selector`` uses a field ``served`` does not support."""
    getters = _getters(served)
    for path in sorted(selector.paths):
        if path not in getters:
            raise bad_request(f'field label not supported: {path}')


def field_reader(served: ServedResource) -> FieldReader:
    """A function ``obj -> (path -> value)`` for the fields ``served`` supports."""
    getters = _getters(served)

    def reader(obj: Mapping[str, Any]) -> Callable[[str], str | None]:
        return lambda path: getters[path](obj)

    return reader


def matches(reader: FieldReader, selector: FieldSelector, obj: Mapping[str, Any]) -> bool:
    """Whether ``obj`` satisfies ``selector`` (an empty selector matches everything)."""
    return selector.empty or selector.matches(reader(obj))
