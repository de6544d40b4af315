"""The write verbs with kube-apiserver's semantics, independent of HTTP.

This is the fake's generic registry: what create, update, patch and delete mean for any
kind (the read verbs are in ``_reads``). The HTTP handlers and the in-process Python API
both call it, so they behave the same. It raises :mod:`kcs.client` errors carrying Status
objects.

Semantics (all as kube-apiserver, see docs/testing.md for what is simplified):

* metadata owned by the server: ``uid``, ``creationTimestamp``, ``resourceVersion``,
  ``generation`` (per kind, see ``_generation``), ``deletionTimestamp``,
  ``managedFields`` (every write records its manager, see ``_managedfields``);
* a write that changes nothing is not a write: no new resourceVersion, no event;
* kinds with a status subresource: the main resource ignores ``status``, ``/status`` changes
  only ``status``, and ``status`` is reset at create;
* optimistic concurrency: a stale ``metadata.resourceVersion`` in an update or patch is a 409
  Conflict; no resourceVersion means an unconditional update;
* decoding (pruning, field validation), defaulting, admission (``_admission`` changes
  objects; ``_validatingadmission`` refuses creates in missing or terminating namespaces,
  and pods whose service account does not exist) and validation, as kube-apiserver 1.36;
* deletion: graceful deletion of pods, finalizers, the garbage collector's ``orphan`` and
  ``foregroundDeletion`` finalizers, namespaces (see ``_deletion``); the update that removes
  the last finalizer of an object whose deletion is due deletes it;
* server-side apply: see ``_managedfields`` and ``_typed``;
* CRDs: creating one serves its kinds at once (status Established), deleting one deletes its
  objects and stops serving them.

What the cluster's controllers do (garbage collection, namespace termination, the default
service account, the kubelet confirming pod deletions) is not here but in ``_cluster``.
"""

from __future__ import annotations

import copy
import importlib
import random
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from kcs.core import ApiError, NotFound, Resource, status_body
from kcs.testing import _events  # noqa: F401  (registers the Event conversions)
from kcs.testing import _generation as generation
from kcs.testing._accounting import WriteLog, WriteRecord
from kcs.testing._admission import Admission
from kcs.testing._decoding import FieldValidation, decode
from kcs.testing._defaults import apply_defaults
from kcs.testing._deletion import Deleter, emptied
from kcs.testing._fields import check_field_selector, field_reader, matches
from kcs.testing._listing import ListOptions
from kcs.testing._managedfields import FieldManager, builtin_or_crd_shape, manager_from
from kcs.testing._options import (
    DeleteOptions,
    check_field_manager,
    check_patch_options,
    delete_options,
)
from kcs.testing._patch import PatchError, json_patch, merge_patch, strategic_merge_patch
from kcs.testing._registry import Registry, ServedResource, crd_problems, crd_resources, crd_status
from kcs.testing._status import (
    already_exists,
    bad_request,
    conflict,
    internal_error,
    invalid,
    not_found,
    unsupported_media_type,
)
from kcs.testing._store import ResourceStore, Store, StoredObject, WatchEvent, convert_object
from kcs.testing._validatingadmission import ValidatingAdmission
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
# subresources whose writes keep the stored metadata (their body changes one part only)
_METADATA_KEPT = frozenset({"status", "finalize"})
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"


