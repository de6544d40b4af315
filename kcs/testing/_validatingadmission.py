"""The admission checks that refuse a create, which the cluster's lifecycle depends on.

(The admission plugins that change objects are in :mod:`._admission`.)

* **NamespaceLifecycle**: a namespaced object can only be created in a namespace that
  exists (404 ``namespaces "x" not found``) and is not terminating (403 ``pods "p" is
  forbidden: unable to create new content in namespace x because it is being terminated``,
  with a cause of type ``NamespaceTerminating`` on ``metadata.namespace``). The name in the
  message is the object's name, else its generateName, else ``Unknown``.
* **ServiceAccount**: a pod must name an existing service account (``spec.serviceAccountName``,
  else the deprecated ``spec.serviceAccount``, else ``default``): 403 ``pods "p" is
  forbidden: error looking up service account ns/sa: serviceaccount "sa" not found``.
  Mirror pods (annotation ``kubernetes.io/config.mirror``) are exempt. kube's plugin waits
  (retrying for about a second) for the ``default`` service account the controller
  creates; here the service-account controller, when it runs, is asked to do its pending
  work for the namespace first, which has the same effect without the wait.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kcs.testing._registry import ServedResource
from kcs.testing._status import forbidden, not_found
from kcs.testing._store import StoredObject

__all__ = ["ValidatingAdmission"]

MIRROR_ANNOTATION = "kubernetes.io/config.mirror"


class ValidatingAdmission:
    """Create-time refusals over the fake's state.

    ``namespace`` looks a namespace up; ``service_account`` looks a service account up;
    ``ensure_default_service_account`` (when the service-account controller runs) makes it
    create ``default`` in a namespace now if it is due to.
    """

    def __init__(
        self,
        namespace: Callable[[str], StoredObject | None],
        service_account: Callable[[str, str], StoredObject | None],
        namespaces: Callable[[], ServedResource],
    ) -> None:
        self._namespace = namespace
        self._service_account = service_account
        self._namespaces = namespaces
        self.ensure_default_service_account: Callable[[str], None] | None = None

    def admit_create(self, served: ServedResource, obj: Mapping[str, Any]) -> None:
        """Refuse a create kube's admission would refuse (raises the Status error)."""
        if not served.resource.namespaced:
            return
        meta = obj.get("metadata") or {}
        ns = str(meta.get("namespace") or "")
        name = str(meta.get("name") or meta.get("generateName") or "Unknown")
        ns_obj = self._namespace(ns)
        if ns_obj is None:
            raise not_found(self._namespaces().resource, ns)
        if (ns_obj.obj.get("status") or {}).get("phase") == "Terminating":
            raise forbidden(
                served.resource, name,
                f"unable to create new content in namespace {ns} because it is being terminated",
                causes=[{"reason": "NamespaceTerminating",
                         "message": f"namespace {ns} is being terminated",
                         "field": "metadata.namespace"}],
            )
        if served.group_resource == "pods" and served.resource.group == "":
            self._check_service_account(served, ns, name, obj)

    def _check_service_account(self, served: ServedResource, ns: str, name: str,
                               pod: Mapping[str, Any]) -> None:
        if MIRROR_ANNOTATION in ((pod.get("metadata") or {}).get("annotations") or {}):
            return
        spec = pod.get("spec") or {}
        sa = str(spec.get("serviceAccountName") or spec.get("serviceAccount") or "default")
        if self._service_account(ns, sa) is not None:
            return
        if sa == "default" and self.ensure_default_service_account is not None:
            self.ensure_default_service_account(ns)
            if self._service_account(ns, sa) is not None:
                return
        raise forbidden(served.resource, name, f"error looking up service account {ns}/{sa}: "
                        f'serviceaccount "{sa}" not found')
