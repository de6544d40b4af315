"""The shape of an object as server-side apply sees it: structs, maps, and the list types.

structured-merge-diff reads shapes from the OpenAPI schema: whether a JSON object is a
*struct* (named fields) or a *map* (granular keys), whether it is *atomic* (owned and
replaced as one value), and whether a list is *associative* (items keyed by some of their
fields), a *set* (items are scalars) or *atomic*. Here:

* **custom resources** take it from their CRD's ``openAPIV3Schema`` (``properties`` make a
  struct, ``additionalProperties`` a map, ``x-kubernetes-list-type: map`` with
  ``x-kubernetes-list-map-keys``, ``set`` and ``atomic`` (the default), and
  ``x-kubernetes-map-type: atomic``); what the schema does not describe (and
  ``x-kubernetes-preserve-unknown-fields`` content) is *deduced*: objects are maps, lists
  atomic;
* **built-in kinds** take it from a table of the list and map types of the fields
  controllers meet (containers by ``name``, ports by ``containerPort`` and ``protocol``,
  env and volumes by ``name``, conditions by ``type``, ownerReferences by ``uid``,
  finalizers a set, selectors atomic, ...); other JSON objects are structs and other lists
  atomic, which is what kube's schemas say for nearly every other field.

A key field that an item omits takes its default when the schema has one (``protocol``
defaults to ``TCP``), as structured-merge-diff does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["LEAF_KINDS", "Shape", "builtin_root", "crd_root", "deduced"]

ShapeKind = Literal["struct", "map", "atomic", "scalar", "list_map", "list_set", "list_atomic"]
LEAF_KINDS = frozenset({"atomic", "scalar", "list_atomic"})

# --- built-in kinds ---------------------------------------------------------------------------

_BY_NAME = ("name",)
_LIST_MAP_BY_FIELD: dict[str, tuple[str, ...]] = {
    "containers": _BY_NAME,
    "initContainers": _BY_NAME,
    "ephemeralContainers": _BY_NAME,
    "volumes": _BY_NAME,
    "env": _BY_NAME,
    "imagePullSecrets": _BY_NAME,
    "resourceClaims": _BY_NAME,
    "schedulingGates": _BY_NAME,
    "volumeMounts": ("mountPath",),
    "volumeDevices": ("devicePath",),
    "hostAliases": ("ip",),
    "podIPs": ("ip",),
    "topologySpreadConstraints": ("topologyKey", "whenUnsatisfiable"),
}
_CONTAINER_LISTS = frozenset({"containers", "initContainers", "ephemeralContainers"})
# Maps whose keys are owned one by one (every other JSON object of a built-in kind is a struct).
_GRANULAR_MAPS = frozenset({
    "labels", "annotations", "data", "binaryData", "stringData", "requests", "limits",
    "capacity", "allocatable", "overhead", "parameters", "hard", "used",
})
# Objects owned as one value (LabelSelector and the key selectors are atomic structs,
# nodeSelector and a Service's selector atomic maps).
_ATOMIC_OBJECTS = frozenset({
    "selector", "nodeSelector", "podSelector", "namespaceSelector", "labelSelector",
    "configMapKeyRef", "secretKeyRef", "fieldRef", "resourceFieldRef", "managedFields",
})
_KEY_DEFAULTS: dict[str, Any] = {"protocol": "TCP"}


@dataclass(frozen=True, slots=True)
class Shape:
    """What one node of an object is, and how to find the shapes below it.

    ``kind`` is one of ``struct``, ``map``, ``atomic``, ``scalar``, ``list_map``,
    ``list_set`` and ``list_atomic``; ``keys`` are the key fields of a ``list_map``.
    """

    kind: ShapeKind
    keys: tuple[str, ...] = ()
    # built-in rules: the group-resource and the trail of field names ("[]" for list items)
    gr: str = ""
    trail: tuple[str, ...] = ()
    # CRD rules: the schema of this node (None: deduced from the value)
    schema: Mapping[str, Any] | None = None
    source: Literal["builtin", "crd", "deduced"] = "deduced"
    key_defaults: Mapping[str, Any] = field(default_factory=dict)

    @property
    def leaf(self) -> bool:
        """Whether the node is owned and compared as one value."""
        return self.kind in LEAF_KINDS

    def field(self, name: str, sample: Any) -> Shape:
        """The shape of field (or map key) ``name`` of this struct or map, given a value."""
        if self.source == "builtin":
            return _builtin_field(self, name, sample)
        if self.source == "crd":
            return _crd_field(self, name, sample)
        return deduced(sample)

    def item(self, sample: Any) -> Shape:
        """The shape of an item of this list, given one."""
        if self.source == "builtin":
            return _builtin(self.gr, (*self.trail, "[]"), sample)
        if self.source == "crd":
            items = self.schema.get("items") if self.schema else None
            return _crd(items if isinstance(items, Mapping) else None, sample)
        return deduced(sample)

    def fits(self, value: Any) -> bool:
        """Whether ``value`` has the JSON type this shape expects (else it is a leaf)."""
        if self.kind in ("struct", "map"):
            return isinstance(value, Mapping)
        if self.kind in ("list_map", "list_set"):
            return isinstance(value, list)
        return True

    def named(self) -> bool:
        """Whether this node's fields are named struct fields (not map keys)."""
        return self.kind == "struct"


def deduced(sample: Any) -> Shape:
    """The shape structured-merge-diff deduces for a value without a schema."""
    if isinstance(sample, Mapping):
        return Shape("map")
    if isinstance(sample, list):
        return Shape("list_atomic")
    return Shape("scalar")


