"""CRD structural schemas: pruning, defaulting and validation of custom resources.

A CRD version's ``schema.openAPIV3Schema`` is applied to every custom resource written at
that version, in kube-apiserver's order:

1. :func:`prune` (when decoding): fields the schema does not specify are dropped (and
   reported, for ``fieldValidation``), except under ``x-kubernetes-preserve-unknown-fields:
   true``; ``apiVersion``, ``kind`` and ``metadata`` are always kept at the root and in
   ``x-kubernetes-embedded-resource`` objects, ``metadata`` pruned to ``ObjectMeta``;
   below ``x-kubernetes-int-or-string`` nothing is pruned; ``null`` in a field that is not
   ``nullable`` is dropped unless the field has a default.
2. :func:`apply_schema_defaults`: ``default:`` values fill absent fields, top down (a
   defaulted object gets its own fields' defaults too).
3. :func:`validate`: ``type``, ``required``, ``enum``, ``minimum``/``maximum`` (and
   exclusive), ``multipleOf``, ``minLength``/``maxLength``, ``pattern``, ``format`` (the
   common ones), ``minItems``/``maxItems``, ``minProperties``/``maxProperties``,
   ``x-kubernetes-list-type: set|map`` uniqueness (with ``x-kubernetes-list-map-keys``),
   ``x-kubernetes-int-or-string``, ``x-kubernetes-embedded-resource`` (``apiVersion`` and
   ``kind`` required), ``nullable``, ``allOf``/``anyOf``/``oneOf``/``not``. Messages are
   kube's (``spec.size: Invalid value: "string": spec.size in body must be of type
   integer: "string"``). On update, errors on values the update did not change are
   dropped (CRD validation ratcheting, on by default since 1.30).

Not evaluated: ``x-kubernetes-validations`` (CEL rules) and ``uniqueItems``.

:func:`structural_problems` checks a CRD's schemas when the CRD is written.
"""

from __future__ import annotations

import copy
import ipaddress
import math
import re
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from kcs.testing import _fielderrors as field
from kcs.testing._fielderrors import FieldError

__all__ = ["apply_schema_defaults", "prune", "structural_problems", "validate"]

Schema = Mapping[str, Any]

_META_FIELDS = frozenset({
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
    "annotations", "ownerReferences", "finalizers", "managedFields",
})
_ROOT_FIELDS = ("apiVersion", "kind", "metadata")


# --- pruning ---------------------------------------------------------------------------------


def prune(schema: Schema | None, obj: dict[str, Any], unknown: list[str]) -> dict[str, Any]:
    """A copy of custom resource ``obj`` without the fields ``schema`` does not specify;
    their paths are appended to ``unknown``. ``schema`` ``None`` prunes nothing (a resource
    registered without a CRD)."""
    if schema is None:
        return copy.deepcopy(obj)
    out = _prune(obj, schema, "", unknown, root=True)
    assert isinstance(out, dict)
    return out


def _prune(value: Any, s: Schema, path: str, unknown: list[str], *, root: bool = False) -> Any:
    if s.get("x-kubernetes-int-or-string"):
        return copy.deepcopy(value)
    if isinstance(value, dict):
        embedded = root or bool(s.get("x-kubernetes-embedded-resource"))
        props: Mapping[str, Schema] = s.get("properties") or {}
        extra = s.get("additionalProperties")
        preserve = bool(s.get("x-kubernetes-preserve-unknown-fields"))
        out: dict[str, Any] = {}
        for key, v in value.items():
            sub = f"{path}.{key}" if path else key
            if embedded and key in _ROOT_FIELDS:
                # ObjectMeta, whatever the schema says of it (controller-gen writes
                # ``metadata: {type: object}``, which does not prune it).
                out[key] = _prune_meta(v, sub, unknown) if key == "metadata" else v
                continue
            if key in props:
                child = props[key]
                if v is None and not child.get("nullable") and "default" not in child:
                    continue
                out[key] = _prune(v, child, sub, unknown)
            elif isinstance(extra, Mapping):
                out[key] = _prune(v, extra, sub, unknown)
            elif preserve or extra is True:
                out[key] = copy.deepcopy(v)
            else:
                unknown.append(sub)
        return out
    if isinstance(value, list):
        items = s.get("items")
        if isinstance(items, Mapping):
            return [_prune(v, items, f"{path}[{i}]", unknown) for i, v in enumerate(value)]
        return copy.deepcopy(value)
    return value


