"""``metadata.managedFields``: who owns which field, kept up to date on every write.

This is kube-apiserver's field manager (k8s.io/apimachinery's ``managedfields`` package over
structured-merge-diff), learned from its behaviour:

* every write records its manager: the ``fieldManager`` of the request, or else the part of
  the User-Agent before the first ``/`` (``kubectl``, ``kcs``);
* an **Update** (create, update, non-apply patch) gives its manager the fields it added or
  changed, taking them from every other manager; fields it removed are removed from every
  manager; at create the object is compared with the kind's empty object;
* an **Apply** makes the applier own exactly what it applied, merges it into the object,
  removes what it applied before and applies no more unless another manager owns it, and
  fails with ``409 Conflict`` when it would change a field another manager owns (``force``
  takes the fields over instead);
* entries are keyed by manager, operation, subresource and (for updates) apiVersion; the
  system fields of metadata (name, uid, resourceVersion, ...) are never owned; an entry's
  ``time`` moves only when its fields did; at most 10 update entries are kept (the oldest
  merge into ``ancient-changes``); an apply to an object without managedFields first gives
  everything it has to ``before-first-apply``;
* a request may reset managedFields (``[]`` or ``[{}]``) or replace them with valid entries;
  anything else it sends there is ignored;
* the status of kinds with a status subresource is never owned through the main resource,
  and through ``/status`` only the status is.

Entries are written sorted as kube sorts them (operation, time, manager, apiVersion,
subresource), each as ``{manager, operation, apiVersion, time, fieldsType: FieldsV1,
fieldsV1[, subresource]}``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import orjson

from kcs.core import ApiError, status_body
from kcs.testing._fieldpath import FieldSet, Path, field_pe
from kcs.testing._registry import ServedResource
from kcs.testing._shapes import Shape, builtin_root, crd_root
from kcs.testing._typed import TypedError, compare, merge, prune, to_set

__all__ = [
    "FieldManager",
    "ManagedEntry",
    "decode_managed",
    "encode_managed",
    "manager_from",
    "zero_object",
]

MAX_UPDATE_MANAGERS = 10
MAX_MANAGER_LENGTH = 128

ManagerKey = tuple[str, str, str, str]  # manager, operation, apiVersion ("" for Apply), subresource

_STRIP = FieldSet.of([
    ("f:apiVersion",), ("f:kind",), ("f:metadata",),
    *(("f:metadata", f"f:{f}") for f in (
        "name", "namespace", "creationTimestamp", "selfLink", "uid", "clusterName",
        "generation", "managedFields", "resourceVersion")),
])

# The empty object of each kind, as its Go type serializes it: structs that are not
# pointers exist (empty) in it, and so do lists without omitempty (as null), so creating an
# object does not "add" them.
_POD_SPEC: dict[str, Any] = {"containers": None}
_TEMPLATE = {"metadata": {}, "spec": _POD_SPEC}
_ZERO: dict[str, dict[str, Any]] = {
    "pods": {"spec": _POD_SPEC, "status": {}},
    "deployments.apps": {"spec": {"template": _TEMPLATE, "strategy": {}}, "status": {}},
    "replicasets.apps": {"spec": {"template": _TEMPLATE}, "status": {}},
    "statefulsets.apps": {"spec": {"template": _TEMPLATE, "updateStrategy": {}}, "status": {}},
    "daemonsets.apps": {"spec": {"template": _TEMPLATE, "updateStrategy": {}}, "status": {}},
    "replicationcontrollers": {"spec": {}, "status": {}},
    "jobs.batch": {"spec": {"template": _TEMPLATE}, "status": {}},
    "cronjobs.batch": {"spec": {"jobTemplate": {"metadata": {}, "spec": {
        "template": _TEMPLATE}}}, "status": {}},
    "services": {"spec": {}, "status": {"loadBalancer": {}}},
    "nodes": {"spec": {}, "status": {"daemonEndpoints": {"kubeletEndpoint": {}},
                                     "nodeInfo": {}}},
    "namespaces": {"spec": {}, "status": {}},
    "events": {"involvedObject": {}, "source": {}},
    "events.events.k8s.io": {"regarding": {}, "deprecatedSource": {}},
    "leases.coordination.k8s.io": {"spec": {}},
    "rolebindings.rbac.authorization.k8s.io": {"roleRef": {}},
    "clusterrolebindings.rbac.authorization.k8s.io": {"roleRef": {}},
    "customresourcedefinitions.apiextensions.k8s.io": {"spec": {"names": {}},
                                                       "status": {"acceptedNames": {}}},
    "persistentvolumeclaims": {"spec": {}, "status": {}},
    "persistentvolumes": {"spec": {}, "status": {}},
    "poddisruptionbudgets.policy": {"spec": {}, "status": {}},
    "ingresses.networking.k8s.io": {"spec": {}, "status": {"loadBalancer": {}}},
    "networkpolicies.networking.k8s.io": {"spec": {}},
    "horizontalpodautoscalers.autoscaling": {"spec": {"scaleTargetRef": {}}, "status": {}},
}


def zero_object(served: ServedResource) -> dict[str, Any]:
    """The empty object of ``served``'s kind (a custom resource's is empty)."""
    if served.custom:
        return {}
    return {"metadata": {}, **copy.deepcopy(_ZERO.get(served.group_resource, {}))}


def manager_from(field_manager: str | None, user_agent: str) -> str:
    """The manager of a non-apply write: ``fieldManager``, else the User-Agent up to the
    first ``/`` (printable characters, at most 128 bytes), as kube-apiserver names it."""
    if field_manager:
        return field_manager
    out = ""
    for ch in user_agent.split("/", maxsplit=1)[0]:
        if not ch.isprintable():
            continue
        if len((out + ch).encode()) > MAX_MANAGER_LENGTH:
            break
        out += ch
    return out


@dataclass(frozen=True, slots=True)
class ManagedEntry:
    """One ``managedFields`` entry."""

    manager: str
    operation: str
    api_version: str
    subresource: str
    fields: FieldSet
    time: str | None

    @property
    def key(self) -> ManagerKey:
        """Appliers are one manager whatever version they apply; updaters are one per version."""
        av = "" if self.operation == "Apply" else self.api_version
        return (self.manager, self.operation, av, self.subresource)

    def to_dict(self) -> dict[str, Any]:
        """The wire form."""
        out: dict[str, Any] = {"manager": self.manager, "operation": self.operation,
                               "apiVersion": self.api_version}
        if self.time is not None:
            out["time"] = self.time
        out["fieldsType"] = "FieldsV1"
        out["fieldsV1"] = self.fields.to_fields_v1()
        if self.subresource:
            out["subresource"] = self.subresource
        return out


Managed = dict[ManagerKey, ManagedEntry]


def decode_managed(entries: Any) -> Managed:
    """Decode ``metadata.managedFields``; :class:`ValueError` when an entry is invalid."""
    out: Managed = {}
    if entries is None:
        return out
    if not isinstance(entries, list):
        raise ValueError("managedFields must be a list")
    for i, e in enumerate(entries):
        if not isinstance(e, Mapping):
            raise ValueError(f"managedFields[{i}] must be an object")
        op = e.get("operation")
        if op not in ("Apply", "Update"):
            raise ValueError("operation must be `Apply` or `Update`")
        if not e.get("apiVersion"):
            raise ValueError("apiVersion must not be empty")
        if e.get("fieldsType") != "FieldsV1":
            raise ValueError(f"invalid fieldsType in managed fields entry {i}")
        entry = ManagedEntry(
            manager=str(e.get("manager") or ""), operation=str(op),
            api_version=str(e["apiVersion"]), subresource=str(e.get("subresource") or ""),
            fields=FieldSet.from_fields_v1(e.get("fieldsV1") or {}),
            time=str(e["time"]) if e.get("time") else None,
        )
        out[entry.key] = entry
    return out


def _is_reset(entries: Any) -> bool:
    if isinstance(entries, list):
        return not entries or (len(entries) == 1 and entries[0] in ({}, None))
    return False


def encode_managed(managed: Managed) -> list[dict[str, Any]] | None:
    """The wire form, sorted as kube-apiserver sorts it; ``None`` when there is no entry."""
    if not managed:
        return None
    entries = sorted(managed.values(), key=lambda e: (
        e.operation, e.time or "", e.manager, e.api_version, e.subresource))
    return [e.to_dict() for e in entries]


def _top_level(paths: list[str]) -> FieldSet:
    return FieldSet.of([(field_pe(p),) for p in paths])


def conflict_error(conflicts: dict[ManagerKey, FieldSet]) -> ApiError:
    """409 Conflict with one ``FieldManagerConflict`` cause per field, worded as kube."""
    flat: list[tuple[ManagerKey, Path]] = []
    for key in sorted(conflicts, key=_identifier):
        flat.extend((key, p) for p in conflicts[key].paths())
    causes = [{"reason": "FieldManagerConflict", "message": f"conflict with {_print(k)}",
               "field": FieldSet.path_string(p)} for k, p in flat]
    if len(flat) == 1:
        k, p = flat[0]
        message = f"Apply failed with 1 conflict: conflict with {_print(k)}: " \
                  f"{FieldSet.path_string(p)}"
    else:
        lines: list[str] = []
        for key in sorted(conflicts, key=_identifier):
            lines.append(f"conflicts with {_print(key)}:")
            lines.extend(f"- {FieldSet.path_string(p)}" for p in conflicts[key].paths())
        message = f"Apply failed with {len(flat)} conflicts: " + "\n".join(lines)
    body = status_body(409, "Conflict", message, causes=causes)
    return ApiError(body, 409)


def _identifier(key: ManagerKey) -> str:
    manager, op, av, sub = key
    d: dict[str, Any] = {"manager": manager, "operation": op}
    if av:
        d["apiVersion"] = av
    if sub:
        d["subresource"] = sub
    return orjson.dumps(d).decode()


def _print(key: ManagerKey) -> str:
    manager, op, av, sub = key
    out = orjson.dumps(manager).decode()
    if sub:
        out += f" with subresource {orjson.dumps(sub).decode()}"
    if op == "Update":
        out += f" using {av}"
    return out


class FieldManager:
    """Keeps ``metadata.managedFields`` of one server's objects.

    ``shape`` gives the :class:`~._shapes.Shape` of a served resource's objects (custom
    resources take theirs from their CRD); ``now`` the time stamp of entries.
    """

    def __init__(self, shape: Callable[[ServedResource], Shape], now: Callable[[], str]) -> None:
        self._shape = shape
        self._now = now

    def shape(self, served: ServedResource) -> Shape:
        """The shape of ``served``'s objects."""
        return self._shape(served)

    @staticmethod
    def _ignored(served: ServedResource, subresource: str, *objs: Mapping[str, Any]) -> FieldSet:
        if subresource == "status":
            names = {k for o in objs for k in o if k != "status"}
            return _top_level(sorted(names))
        if "status" in served.resource.subresources:
            return _top_level(["status"])
        return FieldSet()

    # --- non-apply writes -------------------------------------------------------------------

    def update(self, served: ServedResource, live: Mapping[str, Any] | None,
               new: dict[str, Any], manager: str, *, subresource: str = "") -> None:
        """Record an Update by ``manager`` in ``new["metadata"]["managedFields"]``.

        ``live`` is the current object (``None`` at create). As kube does, a failure to
        track (an object its shape cannot hold) keeps the previous managedFields.
        """
        meta = new["metadata"]
        live_meta = (live or {}).get("metadata") or {}
        sent = meta.pop("managedFields", None)
        if subresource:
            sent = None  # a subresource write cannot set managedFields
        try:
            if _is_reset(sent):
                managed: Managed = {}
            else:
                managed = decode_managed(sent) if sent else {}
                if not managed:
                    managed = decode_managed(live_meta.get("managedFields"))
        except ValueError:
            try:
                managed = decode_managed(live_meta.get("managedFields"))
            except ValueError:
                managed = {}
        before = dict(managed)
        base = _strip_meta_fields(live) if live is not None else zero_object(served)
        try:
            self._track_update(served, base, new, managed, manager, subresource)
        except TypedError:
            managed = before
        _store(meta, managed, live_meta.get("managedFields") if managed == _decoded_or_none(
            live_meta.get("managedFields")) else None)

    def _track_update(self, served: ServedResource, live: Mapping[str, Any],
                      new: Mapping[str, Any], managed: Managed, manager: str,
                      subresource: str) -> None:
        shape = self.shape(served)
        view = _strip_meta_fields(new)
        ignored = self._ignored(served, subresource, live, view)
        added, modified, removed = compare(live, view, shape).sets()
        changed = added.union(modified).recursive_difference(ignored)
        removed = removed.recursive_difference(ignored)
        for key, entry in list(managed.items()):
            rest = entry.fields.difference(changed).difference(removed)
            if rest.empty():
                del managed[key]
            elif rest != entry.fields:
                managed[key] = replace(entry, fields=rest)
        mine = changed.difference(removed).difference(_STRIP)
        if mine.empty():
            return
        av = served.resource.api_version
        entry = ManagedEntry(manager, "Update", av, subresource, mine, self._now())
        prev = managed.get(entry.key)
        if prev is not None:
            entry = replace(entry, fields=prev.fields.union(mine))
        managed[entry.key] = entry
        _cap(managed)

    # --- apply ------------------------------------------------------------------------------

    def apply(self, served: ServedResource, live: Mapping[str, Any] | None,
              config: Mapping[str, Any], manager: str, *, force: bool = False,
              subresource: str = "") -> dict[str, Any]:
        """The object after ``manager`` applied ``config`` to ``live`` (``None``: the object
        does not exist yet), with its managedFields. Raises the 409 Conflict, or 500 for a
        configuration its shape cannot hold (as kube does)."""
        shape = self.shape(served)
        if live is None:
            base: dict[str, Any] = zero_object(served)
            managed: Managed = {}
            live_managed_raw: Any = None
        else:
            base = _strip_meta_fields(live)
            live_managed_raw = (live.get("metadata") or {}).get("managedFields")
            try:
                managed = decode_managed(live_managed_raw)
            except ValueError as e:
                raise ApiError(status_body(500, "InternalError", "Internal error occurred: "
                                           f"failed to decode managed fields: {e}"), 500) from None
            if not managed:
                # An object nobody tracked yet: everything it has belongs to "before-first-apply".
                self._track_update(served, zero_object(served), base, managed,
                                   "before-first-apply", subresource)
        try:
            merged = merge(base, config, shape)
            applied = to_set(config, shape, strict=True)
        except TypedError as e:
            raise ApiError(status_body(500, "InternalError", "Internal error occurred: failed "
                                       f"to create typed patch object: {e}"), 500) from None
        ignored = self._ignored(served, subresource, base, config)
        applied = applied.recursive_difference(ignored)
        av = served.resource.api_version
        me = ManagedEntry(manager, "Apply", av, subresource, applied, None)
        last = managed.get(me.key)
        previous_time = last.time if last else None
        managed[me.key] = me
        if last is not None and not last.fields.empty():
            owned = FieldSet()
            for entry in managed.values():
                owned = owned.union(entry.fields)
            merged = prune(merged, shape, last.fields.recursive_difference(ignored), owned)
        self._settle_others(served, base, merged, managed, me.key, force, ignored)
        mine = managed[me.key].fields.difference(_STRIP)
        if mine.empty():
            del managed[me.key]
        else:
            changed = not _same_content(base, merged)
            managed[me.key] = replace(me, fields=mine,
                                      time=self._now() if changed or last is None
                                      else previous_time)
        out = dict(merged)
        meta = dict(out.get("metadata") or {})
        for k in ("uid", "resourceVersion", "creationTimestamp", "generation",
                  "deletionTimestamp", "deletionGracePeriodSeconds"):
            live_value = ((live or {}).get("metadata") or {}).get(k)
            if live_value is not None:
                meta[k] = live_value
        out["metadata"] = meta
        _store(meta, managed, live_managed_raw if managed == _decoded_or_none(
            live_managed_raw) else None)
        return out

    def _settle_others(self, served: ServedResource, live: Mapping[str, Any],
                       new: Mapping[str, Any], managed: Managed, me: ManagerKey, force: bool,
                       ignored: FieldSet) -> None:
        added, modified, removed = compare(live, new, self.shape(served)).sets()
        changed = added.union(modified).recursive_difference(ignored)
        removed = removed.recursive_difference(ignored)
        conflicts: dict[ManagerKey, FieldSet] = {}
        for key, entry in managed.items():
            if key == me:
                continue
            c = entry.fields.intersection(changed)
            if not c.empty():
                conflicts[key] = c
        if conflicts and not force:
            raise conflict_error(conflicts)
        for key, entry in list(managed.items()):
            if key == me:
                continue
            rest = entry.fields.difference(conflicts.get(key, FieldSet())).difference(removed)
            if rest.empty():
                del managed[key]
            elif rest != entry.fields:
                managed[key] = replace(entry, fields=rest)


