"""Resource descriptions: what the apiserver serves, and where.

A :class:`Resource` names one REST resource (group, version, plural) together with the
kind it holds and whether it is namespaced. The built-in kinds kcs knows ahead of time are
in :data:`BUILTIN_RESOURCES`; others are found by discovery or registered by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

__all__ = ["BUILTIN_RESOURCES", "Resource", "builtin", "split_api_version"]


def split_api_version(api_version: str) -> tuple[str, str]:
    """Split ``apps/v1`` into ``("apps", "v1")`` and ``v1`` into ``("", "v1")``."""
    group, sep, version = api_version.rpartition("/")
    return (group, version) if sep else ("", api_version)


@dataclass(frozen=True, slots=True)
class Resource:
    """One REST resource of the Kubernetes API.

    ``group`` is ``""`` for the core group. Instances are immutable and hashable, so they
    can key dictionaries (the informer factory does).
    """

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    singular: str = ""
    short_names: tuple[str, ...] = ()
    subresources: frozenset[str] = field(default_factory=lambda: frozenset({"status"}))
    verbs: tuple[str, ...] = (
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    )

    @property
    def api_version(self) -> str:
        """``v1`` for the core group, ``group/version`` otherwise."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_version(self) -> str:
        """The same as :attr:`api_version`."""
        return self.api_version

    @property
    def list_kind(self) -> str:
        """The kind of a list of this resource, such as ``PodList``."""
        return f"{self.kind}List"

    @property
    def base_path(self) -> str:
        """``/api/v1`` or ``/apis/GROUP/VERSION``."""
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    def path(
        self,
        namespace: str | None = None,
        name: str | None = None,
        subresource: str | None = None,
    ) -> str:
        """The URL path of the collection, or of one object and optionally its subresource.

        For a namespaced resource ``namespace=None`` addresses all namespaces (list and watch
        only). For a cluster-scoped resource ``namespace`` is ignored.
        """
        parts = [self.base_path]
        if self.namespaced and namespace:
            parts.append(f"namespaces/{quote(namespace, safe='')}")
        parts.append(self.plural)
        if name is not None:
            if not name:
                raise ValueError(f"an empty name does not address a {self.kind}")
            parts.append(quote(name, safe=""))
            if subresource:
                parts.append(subresource)
        return "/".join(parts)

    def __str__(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


def _r(
    group: str,
    version: str,
    plural: str,
    kind: str,
    namespaced: bool,
    short: tuple[str, ...] = (),
    status: bool = True,
) -> Resource:
    return Resource(
        group=group,
        version=version,
        plural=plural,
        kind=kind,
        namespaced=namespaced,
        singular=kind.lower(),
        short_names=short,
        subresources=frozenset({"status"}) if status else frozenset(),
    )


BUILTIN_RESOURCES: tuple[Resource, ...] = (
    _r("", "v1", "namespaces", "Namespace", False, ("ns",)),
    _r("", "v1", "nodes", "Node", False, ("no",)),
    _r("", "v1", "pods", "Pod", True, ("po",)),
    _r("", "v1", "configmaps", "ConfigMap", True, ("cm",), status=False),
    _r("", "v1", "secrets", "Secret", True, status=False),
    _r("", "v1", "services", "Service", True, ("svc",)),
    _r("", "v1", "serviceaccounts", "ServiceAccount", True, ("sa",), status=False),
    _r("", "v1", "endpoints", "Endpoints", True, ("ep",), status=False),
    _r("", "v1", "events", "Event", True, ("ev",), status=False),
    _r("events.k8s.io", "v1", "events", "Event", True, ("ev",), status=False),
    _r("apps", "v1", "deployments", "Deployment", True, ("deploy",)),
    _r("apps", "v1", "replicasets", "ReplicaSet", True, ("rs",)),
    _r("apps", "v1", "statefulsets", "StatefulSet", True, ("sts",)),
    _r("apps", "v1", "daemonsets", "DaemonSet", True, ("ds",)),
    _r("coordination.k8s.io", "v1", "leases", "Lease", True, status=False),
    _r("rbac.authorization.k8s.io", "v1", "roles", "Role", True, status=False),
    _r("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True, status=False),
    _r("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False, status=False),
    _r(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterrolebindings",
        "ClusterRoleBinding",
        False,
        status=False,
    ),
    _r(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        False,
        ("crd", "crds"),
    ),
)

_BY_KIND: dict[tuple[str, str], Resource] = {}
for _res in BUILTIN_RESOURCES:
    # The first entry wins: core/v1 Event before events.k8s.io/v1 Event.
    _BY_KIND.setdefault((_res.api_version, _res.kind), _res)
    _BY_KIND.setdefault(("", str(_res)), _res)


def builtin(name: str, api_version: str | None = None) -> Resource:
    """Look up a built-in resource by kind (with ``api_version``) or by plural.

    ``builtin("pods")``, ``builtin("deployments.apps")``, ``builtin("Pod", "v1")``.
    Raises :class:`KeyError` for anything else.
    """
    if api_version is not None:
        return _BY_KIND[(api_version, name)]
    return _BY_KIND[("", name)]
