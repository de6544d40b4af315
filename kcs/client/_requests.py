"""Building requests: query strings, bodies and content types for the verbs."""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

import orjson

from kcs.core import FieldSelector, FieldSelectorLike, LabelSelector, LabelSelectorLike, Object
from kcs.core import encode_object as _encode_object

__all__ = [
    "JSON",
    "PATCH_CONTENT_TYPES",
    "Body",
    "PatchBody",
    "PatchType",
    "encode_body",
    "list_query",
    "metadata_of",
    "write_query",
]

PatchType = Literal["merge", "json", "strategic", "apply"]
"""``merge`` (RFC 7386), ``json`` (RFC 6902), ``strategic`` (Kubernetes strategic merge),
``apply`` (server-side apply; needs ``field_manager``)."""

PATCH_CONTENT_TYPES: Final[dict[str, str]] = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}
JSON: Final = "application/json"

Body = Object | Mapping[str, Any]
"""An object to write: a :class:`~kcs.core.Object` or its JSON as a mapping."""

PatchBody = Mapping[str, Any] | Sequence[Any] | bytes | str
"""A patch: a mapping (merge, strategic, apply), a list of operations (json), or its text."""


def encode_body(body: Object | PatchBody) -> bytes:
    """The JSON bytes of a body (an Object, a mapping, a list, or already text)."""
    if isinstance(body, Object):
        return _encode_object(body)
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    if not isinstance(body, dict | list):
        body = dict(body) if isinstance(body, Mapping) else builtins.list(body)
    return orjson.dumps(body)


def metadata_of(body: Body) -> tuple[str, str]:
    """``(name, namespace)`` of a body (``""`` where absent)."""
    if isinstance(body, Object):
        return body.metadata.name, body.metadata.namespace
    meta = body.get("metadata")
    if not isinstance(meta, Mapping):
        return "", ""
    return str(meta.get("name") or ""), str(meta.get("namespace") or "")


def list_query(
    label_selector: LabelSelectorLike,
    field_selector: FieldSelectorLike,
    limit: int | None,
    continue_: str | None,
    resource_version: str | None,
    resource_version_match: str | None,
) -> dict[str, str]:
    """The query of a LIST (and of a WATCH, without ``limit`` and ``continue``)."""
    query: dict[str, str] = {}
    if label_selector is not None:
        text = str(LabelSelector.of(label_selector))
        if text:
            query["labelSelector"] = text
    if field_selector is not None:
        text = str(FieldSelector.of(field_selector))
        if text:
            query["fieldSelector"] = text
    if limit is not None:
        query["limit"] = str(int(limit))
    if continue_:
        query["continue"] = continue_
    if resource_version is not None:
        query["resourceVersion"] = resource_version
    if resource_version_match:
        query["resourceVersionMatch"] = resource_version_match
    return query


def write_query(field_manager: str | None, dry_run: bool) -> dict[str, str]:
    """The query of a write: ``fieldManager`` and ``dryRun``."""
    query: dict[str, str] = {}
    if field_manager:
        query["fieldManager"] = field_manager
    if dry_run:
        query["dryRun"] = "All"
    return query
