"""Decoding a request's object as kube-apiserver's codecs do: field validation, types, defaults.

kube-apiserver decodes every object it is sent (a create or update body, the result of a
patch) into its Go type. That step is where

* unknown fields are found: dropped silently (``fieldValidation=Ignore``), dropped with a
  ``Warning: 299 - "unknown field \\"spec.x\\""`` response header (``Warn``, the default), or
  refused (``Strict``, which kubectl sends): 400 ``Pod in version "v1" cannot be handled as
  a Pod: strict decoding error: unknown field "spec.x"`` for a create or update, 422
  ``"" is invalid: patch: Invalid value: ...: strict decoding error: ...`` for a patch;
* wrong JSON types are refused (400 ``... json: cannot unmarshal string into Go struct
  field DeploymentSpec.spec.replicas of type int32``); ``null`` fields vanish;
* defaults are applied (:mod:`._defaults` for built-in kinds; a CRD's ``default:`` values
  for custom resources, after pruning by the structural schema, :mod:`._crdschema`).

Built-in kinds are checked against :mod:`._schema`; custom resources against their CRD's
``openAPIV3Schema`` (pruning; type validation comes later, with the other 422 checks).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from kcs.testing._crdschema import prune
from kcs.testing._defaults import apply_defaults
from kcs.testing._fielderrors import invalid as invalid_value
from kcs.testing._fielderrors import not_supported
from kcs.testing._quantity import canonical_quantity
from kcs.testing._registry import ServedResource
from kcs.testing._schema import FieldType, kind_model, model
from kcs.testing._status import bad_request, invalid

__all__ = ["DIRECTIVES", "FieldValidation", "decode", "go_map"]

DIRECTIVES = ("Ignore", "Warn", "Strict")


@dataclass(slots=True)
class FieldValidation:
    """The ``fieldValidation`` of one request and the warnings it produced.

    ``warnings`` are the texts of the ``Warning`` headers the response carries.
    """

    directive: str = "Warn"
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, value: str | None, options_kind: str) -> FieldValidation:
        """From the query parameter (empty means ``Warn``); a bad value is kube's 422
        ``CreateOptions.meta.k8s.io "" is invalid`` (``options_kind`` names the options)."""
        if not value:
            return cls()
        if value not in DIRECTIVES:
            cause = not_supported("fieldValidation", value, DIRECTIVES)
            raise invalid(None, "", [cause.as_cause()], kind=options_kind, group="meta.k8s.io")
        return cls(value)


def decode(
    served: ServedResource,
    obj: dict[str, Any],
    fv: FieldValidation | None,
    *,
    patch: Any = None,
    patch_type: str = "",
) -> dict[str, Any]:
    """``obj`` as kube-apiserver stores it after decoding: unknown fields handled per ``fv``,
    types checked, defaults applied. ``patch`` (with ``patch_type``) marks a patch result,
    whose errors take the patch's shape. Returns a new dict; ``obj`` is not modified."""
    fv = fv or FieldValidation()
    unknown: list[str] = []
    if served.custom:
        out = prune(served.schema, obj, unknown)
    else:
        name = kind_model(served.resource.api_version, served.resource.kind)
        if name is None:
            out = obj
        else:
            errors: list[str] = []
            out = _walk(obj, FieldType("ref", ref=name), "", name, unknown, errors)
            if errors:
                _refuse(served, obj, errors[0], patch, patch_type)
    if unknown and fv.directive != "Ignore":
        texts = [f'unknown field "{p}"' for p in sorted(unknown)]
        if fv.directive == "Strict":
            _refuse(served, obj, "strict decoding error: " + ", ".join(texts), patch, patch_type)
        fv.warnings.extend(texts)
    return apply_defaults(served, out)


def _refuse(served: ServedResource, obj: dict[str, Any], error: str, patch: Any,
            patch_type: str) -> None:
    r = served.resource
    if patch_type:
        shown = go_map(patch) if patch_type.startswith("application/strategic") else (
            orjson.dumps(obj, option=orjson.OPT_SORT_KEYS).decode())
        cause = invalid_value("patch", shown, error)
        raise invalid(None, "", [cause.as_cause()], kind="", group="")
    raise bad_request(f'{r.kind} in version "{r.version}" cannot be handled as a {r.kind}: '
                      f"{error}")


def go_map(value: Any) -> str:
    """Go's ``%+v`` of a decoded JSON value (``map[spec:map[replicas:3]]``)."""
    if isinstance(value, Mapping):
        return "map[" + " ".join(f"{k}:{go_map(v)}" for k, v in sorted(value.items())) + "]"
    if isinstance(value, list):
        return "[" + " ".join(go_map(v) for v in value) + "]"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- the typed walk -------------------------------------------------------------------------