def now_rfc3339() -> str:
    """The current time as kube writes timestamps (RFC 3339, seconds, UTC)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def object_key(served: ServedResource, namespace: str | None, name: str) -> str:
    """The store key: ``namespace/name`` for namespaced kinds, ``name`` otherwise."""
    return f"{namespace}/{name}" if served.resource.namespaced else name


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
    changed), so the server can end their watches. :attr:`admission` and
    :attr:`field_manager` are the admission checks and the managedFields keeper.
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
        self.field_manager = FieldManager(
            lambda s: builtin_or_crd_shape(s, self._crd_schema), now_rfc3339)
        self.admission = Admission(self, self._rng)
        self.lifecycle = ValidatingAdmission(self.namespace_state, self.service_account,
                                             self.namespaces)
        self.deleter = Deleter(self)

    # --- helpers --------------------------------------------------------------------------

    def served(self, resource: Resource) -> ServedResource:
        """The registration of ``resource``; 404 when it is not served."""
        s = self.registry.served(resource)
        if s is None:
            raise not_found(None, "", plural=resource.plural)
        return s

    def rs(self, served: ServedResource) -> ResourceStore:
        """The store of ``served``'s objects."""
        return self.store.resource(served.store_key)

    def _to_storage(self, served: ServedResource, obj: dict[str, Any]) -> dict[str, Any]:
        return convert_object(obj, served.storage_api_version)

    def _to_request(self, served: ServedResource, obj: dict[str, Any]) -> dict[str, Any]:
        return convert_object(obj, served.resource.api_version)

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

    def commit(self, served: ServedResource, key: str, obj: dict[str, Any], client: ClientInfo,
               verb: str, subresource: str = "") -> StoredObject:
        """Store ``obj`` at ``key`` (a new revision, one event) and record the write."""
        ev = self._put(served, key, obj)
        self._log(verb, served, ev, client, subresource)
        return ev.obj

    @staticmethod
    def key(served: ServedResource, so: StoredObject) -> str:
        """The store key of a stored object."""
        return _key_of(served, so)

    def ensure_namespace(self, namespace: str) -> None:
        """Create namespace ``namespace`` (in-process) unless it exists."""
        if self.namespace_state(namespace) is None:
            self.create(self.namespaces(), None, {"metadata": {"name": namespace}})

    def namespace_state(self, namespace: str) -> StoredObject | None:
        return self.rs(self.namespaces()).get(namespace)

    def service_account(self, namespace: str, name: str) -> StoredObject | None:
        sa = self.registry.lookup("", "v1", "serviceaccounts")
        return None if sa is None else self.rs(sa).get(f"{namespace}/{name}")

    def get_object(self, group_resource: str, namespace: str | None,
                   name: str) -> dict[str, Any] | None:
        """The stored object of ``group_resource`` (for admission), or ``None``."""
        so = self.store.resource(group_resource).get(f"{namespace}/{name}" if namespace else name)
        return so.obj if so is not None else None

    def list_objects(self, group_resource: str) -> list[dict[str, Any]]:
        """Every stored object of ``group_resource`` (for admission)."""
        return [so.obj for so in self.store.resource(group_resource).objects.values()]

    def _crd_schema(self, served: ServedResource) -> dict[str, Any] | None:
        """The openAPIV3Schema of a custom resource's version, from its CRD (if any)."""
        r = served.resource
        crd_served = self.registry.lookup("apiextensions.k8s.io", "v1",
                                          "customresourcedefinitions")
        if crd_served is None:
            return None
        crd = self.rs(crd_served).get(f"{r.plural}.{r.group}")
        if crd is None:
            return None
        for v in (crd.obj.get("spec") or {}).get("versions") or []:
            if isinstance(v, dict) and v.get("name") == r.version:
                schema = (v.get("schema") or {}).get("openAPIV3Schema")
                return schema if isinstance(schema, dict) else None
        return None

    def get(self, served: ServedResource, namespace: str | None, name: str) -> StoredObject:
        """The current object; 404 NotFound when absent."""
        cur = self.rs(served).get(object_key(served, namespace, name))
        if cur is None:
            raise not_found(served.resource, name)
        return cur

    def namespaces(self) -> ServedResource:
        ns = self.registry.lookup("", "v1", "namespaces")
        assert ns is not None
        return ns

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
        field_manager: str | None = None,
        field_validation: FieldValidation | None = None,
        managed_fields_done: bool = False,
    ) -> StoredObject:
        """Create an object (201 semantics); see the module doc for the rules."""
        r = served.resource
        check_field_manager("CreateOptions", field_manager)
        fv = field_validation or FieldValidation()
        obj = decode(served, check_body(served, body, namespace, None), fv)
        meta: dict[str, Any] = obj["metadata"]
        name = meta.get("name") or ""
        generate = meta.get("generateName") or ""
        if not name and not generate:
            raise invalid(r, "", [("FieldValueRequired", "metadata.name",
                                   "Required value: name or generateName is required")])
        ns = meta.get("namespace") or ""
        if r.namespaced and not ns:
            raise bad_request("the namespace of the object must be set for a namespaced kind")
        self.lifecycle.admit_create(served, obj)
        if meta.get("resourceVersion"):
            raise internal_error("resourceVersion should not be set on objects to be created")
        if served.group_resource == _CRD:
            problems3 = crd_problems(obj)
            if problems3:
                raise invalid(r, name, problems3)
        if not managed_fields_done:
            # The creator owns what it sent, defaults included (kube defaults while
            # decoding), but not what admission and the strategy add afterwards.
            tracked = apply_defaults(served, copy.deepcopy(obj))
            self.field_manager.update(served, None, tracked,
                                      manager_from(field_manager, client.user_agent))
            if "managedFields" in tracked["metadata"]:
                meta["managedFields"] = tracked["metadata"]["managedFields"]
            else:
                meta.pop("managedFields", None)
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
        meta.update(name=name, uid=str(uuid.uuid4()), creationTimestamp=now)
        generation.on_create(served, meta)
        for k in ("deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion"):
            meta.pop(k, None)
        self._initial_status(served, obj, now, fv)
        if dry_run:
            return StoredObject(obj, orjson.dumps(obj), 0)
        obj = self._to_storage(served, obj)
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
        field_manager: str | None = None,
        field_validation: FieldValidation | None = None,
        unchecked: bool = False,
    ) -> StoredObject:
        """Replace an object (PUT); a stale resourceVersion is 409 Conflict. ``unchecked``
        (in-process only) stores ``body`` without decoding, defaulting or validating it."""
        check_field_manager("UpdateOptions", field_manager)
        fv = field_validation or FieldValidation()
        obj = check_body(served, body, namespace, name)
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
                            manager=manager_from(field_manager, client.user_agent),
                            conditional=bool(rv), unchecked=unchecked)

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
        force: bool | None = None,
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
        check_patch_options(patch_type == APPLY_PATCH, field_manager, force)
        if patch_type == APPLY_PATCH:
            return self._apply(served, namespace, name, data, client, subresource,
                               str(field_manager), dry_run, bool(force), fv)
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
        obj = check_body(served, patched, namespace, name)
        if obj["apiVersion"] != r.api_version:
            raise bad_request("a patch may not change apiVersion")
        if str(obj["metadata"].get("resourceVersion") or "") != str(cur.rv):
            raise conflict(r, name, "the object has been modified; please apply your changes "
                           "to the latest version and try again")
        obj = decode(served, obj, fv, patch=patch, patch_type=patch_type)
        manager = manager_from(field_manager, client.user_agent)
        return self._update(served, cur, obj, client, "patch", subresource, dry_run, fv,
                            manager=manager), False

    def _apply(
        self,
        served: ServedResource,
        namespace: str | None,
        name: str,
        data: bytes,
        client: ClientInfo,
        subresource: str,
        field_manager: str,
        dry_run: bool,
        force: bool,
        fv: FieldValidation,
    ) -> tuple[StoredObject, bool]:
        r = served.resource
        body = decode_json_or_yaml(data)
        if not isinstance(body, dict):
            raise bad_request("an apply patch must be an object")
        group_version = str(body.get("apiVersion") or "")
        if body.get("kind") != r.kind or group_version != r.api_version:
            g, _, v = group_version.rpartition("/")
            raise bad_request(f"invalid object type: {g}/{v}, Kind={body.get('kind') or ''}")
        if (body.get("metadata") or {}).get("managedFields") is not None:
            raise bad_request("metadata.managedFields must be nil")
        key = object_key(served, namespace, name)
        cur = self.rs(served).get(key)
        if cur is None:
            if subresource:
                raise not_found(r, name)
            body = {**body, "metadata": {**(body.get("metadata") or {}), "name": name}}
            config = check_body(served, body, namespace, name)
            obj = self.field_manager.apply(served, None, config, field_manager, force=force)
            _drop_nulls(obj)
            return self.create(served, namespace, obj, client, dry_run=dry_run, verb="patch",
                               field_validation=fv, managed_fields_done=True), True
        config = check_body(served, body, namespace, name)
        rv = config["metadata"].get("resourceVersion")
        if rv and str(rv) != str(cur.rv):
            raise conflict(r, name, "the object has been modified; please apply "
                           "your changes to the latest version and try again")
        live = self._to_request(served, orjson.loads(cur.raw))
        merged = self.field_manager.apply(served, live, config, field_manager, force=force,
                                          subresource=subresource)
        merged = decode(served, merged, fv, patch=body, patch_type=APPLY_PATCH)
        return self._update(served, cur, merged, client, "patch", subresource, dry_run, fv,
                            manager=field_manager, managed_fields_done=True), False

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
        manager: str,
        managed_fields_done: bool = False,
        conditional: bool = True,
        unchecked: bool = False,
    ) -> StoredObject:
        r = served.resource
        # The stored object as the real server reads it back: decoded, hence defaulted
        # (objects bulk-loaded by seed() were stored without defaults), at the version of
        # the request; ``obj`` is at that version too, and only the write converts it.
        old = apply_defaults(served, self._to_request(served, orjson.loads(cur.raw)))
        warnings = fv.warnings if fv is not None else []
        has_status = "status" in r.subresources
        if subresource == "status":
            if not has_status:
                raise not_found(r, str(old["metadata"].get("name")))
            new = {k: v for k, v in old.items() if k != "status"}
            if "status" in obj:
                new["status"] = obj["status"]
        elif subresource == "finalize":
            new = dict(old)
            spec = {k: v for k, v in (old.get("spec") or {}).items() if k != "finalizers"}
            finalizers = list((obj.get("spec") or {}).get("finalizers") or [])
            if finalizers:
                spec["finalizers"] = finalizers
            new["spec"] = spec
        else:  # the main resource, or a subresource handler's whole object (scale, binding)
            new = dict(obj)
            if has_status:
                new.pop("status", None)
                if "status" in old:
                    new["status"] = old["status"]
        old_meta: dict[str, Any] = old["metadata"]
        own_meta = subresource in _METADATA_KEPT
        meta = dict(old_meta) if own_meta else dict(new["metadata"])
        if own_meta and managed_fields_done and "managedFields" in obj["metadata"]:
            meta["managedFields"] = obj["metadata"]["managedFields"]
        for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                  "namespace", "name"):
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
            errors = [] if own_meta else self.admission.prepare_update(served, old, new)
            apply_defaults(served, new)
            validate_update(served, old, new, subresource, warnings, errors)
        # binding writes the pod in storage, past the strategy and the field manager
        through_strategy = subresource != "binding"
        if through_strategy:
            generation.on_update(served, old, new)
        if not meta.get("finalizers"):
            meta.pop("finalizers", None)
        if not managed_fields_done and through_strategy:
            self.field_manager.update(served, old, new, manager, subresource=subresource)
        if served.group_resource == _CRD and subresource != "status":
            problems = crd_problems(new)
            if problems:
                raise invalid(r, name, problems)
        if _same(new, old):
            return cur
        key = _key_of(served, cur)
        if emptied(served, old, new):
            # The object is deleted instead; the answer is the updated object, which was
            # never stored, so it keeps the resourceVersion the request carried.
            if not conditional:
                meta.pop("resourceVersion", None)
            response = StoredObject(new, orjson.dumps(new), cur.rv)
            if not dry_run:
                self.finish_delete(served, key, client, verb, subresource)
            return response
        if dry_run:
            return StoredObject(new, orjson.dumps(new), cur.rv)
        ev = self._put(served, key, self._to_storage(served, new))
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
        """Delete an object; returns ``(object, gone)``. ``options`` is a DeleteOptions body
        (or a decoded :class:`~._options.DeleteOptions`). See ``_deletion`` for the rules:
        with finalizers, or for a scheduled pod, the object only gets a
        ``deletionTimestamp`` (``gone`` is false)."""
        opts = delete_options(options)
        if dry_run and not opts.dry_run:
            opts = DeleteOptions(opts.grace_period_seconds, opts.propagation_policy,
                                 opts.orphan_dependents, opts.preconditions, True)
        return self.deleter.delete(served, namespace, name, opts, client, verb)

    def finish_delete(self, served: ServedResource, key: str, client: ClientInfo,
                      verb: str, subresource: str = "") -> StoredObject:
        """Remove the object at ``key`` from the store (a DELETED) and record the write."""
        ev = self._remove(served, key)
        self._log(verb, served, ev, client, subresource)
        if served.group_resource == _CRD:
            self._sync_crd(ev.prev.obj if ev.prev else None, None)
        return ev.obj

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
        """Delete every object the selectors match (each as by :meth:`delete`)."""
        check_field_selector(served, opts.field)
        delete_opts = delete_options(options)
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
                obj, _ = self.delete(served, meta.get("namespace"), str(meta["name"]),
                                     delete_opts, client, dry_run=dry_run,
                                     verb="deletecollection")
            except NotFound:
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
            rs = self.store.resource(gone.store_key)
            for key in list(rs.objects.keys()):
                self.finish_delete(gone, key, IN_PROCESS, "delete")
        self._on_resources_changed(removed if new is not None else before)

    def register(self, served: ServedResource) -> None:
        """Serve ``served`` (as if by a CRD, without the CRD object)."""
        self.registry.add(served)


def _key_of(served: ServedResource, so: StoredObject) -> str:
    meta = so.obj["metadata"]
    return object_key(served, meta.get("namespace"), str(meta.get("name")))


def _drop_nulls(obj: dict[str, Any]) -> None:
    """Remove the nulls an empty object brought into an object created by apply."""
    for k in [k for k, v in obj.items() if v is None]:
        del obj[k]
    for v in obj.values():
        if isinstance(v, dict):
            _drop_nulls(v)


def _status_422(resource: Resource, name: str, message: str) -> dict[str, Any]:
    return status_body(422, "Invalid", message, name=name, kind=resource.kind,
                       group=resource.group or None)


def _monotonic() -> float:
    return time.monotonic()
