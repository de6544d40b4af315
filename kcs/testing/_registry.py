"""What the fake apiserver serves: built-in resources, registered ones, and CRDs.

A resource is served at one or more versions of its group. Objects of a group-resource
(``widgets.example.com``) are stored once, at the storage version, and converted by
rewriting ``apiVersion`` (the CRD conversion strategy "None") when served at another.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from kcs.core import BUILTIN_RESOURCES, Resource
from kcs.testing._crdschema import structural_problems

__all__ = [
    "AGE_COLUMN",
    "EXTRA_RESOURCES",
    "PrinterColumn",
    "Registry",
    "ServedResource",
    "crd_problems",
    "crd_resources",
    "crd_status",
    "version_priority",
]


@dataclass(frozen=True)
class PrinterColumn:
    """One of a CRD version's ``additionalPrinterColumns``: what ``kubectl get`` shows."""

    name: str
    json_path: str
    type: str = "string"
    format: str = ""
    description: str = ""
    priority: int = 0

    @classmethod
    def of(cls, column: Mapping[str, Any]) -> PrinterColumn:
        """From a CRD's column definition."""
        path = str(column.get("jsonPath", ""))
        return cls(
            name=str(column.get("name", "")),
            json_path=path,
            type=str(column.get("type") or "string"),
            format=str(column.get("format") or ""),
            description=str(column.get("description") or
                            f"Custom resource definition column (in JSONPath format): {path}"),
            priority=int(column.get("priority") or 0),
        )


AGE_COLUMN = PrinterColumn("Age", ".metadata.creationTimestamp", "date",
                           description="Custom resource definition column (in JSONPath "
                                       "format): .metadata.creationTimestamp")
"""The column of a custom resource whose CRD defines none."""


@dataclass(frozen=True, slots=True)
class ServedResource:
    """A resource as served: the :class:`Resource`, its storage and its extra fields.

    ``selectable_fields`` are field paths (``spec.color``) usable in field selectors on top
    of the built-in ones (the CRD ``selectableFields``). ``custom`` marks custom resources
    (no strategic merge patch, deleted objects returned from DELETE); ``schema`` is the
    CRD version's ``openAPIV3Schema`` (``None`` for a resource registered without a CRD:
    nothing is pruned, defaulted or validated against a schema). ``stored_as`` names
    another group-resource whose store (and storage apiVersion) this one shares, as
    events.k8s.io Events share core Events': ``(group_resource, api_version)``.
    """

    resource: Resource
    storage_version: str
    selectable_fields: tuple[str, ...] = ()
    custom: bool = False
    categories: tuple[str, ...] = field(default=())
    printer_columns: tuple[PrinterColumn, ...] = ()
    schema: Mapping[str, Any] | None = field(default=None, compare=False)
    scale: tuple[str, str, str] | None = None
    """A CRD's ``subresources.scale``: spec replicas, status replicas and label selector
    paths (``spec.replicas``, ``status.replicas``, ``status.selector``)."""
    stored_as: tuple[str, str] | None = None

    @property
    def group_resource(self) -> str:
        """``plural`` or ``plural.group``: the resource's name."""
        return str(self.resource)

    @property
    def store_key(self) -> str:
        """The group-resource whose store holds the objects (usually :attr:`group_resource`)."""
        return self.stored_as[0] if self.stored_as else str(self.resource)

    @property
    def storage_api_version(self) -> str:
        """``group/storage_version`` (or just the version for the core group)."""
        if self.stored_as:
            return self.stored_as[1]
        g = self.resource.group
        return f"{g}/{self.storage_version}" if g else self.storage_version


_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(version: str) -> tuple[int, int, int, str]:
    """A sort key that puts kube's preferred versions first (v2, v1, v1beta2, v1alpha1, foo)."""
    m = _VERSION.match(version)
    if not m:
        return (3, 0, 0, version)
    major, stage, minor = int(m.group(1)), m.group(2), int(m.group(3) or 0)
    rank = {None: 0, "beta": 1, "alpha": 2}[stage]
    return (rank, -major, -minor, "")