_LEAF: dict[str, type] = {"string": str, "integer": int, "boolean": bool}
_JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "bool", int: "number",
               float: "number"}


def _walk(value: Any, t: FieldType, path: str, owner: str, unknown: list[str],
          errors: list[str]) -> Any:
    """``value`` checked against ``t``: unknown fields recorded (and dropped), the first
    type error recorded in ``errors``; ``owner`` is the enclosing model (for messages)."""
    kind = t.kind
    if kind == "ref":
        if not isinstance(value, dict):
            return _mismatch(value, t, path, owner, errors)
        fields = model(t.ref).fields
        out: dict[str, Any] = {}
        for key, v in value.items():
            f = fields.get(key)
            if f is None:
                unknown.append(f"{path}.{key}" if path else key)
                continue
            if v is None:
                continue
            ft = f.type
            # The common leaves inline: the walk visits every field of every write.
            if _LEAF.get(ft.kind) is v.__class__:
                out[key] = v
            else:
                out[key] = _walk(v, ft, f"{path}.{key}" if path else key, t.ref, unknown,
                                 errors)
        return out
    if kind == "array":
        if not isinstance(value, list):
            return _mismatch(value, t, path, owner, errors)
        assert t.item is not None
        return [_walk(v, t.item, f"{path}[{i}]", owner, unknown, errors)
                for i, v in enumerate(value)]
    if kind == "map":
        if not isinstance(value, dict):
            return _mismatch(value, t, path, owner, errors)
        assert t.item is not None
        item = t.item
        if item.kind == "quantity":  # a ResourceList: rounded up to milli-units
            return {k: _quantity(v, item, f"{path}[{k}]", owner, errors, in_list=True)
                    for k, v in value.items()}
        return {k: ("" if v is None and item.kind == "string" else
                    _walk(v, item, f"{path}[{k}]", owner, unknown, errors))
                for k, v in value.items()}
    if kind in ("string", "date-time"):
        return value if isinstance(value, str) else _mismatch(value, t, path, owner, errors)
    if kind == "integer":
        ok = isinstance(value, int) and not isinstance(value, bool)
        return value if ok else _mismatch(value, t, path, owner, errors)
    if kind == "number":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return value if ok else _mismatch(value, t, path, owner, errors)
    if kind == "boolean":
        return value if isinstance(value, bool) else _mismatch(value, t, path, owner, errors)
    if kind == "int-or-string":
        ok = isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))
        return value if ok else _mismatch(value, t, path, owner, errors)
    if kind == "quantity":
        return _quantity(value, t, path, owner, errors)
    if kind == "byte":
        return _byte(value, t, path, owner, errors)
    return value  # "object": free-form JSON


def _quantity(value: Any, t: FieldType, path: str, owner: str, errors: list[str], *,
              in_list: bool = False) -> Any:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return _mismatch(value, t, path, owner, errors)
    text = value if isinstance(value, str) else _number_text(value)
    canonical = canonical_quantity(text, round_to_milli=in_list)
    if canonical is None:
        errors.append("quantities must match the regular expression "
                      "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
        return text
    return canonical


def _number_text(value: float) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _byte(value: Any, t: FieldType, path: str, owner: str, errors: list[str]) -> Any:
    if not isinstance(value, str):
        return _mismatch(value, t, path, owner, errors)
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        bad = next((i for i, c in enumerate(value) if not (c.isalnum() or c in "+/=")),
                   len(value) - len(value) % 4)
        errors.append(f"illegal base64 data at input byte {bad}")
    return value


def _mismatch(value: Any, t: FieldType, path: str, owner: str, errors: list[str]) -> Any:
    got = _JSON_TYPES.get(type(value), "value")
    struct = re.sub(r"^(?:[A-Z][a-z]+)?V\d+(?:(?:alpha|beta)\d+)?", "", owner)
    dotted = re.sub(r"\[[^\]]*\]", "", path)
    errors.append(f"json: cannot unmarshal {got} into Go struct field {struct}.{dotted} of "
                  f"type {_go_type(t)}")
    return value


def _go_type(t: FieldType) -> str:
    simple = {"string": "string", "integer": "int32", "number": "float64", "boolean": "bool",
              "date-time": "v1.Time", "int-or-string": "intstr.IntOrString",
              "quantity": "resource.Quantity", "byte": "[]uint8", "object": "interface {}"}
    if t.kind in simple:
        return simple[t.kind]
    if t.kind == "array" and t.item is not None:
        return "[]" + _go_type(t.item)
    if t.kind == "map" and t.item is not None:
        return "map[string]" + _go_type(t.item)
    m = re.match(r"^(?:[A-Z][a-z]+)?(V\d+(?:(?:alpha|beta)\d+)?)(\w+)$", t.ref)
    return f"{m.group(1).lower()}.{m.group(2)}" if m else t.ref
