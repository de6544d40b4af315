"""Reading a field of an object as a field selector sees it."""

from __future__ import annotations

import sys

from kcs.core._codec import Object

__all__ = ["field_value"]


def field_value(obj: Object, path: str) -> str:
    """The value at ``path`` (such as ``spec.nodeName``) as a field selector compares it.

    Strings as they are, booleans as ``"true"``/``"false"``, numbers in decimal; a missing
    field, ``null``, an object or a list reads as ``""`` (so ``spec.nodeName=`` selects
    unscheduled pods, as it does on the apiserver). Only ``path`` is decoded from the
    body. String values are interned: every pod on a node shares one ``nodeName`` string.
    """
    if path == "metadata.name":
        return obj.metadata.name
    if path == "metadata.namespace":
        return obj.metadata.namespace
    value = obj.get_path(path)
    if type(value) is str:
        return sys.intern(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return ""
