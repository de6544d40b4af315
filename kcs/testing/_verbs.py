"""The write verbs with kube-apiserver's semantics, independent of HTTP.

This is the fake's generic registry: what create, update, patch and delete mean for any
kind (the read verbs are in ``_reads``). The HTTP handlers and the in-process Python API
both call it, so they behave the same. It raises :mod:`kcs.client` errors carrying Status
objects.

Semantics (all as kube-apiserver, see docs/testing.md for what is simplified):

* metadata owned by the server: ``uid``, ``creationTimestamp``, ``resourceVersion``,
  ``generation`` (1 at create, +1 when anything but metadata, and status for kinds with a
  status subresource, changes; +1 when deletion starts), ``deletionTimestamp``;
* a write that changes nothing is not a write: no new resourceVersion, no event;
* kinds with a status subresource: the main resource ignores ``status``, ``/status`` changes
  only ``status``, and ``status`` is reset at create;
* optimistic concurrency: a stale ``metadata.resourceVersion`` in an update or patch is a 409
  Conflict; no resourceVersion means an unconditional update;
* finalizers: deleting an object with finalizers sets ``deletionTimestamp``; the update that
  removes the last finalizer deletes it; no finalizer may be added while deleting;
* namespaces: namespaced objects need an existing namespace; deleting a namespace deletes its
  content (respecting finalizers) and the namespace goes when it is empty;
* CRDs: creating one serves its kinds at once (status Established), deleting one deletes its
  objects and stops serving them.
"""

from __future__ import annotations

import importlib
import random
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from kcs.core import ApiError, Resource, status_body
from kcs.testing._accounting import WriteLog, WriteRecord
from kcs.testing._admission import Admission
from kcs.testing._decoding import FieldValidation, decode
from kcs.testing._defaults import apply_defaults
from kcs.testing._fields import check_field_selector, field_reader, matches
from kcs.testing._listing import ListOptions
from kcs.testing._patch import PatchError, json_patch, merge_patch, strategic_merge_patch
from kcs.testing._registry import Registry, ServedResource, crd_problems, crd_resources, crd_status
from kcs.testing._status import (
    already_exists,
    bad_request,
    conflict,
    forbidden,
    internal_error,
    invalid,
    not_found,
    unsupported_media_type,
)
from kcs.testing._store import ResourceStore, Store, StoredObject, WatchEvent
from kcs.testing._validation import check_body, validate_create, validate_update
from kcs.testing._watch import ClientInfo

__all__ = ["IN_PROCESS", "PatchType", "Verbs", "decode_json_or_yaml", "now_rfc3339", "object_key"]

IN_PROCESS = ClientInfo("in-process")

PatchType = str
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, APPLY_PATCH)

_CRD = "customresourcedefinitions.apiextensions.k8s.io"
_UNDELETABLE = frozenset({"default", "kube-system", "kube-public"})
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"


def now_rfc3339() -> str:
    """The current time as kube writes timestamps (RFC 3339, seconds, UTC)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def object_key(served: ServedResource, namespace: str | None, name: str) -> str:
    """The store key: ``namespace/name`` for namespaced kinds, ``name`` otherwise."""
    return f"{namespace}/{name}" if served.resource.namespaced else name


def _spec_part(obj: dict[str, Any], status_apart: bool) -> dict[str, Any]:
    skip = ("metadata", "status") if status_apart else ("metadata",)
    return {k: v for k, v in obj.items() if k not in skip}


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Equal but for ``metadata.resourceVersion``."""
    ma, mb = dict(a.get("metadata") or {}), dict(b.get("metadata") or {})
    ma.pop("resourceVersion", None)
    mb.pop("resourceVersion", None)
    return ma == mb and {k: v for k, v in a.items() if k != "metadata"} == {
        k: v for k, v in b.items() if k != "metadata"
    }


