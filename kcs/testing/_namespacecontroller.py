"""The namespace controller: empties a terminating namespace, then finalizes it.

As kube-controller-manager's ``namespace-controller``, for a namespace with a
``deletionTimestamp``:

1. every namespaced resource is emptied with a ``deletecollection`` in the namespace, with
   ``propagationPolicy: Background`` (so the garbage collector adds no ``orphan`` finalizer);
   pods go through graceful deletion, objects with finalizers stay until those are removed;
2. ``status.conditions`` say how far it got, with kube's five condition types, reasons and
   messages (``NamespaceContentRemaining`` ``True`` ``SomeResourcesRemain`` "Some resources
   are remaining: pods. has 1 resource instances", ``NamespaceFinalizersRemaining`` ``True``
   ``SomeFinalizersRemain`` "Some content in the namespace has finalizers remaining:
   example.com/x in 1 resource instances", ...), written through ``/status`` when they change;
3. once nothing is left, the ``kubernetes`` finalizer is removed through ``/finalize``; the
   namespace then disappears (unless ``metadata.finalizers`` hold it, as with the garbage
   collector's ``orphan`` or ``foregroundDeletion``).

It runs again whenever something in the namespace changes, instead of kube's polling.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import orjson

from kcs.core import NotFound
from kcs.testing._cluster import Controller, component_client
from kcs.testing._listing import ListOptions
from kcs.testing._store import WatchEvent
from kcs.testing._verbs import now_rfc3339

if TYPE_CHECKING:
    from kcs.testing._verbs import Verbs

__all__ = ["NamespaceController"]

CLIENT = component_client("kube-controller-manager", "namespace-controller")
FINALIZER = "kubernetes"

_CONDITIONS = (
    ("NamespaceDeletionDiscoveryFailure", "ResourcesDiscovered",
     "All resources successfully discovered"),
    ("NamespaceDeletionGroupVersionParsingFailure", "ParsedGroupVersions",
     "All legacy kube types successfully parsed"),
    ("NamespaceDeletionContentFailure", "ContentDeleted",
     "All content successfully deleted, may be waiting on finalization"),
    ("NamespaceContentRemaining", "ContentRemoved", "All content successfully removed"),
    ("NamespaceFinalizersRemaining", "ContentHasNoFinalizers",
     "All content-preserving finalizers finished"),
)


class NamespaceController(Controller):
    """See the module doc. Keys are namespace names."""

    name = "namespace-controller"

    def __init__(self, verbs: Verbs) -> None:
        super().__init__(verbs)
        self._terminating: set[str] = set()

    def observe(self, group_resource: str, ev: WatchEvent) -> None:
        if group_resource == "namespaces":
            if ev.type == "DELETED":
                self._terminating.discard(ev.key)
            elif (ev.obj.obj.get("metadata") or {}).get("deletionTimestamp"):
                self._terminating.add(ev.key)
                self.queue(ev.key)
            return
        if ev.namespace and ev.namespace in self._terminating:
            self.queue(ev.namespace)

    def handle(self, key: Any) -> None:
        v = self.verbs
        name = str(key)
        ns_served = v.namespaces()
        cur = v.namespace_state(name)
        if cur is None or not (cur.obj.get("metadata") or {}).get("deletionTimestamp"):
            return
        if not (cur.obj.get("spec") or {}).get("finalizers"):
            return  # finalized: what holds it now is metadata.finalizers
        remaining: dict[str, int] = {}
        finalizers: dict[str, int] = {}
        for served in self.stores():
            if not served.resource.namespaced:
                continue
            rs = v.rs(served)
            items = list(rs.objects.irange(f"{name}/", f"{name}0", inclusive=(True, False)))
            if not items:
                continue
            if any(not (rs.objects[k].obj.get("metadata") or {}).get("deletionTimestamp")
                   for k in items):
                v.delete_collection(served, name, ListOptions(),
                                    {"propagationPolicy": "Background"}, CLIENT)
            left = list(rs.objects.irange(f"{name}/", f"{name}0", inclusive=(True, False)))
            if left:
                r = served.resource
                remaining[f"{r.plural}.{r.group}"] = len(left)
                for k in left:
                    for f in (rs.objects[k].obj.get("metadata") or {}).get("finalizers") or ():
                        finalizers[f] = finalizers.get(f, 0) + 1
        cur = v.namespace_state(name)
        if cur is None:
            return
        cur = self._update_conditions(ns_served, cur, remaining, finalizers)
        if remaining:
            return
        spec = cur.obj.get("spec") or {}
        rest = sorted({f for f in spec.get("finalizers") or () if f != FINALIZER})
        body = {**orjson.loads(cur.raw), "spec": {**spec, "finalizers": rest}}
        with contextlib.suppress(NotFound):
            v.update(ns_served, None, name, body, CLIENT, subresource="finalize")

    def _update_conditions(self, ns_served: Any, cur: Any, remaining: dict[str, int],
                           finalizers: dict[str, int]) -> Any:
        failures: dict[str, tuple[str, str]] = {}
        if remaining:
            text = ", ".join(sorted(f"{gr} has {n} resource instances"
                                    for gr, n in remaining.items()))
            failures["NamespaceContentRemaining"] = (
                "SomeResourcesRemain", f"Some resources are remaining: {text}")
        if finalizers:
            text = ", ".join(sorted(f"{f} in {n} resource instances"
                                    for f, n in finalizers.items()))
            failures["NamespaceFinalizersRemaining"] = (
                "SomeFinalizersRemain",
                f"Some content in the namespace has finalizers remaining: {text}")
        status = dict(cur.obj.get("status") or {})
        old = [dict(c) for c in status.get("conditions") or [] if isinstance(c, dict)]
        now = now_rfc3339()
        changed = False
        for ctype, ok_reason, ok_message in _CONDITIONS:
            reason, message = failures.get(ctype, (ok_reason, ok_message))
            state = "True" if ctype in failures else "False"
            existing = next((c for c in old if c.get("type") == ctype), None)
            if existing is None:
                old.append({"type": ctype, "status": state, "lastTransitionTime": now,
                            "reason": reason, "message": message})
                changed = True
            elif (existing.get("status"), existing.get("reason"),
                  existing.get("message")) != (state, reason, message):
                if existing.get("status") != state:
                    existing["lastTransitionTime"] = now
                existing.update(status=state, reason=reason, message=message)
                changed = True
        if not changed:
            return cur
        status["conditions"] = old
        body = {**orjson.loads(cur.raw), "status": status}
        return self.verbs.update(ns_served, None, str(cur.obj["metadata"]["name"]), body, CLIENT,
                                 subresource="status")

