"""Field errors as kube-apiserver words them (its ``field.Error`` and ``ErrorList``).

A validation failure is a list of :class:`FieldError`; :func:`kcs.testing._status.invalid`
turns it into the 422 ``Invalid`` Status, whose ``details.causes`` carry one entry per error
(``reason``, ``field``, ``message``) and whose message joins them as kube's aggregate error
does (one error alone, several in brackets).

The wording follows ``k8s.io/apimachinery/pkg/util/validation/field``: ``Required value``,
``Invalid value: "x": detail``, ``Unsupported value: "x": supported values: "a", "b"``,
``Forbidden: detail``, ``Duplicate value: "x"``, ``Not found: "x"``, ``Too long: may not be
more than N bytes``, ``Too many: N: must have at most M items``. Values are printed as Go
prints them: strings quoted, numbers and booleans bare, anything else as Go's ``%#v``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = [
    "FieldError",
    "GoLiteral",
    "duplicate",
    "forbidden",
    "go_repr",
    "go_strings",
    "go_value",
    "invalid",
    "not_found",
    "not_supported",
    "required",
    "too_long",
    "too_many",
    "type_invalid",
]


@dataclass(frozen=True, slots=True)
class FieldError:
    """One validation error: a cause of a 422 Invalid Status."""

    reason: str
    field: str
    message: str

    def as_cause(self) -> tuple[str, str, str]:
        """``(reason, field, message)``, the shape :func:`~._status.invalid` takes."""
        return (self.reason, self.field, self.message)

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class GoLiteral(str):
    """Text printed as is where a value is expected (a value Go would print as a typed
    literal, such as ``[]string{"a"}`` or ``v1.LabelSelector{...}``)."""


def go_strings(values: Iterable[str]) -> GoLiteral:
    """Go's ``%#v`` of a ``[]string``: ``[]string{"a", "b"}``."""
    return GoLiteral("[]string{" + ", ".join(_quote(v) for v in values) + "}")


def go_value(value: Any) -> str:
    """A value as ``ErrorBody`` prints it: ``"s"`` for strings, bare numbers, ``null`` for
    nil, ``%#v`` else (:func:`go_repr`, which prints all but nil the same way)."""
    return "null" if value is None else go_repr(value)


def go_repr(value: Any) -> str:
    """Go's ``%#v`` of a decoded JSON value (``map[string]interface {}{"a":1}``)."""
    if isinstance(value, GoLiteral):
        return str(value)
    if value is None:
        return "interface {}(nil)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _go_number(value)
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, Mapping):
        body = ", ".join(f"{_quote(str(k))}:{go_repr(v)}" for k, v in sorted(value.items()))
        return "map[string]interface {}{" + body + "}"
    if isinstance(value, Sequence):
        return "[]interface {}{" + ", ".join(go_repr(v) for v in value) + "}"
    return str(value)


def _go_number(value: float) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return str(value)


def _quote(s: str) -> str:
    return orjson.dumps(s).decode()


def required(field: str, detail: str = "") -> FieldError:
    """``Required value`` (reason ``FieldValueRequired``)."""
    return FieldError("FieldValueRequired", field,
                      f"Required value: {detail}" if detail else "Required value")


def invalid(field: str, value: Any, detail: str = "") -> FieldError:
    """``Invalid value: <value>: detail`` (reason ``FieldValueInvalid``)."""
    msg = f"Invalid value: {go_value(value)}"
    return FieldError("FieldValueInvalid", field, f"{msg}: {detail}" if detail else msg)


def type_invalid(field: str, value: Any, detail: str) -> FieldError:
    """``Invalid value: <value>: detail`` with reason ``FieldValueTypeInvalid``."""
    return FieldError("FieldValueTypeInvalid", field, f"Invalid value: {go_value(value)}: {detail}")


def not_supported(field: str, value: Any, supported: Iterable[Any]) -> FieldError:
    """``Unsupported value: <value>: supported values: "a", "b"`` (``FieldValueNotSupported``)."""
    values = ", ".join(go_value(v) for v in supported)
    msg = f"Unsupported value: {go_value(value)}"
    return FieldError("FieldValueNotSupported", field,
                      f"{msg}: supported values: {values}" if values else msg)


def forbidden(field: str, detail: str) -> FieldError:
    """``Forbidden: detail`` (reason ``FieldValueForbidden``)."""
    return FieldError("FieldValueForbidden", field, f"Forbidden: {detail}")


def duplicate(field: str, value: Any) -> FieldError:
    """``Duplicate value: <value>`` (reason ``FieldValueDuplicate``)."""
    return FieldError("FieldValueDuplicate", field, f"Duplicate value: {go_value(value)}")


def not_found(field: str, value: Any) -> FieldError:
    """``Not found: <value>`` (reason ``FieldValueNotFound``)."""
    return FieldError("FieldValueNotFound", field, f"Not found: {go_value(value)}")


def too_long(field: str, max_length: int) -> FieldError:
    """``Too long: may not be more than N bytes`` (reason ``FieldValueTooLong``)."""
    unit = "byte" if max_length == 1 else "bytes"
    return FieldError("FieldValueTooLong", field,
                      f"Too long: may not be more than {max_length} {unit}")


def too_many(field: str, actual: int, max_items: int) -> FieldError:
    """``Too many: N: must have at most M items`` (reason ``FieldValueTooMany``)."""
    unit = "item" if max_items == 1 else "items"
    return FieldError("FieldValueTooMany", field,
                      f"Too many: {actual}: must have at most {max_items} {unit}")
