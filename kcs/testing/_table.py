"""Server-side printing: ``meta.k8s.io/v1`` Tables, as kubectl asks for them.

kubectl ``get`` sends ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io, ...``. The
common built-in kinds get kube-apiserver's own columns (:mod:`._printers`: pods ``NAME READY
STATUS RESTARTS AGE``, ...); other built-in kinds get kube's default table (``Name`` and
``Created At``, a timestamp). Custom resources get the apiextensions table: ``Name``, then
the CRD version's ``additionalPrinterColumns`` (``Age`` when it has none) with their types
and priorities (kubectl shows priority > 0 only with ``-o wide``); each cell is the first
value the column's JSON path selects (:mod:`._jsonpath`), ``None`` (kubectl's ``<none>``)
when it selects nothing or a value of another type, and a ``date`` column's cell is an age
such as ``5m``, as kube's. Each row carries the
object as ``PartialObjectMetadata`` (``includeObject=Metadata``, the default), the whole
object (``Object``) or nothing (``None``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

from kcs.testing._jsonpath import compile_json_path
from kcs.testing._printers import PRINTERS, age_since
from kcs.testing._registry import PrinterColumn, ServedResource
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


def _row(served: ServedResource, so: StoredObject, include: str) -> dict[str, Any]:
    meta = so.obj.get("metadata") or {}
    printer = None if served.custom else PRINTERS.get(served.group_resource)
    if printer is not None:
        cells: list[Any] = printer[1](so.obj)
    elif served.custom:
        cells = [meta.get("name", "")]
        cells += [_cell(c, so.obj) for c in served.printer_columns]
    else:
        cells = [meta.get("name", ""), meta.get("creationTimestamp", "")]
    row: dict[str, Any] = {"cells": cells}
    if include == "Object":
        row["object"] = so.obj
    elif include != "None":
        row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                         "metadata": meta}
    return row


def _cell(column: PrinterColumn, obj: dict[str, Any]) -> Any:
    """One custom column's cell, as apiextensions' table convertor makes it."""
    try:
        found = compile_json_path(column.json_path)(obj)
    except ValueError:
        return None
    if not found or found[0] is None:
        return None
    value = found[0]
    kind = column.type
    if kind == "string":
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (dict, list)):
            return orjson.dumps(value).decode()
        return str(value)
    if kind == "integer" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    if kind == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind == "boolean" and isinstance(value, bool):
        return value
    if kind == "date" and isinstance(value, str):
        return age_since(value) or "<invalid>"
    return None


def _columns(served: ServedResource) -> list[dict[str, Any]]:
    printer = None if served.custom else PRINTERS.get(served.group_resource)
    if printer is not None:
        return [{"name": n, "type": t, "format": "name" if n == "Name" else "",
                 "description": "", "priority": pri} for n, t, pri in printer[0]]
    if not served.custom:
        return list(_COLUMNS)
    return [_COLUMNS[0]] + [
        {"name": c.name, "type": c.type, "format": c.format, "description": c.description,
         "priority": c.priority}
        for c in served.printer_columns
    ]


def table_for_list(served: ServedResource, items: list[StoredObject],
                   meta: dict[str, Any], query: Mapping[str, str]) -> dict[str, Any]:
    """A Table of ``items`` with the list's metadata."""
    include = query.get("includeObject", "Metadata")
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta,
            "columnDefinitions": _columns(served),
            "rows": [_row(served, so, include) for so in items]}


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