def _prune_meta(meta: Any, path: str, unknown: list[str]) -> Any:
    if not isinstance(meta, dict):
        return meta
    out = {}
    for k, v in meta.items():
        if k in _META_FIELDS:
            out[k] = copy.deepcopy(v)
        else:
            unknown.append(f"{path}.{k}")
    return out


# --- defaulting --------------------------------------------------------------------------------


def apply_schema_defaults(schema: Schema | None, obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` with the schema's ``default:`` values filled in (in place; returned)."""
    if schema is not None:
        _default(obj, schema)
    return obj


def _default(value: Any, s: Schema) -> None:
    if isinstance(value, dict):
        props: Mapping[str, Schema] = s.get("properties") or {}
        for key, child in props.items():
            if "default" in child and (key not in value or (
                    value[key] is None and not child.get("nullable"))):
                value[key] = copy.deepcopy(child["default"])
        for key, v in value.items():
            if key in props:
                _default(v, props[key])
            elif isinstance(s.get("additionalProperties"), Mapping):
                _default(v, s["additionalProperties"])
    elif isinstance(value, list) and isinstance(s.get("items"), Mapping):
        for v in value:
            _default(v, s["items"])


# --- validation ---------------------------------------------------------------------------------


def validate(schema: Schema | None, obj: Any, old: Any = None) -> list[FieldError]:
    """The schema violations of custom resource ``obj``; with ``old`` (an update), only
    those on values the update changed (ratcheting)."""
    if schema is None:
        return []
    errors: list[FieldError] = []
    _validate(obj, schema, "", errors, root=True)
    if old is not None:
        errors = [e for e in errors if not _unchanged(old, obj, e.field)]
    return errors


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _type_ok(value: Any, t: str) -> bool:
    got = _json_type(value)
    if t == "number":
        return got in ("number", "integer")
    return got == t


def _validate(value: Any, s: Schema, path: str, errors: list[FieldError], *,
              root: bool = False) -> None:
    shown = path or "<root>"
    if value is None:
        if not s.get("nullable") and s.get("type") and not root:
            errors.append(field.type_invalid(
                path, "null", f'{shown} in body must be of type {s["type"]}: "null"'))
        return
    if s.get("x-kubernetes-int-or-string") and _json_type(value) not in ("integer", "string"):
        got = _json_type(value)
        errors.append(field.type_invalid(path, got, f"{shown} in body must be of type "
                                         f'integer,string: "{got}"'))
        return
    t = s.get("type")
    if t and not _type_ok(value, t):
        got = _json_type(value)
        errors.append(field.type_invalid(path, got,
                                         f'{shown} in body must be of type {t}: "{got}"'))
        return
    _value_checks(value, s, path, shown, errors)
    if isinstance(value, dict):
        _object_checks(value, s, path, errors, root=root)
    elif isinstance(value, list):
        _array_checks(value, s, path, errors)
    for sub in s.get("allOf") or ():
        _validate(value, sub, path, errors)
    _combinators(value, s, path, shown, errors)


def _value_checks(value: Any, s: Schema, path: str, shown: str,
                  errors: list[FieldError]) -> None:
    enum = s.get("enum")
    if enum is not None and value not in enum:
        errors.append(field.not_supported(path, value, enum))
    if isinstance(value, int | float) and not isinstance(value, bool):
        _number_checks(value, s, path, shown, errors)
    if isinstance(value, str):
        _string_checks(value, s, path, shown, errors)


def _number_checks(value: float, s: Schema, path: str, shown: str,
                   errors: list[FieldError]) -> None:
    shown_value = int(value) if isinstance(value, float) and value.is_integer() else value
    if "maximum" in s:
        mx = s["maximum"]
        if s.get("exclusiveMaximum") and value >= mx:
            errors.append(field.invalid(path, shown_value,
                                        f"{shown} in body should be less than {mx}"))
        elif value > mx:
            errors.append(field.invalid(path, shown_value,
                                        f"{shown} in body should be less than or equal to {mx}"))
    if "minimum" in s:
        mn = s["minimum"]
        if s.get("exclusiveMinimum") and value <= mn:
            errors.append(field.invalid(path, shown_value,
                                        f"{shown} in body should be greater than {mn}"))
        elif value < mn:
            errors.append(field.invalid(path, shown_value,
                                        f"{shown} in body should be greater than or equal to {mn}"))
    mult = s.get("multipleOf")
    if mult and not math.isclose(value / mult, round(value / mult)):
        errors.append(field.invalid(path, shown_value,
                                    f"{shown} in body should be a multiple of {mult}"))


def _string_checks(value: str, s: Schema, path: str, shown: str,
                   errors: list[FieldError]) -> None:
    if "maxLength" in s and len(value) > s["maxLength"]:
        errors.append(field.too_long(path, int(s["maxLength"])))
    if "minLength" in s and len(value) < s["minLength"]:
        errors.append(field.invalid(
            path, value, f"{shown} in body should be at least {s['minLength']} chars long"))
    pattern = s.get("pattern")
    if pattern is not None and not _search(pattern, value):
        errors.append(field.invalid(path, value, f"{shown} in body should match '{pattern}'"))
    fmt = s.get("format")
    if fmt and not _format_ok(fmt, value):
        errors.append(field.invalid(path, value,
                                    f'{shown} in body must be of type {fmt}: "{value}"'))


def _object_checks(value: dict[str, Any], s: Schema, path: str, errors: list[FieldError], *,
                   root: bool) -> None:
    props: Mapping[str, Schema] = s.get("properties") or {}
    for name in s.get("required") or ():
        if name not in value:
            errors.append(field.required(f"{path}.{name}" if path else name))
    if s.get("x-kubernetes-embedded-resource"):
        for name in ("apiVersion", "kind"):
            if not value.get(name):
                errors.append(field.required(f"{path}.{name}", "must not be empty"))
    n = len(value)
    if "maxProperties" in s and n > s["maxProperties"]:
        errors.append(field.too_many(path, n, int(s["maxProperties"])))
    if "minProperties" in s and n < s["minProperties"]:
        errors.append(field.invalid(path, n, f"{path or '<root>'} in body should have at least "
                                    f"{s['minProperties']} properties"))
    extra = s.get("additionalProperties")
    for key, v in value.items():
        sub = f"{path}.{key}" if path else key
        if root and key in _ROOT_FIELDS and key not in props:
            continue
        if key in props:
            _validate(v, props[key], sub, errors)
        elif isinstance(extra, Mapping):
            _validate(v, extra, sub, errors)


def _array_checks(value: list[Any], s: Schema, path: str, errors: list[FieldError]) -> None:
    n = len(value)
    if "maxItems" in s and n > s["maxItems"]:
        errors.append(field.too_many(path, n, int(s["maxItems"])))
    if "minItems" in s and n < s["minItems"]:
        errors.append(field.invalid(path, n, f"{path} in body should have at least {s['minItems']} "
                                    "items"))
    items = s.get("items")
    if isinstance(items, Mapping):
        for i, v in enumerate(value):
            _validate(v, items, f"{path}[{i}]", errors)
    list_type = s.get("x-kubernetes-list-type")
    if list_type == "set":
        seen: list[Any] = []
        for i, v in enumerate(value):
            if v in seen:
                errors.append(field.duplicate(f"{path}[{i}]", v))
            else:
                seen.append(v)
    elif list_type == "map":
        keys = list(s.get("x-kubernetes-list-map-keys") or ())
        seen_keys: list[dict[str, Any]] = []
        for i, v in enumerate(value):
            if not isinstance(v, dict):
                continue
            k = {key: v.get(key) for key in keys if key in v}
            if k in seen_keys:
                errors.append(field.duplicate(f"{path}[{i}]", k))
            else:
                seen_keys.append(k)


def _combinators(value: Any, s: Schema, path: str, shown: str,
                 errors: list[FieldError]) -> None:
    def passes(sub: Schema) -> bool:
        found: list[FieldError] = []
        _validate(value, sub, path, found)
        return not found

    any_of = s.get("anyOf")
    if any_of and not any(passes(sub) for sub in any_of):
        errors.append(field.invalid(path, _json_type(value),
                                    f"{shown} in body must be of type {_types_of(any_of)}"))
    one_of = s.get("oneOf")
    if one_of and sum(1 for sub in one_of if passes(sub)) != 1:
        errors.append(field.invalid(
            path, _json_type(value),
            f"{shown} in body must validate one and only one schema (oneOf)"))
    not_ = s.get("not")
    if isinstance(not_, Mapping) and passes(not_):
        errors.append(field.invalid(path, _json_type(value),
                                    f"{shown} in body should not validate the schema"))


def _types_of(subs: Any) -> str:
    types = [str(sub.get("type")) for sub in subs if isinstance(sub, Mapping) and sub.get("type")]
    return ",".join(types) if types else "the schema (anyOf)"


def _search(pattern: str, value: str) -> bool:
    try:
        return re.search(pattern, value) is not None
    except re.error:
        return True


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_HOSTNAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                       r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
_DURATION = re.compile(r"^[-+]?(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MAC = re.compile(r"^([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}$")
_BASE64 = re.compile(r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$")


def _format_ok(fmt: str, value: str) -> bool:
    checks: dict[str, Any] = {
        "email": _EMAIL.match,
        "hostname": lambda v: len(v) <= 255 and _HOSTNAME.match(v),
        "ipv4": lambda v: isinstance(ipaddress.ip_address(v), ipaddress.IPv4Address),
        "ipv6": lambda v: isinstance(ipaddress.ip_address(v), ipaddress.IPv6Address),
        "cidr": lambda v: ipaddress.ip_network(v, strict=False),
        "mac": _MAC.match,
        "uuid": uuid.UUID,
        "date": lambda v: _DATE.match(v) and datetime.strptime(v, "%Y-%m-%d"),
        "date-time": lambda v: datetime.fromisoformat(v.replace("Z", "+00:00")),
        "datetime": lambda v: datetime.fromisoformat(v.replace("Z", "+00:00")),
        "duration": _DURATION.match,
        "byte": _BASE64.match,
        "uri": lambda v: re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", v),
    }
    check = checks.get(fmt)
    if check is None:
        return True
    try:
        return bool(check(value))
    except ValueError:
        return False


def _unchanged(old: Any, new: Any, path: str) -> bool:
    sentinel = object()
    a, b = _at(old, path, sentinel), _at(new, path, sentinel)
    return a is not sentinel and a == b


def _at(value: Any, path: str, missing: object) -> Any:
    for token in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if token.startswith("["):
            i = int(token[1:-1])
            if not isinstance(value, list) or i >= len(value):
                return missing
            value = value[i]
        else:
            if not isinstance(value, dict) or token not in value:
                return missing
            value = value[token]
    return value


# --- the CRD's own schemas --------------------------------------------------------------------


def structural_problems(schema: Any, path: str) -> list[FieldError]:
    """Why ``schema`` (a version's ``openAPIV3Schema`` at ``path``) is not structural."""
    if not isinstance(schema, Mapping):
        return [field.required(path, "schemas are required")]
    errors: list[FieldError] = []
    if schema.get("type") != "object":
        if not schema.get("type"):
            errors.append(field.required(f"{path}.type", "must not be empty at the root"))
        else:
            errors.append(field.invalid(f"{path}.type", schema.get("type"),
                                        "must be object at the root"))
    _structural(schema, path, errors, root=True)
    return errors


_TYPES = frozenset({"object", "array", "string", "integer", "number", "boolean"})


def _structural(s: Mapping[str, Any], path: str, errors: list[FieldError], *,
                root: bool = False) -> None:
    t = s.get("type")
    loose = s.get("x-kubernetes-preserve-unknown-fields") or s.get("x-kubernetes-int-or-string")
    if t is not None and t not in _TYPES:
        errors.append(field.not_supported(f"{path}.type", t, sorted(_TYPES)))
    if not root and not t and not loose:
        errors.append(field.required(f"{path}.type",
                                     "must not be empty for specified object fields"))
    if s.get("uniqueItems"):
        errors.append(field.forbidden(f"{path}.uniqueItems",
                                      "uniqueItems cannot be set to true since the runtime "
                                      "complexity becomes quadratic"))
    for name, child in (s.get("properties") or {}).items():
        if isinstance(child, Mapping):
            _structural(child, f"{path}.properties[{name}]", errors)
    extra = s.get("additionalProperties")
    if isinstance(extra, Mapping):
        if s.get("properties"):
            errors.append(field.forbidden(f"{path}.additionalProperties",
                                          "additionalProperties and properties are mutual "
                                          "exclusive"))
        _structural(extra, f"{path}.additionalProperties", errors)
    items = s.get("items")
    if isinstance(items, Mapping):
        _structural(items, f"{path}.items", errors)
    elif t == "array":
        errors.append(field.required(f"{path}.items", "must be specified"))
