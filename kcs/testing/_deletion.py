"""DELETE as kube-apiserver's generic registry does it: graceful deletion, finalizers and the
garbage collector's finalizers, and the namespace's own deletion.

For every kind (``Store.Delete``):

* preconditions (uid, resourceVersion) are checked first, worded as ``rest.BeforeDelete``
  words them (``Operation cannot be fulfilled on Pod "p": the UID in the precondition (x)
  does not match the UID in record (y). The object might have been deleted and then
  recreated``);
* the propagation policy becomes finalizers: ``Orphan`` adds ``orphan``, ``Foreground`` adds
  ``foregroundDeletion``, ``Background`` removes both; without a policy the object's own
  finalizers decide, then the kind's default (``Orphan`` for batch/v1 Jobs and v1
  ReplicationControllers, as kube keeps for compatibility; ``Background`` otherwise);
* an object with finalizers gets ``deletionTimestamp`` (now) and
  ``deletionGracePeriodSeconds: 0`` and stays; without finalizers it is deleted at once;
* starting deletion bumps the generation of objects that have one.

Pods (the only kind with graceful deletion): the grace period is the request's
``gracePeriodSeconds``, else the pod's ``terminationGracePeriodSeconds`` (30 when unset, the
default kube fills in), but 0 for a pod that is not scheduled (no ``spec.nodeName``) or has
finished (``Succeeded``/``Failed``); negative values mean 1. A graceful delete sets
``deletionTimestamp`` to now plus the grace period and ``deletionGracePeriodSeconds`` and
the pod stays until its node confirms with a delete of grace 0; a later delete may only
shorten the grace period. With grace 0 the pod is written once with its
``deletionTimestamp`` (a MODIFIED) and then deleted (DELETED), as kube does.

Namespaces: the first delete sets ``deletionTimestamp`` and ``status.phase: Terminating``
(no grace period) and leaves the rest to the namespace controller; while
``spec.finalizers`` is not empty further deletes change nothing; ``default``,
``kube-system`` and ``kube-public`` cannot be deleted (403).

An update that removes the last finalizer of an object being deleted (whose grace period
is over: ``deletionGracePeriodSeconds`` unset or 0) deletes it, see :func:`emptied`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson

from kcs.testing._generation import bump_on_delete
from kcs.testing._options import DeleteOptions
from kcs.testing._registry import ServedResource
from kcs.testing._status import conflict, forbidden
from kcs.testing._store import StoredObject
from kcs.testing._watch import ClientInfo

if TYPE_CHECKING:
    from kcs.testing._verbs import Verbs

__all__ = [
    "FOREGROUND",
    "IMMORTAL_NAMESPACES",
    "ORPHAN",
    "Deleter",
    "emptied",
    "format_time",
    "gc_finalizers",
    "parse_time",
]

ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"
IMMORTAL_NAMESPACES = frozenset({"default", "kube-system", "kube-public"})
DEFAULT_GRACE_SECONDS = 30
_ORPHAN_BY_DEFAULT = frozenset({("jobs.batch", "v1"), ("replicationcontrollers", "v1")})


def format_time(t: datetime) -> str:
    """RFC 3339 with seconds, UTC, as kube writes metav1.Time."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: Any) -> datetime | None:
    """A metav1.Time string as a datetime (``None`` when absent or unreadable)."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None


def _now() -> datetime:
    return datetime.now(UTC)


def gc_finalizers(served: ServedResource, finalizers: list[str],
                  opts: DeleteOptions) -> tuple[bool, list[str]]:
    """The finalizers a delete leaves (``deletionFinalizersForGarbageCollection``):
    ``(changed, finalizers)``."""
    orphan_default = (served.group_resource, served.resource.version) in _ORPHAN_BY_DEFAULT

    def decided(by_policy: dict[str, bool], by_finalizer: dict[str, bool], default: bool,
                by_orphan_flag: bool | None) -> bool:
        if opts.orphan_dependents is not None:
            return by_orphan_flag if by_orphan_flag is not None else opts.orphan_dependents
        if opts.propagation_policy is not None:
            return by_policy[opts.propagation_policy]
        for f in finalizers:
            if f in by_finalizer:
                return by_finalizer[f]
        return default

    orphan = decided({"Orphan": True, "Background": False, "Foreground": False},
                     {ORPHAN: True, FOREGROUND: False}, orphan_default, None)
    foreground = decided({"Foreground": True, "Background": False, "Orphan": False},
                         {FOREGROUND: True, ORPHAN: False}, False, False)
    new = [f for f in finalizers if f not in (ORPHAN, FOREGROUND)]
    if orphan:
        new.append(ORPHAN)
    if foreground:
        new.append(FOREGROUND)
    if set(new) == set(finalizers):
        return False, finalizers
    return True, new


def emptied(served: ServedResource, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether an update deletes the object (``ShouldDeleteDuringUpdate``): it is being
    deleted, its grace period is over, and the update leaves no finalizer (for namespaces,
    no ``spec.finalizers`` either)."""
    old_meta = old.get("metadata") or {}
    if not old_meta.get("deletionTimestamp"):
        return False
    if (new.get("metadata") or {}).get("finalizers"):
        return False
    if old_meta.get("deletionGracePeriodSeconds") not in (None, 0):
        return False
    return not (served.group_resource == "namespaces"
                and (new.get("spec") or {}).get("finalizers"))


