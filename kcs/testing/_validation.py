"""Validation: the checks kube-apiserver makes before it stores an object (422 Invalid).

:func:`check_body` is the shape of a request body (type fields, namespace, name on the
URL: 400s). :func:`validate_create` and :func:`validate_update` are the strategies'
``Validate``/``ValidateUpdate``: object metadata for every kind (names per kind, label keys
and values, annotation keys and their 256 KiB total, finalizer and owner reference
shapes), the kind's own rules (:mod:`._podvalidation`, :mod:`._kindvalidation`) and, for
custom resources, the CRD schema (:mod:`._crdschema`). Each returns the errors as
:class:`~._fielderrors.FieldError`; the caller raises the 422 with all of them, worded and
shaped as kube-apiserver's (``details.causes`` of ``FieldValueRequired``,
``FieldValueInvalid``, ``FieldValueForbidden`` ...).
"""

from __future__ import annotations

from typing import Any

from kcs.testing._crdschema import validate as validate_schema
from kcs.testing._fielderrors import FieldError, GoLiteral, invalid, too_long
from kcs.testing._kindvalidation import validate_kind, validate_kind_update
from kcs.testing._names import (
    dns1035_label,
    dns1123_label,
    dns1123_subdomain,
    label_problems,
    qualified_name,
)
from kcs.testing._registry import ServedResource
from kcs.testing._status import bad_request
from kcs.testing._status import invalid as invalid_status

__all__ = [
    "check_body",
    "name_problems",
    "validate_create",
    "validate_update",
]

_LABEL_NAMES = frozenset({"namespaces"})
_DNS1035_NAMES = frozenset({"services"})
_PATH_SEGMENT_GROUPS = frozenset({"rbac.authorization.k8s.io"})
_STANDARD_FINALIZERS = frozenset({"kubernetes", "orphan", "foregroundDeletion"})
TOTAL_ANNOTATION_SIZE = 256 * 1024


def _path_segment(name: str) -> list[str]:
    for bad in (".", ".."):
        if name == bad:
            return [f"may not be '{bad}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in name]


def name_problems(served: ServedResource, name: str, *, prefix: bool = False) -> list[str]:
    """Why ``name`` is not a valid name for ``served`` (empty when it is); ``prefix`` checks
    a ``generateName`` (a trailing ``-`` is allowed)."""
    r = served.resource
    if prefix and name.endswith("-"):
        name = name[:-1] + "a"
    if r.group in _PATH_SEGMENT_GROUPS:
        return _path_segment(name)
    gr = served.group_resource
    if gr in _DNS1035_NAMES:
        return dns1035_label(name)
    if gr in _LABEL_NAMES:
        return dns1123_label(name)
    return dns1123_subdomain(name)


def _meta_problems(served: ServedResource, meta: dict[str, Any], warnings: list[str]
                   ) -> list[FieldError]:
    errors: list[FieldError] = []
    name, generate = meta.get("name"), meta.get("generateName")
    if generate:
        errors.extend(invalid("metadata.generateName", generate, m)
                      for m in name_problems(served, str(generate), prefix=True))
    if name:
        errors.extend(invalid("metadata.name", name, m) for m in name_problems(served, name))
    errors.extend(label_problems(meta.get("labels"), "metadata.labels"))
    annotations = meta.get("annotations")
    if isinstance(annotations, dict):
        size = 0
        for k, v in annotations.items():
            errors.extend(invalid("metadata.annotations", k, m)
                          for m in qualified_name(str(k).lower()))
            size += len(str(k)) + len(str(v))
        if size > TOTAL_ANNOTATION_SIZE:
            errors.append(too_long("metadata.annotations", TOTAL_ANNOTATION_SIZE))
    for fin in meta.get("finalizers") or ():
        errors.extend(invalid("metadata.finalizers", fin, m) for m in qualified_name(str(fin)))
        if "/" not in str(fin) and str(fin) not in _STANDARD_FINALIZERS:
            warnings.append(f'metadata.finalizers: "{fin}": prefer a domain-qualified finalizer '
                            "name including a path (/) to avoid accidental conflicts with other "
                            "finalizer writers")
    for i, ref in enumerate(meta.get("ownerReferences") or ()):
        errors.extend(_owner_problems(ref, f"metadata.ownerReferences[{i}]"))
    controllers = [r for r in meta.get("ownerReferences") or ()
                   if isinstance(r, dict) and r.get("controller")]
    if len(controllers) > 1:
        errors.append(invalid("metadata.ownerReferences", GoLiteral("[]v1.OwnerReference{...}"),
                              "Only one reference can have Controller set to true. Found "
                              f'"true" in references for {_controller_names(controllers)}'))
    return errors


def _owner_problems(ref: Any, path: str) -> list[FieldError]:
    if not isinstance(ref, dict):
        return []
    errors: list[FieldError] = []
    path = path.split("[", maxsplit=1)[0]
    if not ref.get("apiVersion"):
        errors.append(invalid(f"{path}.apiVersion", ref.get("apiVersion") or "",
                              "version must not be empty"))
    if not ref.get("kind"):
        errors.append(invalid(f"{path}.kind", ref.get("kind") or "", "kind must not be empty"))
    if not ref.get("name"):
        errors.append(invalid(f"{path}.name", ref.get("name") or "", "name must not be empty"))
    if not ref.get("uid"):
        errors.append(invalid(f"{path}.uid", ref.get("uid") or "", "uid must not be empty"))
    return errors


def _controller_names(refs: list[dict[str, Any]]) -> str:
    return ", ".join(f"{r.get('kind')}/{r.get('name')}" for r in refs)


def validate_create(served: ServedResource, obj: dict[str, Any],
                    warnings: list[str] | None = None,
                    extra: list[FieldError] | None = None) -> None:
    """``Validate`` of a create: raises the 422 Invalid with every error found (and the
    ``extra`` ones a strategy met); non-fatal findings are appended to ``warnings``."""
    warns = warnings if warnings is not None else []
    errors = _meta_problems(served, obj.get("metadata") or {}, warns)
    if served.custom:
        errors.extend(validate_schema(served.schema, obj))
    else:
        errors.extend(validate_kind(served, obj))
    _raise(served, obj, [*errors, *(extra or ())])


def validate_update(served: ServedResource, old: dict[str, Any], new: dict[str, Any],
                    subresource: str = "", warnings: list[str] | None = None,
                    extra: list[FieldError] | None = None) -> None:
    """``ValidateUpdate``: the create rules on the new object plus what may not change;
    raises the 422 Invalid with every error found."""
    warns = warnings if warnings is not None else []
    errors = _meta_problems(served, new.get("metadata") or {}, warns)
    if served.custom:
        errors.extend(validate_schema(served.schema, new, old))
    else:
        if subresource != "status":
            errors.extend(validate_kind(served, new))
        errors.extend(validate_kind_update(served, old, new, subresource))
    _raise(served, new, [*errors, *(extra or ())])


def _raise(served: ServedResource, obj: dict[str, Any], errors: list[FieldError]) -> None:
    if errors:
        name = str((obj.get("metadata") or {}).get("name") or "")
        raise invalid_status(served.resource, name, [e.as_cause() for e in errors])


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
        raise invalid_status(served.resource, str(meta.get("name") or ""),
                             [("FieldValueInvalid", f"metadata.{field}",
                               "Invalid value: must be a map of strings to strings")])


def _kind_of(value: Any) -> str:
    return "null" if value is None else type(value).__name__