def _strip_meta_fields(obj: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(obj)
    meta = out.get("metadata")
    if isinstance(meta, Mapping) and "managedFields" in meta:
        out["metadata"] = {k: v for k, v in meta.items() if k != "managedFields"}
    return out


def _same_content(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return _strip_meta_fields(a) == _strip_meta_fields(b)


def _decoded_or_none(raw: Any) -> Managed | None:
    try:
        return decode_managed(raw)
    except ValueError:
        return None


def _store(meta: dict[str, Any], managed: Managed, unchanged_raw: Any) -> None:
    """Write ``managed`` into ``meta`` (reusing the previous list when nothing changed)."""
    if unchanged_raw is not None:
        meta["managedFields"] = unchanged_raw
        return
    encoded = encode_managed(managed)
    if encoded is None:
        meta.pop("managedFields", None)
    else:
        meta["managedFields"] = encoded


def _cap(managed: Managed) -> None:
    """At most ``MAX_UPDATE_MANAGERS`` update entries: the oldest ones of one apiVersion merge
    into an ``ancient-changes`` entry (which takes the time of the newer one)."""
    updaters = sorted((e for e in managed.values() if e.operation == "Update"),
                      key=lambda e: e.time or "")
    count = len(updaters)
    first: dict[str, ManagedEntry] = {}
    for entry in updaters:
        if count <= MAX_UPDATE_MANAGERS:
            return
        seen = first.get(entry.api_version)
        if seen is None:
            first[entry.api_version] = entry
            continue
        bucket = ManagedEntry("ancient-changes", "Update", entry.api_version, "",
                              seen.fields.union(entry.fields), entry.time)
        managed.pop(seen.key, None)
        managed.pop(entry.key, None)
        managed[bucket.key] = bucket
        first[entry.api_version] = bucket
        count -= 1


def builtin_or_crd_shape(served: ServedResource,
                         schema: Callable[[ServedResource], Mapping[str, Any] | None]) -> Shape:
    """The shape of ``served``'s objects: a built-in kind's table, or the CRD's schema."""
    if served.custom:
        return crd_root(served.group_resource, schema(served))
    return builtin_root(served.group_resource)