class Deleter:
    """The delete verb of one :class:`~._verbs.Verbs` (see the module doc)."""

    def __init__(self, verbs: Verbs) -> None:
        self.verbs = verbs

    def delete(self, served: ServedResource, namespace: str | None, name: str,
               opts: DeleteOptions, client: ClientInfo, verb: str) -> tuple[StoredObject, bool]:
        """Delete; returns ``(object, gone)``."""
        v = self.verbs
        r = served.resource
        if served.group_resource == "namespaces" and name in IMMORTAL_NAMESPACES:
            raise forbidden(r, name, "this namespace may not be deleted")
        cur = v.get(served, namespace, name)
        if served.group_resource == "namespaces":
            return self._delete_namespace(served, cur, opts, client, verb)
        meta: dict[str, Any] = cur.obj["metadata"]
        self._check_preconditions(served, cur, opts)
        new_meta = dict(meta)
        graceful, pending, period = False, False, 0
        if served.group_resource == "pods":
            graceful, pending, period = self._pod_grace(cur.obj, new_meta, opts)
        if pending:
            return cur, False
        finalizers = list(meta.get("finalizers") or [])
        changed, finalizers = gc_finalizers(served, finalizers, opts)
        if changed:
            if finalizers:
                new_meta["finalizers"] = finalizers
            else:
                new_meta.pop("finalizers", None)
        pending_finalizers = bool(new_meta.get("finalizers"))
        key = v.key(served, cur)
        if not (graceful or pending_finalizers or changed):
            return self._gone(served, key, cur, client, verb, opts.dry_run), True
        if not graceful:
            if not pending_finalizers:
                return self._gone(served, key, cur, client, verb, opts.dry_run), True
            _mark_as_deleting(new_meta)
        obj = self._write(served, key, cur, new_meta, client, verb, opts.dry_run)
        if pending_finalizers or (graceful and period > 0):
            return obj, False
        if opts.dry_run:
            return obj, True
        return v.finish_delete(served, key, client, verb), True

    # --- pieces -----------------------------------------------------------------------------

    def _check_preconditions(self, served: ServedResource, cur: StoredObject,
                             opts: DeleteOptions) -> None:
        meta = cur.obj["metadata"]
        r = served.resource
        kind = f"{r.kind}.{r.group}" if r.group else r.kind
        name = str(meta.get("name"))
        uid = opts.preconditions.get("uid")
        rv = opts.preconditions.get("resourceVersion")
        if uid and uid != meta.get("uid"):
            raise conflict(r, name, f"the UID in the precondition ({uid}) does not match the "
                           f"UID in record ({meta.get('uid')}). The object might have been "
                           "deleted and then recreated", qualified=kind, kind=r.kind)
        if rv and str(rv) != str(cur.rv):
            raise conflict(r, name, f"the ResourceVersion in the precondition ({rv}) does not "
                           f"match the ResourceVersion in record ({cur.rv}). The object might "
                           "have been modified", qualified=kind, kind=r.kind)

    def _pod_grace(self, pod: Mapping[str, Any], meta: dict[str, Any],
                   opts: DeleteOptions) -> tuple[bool, bool, int]:
        """``(graceful, pending, period)`` per BeforeDelete and the pod strategy; updates
        ``meta`` for a graceful delete."""
        grace = opts.grace_period_seconds
        if grace is not None and grace < 0:
            grace = 1
        current = meta.get("deletionGracePeriodSeconds")
        if isinstance(current, int) and current < 0:
            current = 1
        if meta.get("deletionTimestamp"):
            if not current:
                return False, False, 0
            if grace is None or grace >= current:
                return False, True, 0
            ts = parse_time(meta["deletionTimestamp"]) or _now()
            meta["deletionTimestamp"] = format_time(ts - timedelta(seconds=current)
                                                    + timedelta(seconds=grace))
            meta["deletionGracePeriodSeconds"] = grace
            return True, False, grace
        spec = pod.get("spec") or {}
        if grace is None:
            tgps = spec.get("terminationGracePeriodSeconds")
            grace = tgps if isinstance(tgps, int) else DEFAULT_GRACE_SECONDS
        if not spec.get("nodeName"):
            grace = 0
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            grace = 0
        if grace < 0:
            grace = 1
        meta["deletionTimestamp"] = format_time(_now() + timedelta(seconds=grace))
        meta["deletionGracePeriodSeconds"] = grace
        bump_on_delete(meta)
        return True, False, grace

    def _write(self, served: ServedResource, key: str, cur: StoredObject,
               new_meta: dict[str, Any], client: ClientInfo, verb: str,
               dry_run: bool) -> StoredObject:
        new = {**cur.obj, "metadata": new_meta}
        if new == cur.obj:
            return cur
        if dry_run:
            return StoredObject(new, orjson.dumps(new), cur.rv)
        return self.verbs.commit(served, key, new, client, verb)

    def _gone(self, served: ServedResource, key: str, cur: StoredObject, client: ClientInfo,
              verb: str, dry_run: bool) -> StoredObject:
        if dry_run:
            return cur
        return self.verbs.finish_delete(served, key, client, verb)

    def _delete_namespace(self, served: ServedResource, cur: StoredObject,
                          opts: DeleteOptions, client: ClientInfo,
                          verb: str) -> tuple[StoredObject, bool]:
        meta: dict[str, Any] = cur.obj["metadata"]
        r = served.resource
        name = str(meta["name"])
        uid = opts.preconditions.get("uid")
        rv = opts.preconditions.get("resourceVersion")
        if uid and uid != meta.get("uid"):
            raise conflict(r, name, f"Precondition failed: UID in precondition: {uid}, UID in "
                           f"object meta: {meta.get('uid')}")
        if rv and str(rv) != str(cur.rv):
            raise conflict(r, name, f"Precondition failed: ResourceVersion in precondition: "
                           f"{rv}, ResourceVersion in object meta: {cur.rv}")
        if not meta.get("deletionTimestamp"):
            new_meta = dict(meta)
            new_meta["deletionTimestamp"] = format_time(_now())
            finalizers = [f for f in meta.get("finalizers") or [] if f not in (ORPHAN, FOREGROUND)]
            have = set(meta.get("finalizers") or [])
            if _ns_should_have(opts, ORPHAN, ORPHAN in have):
                finalizers.append(ORPHAN)
            if _ns_should_have(opts, FOREGROUND, FOREGROUND in have):
                finalizers.append(FOREGROUND)
            if finalizers:
                new_meta["finalizers"] = finalizers
            else:
                new_meta.pop("finalizers", None)
            new = {**cur.obj, "metadata": new_meta,
                   "status": {**(cur.obj.get("status") or {}), "phase": "Terminating"}}
            if opts.dry_run:
                return StoredObject(new, orjson.dumps(new), cur.rv), False
            return self.verbs.commit(served, name, new, client, verb), False
        if (cur.obj.get("spec") or {}).get("finalizers"):
            return cur, False
        plain = DeleteOptions(opts.grace_period_seconds, opts.propagation_policy,
                              opts.orphan_dependents, {}, opts.dry_run)
        meta_fin = list(meta.get("finalizers") or [])
        _, finalizers = gc_finalizers(served, meta_fin, plain)
        if not finalizers:
            if opts.dry_run:
                return cur, True
            return self.verbs.finish_delete(served, name, client, verb), True
        new_meta = dict(meta)
        new_meta["finalizers"] = finalizers
        _mark_as_deleting(new_meta)
        return self._write(served, name, cur, new_meta, client, verb, opts.dry_run), False


def _ns_should_have(opts: DeleteOptions, finalizer: str, has: bool) -> bool:
    if opts.orphan_dependents is not None:
        return opts.orphan_dependents if finalizer == ORPHAN else False
    if opts.propagation_policy is not None:
        return opts.propagation_policy == ("Orphan" if finalizer == ORPHAN else "Foreground")
    return has


def _mark_as_deleting(meta: dict[str, Any]) -> None:
    """Deletion starts (or goes on) for an object without graceful deletion."""
    now = _now()
    existing = parse_time(meta.get("deletionTimestamp"))
    if existing is None:
        bump_on_delete(meta)
    if existing is None or existing > now:
        meta["deletionTimestamp"] = format_time(now)
    meta["deletionGracePeriodSeconds"] = 0
