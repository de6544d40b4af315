"""Server-side printing: ``meta.k8s.io/v1`` Tables, as kubectl asks for them.

kubectl ``get`` sends ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io, ...``. The
common built-in kinds get kube-apiserver's own columns (:mod:`._printers`: pods ``NAME READY
STATUS RESTARTS AGE``, ...); other kinds get kube's default table (the one it uses for custom
resources): ``Name`` and ``Created At``, plus a CRD's ``additionalPrinterColumns`` when they
are simple ``.a.b`` JSON paths. Each row carries the
object as ``PartialObjectMetadata`` (``includeObject=Metadata``, the default), the whole
object (``Object``) or nothing (``None``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

from kcs.core import get_path
from kcs.testing._printers import PRINTERS
from kcs.testing._registry import ServedResource
from kcs.testing._store import StoredObject

__all__ = ["table_event_line", "table_for_list", "table_for_object", "wants_table"]

_COLUMNS = [
    {"name": "Name", "type": "string", "format": "name", "priority": 0,
     "description": "Name must be unique within a namespace."},
    {"name": "Created At", "type": "date", "format": "", "priority": 0,
     "description": "CreationTimestamp is a timestamp representing the server time when "
                    "this object was created."},
]


def wants_table(accept: str) -> bool:
    """Whether the Accept header asks for a ``meta.k8s.io`` Table first."""
    first = accept.split(",", 1)[0]
    return "as=Table" in first and "g=meta.k8s.io" in first


def _row(served: ServedResource, so: StoredObject, include: str,
         extra: list[str]) -> dict[str, Any]:
    meta = so.obj.get("metadata") or {}
    printer = None if served.custom else PRINTERS.get(served.group_resource)
    if printer is not None:
        cells: list[Any] = printer[1](so.obj)
    else:
        cells = [meta.get("name", ""), meta.get("creationTimestamp", "")]
        cells += [get_path(so.obj, p) or "" for p in extra]
    row: dict[str, Any] = {"cells": cells}
    if include == "Object":
        row["object"] = so.obj
    elif include != "None":
        row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                         "metadata": meta}
    return row


def _columns(served: ServedResource) -> tuple[list[dict[str, Any]], list[str]]:
    printer = None if served.custom else PRINTERS.get(served.group_resource)
    if printer is not None:
        return [{"name": n, "type": t, "format": "name" if n == "Name" else "",
                 "description": "", "priority": pri} for n, t, pri in printer[0]], []
    cols = list(_COLUMNS)
    paths: list[str] = []
    for c in served.printer_columns:
        cols.append({"name": c[0], "type": "string", "format": "", "priority": 0,
                     "description": ""})
        paths.append(c[1])
    return cols, paths


def table_for_list(served: ServedResource, items: list[StoredObject],
                   meta: dict[str, Any], query: Mapping[str, str]) -> dict[str, Any]:
    """A Table of ``items`` with the list's metadata."""
    include = query.get("includeObject", "Metadata")
    cols, paths = _columns(served)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta,
            "columnDefinitions": cols, "rows": [_row(served, so, include, paths) for so in items]}


def table_for_object(served: ServedResource, so: StoredObject,
                     query: Mapping[str, str]) -> dict[str, Any]:
    """A Table of one object."""
    meta = {"resourceVersion": str(so.rv)}
    return table_for_list(served, [so], meta, query)


def table_event_line(served: ServedResource,
                     query: Mapping[str, str]) -> Callable[[str, StoredObject], bytes]:
    """A function making a watch line whose object is a one-row Table."""

    def line(type_: str, so: StoredObject) -> bytes:
        table = table_for_object(served, so, query)
        return orjson.dumps({"type": type_, "object": table}) + b"\n"

    return line
