"""Reading a field of an object as a field selector sees it."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from kcs.core._codec import Object, member_in_field, path_in_field

__all__ = ["FieldReader", "field_reader", "field_value"]

FieldReader = Callable[[Object, "tuple[int, int] | None"], str]
"""``read(obj, segment)``: :func:`field_value` of one path (see :func:`field_reader`)."""


def field_value(obj: Object, path: str, segment: tuple[int, int] | None = None) -> str:
    """The value at ``path`` (such as ``spec.nodeName``) as a field selector compares it.

    Strings as they are, booleans as ``"true"``/``"false"``, numbers in decimal; a missing
    field, ``null``, an object or a list, or a path through something that is not an
    object, reads as ``""`` (so ``spec.nodeName=`` selects unscheduled pods, as it does on
    the apiserver): reading a field never fails on an object's content. Only ``path`` is
    decoded from the body. String values are interned: every pod on a node shares one
    ``nodeName`` string.

    ``segment`` is where the path's top-level field lies in ``obj.body``, as the
    :class:`~kcs.core.BodySpans` of the codec that built the body give it
    (``spans.segment("spec")``): only that field's JSON is read then, not the whole body
    (a pod's ``status`` is a third of it). The value is the same either way, for JSON
    without duplicate keys (which the apiserver never sends).
    """
    if path == "metadata.name":
        return obj.metadata.name
    if path == "metadata.namespace":
        return obj.metadata.namespace
    value = obj.get_path(path) if segment is None else _in_segment(obj, path, segment)
    return _as_selected(value)


def field_reader(path: str) -> FieldReader:
    """``field_value(obj, path, segment)`` as a function of ``obj`` and ``segment`` for
    one ``path``, with what the path needs found once: an index reads the same path of
    every object. The values are :func:`field_value`'s, for every object and segment."""
    head, _, rest = path.partition(".")
    if not rest or "." in rest or head in ("metadata", "apiVersion", "kind"):

        def read_any(obj: Object, segment: tuple[int, int] | None) -> str:
            return field_value(obj, path, segment)

        return read_any
    member = member_in_field(head, rest)  # the common case: spec.nodeName

    def read_member(obj: Object, segment: tuple[int, int] | None) -> str:
        if segment is None:
            return field_value(obj, path)
        return _as_selected(member(obj.body, segment))

    return read_member


def _as_selected(value: Any) -> str:
    """A decoded field value as a field selector compares it (see :func:`field_value`)."""
    if type(value) is str:
        return sys.intern(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return ""


def _in_segment(obj: Object, path: str, segment: tuple[int, int]) -> Any:
    head, _, rest = path.partition(".")
    if not rest or head in ("metadata", "apiVersion", "kind"):
        return obj.get_path(path)
    return path_in_field(obj.body, head, rest, segment)
