"""The service-account controller: a ``default`` ServiceAccount in every active namespace.

As kube-controller-manager's ``serviceaccount-controller``: when a namespace appears (or is
updated) and has no ``default`` ServiceAccount, one is created; when ``default`` is deleted
from an active namespace, it is created again. Terminating namespaces are left alone.
The ServiceAccount is just ``{metadata: {name: default, namespace: ns}}`` (no token Secret,
as since 1.24).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from kcs.core import AlreadyExists, Forbidden, NotFound
from kcs.testing._cluster import Controller, component_client
from kcs.testing._store import WatchEvent

if TYPE_CHECKING:
    from kcs.testing._verbs import Verbs

__all__ = ["ServiceAccountController"]

DEFAULT = "default"
CLIENT = component_client("kube-controller-manager", "service-account-controller")


class ServiceAccountController(Controller):
    """See the module doc. Keys are namespace names."""

    name = "serviceaccount-controller"
    resources = frozenset({"namespaces", "serviceaccounts"})

    def __init__(self, verbs: Verbs) -> None:
        super().__init__(verbs)

    def observe(self, group_resource: str, ev: WatchEvent) -> None:
        if group_resource == "namespaces":
            if ev.type != "DELETED":
                self.queue(ev.key)
        elif group_resource == "serviceaccounts" and ev.type == "DELETED":
            ns, _, name = ev.key.partition("/")
            if name == DEFAULT:
                self.queue(ns)

    def handle(self, key: Any) -> None:
        self.ensure(str(key))

    def ensure(self, namespace: str) -> None:
        """Create ``default`` in ``namespace`` now if it is missing and the namespace active
        (the admission check asks for this instead of waiting)."""
        self._ready.pop(namespace, None)
        ns = self.verbs.namespace_state(namespace)
        if ns is None or (ns.obj.get("metadata") or {}).get("deletionTimestamp"):
            return
        if (ns.obj.get("status") or {}).get("phase") == "Terminating":
            return
        if self.verbs.service_account(namespace, DEFAULT) is not None:
            return
        served = self.verbs.registry.lookup("", "v1", "serviceaccounts")
        if served is None:
            return
        with contextlib.suppress(AlreadyExists, Forbidden, NotFound):
            self.verbs.create(served, namespace, {
                "apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": DEFAULT, "namespace": namespace}}, CLIENT)