def builtin_root(group_resource: str) -> Shape:
    """The shape of a whole object of a built-in kind."""
    return Shape("struct", gr=group_resource, source="builtin")


def _builtin(gr: str, trail: tuple[str, ...], sample: Any) -> Shape:
    name = trail[-1] if trail else ""
    if isinstance(sample, Mapping):
        if name in _ATOMIC_OBJECTS:
            return Shape("atomic")
        if name in _GRANULAR_MAPS:
            return Shape("map", gr=gr, trail=trail, source="deduced")
        return Shape("struct", gr=gr, trail=trail, source="builtin")
    if isinstance(sample, list):
        kind, keys = _builtin_list(gr, trail)
        return Shape(kind, keys, gr=gr, trail=trail, source="builtin", key_defaults=_KEY_DEFAULTS)
    return Shape("scalar")


def _builtin_field(parent: Shape, name: str, sample: Any) -> Shape:
    if parent.kind == "map":
        return deduced(sample)
    return _builtin(parent.gr, (*parent.trail, name), sample)


def _builtin_list(gr: str, trail: tuple[str, ...]) -> tuple[ShapeKind, tuple[str, ...]]:
    name = trail[-1]
    parent = trail[:-1]
    in_metadata = bool(parent) and parent[-1] == "metadata"
    if name in _LIST_MAP_BY_FIELD:
        return "list_map", _LIST_MAP_BY_FIELD[name]
    if name == "claims" and parent and parent[-1] == "resources":
        return "list_map", _BY_NAME
    if name == "ports":
        if len(parent) >= 2 and parent[-1] == "[]" and parent[-2] in _CONTAINER_LISTS:
            return "list_map", ("containerPort", "protocol")
        if gr == "services" and parent == ("spec",):
            return "list_map", ("port", "protocol")
        return "list_atomic", ()
    if name == "conditions":
        if gr == "jobs.batch":
            return "list_atomic", ()
        return "list_map", ("type",)
    if name == "ownerReferences" and in_metadata:
        return "list_map", ("uid",)
    if name == "finalizers" and in_metadata:
        return "list_set", ()
    if name == "addresses" and gr == "nodes":
        return "list_map", ("type",)
    if name == "podCIDRs":
        return "list_set", ()
    return "list_atomic", ()


# --- custom resources -------------------------------------------------------------------------


def crd_root(group_resource: str, schema: Mapping[str, Any] | None) -> Shape:
    """The shape of a custom resource whose version has ``schema`` (its openAPIV3Schema;
    ``None``: no schema, everything but metadata deduced)."""
    return Shape("struct", gr=group_resource, schema=schema or {}, source="crd",
                 trail=("<root>",))


def _crd_field(parent: Shape, name: str, sample: Any) -> Shape:
    if parent.trail == ("<root>",):
        if name == "metadata":
            return _builtin(parent.gr, ("metadata",), sample)
        if name in ("apiVersion", "kind"):
            return Shape("scalar")
    schema = parent.schema or {}
    if parent.kind == "struct":
        props = schema.get("properties")
        sub = props.get(name) if isinstance(props, Mapping) else None
        if isinstance(sub, Mapping):
            return _crd(sub, sample)
        return deduced(sample)
    additional = schema.get("additionalProperties")
    return _crd(additional if isinstance(additional, Mapping) else None, sample)


def _crd(schema: Mapping[str, Any] | None, sample: Any) -> Shape:
    if schema is None:
        return deduced(sample)
    if schema.get("x-kubernetes-int-or-string"):
        return Shape("scalar")
    if schema.get("x-kubernetes-embedded-resource") and isinstance(sample, Mapping):
        return Shape("struct", schema=schema, source="crd", trail=("<root>",))
    t = schema.get("type")
    if t == "object" or "properties" in schema or "additionalProperties" in schema:
        if not isinstance(sample, Mapping):
            return Shape("atomic")
        if schema.get("x-kubernetes-map-type") == "atomic":
            return Shape("atomic")
        if isinstance(schema.get("properties"), Mapping):
            return Shape("struct", schema=schema, source="crd")
        if isinstance(schema.get("additionalProperties"), Mapping):
            return Shape("map", schema=schema, source="crd")
        return Shape("map") if schema.get("x-kubernetes-preserve-unknown-fields") else Shape(
            "struct", schema=schema, source="crd")
    if t == "array":
        if not isinstance(sample, list):
            return Shape("atomic")
        list_type = schema.get("x-kubernetes-list-type", "atomic")
        if list_type == "map":
            keys = tuple(str(k) for k in schema.get("x-kubernetes-list-map-keys") or ())
            items = schema.get("items")
            defaults: dict[str, Any] = {}
            if isinstance(items, Mapping) and isinstance(items.get("properties"), Mapping):
                for k in keys:
                    prop = items["properties"].get(k)
                    if isinstance(prop, Mapping) and "default" in prop:
                        defaults[k] = prop["default"]
            if keys:
                return Shape("list_map", keys, schema=schema, source="crd", key_defaults=defaults)
        if list_type == "set":
            return Shape("list_set", schema=schema, source="crd")
        return Shape("list_atomic")
    if t is None and schema.get("x-kubernetes-preserve-unknown-fields"):
        return deduced(sample)
    return Shape("scalar") if not isinstance(sample, Mapping | list) else Shape("atomic")