def _r(group: str, version: str, plural: str, kind: str, namespaced: bool,
       short: tuple[str, ...] = (), status: bool = True) -> Resource:
    return Resource(group=group, version=version, plural=plural, kind=kind,
                    namespaced=namespaced, singular=kind.lower(), short_names=short,
                    subresources=frozenset({"status"}) if status else frozenset())


EXTRA_RESOURCES: tuple[Resource, ...] = (
    _r("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True, ("pvc",)),
    _r("", "v1", "persistentvolumes", "PersistentVolume", False, ("pv",)),
    _r("", "v1", "replicationcontrollers", "ReplicationController", True, ("rc",)),
    _r("", "v1", "limitranges", "LimitRange", True, ("limits",), status=False),
    _r("", "v1", "resourcequotas", "ResourceQuota", True, ("quota",)),
    _r("", "v1", "podtemplates", "PodTemplate", True, status=False),
    _r("apps", "v1", "controllerrevisions", "ControllerRevision", True, status=False),
    _r("batch", "v1", "jobs", "Job", True),
    _r("batch", "v1", "cronjobs", "CronJob", True, ("cj",)),
    _r("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True, ("pdb",)),
    _r("networking.k8s.io", "v1", "ingresses", "Ingress", True, ("ing",)),
    _r("networking.k8s.io", "v1", "ingressclasses", "IngressClass", False, status=False),
    _r("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", True, ("netpol",),
       status=False),
    _r("storage.k8s.io", "v1", "storageclasses", "StorageClass", False, ("sc",), status=False),
    _r("storage.k8s.io", "v1", "csidrivers", "CSIDriver", False, status=False),
    _r("storage.k8s.io", "v1", "csinodes", "CSINode", False, status=False),
    _r("storage.k8s.io", "v1", "csistoragecapacities", "CSIStorageCapacity", True,
       status=False),
    _r("storage.k8s.io", "v1", "volumeattachments", "VolumeAttachment", False),
    _r("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", True,
       ("hpa",)),
    _r("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", True, status=False),
    _r("scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass", False, ("pc",),
       status=False),
    _r("node.k8s.io", "v1", "runtimeclasses", "RuntimeClass", False, status=False),
    _r("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations",
       "MutatingWebhookConfiguration", False, status=False),
    _r("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations",
       "ValidatingWebhookConfiguration", False, status=False),
    _r("admissionregistration.k8s.io", "v1", "validatingadmissionpolicies",
       "ValidatingAdmissionPolicy", False),
    _r("admissionregistration.k8s.io", "v1", "validatingadmissionpolicybindings",
       "ValidatingAdmissionPolicyBinding", False, status=False),
    _r("certificates.k8s.io", "v1", "certificatesigningrequests", "CertificateSigningRequest",
       False, ("csr",)),
)
"""Built-in kinds the fake serves beyond :data:`kcs.core.BUILTIN_RESOURCES` (which lists the
kinds kcs's client knows without discovery): the groups controllers commonly touch and the
kinds kubectl's imperative commands create. Every one is a plain stored object: no
controller acts on it (no Job runs pods, no PVC binds)."""

# events.k8s.io Events are core Events, stored once (see _events).
_STORED_AS = {"events.events.k8s.io": ("events", "v1")}

_CATEGORY_ALL = frozenset({
    "pods", "replicationcontrollers", "services", "daemonsets.apps", "deployments.apps",
    "replicasets.apps", "statefulsets.apps", "horizontalpodautoscalers.autoscaling",
    "cronjobs.batch", "jobs.batch",
})
_CATEGORY_API_EXTENSIONS = frozenset({
    "customresourcedefinitions.apiextensions.k8s.io",
    "mutatingwebhookconfigurations.admissionregistration.k8s.io",
    "validatingwebhookconfigurations.admissionregistration.k8s.io",
    "validatingadmissionpolicies.admissionregistration.k8s.io",
    "validatingadmissionpolicybindings.admissionregistration.k8s.io",
})


def _categories(r: Resource) -> tuple[str, ...]:
    if str(r) in _CATEGORY_ALL:
        return ("all",)
    if str(r) in _CATEGORY_API_EXTENSIONS:
        return ("api-extensions",)
    return ()


class Registry:
    """The resources being served, looked up by URL parts or by kind."""

    def __init__(self) -> None:
        self._by_gvr: dict[tuple[str, str, str], ServedResource] = {}
        self.generation = 0
        """Bumped whenever what is served changes (for documents derived from it)."""
        for r in (*BUILTIN_RESOURCES, *EXTRA_RESOURCES):
            res = replace(r, subresources=r.subresources | {"finalize"}) if str(
                r) == "namespaces" else r
            self.add(ServedResource(res, r.version, categories=_categories(r),
                                    stored_as=_STORED_AS.get(str(r))))

    def add(self, served: ServedResource) -> None:
        """Serve ``served.resource`` (replacing an earlier registration of the same version)."""
        r = served.resource
        key = (r.group, r.version, r.plural)
        if self._by_gvr.get(key) != served or (
                self._by_gvr[key].schema != served.schema):
            self.generation += 1
        self._by_gvr[key] = served

    def remove(self, resource: Resource) -> None:
        """Stop serving ``resource`` (its stored objects are the caller's business)."""
        if self._by_gvr.pop((resource.group, resource.version, resource.plural), None):
            self.generation += 1

    def lookup(self, group: str, version: str, plural: str) -> ServedResource | None:
        """The resource served at ``/apis/group/version/plural``, or ``None``."""
        return self._by_gvr.get((group, version, plural))

    def served(self, resource: Resource) -> ServedResource | None:
        """The registration of ``resource`` (by group, version and plural)."""
        return self._by_gvr.get((resource.group, resource.version, resource.plural))

    def by_kind(self, api_version: str, kind: str) -> ServedResource | None:
        """The resource holding ``kind`` at ``api_version`` (core Event before events.k8s.io)."""
        for s in self._by_gvr.values():
            if s.resource.api_version == api_version and s.resource.kind == kind:
                return s
        return None

    def all(self) -> list[ServedResource]:
        """Every served resource."""
        return list(self._by_gvr.values())

    def versions_of(self, group: str, plural: str) -> list[ServedResource]:
        """Every served version of one group-resource."""
        return [s for (g, _, p), s in self._by_gvr.items() if g == group and p == plural]

    def groups(self) -> dict[str, list[str]]:
        """Group name -> served versions, preferred version first; the core group is ``""``."""
        out: dict[str, set[str]] = {}
        for g, v, _ in self._by_gvr:
            out.setdefault(g, set()).add(v)
        return {g: sorted(vs, key=version_priority) for g, vs in out.items()}

    def in_group_version(self, group: str, version: str) -> list[ServedResource]:
        """The resources served at ``group/version``, by plural."""
        found = [s for (g, v, _), s in self._by_gvr.items() if g == group and v == version]
        return sorted(found, key=lambda s: s.resource.plural)


def crd_resources(crd: Mapping[str, Any]) -> list[ServedResource]:
    """The served resources a ``CustomResourceDefinition`` (apiextensions.k8s.io/v1) declares."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group = str(spec.get("group") or "")
    namespaced = spec.get("scope", "Namespaced") == "Namespaced"
    versions = [v for v in spec.get("versions") or [] if isinstance(v, Mapping)]
    storage = next((str(v["name"]) for v in versions if v.get("storage")), None)
    if storage is None and versions:
        storage = str(versions[0].get("name"))
    out: list[ServedResource] = []
    for v in versions:
        if not v.get("served", True):
            continue
        subs = v.get("subresources") or {}
        resource = Resource(
            group=group,
            version=str(v.get("name")),
            plural=str(names.get("plural") or ""),
            kind=str(names.get("kind") or ""),
            namespaced=namespaced,
            singular=str(names.get("singular") or str(names.get("kind") or "").lower()),
            short_names=tuple(str(s) for s in names.get("shortNames") or ()),
            subresources=frozenset(k for k in ("status", "scale") if k in subs),
        )
        sc = subs.get("scale") if isinstance(subs.get("scale"), Mapping) else None
        fields = tuple(
            _json_path_to_field(str(f.get("jsonPath", "")))
            for f in v.get("selectableFields") or ()
            if isinstance(f, Mapping)
        )
        out.append(
            ServedResource(
                resource,
                storage or resource.version,
                selectable_fields=fields,
                custom=True,
                categories=tuple(str(c) for c in names.get("categories") or ()),
                printer_columns=tuple(
                    PrinterColumn.of(c)
                    for c in v.get("additionalPrinterColumns") or ()
                    if isinstance(c, Mapping)
                ) or (AGE_COLUMN,),
                schema=_version_schema(v),
                scale=None if sc is None else (
                    _json_path_to_field(str(sc.get("specReplicasPath") or ".spec.replicas")),
                    _json_path_to_field(str(sc.get("statusReplicasPath") or
                                            ".status.replicas")),
                    _json_path_to_field(str(sc.get("labelSelectorPath") or "")),
                ),
            )
        )
    return out


def _version_schema(version: Mapping[str, Any]) -> Mapping[str, Any] | None:
    schema = (version.get("schema") or {}).get("openAPIV3Schema")
    return schema if isinstance(schema, Mapping) else None


def crd_problems(crd: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """Validation causes ``(reason, field, message)`` for a CRD, empty when it is acceptable."""
    problems: list[tuple[str, str, str]] = []
    spec = crd.get("spec")
    if not isinstance(spec, Mapping):
        return [("FieldValueRequired", "spec", "Required value")]
    names = spec.get("names") if isinstance(spec.get("names"), Mapping) else {}
    assert isinstance(names, Mapping)
    group, plural = spec.get("group"), names.get("plural")
    for path, value in (("spec.group", group), ("spec.names.plural", plural),
                        ("spec.names.kind", names.get("kind"))):
        if not value or not isinstance(value, str):
            problems.append(("FieldValueRequired", path, "Required value"))
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        problems.append(("FieldValueNotSupported", "spec.scope",
                         'Unsupported value: supported values: "Cluster", "Namespaced"'))
    versions = spec.get("versions")
    if not isinstance(versions, list) or not versions:
        problems.append(("FieldValueRequired", "spec.versions", "Required value"))
    else:
        if sum(1 for v in versions if isinstance(v, Mapping) and v.get("storage")) != 1:
            problems.append(("FieldValueInvalid", "spec.versions", "Invalid value: "
                             "must have exactly one version marked as storage version"))
        for i, v in enumerate(versions):
            if isinstance(v, Mapping):
                at = f"spec.versions[{i}].schema.openAPIV3Schema"
                schema = (v.get("schema") or {}).get("openAPIV3Schema")
                problems.extend(e.as_cause() for e in structural_problems(schema, at))
    name = (crd.get("metadata") or {}).get("name")
    if group and plural and name != f"{plural}.{group}":
        problems.append(("FieldValueInvalid", "metadata.name",
                         f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group'))
    return problems


def _json_path_to_field(path: str) -> str:
    return path.lstrip(".")


def crd_status(crd: Mapping[str, Any], now: str) -> dict[str, Any]:
    """The status the apiextensions controllers would settle on: Established, names accepted."""
    spec = crd.get("spec") or {}
    versions: Iterable[Mapping[str, Any]] = spec.get("versions") or ()
    stored = [str(v.get("name")) for v in versions if v.get("storage")]
    conds = [
        {"type": t, "status": "True", "reason": r, "message": m, "lastTransitionTime": now}
        for t, r, m in (
            ("NamesAccepted", "NoConflicts", "no conflicts found"),
            ("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        )
    ]
    return {"acceptedNames": dict(spec.get("names") or {}), "conditions": conds,
            "storedVersions": stored}
