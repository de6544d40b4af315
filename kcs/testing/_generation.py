"""``metadata.generation``, kind by kind, as kube-apiserver's registry strategies set it.

Only kinds whose strategy tracks the desired state have a generation: it is 1 at create
and grows by one when the desired state changes. For the others the server never sets it:
a value sent at create is kept as sent, and updates cannot change it (so a
``GenerationChanged`` predicate never fires for them, as in a cluster).

Kinds with a generation (kube-apiserver 1.36), and what bumps it:

* ``spec``: Pods (KEP-5067 "pod generation", GA in 1.35), ReplicaSets, StatefulSets,
  DaemonSets, ReplicationControllers, Jobs, CronJobs, PodDisruptionBudgets, Ingresses,
  IngressClasses, NetworkPolicies, CSIDrivers, ValidatingAdmissionPolicies and their
  bindings, CustomResourceDefinitions;
* ``spec`` or ``metadata.annotations``: Deployments; ``template``: PodTemplates;
  ``webhooks``: Mutating- and ValidatingWebhookConfigurations; everything but metadata, or
  the labels: EndpointSlices; nothing (1 for ever): PriorityClasses;
* custom resources: everything but ``metadata`` (and ``status`` when the CRD has the status
  subresource).

Kinds without: Namespaces, Nodes, ConfigMaps, Secrets, Services, ServiceAccounts, Endpoints,
Events (both groups), Leases, the RBAC kinds, PersistentVolumes, PersistentVolumeClaims,
LimitRanges, ResourceQuotas, ControllerRevisions, StorageClasses, CSINodes,
CSIStorageCapacities, VolumeAttachments, RuntimeClasses, CertificateSigningRequests, and
HorizontalPodAutoscalers (their generation arrived after 1.36, behind a feature gate).

When deletion starts (``deletionTimestamp`` is first set) the generation of an object that
has one (greater than 0) grows by one, for every kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kcs.testing._registry import ServedResource

__all__ = ["GENERATION_KINDS", "bump_on_delete", "on_create", "on_update", "tracks_generation"]

_SPEC = "spec"
_RULES: dict[str, str] = {
    "pods": _SPEC,
    "replicationcontrollers": _SPEC,
    "deployments.apps": "spec+annotations",
    "replicasets.apps": _SPEC,
    "statefulsets.apps": _SPEC,
    "daemonsets.apps": _SPEC,
    "jobs.batch": _SPEC,
    "cronjobs.batch": _SPEC,
    "poddisruptionbudgets.policy": _SPEC,
    "ingresses.networking.k8s.io": _SPEC,
    "ingressclasses.networking.k8s.io": _SPEC,
    "networkpolicies.networking.k8s.io": _SPEC,
    "csidrivers.storage.k8s.io": _SPEC,
    "validatingadmissionpolicies.admissionregistration.k8s.io": _SPEC,
    "validatingadmissionpolicybindings.admissionregistration.k8s.io": _SPEC,
    "customresourcedefinitions.apiextensions.k8s.io": _SPEC,
    "podtemplates": "template",
    "mutatingwebhookconfigurations.admissionregistration.k8s.io": "webhooks",
    "validatingwebhookconfigurations.admissionregistration.k8s.io": "webhooks",
    "endpointslices.discovery.k8s.io": "all+labels",
    "priorityclasses.scheduling.k8s.io": "never",
}

GENERATION_KINDS: frozenset[str] = frozenset(_RULES)
"""The built-in group-resources whose strategy sets ``metadata.generation``."""


def tracks_generation(served: ServedResource) -> bool:
    """Whether objects of ``served`` have a server-maintained generation."""
    return served.custom or served.group_resource in GENERATION_KINDS


def on_create(served: ServedResource, meta: dict[str, Any]) -> None:
    """Set the generation of a new object (1, or the client's value for other kinds)."""
    if tracks_generation(served):
        meta["generation"] = 1


def _desired(served: ServedResource, obj: Mapping[str, Any]) -> Any:
    meta = obj.get("metadata") or {}
    if served.custom:
        skip = ("metadata", "status") if "status" in served.resource.subresources else (
            "metadata",)
        return {k: v for k, v in obj.items() if k not in skip}
    rule = _RULES.get(served.group_resource, _SPEC)
    if rule == "spec+annotations":
        return (obj.get("spec"), meta.get("annotations") or {})
    if rule == "all+labels":
        return ({k: v for k, v in obj.items() if k != "metadata"}, meta.get("labels") or {})
    if rule == "never":
        return None
    return obj.get(rule)


def on_update(served: ServedResource, old: Mapping[str, Any], new: dict[str, Any]) -> None:
    """Carry the generation over from ``old`` (clients cannot change it) and bump it when
    the desired state changed."""
    meta: dict[str, Any] = new["metadata"]
    old_gen = (old.get("metadata") or {}).get("generation")
    if old_gen is None:
        meta.pop("generation", None)
    else:
        meta["generation"] = old_gen
    if tracks_generation(served) and _desired(served, new) != _desired(served, old):
        meta["generation"] = int(old_gen or 0) + 1


def bump_on_delete(meta: dict[str, Any]) -> None:
    """Deletion starts: an object with a generation gets the next one."""
    gen = meta.get("generation")
    if isinstance(gen, int) and gen > 0:
        meta["generation"] = gen + 1
