"""The garbage collector: dependents follow their owners, by ownerReferences.

As kube-controller-manager's ``garbage-collector-controller``:

* it knows every object's ownerReferences (from every commit, seeded objects included) and
  finds owners by their reference (apiVersion, kind, name, in the dependent's namespace for
  namespaced owners), checking the uid: an owner that is absent, or present with another
  uid, is *dangling*;
* a dependent whose owners are all dangling is deleted (``Background``, or as its own
  finalizers ask); one that still has a live owner only loses the references to dangling
  owners and to owners being deleted in the foreground. This is **background** deletion
  (the owner is gone at once, its dependents follow) and also collects objects created with
  references to owners that never existed;
* **foreground**: an owner with ``deletionTimestamp`` and the ``foregroundDeletion``
  finalizer has its dependents deleted (in the foreground themselves when they have
  dependents); once no dependent with ``blockOwnerDeletion: true`` is left the finalizer is
  removed and the owner goes;
* **orphan**: an owner with ``deletionTimestamp`` and the ``orphan`` finalizer has its
  references removed from every dependent, then the finalizer is removed;
* references it cannot resolve (a kind not served, a cluster-scoped dependent naming a
  namespaced owner) keep the dependent, as kube treats them as unresolvable.

Its writes (JSON merge patches and deletes with a uid precondition) carry the User-Agent of
kube-controller-manager's ``generic-garbage-collector``. kube also reports invalid
references with ``OwnerRefInvalidNamespace`` Events; this one does not.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson

from kcs.core import Conflict, NotFound
from kcs.testing._cluster import Controller, component_client
from kcs.testing._deletion import FOREGROUND, ORPHAN
from kcs.testing._registry import ServedResource
from kcs.testing._store import StoredObject, WatchEvent

if TYPE_CHECKING:
    from kcs.testing._verbs import Verbs

__all__ = ["GarbageCollector"]

CLIENT = component_client("kube-controller-manager", "generic-garbage-collector")
MERGE_PATCH = "application/merge-patch+json"

Node = tuple[str, str]  # (store key, object key)


class GarbageCollector(Controller):
    """See the module doc. Keys are ``("dependent", node)`` and ``("owner", node)``."""

    name = "garbage-collector-controller"

    def __init__(self, verbs: Verbs) -> None:
        super().__init__(verbs)
        self._dependents: dict[str, set[Node]] = {}  # owner uid -> dependents
        self._refs: dict[Node, tuple[str, ...]] = {}  # dependent -> owner uids

    # --- the graph --------------------------------------------------------------------------

    def observe(self, group_resource: str, ev: WatchEvent) -> None:
        node: Node = (group_resource, ev.key)
        meta: Mapping[str, Any] = ev.obj.obj.get("metadata") or {}
        if ev.type == "DELETED":
            self._unlink(node)
            uid = meta.get("uid")
            if uid:
                for dep in self._dependents.get(str(uid), ()):
                    self.queue(("dependent", dep))
            self._queue_owners(group_resource, meta)
            return
        refs = meta.get("ownerReferences")
        prev_refs = (ev.prev.obj.get("metadata") or {}).get("ownerReferences") if ev.prev else None
        if refs is not prev_refs and refs != prev_refs:
            self._unlink(node)
            uids = tuple(str(r.get("uid")) for r in refs or () if isinstance(r, Mapping))
            if uids:
                self._refs[node] = uids
                for u in uids:
                    self._dependents.setdefault(u, set()).add(node)
                self.queue(("dependent", node))
            if prev_refs:
                self._queue_owners(group_resource, meta, prev_refs)
        finalizers = meta.get("finalizers")
        if finalizers and meta.get("deletionTimestamp") and (
                ORPHAN in finalizers or FOREGROUND in finalizers):
            self.queue(("owner", node))
            if FOREGROUND in finalizers:
                for dep in self._dependents.get(str(meta.get("uid")), ()):
                    self.queue(("dependent", dep))
        elif refs and meta.get("deletionTimestamp") and ev.prev is not None and not (
                (ev.prev.obj.get("metadata") or {}).get("deletionTimestamp")):
            self._queue_owners(group_resource, meta)

    def _unlink(self, node: Node) -> None:
        for u in self._refs.pop(node, ()):
            deps = self._dependents.get(u)
            if deps is not None:
                deps.discard(node)
                if not deps:
                    del self._dependents[u]

    def _queue_owners(self, group_resource: str, meta: Mapping[str, Any],
                      refs: Any = None) -> None:
        """Owners being deleted in the foreground look again at what still blocks them."""
        served = self.served_for_store(group_resource)
        for ref in (refs if refs is not None else meta.get("ownerReferences")) or ():
            if not isinstance(ref, Mapping):
                continue
            found = self._owner(served, meta, ref)
            if found is not None and found[1] is not None:
                self.queue(("owner", found[0]))

    def _owner(self, dependent: ServedResource | None, meta: Mapping[str, Any],
               ref: Mapping[str, Any]) -> tuple[Node, StoredObject | None] | None:
        """The owner a reference names: ``(node, object or None)``, or ``None`` when the
        reference cannot be resolved."""
        served = self._served_kind(str(ref.get("apiVersion") or ""), str(ref.get("kind") or ""))
        if served is None or dependent is None:
            return None
        name = str(ref.get("name") or "")
        if served.resource.namespaced:
            if not dependent.resource.namespaced:
                return None
            key = f"{meta.get('namespace')}/{name}"
        else:
            key = name
        node = (served.store_key, key)
        return node, self.verbs.rs(served).get(key)

    def _served_kind(self, api_version: str, kind: str) -> ServedResource | None:
        reg = self.verbs.registry
        s = reg.by_kind(api_version, kind)
        if s is None:
            group = api_version.rpartition("/")[0]
            s = next((x for x in reg.all() if x.resource.group == group
                      and x.resource.kind == kind), None)
        if s is None:
            return None
        return self.served_for_store(s.store_key) or s

    # --- the work ---------------------------------------------------------------------------

    def handle(self, key: Any) -> None:
        what, node = key
        if what == "dependent":
            self._attempt_to_delete(node)
        else:
            self._process_owner(node)

    def _get(self, node: Node) -> tuple[ServedResource, StoredObject] | None:
        served = self.served_for_store(node[0])
        if served is None:
            return None
        so = self.verbs.rs(served).get(node[1])
        return None if so is None else (served, so)

    def _attempt_to_delete(self, node: Node) -> None:
        got = self._get(node)
        if got is None:
            return
        served, so = got
        meta = so.obj.get("metadata") or {}
        finalizers = meta.get("finalizers") or []
        if meta.get("deletionTimestamp") and FOREGROUND not in finalizers:
            return  # already going
        refs = [r for r in meta.get("ownerReferences") or [] if isinstance(r, Mapping)]
        if not refs:
            return
        solid, dangling, waiting = [], [], []
        for ref in refs:
            found = self._owner(served, meta, ref)
            if found is None:
                solid.append(ref)  # unresolvable: kept, as kube keeps it
                continue
            owner = found[1]
            if owner is None or owner.obj["metadata"].get("uid") != ref.get("uid"):
                dangling.append(ref)
            elif (owner.obj["metadata"].get("deletionTimestamp")
                  and FOREGROUND in (owner.obj["metadata"].get("finalizers") or ())):
                waiting.append(ref)
            else:
                solid.append(ref)
        if solid:
            gone = {str(r.get("uid")) for r in dangling + waiting}
            if gone:
                self._patch(served, so, {"metadata": {
                    "ownerReferences": [r for r in refs if str(r.get("uid")) not in gone],
                    "uid": meta.get("uid")}})
            return
        uid = str(meta.get("uid"))
        if waiting and self._dependents.get(uid):
            policy = "Foreground"
        elif ORPHAN in finalizers:
            policy = "Orphan"
        elif FOREGROUND in finalizers:
            policy = "Foreground"
        else:
            policy = "Background"
        self._delete(served, so, policy)

    def _process_owner(self, node: Node) -> None:
        got = self._get(node)
        if got is None:
            return
        served, so = got
        meta = so.obj.get("metadata") or {}
        finalizers = list(meta.get("finalizers") or [])
        if not meta.get("deletionTimestamp"):
            return
        uid = str(meta.get("uid"))
        if ORPHAN in finalizers:
            for dep in sorted(self._dependents.get(uid, ())):
                dgot = self._get(dep)
                if dgot is None:
                    continue
                dserved, dso = dgot
                dmeta = dso.obj.get("metadata") or {}
                refs = [r for r in dmeta.get("ownerReferences") or []
                        if isinstance(r, Mapping) and str(r.get("uid")) != uid]
                self._patch(dserved, dso, {"metadata": {"ownerReferences": refs or None,
                                                        "uid": dmeta.get("uid")}})
            self._remove_finalizer(served, so, ORPHAN)
            return
        if FOREGROUND not in finalizers:
            return
        blocking = []
        for dep in sorted(self._dependents.get(uid, ())):
            dgot = self._get(dep)
            if dgot is None:
                continue
            dmeta = dgot[1].obj.get("metadata") or {}
            for r in dmeta.get("ownerReferences") or ():
                if isinstance(r, Mapping) and str(r.get("uid")) == uid and r.get(
                        "blockOwnerDeletion"):
                    blocking.append(dep)
                    break
            self.queue(("dependent", dep))
        if not blocking:
            self._remove_finalizer(served, so, FOREGROUND)

    # --- writes -----------------------------------------------------------------------------

    def _patch(self, served: ServedResource, so: StoredObject, patch: dict[str, Any]) -> None:
        meta = so.obj["metadata"]
        with contextlib.suppress(NotFound):
            self.verbs.patch(served, meta.get("namespace"), str(meta.get("name")), MERGE_PATCH,
                             orjson.dumps(patch), CLIENT)

    def _remove_finalizer(self, served: ServedResource, so: StoredObject, finalizer: str) -> None:
        meta = so.obj["metadata"]
        rest = [f for f in meta.get("finalizers") or [] if f != finalizer]
        self._patch(served, so, {"metadata": {"resourceVersion": str(so.rv),
                                              "finalizers": rest or None}})

    def _delete(self, served: ServedResource, so: StoredObject, policy: str) -> None:
        meta = so.obj["metadata"]
        with contextlib.suppress(NotFound, Conflict):
            self.verbs.delete(served, meta.get("namespace"), str(meta.get("name")), {
                "propagationPolicy": policy, "preconditions": {"uid": meta.get("uid")}}, CLIENT)
