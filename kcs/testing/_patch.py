"""The patch formats: JSON merge patch, JSON patch, and an approximate strategic merge patch.

* :func:`merge_patch` is RFC 7386 exactly.
* :func:`json_patch` is RFC 6902 exactly (add, remove, replace, move, copy, test).
* :func:`strategic_merge_patch` approximates Kubernetes' strategic merge patch without the
  OpenAPI schema: merge patch semantics, except that lists under well-known field names
  (``containers``, ``env``, ``ports``, ``volumes``, ``conditions``, ...) are merged element
  by element on their merge key (``name``, ``containerPort``/``port``, ``type``, ...), the
  ``$patch: delete | replace | merge`` directives are honoured on list elements and maps,
  ``$deleteFromPrimitiveList/<field>`` removes values, ``finalizers`` is merged as a set, and
  ``$setElementOrder/<field>`` and ``$retainKeys`` are dropped (ordering is not changed).

All functions return new values and never mutate their inputs.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

__all__ = ["PatchError", "json_patch", "merge_patch", "strategic_merge_patch"]


class PatchError(ValueError):
    """A patch that cannot be applied (the server answers 422) or decoded (400)."""

    def __init__(self, message: str, *, malformed: bool = False) -> None:
        super().__init__(message)
        self.malformed = malformed


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: maps merge recursively, ``null`` deletes, everything else replaces."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    out: dict[str, Any] = dict(target) if isinstance(target, Mapping) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


# --- RFC 6902 -----------------------------------------------------------------------------


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str):
        raise PatchError(f"path must be a string, not {path!r}", malformed=True)
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"JSON pointer must start with '/': {path!r}")
    return [t.replace("~1", "/").replace("~0", "~") for t in path[1:].split("/")]


def _index(container: list[Any], token: str, *, for_add: bool) -> int:
    if for_add and token == "-":
        return len(container)
    if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
        raise PatchError(f"invalid array index {token!r}")
    i = int(token)
    limit = len(container) if for_add else len(container) - 1
    if i > limit:
        raise PatchError(f"array index {i} out of bounds")
    return i


def _parent(doc: Any, tokens: list[str]) -> Any:
    cur = doc
    for t in tokens[:-1]:
        if isinstance(cur, dict):
            if t not in cur:
                raise PatchError(f"missing path component {t!r}")
            cur = cur[t]
        elif isinstance(cur, list):
            cur = cur[_index(cur, t, for_add=False)]
        else:
            raise PatchError(f"cannot descend into a {type(cur).__name__} at {t!r}")
    return cur


def _get(doc: Any, tokens: list[str]) -> Any:
    if not tokens:
        return doc
    parent = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"missing value at {last!r}")
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, for_add=False)]
    raise PatchError(f"cannot read {last!r} from a {type(parent).__name__}")


def _add(doc: Any, tokens: list[str], value: Any) -> Any:
    if not tokens:
        return value
    parent = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, for_add=True), value)
    else:
        raise PatchError(f"cannot add {last!r} to a {type(parent).__name__}")
    return doc


def _remove(doc: Any, tokens: list[str]) -> tuple[Any, Any]:
    if not tokens:
        raise PatchError("cannot remove the whole document")
    parent = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"cannot remove missing value at {last!r}")
        return doc, parent.pop(last)
    if isinstance(parent, list):
        return doc, parent.pop(_index(parent, last, for_add=False))
    raise PatchError(f"cannot remove {last!r} from a {type(parent).__name__}")


def json_patch(doc: Any, operations: Any) -> Any:
    """RFC 6902: apply ``operations`` (a list of ``{"op": ..., "path": ...}``) to a copy."""
    if not isinstance(operations, list):
        raise PatchError("a JSON patch must be a list of operations", malformed=True)
    out = copy.deepcopy(doc)
    for op in operations:
        if not isinstance(op, Mapping) or "op" not in op:
            raise PatchError(f"invalid operation {op!r}", malformed=True)
        kind = op["op"]
        tokens = _pointer(op.get("path"))
        if kind in ("add", "replace", "test") and "value" not in op:
            raise PatchError(f"operation {kind} needs a value", malformed=True)
        if kind == "add":
            out = _add(out, tokens, copy.deepcopy(op["value"]))
        elif kind == "remove":
            out, _ = _remove(out, tokens)
        elif kind == "replace":
            _get(out, tokens)  # must exist
            if tokens:
                out, _ = _remove(out, tokens)
            out = _add(out, tokens, copy.deepcopy(op["value"]))
        elif kind in ("move", "copy"):
            src = _pointer(op.get("from"))
            if kind == "move":
                if tokens[: len(src)] == src and len(tokens) > len(src):
                    raise PatchError("cannot move a value into one of its children")
                out, value = _remove(out, src)
            else:
                value = copy.deepcopy(_get(out, src))
            out = _add(out, tokens, value)
        elif kind == "test":
            if _get(out, tokens) != op["value"]:
                raise PatchError(f"test operation failed at {op.get('path')!r}")
        else:
            raise PatchError(f"unknown operation {kind!r}", malformed=True)
    return out


# --- strategic merge patch, approximated ----------------------------------------------------

_MERGE_KEYS: dict[str, tuple[str, ...]] = {
    "containers": ("name",),
    "initContainers": ("name",),
    "ephemeralContainers": ("name",),
    "env": ("name",),
    "volumes": ("name",),
    "volumeMounts": ("mountPath",),
    "volumeDevices": ("devicePath",),
    "imagePullSecrets": ("name",),
    "resourceClaims": ("name",),
    "conditions": ("type",),
    "ownerReferences": ("uid",),
    "hostAliases": ("ip",),
    "topologySpreadConstraints": ("topologyKey",),
    "ports": ("containerPort", "port"),
}
_SET_LISTS = frozenset({"finalizers"})
_DIRECTIVE = "$patch"


def _merge_key(field: str, items: list[Any]) -> str | None:
    keys = _MERGE_KEYS.get(field)
    if not keys:
        return None
    for k in keys:
        if any(isinstance(i, Mapping) and k in i for i in items):
            return k
    return keys[0]


def _strip(value: Any) -> Any:
    """Drop directives from a value that is being inserted as a whole."""
    if isinstance(value, Mapping):
        return {
            k: _strip(v)
            for k, v in value.items()
            if not k.startswith("$")
        }
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _merge_list(field: str, original: list[Any], patch: list[Any]) -> list[Any]:
    if field in _SET_LISTS and all(not isinstance(v, Mapping | list) for v in patch):
        return list(original) + [v for v in patch if v not in original]
    key = _merge_key(field, original + patch)
    if key is None or not all(isinstance(i, Mapping) for i in patch):
        if any(isinstance(i, Mapping) and i.get(_DIRECTIVE) == "replace" for i in patch):
            return [_strip(i) for i in patch if not (isinstance(i, Mapping) and _DIRECTIVE in i)]
        return _strip(patch)  # type: ignore[no-any-return]
    if any(i.get(_DIRECTIVE) == "replace" for i in patch):
        return [_strip(i) for i in patch if _DIRECTIVE not in i]
    out = [copy.deepcopy(i) for i in original]
    for item in patch:
        want = item.get(key)
        pos = next(
            (n for n, o in enumerate(out) if isinstance(o, Mapping) and o.get(key) == want), None
        )
        if item.get(_DIRECTIVE) == "delete":
            if pos is not None:
                out.pop(pos)
        elif pos is None:
            out.append(_strip(item))
        else:
            out[pos] = strategic_merge_patch(out[pos], item)
    return out


def strategic_merge_patch(original: Any, patch: Any) -> Any:
    """Apply an (approximated) strategic merge patch to a copy of ``original``."""
    if not isinstance(patch, Mapping):
        return _strip(patch)
    directive = patch.get(_DIRECTIVE)
    if directive == "replace":
        return _strip(patch)
    if directive == "delete":
        return None
    out: dict[str, Any] = dict(original) if isinstance(original, Mapping) else {}
    for k, v in patch.items():
        if k in (_DIRECTIVE, "$retainKeys") or k.startswith("$setElementOrder/"):
            continue
        if k.startswith("$deleteFromPrimitiveList/"):
            field = k.split("/", 1)[1]
            if isinstance(out.get(field), list) and isinstance(v, list):
                out[field] = [x for x in out[field] if x not in v]
            continue
        if v is None:
            out.pop(k, None)
        elif isinstance(v, list):
            out[k] = _merge_list(k, out[k] if isinstance(out.get(k), list) else [], v)
        elif isinstance(v, Mapping):
            merged = strategic_merge_patch(out.get(k), v)
            if merged is None:
                out.pop(k, None)
            else:
                out[k] = merged
        else:
            out[k] = _strip(v)
    return out
