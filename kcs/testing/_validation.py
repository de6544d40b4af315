"""The basic checks kube-apiserver makes on every object it is sent (and no more).

Only names, the type fields, the namespace and the shape of ``metadata`` are checked; the
content of ``spec`` is not validated (there is no OpenAPI schema here).
"""

from __future__ import annotations

import re
from typing import Any

from kcs.testing._registry import ServedResource
from kcs.testing._status import bad_request, invalid

__all__ = ["check_body", "name_problems"]

_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")
_DNS_LABEL = re.compile(rf"^{_LABEL}$")
_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")

_LABEL_NAMES = frozenset({"namespaces"})
_DNS1035_NAMES = frozenset({"services"})


def name_problems(served: ServedResource, name: str) -> list[str]:
    """Why ``name`` is not a valid name for ``served`` (empty when it is)."""
    r = served.resource
    if r.group == "rbac.authorization.k8s.io" or served.custom:
        # Path segment names: anything but "/", "%", "." and "..".
        if name in (".", "..") or "/" in name or "%" in name:
            return ['may not be "." or ".." and may not contain "/" or "%"']
        return []
    gr = served.group_resource
    if gr in _LABEL_NAMES or gr in _DNS1035_NAMES:
        pattern = _DNS1035 if gr in _DNS1035_NAMES else _DNS_LABEL
        if len(name) > 63 or not pattern.match(name):
            return ["a lowercase RFC 1123 label must consist of lower case alphanumeric "
                    "characters or '-', and must start and end with an alphanumeric character"]
        return []
    if len(name) > 253 or not _SUBDOMAIN.match(name):
        return ["a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                "characters, '-' or '.', and must start and end with an alphanumeric character"]
    return []


def check_body(
    served: ServedResource, body: Any, namespace: str | None, url_name: str | None
) -> dict[str, Any]:
    """Check the type fields, metadata, namespace and (for updates) the name of ``body``.

    A missing ``kind`` or ``apiVersion`` is filled from the URL, as the apiserver's decoder
    does; a different one is a 400. ``metadata.namespace`` is filled from the URL (or
    cleared for cluster-scoped kinds); a different one is a 400. Returns ``body`` as a new
    dict with its own ``metadata`` dict.
    """
    r = served.resource
    if not isinstance(body, dict):
        raise bad_request(f"the body of the request must be a JSON object, not {_kind_of(body)}")
    obj = dict(body)
    api_version = obj.get("apiVersion") or r.api_version
    kind = obj.get("kind") or r.kind
    if api_version != r.api_version:
        raise bad_request(
            f"the API version in the data ({api_version}) does not match the expected API "
            f"version ({r.api_version})"
        )
    if kind != r.kind:
        raise bad_request(f"the kind in the data ({kind}) does not match the expected kind "
                          f"({r.kind})")
    obj["apiVersion"], obj["kind"] = api_version, kind
    meta = obj.get("metadata")
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise bad_request("metadata must be a JSON object")
    meta = dict(meta)
    obj["metadata"] = meta
    if r.namespaced:
        given = meta.get("namespace") or ""
        if given and namespace and given != namespace:
            raise bad_request(
                "the namespace of the provided object does not match the namespace sent on "
                "the request"
            )
        meta["namespace"] = namespace or given
    else:
        meta.pop("namespace", None)
    if url_name is not None and meta.get("name") != url_name:
        raise bad_request(
            f"the name of the object ({meta.get('name') or ''}) does not match the name on the "
            f"URL ({url_name})"
        )
    name = meta.get("name")
    if name is not None and not isinstance(name, str):
        raise bad_request("metadata.name must be a string")
    _check_string_map(served, meta, "labels")
    _check_string_map(served, meta, "annotations")
    fin = meta.get("finalizers")
    if fin is not None and (not isinstance(fin, list) or not all(isinstance(f, str) for f in fin)):
        raise bad_request("metadata.finalizers must be a list of strings")
    return obj


def _check_string_map(served: ServedResource, meta: dict[str, Any], field: str) -> None:
    value = meta.get(field)
    if value is None:
        return
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise invalid(served.resource, str(meta.get("name") or ""),
                      [("FieldValueInvalid", f"metadata.{field}",
                        "Invalid value: must be a map of strings to strings")])


def _kind_of(value: Any) -> str:
    return "null" if value is None else type(value).__name__