def decode_json_or_yaml(data: bytes) -> Any:
    """Decode a request body that may be JSON or YAML (YAML needs PyYAML); 400 otherwise."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        pass
    try:
        yaml = importlib.import_module("yaml")
    except ImportError:
        raise bad_request("apply patch is not JSON, and PyYAML is not installed") from None
    try:
        return yaml.safe_load(data)
    except Exception as e:  # yaml.YAMLError, without importing the type
        raise bad_request(f"error decoding YAML: {e}") from None


class Verbs:
    """create / update / patch / delete (and get) over a :class:`Store`.

    ``on_resources_changed`` is told which resources stopped being served (a CRD deleted or
    changed), so the server can end their watches.
    """

    def __init__(
        self,
        store: Store,
        registry: Registry,
        writes: WriteLog,
        *,
        on_resources_changed: Callable[[list[ServedResource]], None] | None = None,
    ) -> None:
        self.store = store
        self.registry = registry
        self.writes = writes
        self._on_resources_changed = on_resources_changed or (lambda _r: None)
        self._rng = random.Random()
        self._emptying: set[str] = set()
        self.admission = Admission(self, self._rng)

    # --- helpers --------------------------------------------------------------------------

    def served(self, resource: Resource) -> ServedResource:
        """The registration of ``resource``; 404 when it is not served."""
        s = self.registry.served(resource)
        if s is None:
            raise not_found(None, "", plural=resource.plural)
        return s

    def rs(self, served: ServedResource) -> ResourceStore:
        """The store of ``served``'s group-resource."""
        return self.store.resource(served.group_resource)

    def _to_storage(self, served: ServedResource, obj: dict[str, Any]) -> dict[str, Any]:
        if obj.get("apiVersion") != served.storage_api_version:
            obj = {**obj, "apiVersion": served.storage_api_version}
        return obj

    def _to_request(self, served: ServedResource, obj: dict[str, Any]) -> dict[str, Any]:
        if obj.get("apiVersion") != served.resource.api_version:
            obj = {**obj, "apiVersion": served.resource.api_version}
        return obj

    def _log(self, verb: str, served: ServedResource, ev: WatchEvent | StoredObject,
             client: ClientInfo, subresource: str = "") -> None:
        so = ev.obj if isinstance(ev, WatchEvent) else ev
        meta = so.obj.get("metadata") or {}
        self.writes.append(
            WriteRecord(
                time=_monotonic(),
                verb=verb,
                resource=served.group_resource,
                namespace=str(meta.get("namespace") or ""),
                name=str(meta.get("name") or ""),
                resource_version=str(so.rv),
                user_agent=client.user_agent,
                token=client.fingerprint,
                subresource=subresource,
                user=client.user,
            )
        )

    def _put(self, served: ServedResource, key: str, obj: dict[str, Any]) -> WatchEvent:
        ns = str((obj.get("metadata") or {}).get("namespace") or "")
        return self.store.put(self.rs(served), key, ns, obj)

    def _remove(self, served: ServedResource, key: str) -> WatchEvent:
        rs = self.rs(served)
        cur = rs.get(key)
        ns = str(((cur.obj if cur else {}).get("metadata") or {}).get("namespace") or "")
        return self.store.remove(rs, key, ns)

    def ensure_namespace(self, namespace: str) -> None:
        """Create namespace ``namespace`` (in-process) unless it exists."""
        if self._namespace_state(namespace) is None:
            self.create(self._namespaces(), None, {"metadata": {"name": namespace}})

    def _namespace_state(self, namespace: str) -> StoredObject | None:
        ns = self.registry.lookup("", "v1", "namespaces")
        assert ns is not None
        return self.rs(ns).get(namespace)

    def get_object(self, group_resource: str, namespace: str | None,
                   name: str) -> dict[str, Any] | None:
        """The stored object of ``group_resource`` (for admission), or ``None``."""
        so = self.store.resource(group_resource).get(f"{namespace}/{name}" if namespace else name)
        return so.obj if so is not None else None

    def list_objects(self, group_resource: str) -> list[dict[str, Any]]:
        """Every stored object of ``group_resource`` (for admission)."""
        return [so.obj for so in self.store.resource(group_resource).objects.values()]

    def get(self, served: ServedResource, namespace: str | None, name: str) -> StoredObject:
        """The current object; 404 NotFound when absent."""
        cur = self.rs(served).get(object_key(served, namespace, name))
        if cur is None:
            raise not_found(served.resource, name)
        return cur

    # --- create ---------------------------------------------------------------------------

    def create(
        self,
        served: ServedResource,
        namespace: str | None,
        body: Any,
        client: ClientInfo = IN_PROCESS,
        *,
        dry_run: bool = False,
        verb: str = "create",
        field_validation: FieldValidation | None = None,
    ) -> StoredObject:
        """Create an object (201 semantics); see the module doc for the rules."""
        r = served.resource
        fv = field_validation or FieldValidation()
        obj = self._to_storage(served, check_body(served, body, namespace, None))
        obj = decode(served, obj, fv)
        meta: dict[str, Any] = obj["metadata"]
        name = meta.get("name") or ""
        generate = meta.get("generateName") or ""
        if not name and not generate:
            raise invalid(r, "", [("FieldValueRequired", "metadata.name",
                                   "Required value: name or generateName is required")])
        ns = meta.get("namespace") or ""
        if r.namespaced:
            if not ns:
                raise bad_request("the namespace of the object must be set for a namespaced kind")
            ns_obj = self._namespace_state(ns)
            if ns_obj is None:
                raise not_found(self._namespaces().resource, ns)
            if (ns_obj.obj.get("metadata") or {}).get("deletionTimestamp"):
                raise forbidden(r, name or generate, f"unable to create new content in namespace "
                                f"{ns} because it is being terminated")
        if meta.get("resourceVersion"):
            raise internal_error("resourceVersion should not be set on objects to be created")
        if served.group_resource == _CRD:
            problems3 = crd_problems(obj)
            if problems3:
                raise invalid(r, name, problems3)
        self.admission.admit_create(served, obj)
        rs = self.rs(served)
        for _ in range(8):
            if not name:
                name = generate + "".join(self._rng.choice(_NAME_CHARS) for _ in range(5))
            key = object_key(served, ns, name)
            if rs.get(key) is None:
                break
            if not generate or meta.get("name"):
                raise already_exists(r, name)
            name = ""
        else:
            raise already_exists(r, name)
        now = now_rfc3339()
        meta.update(name=name, uid=str(uuid.uuid4()), creationTimestamp=now, generation=1)
        for k in ("deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion"):
            meta.pop(k, None)
        self._initial_status(served, obj, now, fv)
        if dry_run:
            return StoredObject(obj, orjson.dumps(obj), 0)
        ev = self._put(served, key, obj)
        self._log(verb, served, ev, client)
        if served.group_resource == _CRD:
            self._sync_crd(None, obj)
        return ev.obj

    def _initial_status(self, served: ServedResource, obj: dict[str, Any], now: str,
                        fv: FieldValidation) -> None:
        """The strategy's PrepareForCreate, the defaults of the stored object, Validate."""
        errors = self.admission.prepare_create(served, obj, now)
        if served.group_resource == _CRD:
            obj["status"] = crd_status(obj, now)
        elif served.custom and "status" in served.resource.subresources:
            obj.pop("status", None)
        apply_defaults(served, obj)
        validate_create(served, obj, fv.warnings, errors)

    def _namespaces(self) -> ServedResource:
        ns = self.registry.lookup("", "v1", "namespaces")
        assert ns is not None
        return ns

    # --- update / patch -------------------------------------------------------------------

    def update(
        self,
        served: ServedResource,
        namespace: str | None,
        name: str,
        body: Any,
        client: ClientInfo = IN_PROCESS,
        *,
        subresource: str = "",
        dry_run: bool = False,
        field_validation: FieldValidation | None = None,
        unchecked: bool = False,
    ) -> StoredObject:
        """Replace an object (PUT); a stale resourceVersion is 409 Conflict. ``unchecked``
        (in-process only) stores ``body`` without decoding, defaulting or validating it."""
        fv = field_validation or FieldValidation()
        obj = self._to_storage(served, check_body(served, body, namespace, name))
        if not unchecked:
            obj = decode(served, obj, fv)
        cur = self.get(served, namespace, name)
        rv = obj["metadata"].get("resourceVersion")
        if rv:
            if not str(rv).isdigit():
                raise bad_request(f'metadata.resourceVersion: Invalid value: "{rv}"')
            if int(rv) != cur.rv:
                raise conflict(served.resource, name, "the object has been modified; please "
                               "apply your changes to the latest version and try again")
        return self._update(served, cur, obj, client, "update", subresource, dry_run, fv,
                            unchecked=unchecked)

    def patch(
        self,
        served: ServedResource,
        namespace: str | None,
        name: str,
        patch_type: str,
        data: bytes,
        client: ClientInfo = IN_PROCESS,
        *,
        subresource: str = "",
        field_manager: str | None = None,
        dry_run: bool = False,
        field_validation: FieldValidation | None = None,
    ) -> tuple[StoredObject, bool]:
        """Patch an object; returns ``(object, created)`` (only an apply patch creates)."""
        r = served.resource
        fv = field_validation or FieldValidation()
        if patch_type not in PATCH_TYPES:
            raise unsupported_media_type(
                f"the body of the request was in an unknown format - accepted media types "
                f"include: {', '.join(PATCH_TYPES)}"
            )
        if patch_type == STRATEGIC_PATCH and served.custom:
            raise unsupported_media_type(
                "the body of the request was in an unknown format - accepted media types "
                "include: application/json-patch+json, application/merge-patch+json, "
                "application/apply-patch+yaml"
            )
        if patch_type == APPLY_PATCH:
            return self._apply(served, namespace, name, data, client, subresource,
                               field_manager, dry_run, fv)
        try:
            patch = orjson.loads(data)
        except orjson.JSONDecodeError as e:
            raise bad_request(f"error decoding patch: {e}") from None
        cur = self.get(served, namespace, name)
        original = self._to_request(served, orjson.loads(cur.raw))
        try:
            if patch_type == JSON_PATCH:
                patched = json_patch(original, patch)
            elif patch_type == MERGE_PATCH:
                if not isinstance(patch, dict):
                    raise PatchError("a merge patch must be a JSON object", malformed=True)
                patched = merge_patch(original, patch)
            else:
                if not isinstance(patch, dict):
                    raise PatchError("a strategic merge patch must be a JSON object",
                                     malformed=True)
                patched = strategic_merge_patch(original, patch)
        except PatchError as e:
            if e.malformed:
                raise bad_request(str(e)) from None
            raise ApiError(_status_422(r, name, str(e)), 422) from None
        obj = self._to_storage(served, check_body(served, patched, namespace, name))
        if obj["apiVersion"] != cur.obj.get("apiVersion"):
            raise bad_request("a patch may not change apiVersion")
        if str(obj["metadata"].get("resourceVersion") or "") != str(cur.rv):
            raise conflict(r, name, "the object has been modified; please apply your changes "
                           "to the latest version and try again")
        obj = decode(served, obj, fv, patch=patch, patch_type=patch_type)
        return self._update(served, cur, obj, client, "patch", subresource, dry_run, fv), False

    def _apply(
        self,
        served: ServedResource,
        namespace: str | None,
        name: str,
        data: bytes,
        client: ClientInfo,
        subresource: str,
        field_manager: str | None,
        dry_run: bool,
        fv: FieldValidation,
    ) -> tuple[StoredObject, bool]:
        if not field_manager:
            raise bad_request("PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required "
                              "value: is required for apply patch")
        body = decode_json_or_yaml(data)
        if not isinstance(body, dict):
            raise bad_request("an apply patch must be an object")
        if not body.get("apiVersion") or not body.get("kind"):
            raise bad_request("apiVersion and kind must be set in an apply patch")
        key = object_key(served, namespace, name)
        cur = self.rs(served).get(key)
        if cur is None:
            if subresource:
                raise not_found(served.resource, name)
            body = {**body, "metadata": {**(body.get("metadata") or {}), "name": name}}
            check_body(served, body, namespace, name)
            return self.create(served, namespace, body, client, dry_run=dry_run,
                               verb="patch", field_validation=fv), True
        obj = check_body(served, body, namespace, name)
        rv = obj["metadata"].get("resourceVersion")
        if rv and str(rv) != str(cur.rv):
            raise conflict(served.resource, name, "the object has been modified; please apply "
                           "your changes to the latest version and try again")
        merged = merge_patch(self._to_request(served, orjson.loads(cur.raw)), obj)
        merged = decode(served, self._to_storage(served, merged), fv, patch=body,
                        patch_type=APPLY_PATCH)
        return self._update(served, cur, merged, client, "patch", subresource, dry_run,
                            fv), False

    def _update(
        self,
        served: ServedResource,
        cur: StoredObject,
        obj: dict[str, Any],
        client: ClientInfo,
        verb: str,
        subresource: str,
        dry_run: bool,
        fv: FieldValidation | None = None,
        *,
        unchecked: bool = False,
    ) -> StoredObject:
        r = served.resource
        # The stored object as the real server reads it back: decoded, hence defaulted
        # (objects bulk-loaded by seed() were stored without defaults).
        old = apply_defaults(served, orjson.loads(cur.raw))
        warnings = fv.warnings if fv is not None else []
        has_status = "status" in r.subresources
        if subresource == "status":
            if not has_status:
                raise not_found(r, str(old["metadata"].get("name")))
            new = {k: v for k, v in old.items() if k != "status"}
            if "status" in obj:
                new["status"] = obj["status"]
        else:
            new = dict(obj)
            if has_status:
                new.pop("status", None)
                if "status" in old:
                    new["status"] = old["status"]
        old_meta: dict[str, Any] = old["metadata"]
        meta = dict(old_meta) if subresource == "status" else dict(new["metadata"])
        for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                  "namespace", "name", "generation"):
            if k in old_meta:
                meta[k] = old_meta[k]
            else:
                meta.pop(k, None)
        meta["resourceVersion"] = str(cur.rv)
        new["metadata"] = meta
        name = str(meta.get("name"))
        if old_meta.get("deletionTimestamp"):
            added = set(meta.get("finalizers") or ()) - set(old_meta.get("finalizers") or ())
            if added:
                raise invalid(r, name, [("FieldValueForbidden", "metadata.finalizers",
                                         "Forbidden: no new finalizers can be added if the "
                                         "object is being deleted, found new finalizers "
                                         f"{sorted(added)}")])
        if not unchecked:
            errors = [] if subresource == "status" else self.admission.prepare_update(
                served, old, new)
            apply_defaults(served, new)
            validate_update(served, old, new, subresource, warnings, errors)
        if _spec_part(new, has_status) != _spec_part(old, has_status):
            meta["generation"] = int(old_meta.get("generation") or 0) + 1
        if not meta.get("finalizers"):
            meta.pop("finalizers", None)
        if served.group_resource == _CRD and subresource != "status":
            problems = crd_problems(new)
            if problems:
                raise invalid(r, name, problems)
        if _same(new, old):
            return cur
        if dry_run:
            return StoredObject(new, orjson.dumps(new), cur.rv)
        key = _key_of(served, cur)
        if old_meta.get("deletionTimestamp") and not meta.get("finalizers"):
            response = StoredObject.build(new, self.store.revision + 1)
            self._finish_delete(served, key, client, verb, subresource)
            return response
        ev = self._put(served, key, new)
        self._log(verb, served, ev, client, subresource)
        if served.group_resource == _CRD:
            self._sync_crd(old, new)
        return ev.obj

    # --- delete ---------------------------------------------------------------------------

    def delete(
        self,
        served: ServedResource,
        namespace: str | None,
        name: str,
        options: Any = None,
        client: ClientInfo = IN_PROCESS,
        *,
        dry_run: bool = False,
        verb: str = "delete",
    ) -> tuple[StoredObject, bool]:
        """Delete an object; returns ``(object, gone)``. With finalizers the object only gets
        a ``deletionTimestamp`` (``gone`` is false) until an update removes them."""
        r = served.resource
        cur = self.get(served, namespace, name)
        opts = options if isinstance(options, dict) else {}
        pre = opts.get("preconditions") or {}
        meta = cur.obj["metadata"]
        if pre.get("uid") and pre["uid"] != meta.get("uid"):
            raise conflict(r, name, f"Precondition failed: UID in precondition: {pre['uid']}, "
                           f"UID in object meta: {meta.get('uid')}")
        if pre.get("resourceVersion") and str(pre["resourceVersion"]) != str(cur.rv):
            raise conflict(r, name, "Precondition failed: ResourceVersion in precondition: "
                           f"{pre['resourceVersion']}, ResourceVersion in object meta: {cur.rv}")
        key = object_key(served, namespace, name)
        if served.group_resource == "namespaces":
            if name in _UNDELETABLE:
                raise forbidden(r, name, "this namespace may not be deleted")
            if not dry_run:
                return self._delete_namespace(served, cur, client, verb)
        if meta.get("finalizers"):
            if meta.get("deletionTimestamp"):
                return cur, False
            new = {**cur.obj, "metadata": {
                **meta,
                "deletionTimestamp": now_rfc3339(),
                "deletionGracePeriodSeconds": 0,
                "generation": int(meta.get("generation") or 0) + 1,
            }}
            if dry_run:
                return StoredObject(new, orjson.dumps(new), cur.rv), False
            ev = self._put(served, key, new)
            self._log(verb, served, ev, client)
            return ev.obj, False
        if dry_run:
            return cur, True
        return self._finish_delete(served, key, client, verb), True

    def _finish_delete(self, served: ServedResource, key: str, client: ClientInfo,
                       verb: str, subresource: str = "") -> StoredObject:
        ev = self._remove(served, key)
        self._log(verb, served, ev, client, subresource)
        if served.group_resource == _CRD:
            self._sync_crd(ev.prev.obj if ev.prev else None, None)
        ns = ev.namespace
        if ns and served.resource.namespaced:
            self._maybe_finish_namespace(ns, client)
        return ev.obj

    def _delete_namespace(
        self, served: ServedResource, cur: StoredObject, client: ClientInfo, verb: str
    ) -> tuple[StoredObject, bool]:
        meta = cur.obj["metadata"]
        ns = str(meta["name"])
        if not meta.get("deletionTimestamp"):
            self._emptying.add(ns)
            try:
                new = {**cur.obj,
                       "metadata": {**meta, "deletionTimestamp": now_rfc3339(),
                                    "deletionGracePeriodSeconds": 0},
                       "status": {**(cur.obj.get("status") or {}), "phase": "Terminating"}}
                ev = self._put(served, ns, new)
                self._log(verb, served, ev, client)
                for other in self.registry.all():
                    if other.resource.namespaced:
                        self._delete_all_in(other, ns, client)
            finally:
                self._emptying.discard(ns)
        gone = self._maybe_finish_namespace(ns, client)
        if gone is not None:
            return gone, True
        return self.rs(served).get(ns) or cur, False

    def _delete_all_in(self, served: ServedResource, ns: str, client: ClientInfo) -> None:
        rs = self.rs(served)
        for k in list(rs.objects.irange(f"{ns}/", f"{ns}0", inclusive=(True, False))):
            so: StoredObject = rs.objects[k]
            if served.storage_version == served.resource.version:
                self.delete(served, ns, str(so.obj["metadata"]["name"]), None, client)

    def _maybe_finish_namespace(self, ns: str, client: ClientInfo) -> StoredObject | None:
        served = self._namespaces()
        cur = self.rs(served).get(ns)
        if cur is None or ns in self._emptying:
            return None
        meta = cur.obj["metadata"]
        if not meta.get("deletionTimestamp") or meta.get("finalizers"):
            return None
        for rs in self.store.resources():
            if any(True for _ in rs.objects.irange(f"{ns}/", f"{ns}0", inclusive=(True, False))):
                return None
        return self._finish_delete(served, ns, client, "delete")

    def delete_collection(
        self,
        served: ServedResource,
        namespace: str | None,
        opts: ListOptions,
        options: Any = None,
        client: ClientInfo = IN_PROCESS,
        *,
        dry_run: bool = False,
    ) -> list[StoredObject]:
        """Delete every object the selectors match (finalizers respected)."""
        check_field_selector(served, opts.field)
        reader = field_reader(served)
        rs = self.rs(served)
        targets = [
            so for so in rs.view(self.store.revision, namespace)
            if opts.label.matches((so.obj.get("metadata") or {}).get("labels"))
            and matches(reader, opts.field, so.obj)
        ]
        out = []
        for so in targets:
            meta = so.obj["metadata"]
            try:
                obj, _ = self.delete(served, meta.get("namespace"), str(meta["name"]), options,
                                     client, dry_run=dry_run, verb="deletecollection")
            except ApiError:
                continue
            out.append(obj)
        return out

    # --- CRDs -----------------------------------------------------------------------------

    def _sync_crd(self, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        before = crd_resources(old) if old else []
        after = crd_resources(new) if new else []
        keep = {(s.resource.group, s.resource.version, s.resource.plural) for s in after}
        removed = [s for s in before
                   if (s.resource.group, s.resource.version, s.resource.plural) not in keep]
        for s in removed:
            self.registry.remove(s.resource)
        for s in after:
            self.registry.add(s)
        if new is None and before:
            gone = before[0]
            rs = self.store.resource(gone.group_resource)
            for key in list(rs.objects.keys()):
                self._finish_delete(gone, key, IN_PROCESS, "delete")
        self._on_resources_changed(removed if new is not None else before)

    def register(self, served: ServedResource) -> None:
        """Serve ``served`` (as if by a CRD, without the CRD object)."""
        self.registry.add(served)


def _key_of(served: ServedResource, so: StoredObject) -> str:
    meta = so.obj["metadata"]
    return object_key(served, meta.get("namespace"), str(meta.get("name")))


def _status_422(resource: Resource, name: str, message: str) -> dict[str, Any]:
    return status_body(422, "Invalid", message, name=name, kind=resource.kind,
                       group=resource.group or None)


def _monotonic() -> float:
    return time.monotonic()
