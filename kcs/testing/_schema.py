"""The schema of every built-in kind, derived from kubernetes-asyncio's generated models.

kubernetes-asyncio (already a dependency, for kubeconfig loading) ships one generated model
class per API type, generated from kube-apiserver's OpenAPI document: ``openapi_types``
(attribute -> type), ``attribute_map`` (attribute -> JSON name), a docstring per field with
its description, and a ``None`` check in the setter of each required field. This module
reads those facts once, lazily, per type, from the model modules' source (importing the
package would load all 1,500 models and take over a second), and is the one place the fake
apiserver learns what a built-in type looks like: field validation, pruning, the type
checks of decoding and the OpenAPI documents all use it.

What the generated models do not carry is filled in from the API reference and kept here,
in small tables: which ``object`` fields are ``IntOrString`` (the rest are free-form JSON),
which strings are ``Quantity`` (they also accept JSON numbers), which strings are base64
``byte`` data, the merge keys of lists (for strategic merge patch metadata), and one-line
descriptions of the top-level kinds (the models keep field descriptions only).

Guarantees:

* :func:`model` returns the same immutable :class:`Model` for a name for the life of the
  process; parsing happens once per type.
* Every type reachable from a served kind resolves: an unknown model name raises
  :class:`KeyError` (a bug in the tables, never a silent "anything goes").
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType

__all__ = [
    "Field",
    "FieldType",
    "Model",
    "definition_name",
    "kind_description",
    "kind_model",
    "model",
    "reachable",
]

# --- types --------------------------------------------------------------------------------

SCALARS = frozenset({"string", "integer", "number", "boolean"})


@dataclass(frozen=True, slots=True)
class FieldType:
    """The type of a field.

    ``kind`` is one of ``string``, ``integer``, ``number``, ``boolean``, ``date-time``,
    ``byte`` (base64 string), ``int-or-string``, ``quantity`` (string or number),
    ``object`` (free-form JSON), ``ref`` (a model, named by ``ref``), ``array`` and ``map``
    (of ``item``).
    """

    kind: str
    ref: str = ""
    item: FieldType | None = None


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a model: its JSON name, type, description and whether it is required."""

    name: str
    type: FieldType
    description: str
    required: bool
    merge_key: str = ""


@dataclass(frozen=True, slots=True)
class Model:
    """One API type: ``name`` is the model class name (``V1PodSpec``)."""

    name: str
    fields: Mapping[str, Field]

    @property
    def required(self) -> tuple[str, ...]:
        """The JSON names of the required fields, in field order."""
        return tuple(f.name for f in self.fields.values() if f.required)


# --- facts the generated models do not carry ------------------------------------------------

_INT_OR_STRING = frozenset({
    ("V1HTTPGetAction", "port"), ("V1TCPSocketAction", "port"),
    ("V1NetworkPolicyPort", "port"), ("V1ServicePort", "targetPort"),
    ("V1PodDisruptionBudgetSpec", "maxUnavailable"), ("V1PodDisruptionBudgetSpec", "minAvailable"),
    ("V1RollingUpdateDaemonSet", "maxSurge"), ("V1RollingUpdateDaemonSet", "maxUnavailable"),
    ("V1RollingUpdateDeployment", "maxSurge"), ("V1RollingUpdateDeployment", "maxUnavailable"),
    ("V1RollingUpdateStatefulSetStrategy", "maxUnavailable"),
})

_QUANTITY = frozenset({
    ("V1ResourceRequirements", "limits"), ("V1ResourceRequirements", "requests"),
    ("V1VolumeResourceRequirements", "limits"), ("V1VolumeResourceRequirements", "requests"),
    ("V1ContainerStatus", "allocatedResources"), ("V1PodStatus", "allocatedResources"),
    ("V1LimitRangeItem", "default"), ("V1LimitRangeItem", "defaultRequest"),
    ("V1LimitRangeItem", "max"), ("V1LimitRangeItem", "min"),
    ("V1LimitRangeItem", "maxLimitRequestRatio"),
    ("V1NodeStatus", "allocatable"), ("V1NodeStatus", "capacity"),
    ("V1Overhead", "podFixed"), ("V1PodSpec", "overhead"), ("V1RuntimeClass", "overhead"),
    ("V1PersistentVolumeClaimStatus", "capacity"),
    ("V1PersistentVolumeClaimStatus", "allocatedResources"),
    ("V1PersistentVolumeSpec", "capacity"),
    ("V1ResourceQuotaSpec", "hard"), ("V1ResourceQuotaStatus", "hard"),
    ("V1ResourceQuotaStatus", "used"),
    ("V1EmptyDirVolumeSource", "sizeLimit"),
    ("V1CSIStorageCapacity", "capacity"), ("V1CSIStorageCapacity", "maximumVolumeSize"),
    ("V2MetricTarget", "value"), ("V2MetricTarget", "averageValue"),
    ("V2MetricValueStatus", "value"), ("V2MetricValueStatus", "averageValue"),
    ("V1ResourceFieldSelector", "divisor"),
})

_BYTES = frozenset({
    ("V1Secret", "data"), ("V1ConfigMap", "binaryData"),
    ("V1CertificateSigningRequestSpec", "request"),
    ("V1CertificateSigningRequestStatus", "certificate"),
    ("AdmissionregistrationV1WebhookClientConfig", "caBundle"),
    ("ApiextensionsV1WebhookClientConfig", "caBundle"),
})

# Lists merged element by element in a strategic merge patch, and their merge key
# (``x-kubernetes-patch-merge-key`` in the OpenAPI documents).
_MERGE_KEYS: dict[tuple[str, str], str] = {
    ("V1PodSpec", "containers"): "name", ("V1PodSpec", "initContainers"): "name",
    ("V1PodSpec", "ephemeralContainers"): "name", ("V1PodSpec", "volumes"): "name",
    ("V1PodSpec", "imagePullSecrets"): "name", ("V1PodSpec", "hostAliases"): "ip",
    ("V1PodSpec", "topologySpreadConstraints"): "topologyKey",
    ("V1PodSpec", "resourceClaims"): "name", ("V1PodSpec", "schedulingGates"): "name",
    ("V1PodSpec", "readinessGates"): "conditionType",
    ("V1Container", "env"): "name", ("V1Container", "ports"): "containerPort",
    ("V1Container", "volumeMounts"): "mountPath", ("V1Container", "volumeDevices"): "devicePath",
    ("V1Container", "resizePolicy"): "resourceName",
    ("V1EphemeralContainer", "env"): "name", ("V1EphemeralContainer", "ports"): "containerPort",
    ("V1EphemeralContainer", "volumeMounts"): "mountPath",
    ("V1EphemeralContainer", "volumeDevices"): "devicePath",
    ("V1ServiceSpec", "ports"): "port",
    ("V1ObjectMeta", "ownerReferences"): "uid",
    ("V1PodStatus", "conditions"): "type", ("V1NodeStatus", "conditions"): "type",
    ("V1NodeStatus", "addresses"): "type", ("V1DeploymentStatus", "conditions"): "type",
    ("V1ReplicaSetStatus", "conditions"): "type", ("V1StatefulSetStatus", "conditions"): "type",
    ("V1DaemonSetStatus", "conditions"): "type", ("V1JobStatus", "conditions"): "type",
    ("V1NamespaceStatus", "conditions"): "type",
    ("V1PersistentVolumeClaimStatus", "conditions"): "type",
    ("V1ReplicationControllerStatus", "conditions"): "type",
    ("V1ServiceStatus", "conditions"): "type",
    ("V1PodDisruptionBudgetStatus", "conditions"): "type",
    ("V1ServiceAccount", "secrets"): "name",
}

# One-line descriptions of the top-level kinds, from the Kubernetes API reference (the
# generated models keep the descriptions of fields, not of types).
_KIND_DESCRIPTIONS: dict[str, str] = {
    "Namespace": "Namespace provides a scope for Names. Use of multiple namespaces is optional.",
    "Node": "Node is a worker node in Kubernetes. Each node will have a unique identifier in "
            "the cache (i.e. in etcd).",
    "Pod": "Pod is a collection of containers that can run on a host. This resource is "
           "created by clients and scheduled onto hosts.",
    "ConfigMap": "ConfigMap holds configuration data for pods to consume.",
    "Secret": "Secret holds secret data of a certain type. The total bytes of the values in "
              "the Data field must be less than MaxSecretSize bytes.",
    "Service": "Service is a named abstraction of software service (for example, mysql) "
               "consisting of local port (for example 3306) that the proxy listens on, and the "
               "selector that determines which pods will answer requests sent through the proxy.",
    "ServiceAccount": "ServiceAccount binds together: * a name, understood by users, and "
                      "perhaps by peripheral systems, for an identity * a principal that can be "
                      "authenticated and authorized * a set of secrets",
    "Endpoints": "Endpoints is a collection of endpoints that implement the actual service.",
    "Event": "Event is a report of an event somewhere in the cluster.",
    "Deployment": "Deployment enables declarative updates for Pods and ReplicaSets.",
    "ReplicaSet": "ReplicaSet ensures that a specified number of pod replicas are running at "
                  "any given time.",
    "StatefulSet": "StatefulSet represents a set of pods with consistent identities.",
    "DaemonSet": "DaemonSet represents the configuration of a daemon set.",
    "ControllerRevision": "ControllerRevision implements an immutable snapshot of state data.",
    "Lease": "Lease defines a lease concept.",
    "Role": "Role is a namespaced, logical grouping of PolicyRules that can be referenced as "
            "a unit by a RoleBinding.",
    "RoleBinding": "RoleBinding references a role, but does not contain it.",
    "ClusterRole": "ClusterRole is a cluster level, logical grouping of PolicyRules that can "
                   "be referenced as a unit by a RoleBinding or ClusterRoleBinding.",
    "ClusterRoleBinding": "ClusterRoleBinding references a ClusterRole, but not contain it.",
    "CustomResourceDefinition": "CustomResourceDefinition represents a resource that should "
                                "be exposed on the API server.  Its name MUST be in the "
                                "format <.spec.name>.<.spec.group>.",
    "PersistentVolumeClaim": "PersistentVolumeClaim is a user's request for and claim to a "
                             "persistent volume",
    "PersistentVolume": "PersistentVolume (PV) is a storage resource provisioned by an "
                        "administrator. It is analogous to a node.",
    "ReplicationController": "ReplicationController represents the configuration of a "
                             "replication controller.",
    "LimitRange": "LimitRange sets resource usage limits for each kind of resource in a "
                  "Namespace.",
    "ResourceQuota": "ResourceQuota sets aggregate quota restrictions enforced per namespace",
    "PodTemplate": "PodTemplate describes a template for creating copies of a predefined pod.",
    "Job": "Job represents the configuration of a single job.",
    "CronJob": "CronJob represents the configuration of a single cron job.",
    "PodDisruptionBudget": "PodDisruptionBudget is an object to define the max disruption "
                           "that can be caused to a collection of pods",
    "Ingress": "Ingress is a collection of rules that allow inbound connections to reach the "
               "endpoints defined by a backend.",
    "IngressClass": "IngressClass represents the class of the Ingress, referenced by the "
                    "Ingress Spec.",
    "NetworkPolicy": "NetworkPolicy describes what network traffic is allowed for a set of "
                     "Pods",
    "StorageClass": "StorageClass describes the parameters for a class of storage for which "
                    "PersistentVolumes can be dynamically provisioned.",
    "CSIDriver": "CSIDriver captures information about a Container Storage Interface (CSI) "
                 "volume driver deployed on the cluster.",
    "CSINode": "CSINode holds information about all CSI drivers installed on a node.",
    "CSIStorageCapacity": "CSIStorageCapacity stores the result of one CSI GetCapacity call.",
    "VolumeAttachment": "VolumeAttachment captures the intent to attach or detach the "
                        "specified volume to/from the specified node.",
    "HorizontalPodAutoscaler": "HorizontalPodAutoscaler is the configuration for a horizontal "
                               "pod autoscaler, which automatically manages the replica count "
                               "of any resource implementing the scale subresource based on "
                               "the metrics specified.",
    "EndpointSlice": "EndpointSlice represents a set of service endpoints.",
    "PriorityClass": "PriorityClass defines mapping from a priority class name to the priority "
                     "integer value.",
    "RuntimeClass": "RuntimeClass defines a class of container runtime supported in the "
                    "cluster.",
    "MutatingWebhookConfiguration": "MutatingWebhookConfiguration describes the configuration "
                                    "of and admission webhook that accept or reject and may "
                                    "change the object.",
    "ValidatingWebhookConfiguration": "ValidatingWebhookConfiguration describes the "
                                      "configuration of and admission webhook that accept or "
                                      "reject and object without changing it.",
    "ValidatingAdmissionPolicy": "ValidatingAdmissionPolicy describes the definition of an "
                                 "admission validation policy that accepts or rejects an "
                                 "object without changing it.",
    "ValidatingAdmissionPolicyBinding": "ValidatingAdmissionPolicyBinding binds the "
                                        "ValidatingAdmissionPolicy with paramerized "
                                        "resources.",
    "CertificateSigningRequest": "CertificateSigningRequest objects provide a mechanism to "
                                 "obtain x509 certificates by submitting a certificate signing "
                                 "request, and having it asynchronously approved and issued.",
}

# Model classes whose name does not follow ``<Version><Kind>`` for their kind.
_KIND_MODELS: dict[tuple[str, str], str] = {
    ("v1", "Event"): "CoreV1Event",
    ("events.k8s.io/v1", "Event"): "EventsV1Event",
}

# Types of the apimachinery meta/v1 package (the rest are named after the group reaching them).
_META = frozenset({
    "V1ObjectMeta", "V1ListMeta", "V1LabelSelector", "V1LabelSelectorRequirement",
    "V1OwnerReference", "V1ManagedFieldsEntry", "V1Condition", "V1Status", "V1StatusDetails",
    "V1StatusCause", "V1DeleteOptions", "V1Preconditions", "V1APIResource",
})
_PREFIXED_GROUPS: dict[str, str] = {
    "Core": "", "Events": "events.k8s.io", "Discovery": "discovery.k8s.io",
    "Storage": "storage.k8s.io", "Authentication": "authentication.k8s.io",
    "Rbac": "rbac.authorization.k8s.io", "Flowcontrol": "flowcontrol.apiserver.k8s.io",
    "Admissionregistration": "admissionregistration.k8s.io",
    "Apiextensions": "apiextensions.k8s.io", "Apiregistration": "apiregistration.k8s.io",
    "Resource": "resource.k8s.io",
}

# --- reading the generated models -----------------------------------------------------------

_VERSIONED = re.compile(r"^(?:([A-Z][a-z]+))?(V\d+(?:(?:alpha|beta)\d+)?)([A-Z]\w*)$")
_DICT_BLOCK = r"^    {name} = \{{\n(.*?)^    \}}"
_PAIR = re.compile(r"'(\w+)': '([^']*)'")
_REQUIRED = re.compile(r"client_side_validation and (\w+) is None:")
_GETTER = re.compile(
    r"    def (\w+)\(self\):\n        \"\"\"Gets the \w+ of this \w+\.  # noqa: E501\n\n"
    r"(?:        (.*?)(?:  # noqa: E501)?\n\n)?        :return:")
_ESCAPE = re.compile(r"\\(.)")
_ESCAPES = {"n": "\n", "t": "\t"}


def _unescape(text: str) -> str:
    """The docstring as Python reads it (the source escapes quotes and backslashes)."""
    return _ESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(1)), text)


@cache
def _models_dir() -> Path:
    spec = importlib.util.find_spec("kubernetes_asyncio")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("kubernetes-asyncio is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "client" / "models"


def _module_file(name: str) -> Path:
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()
    return _models_dir() / f"{snake}.py"


def _block(source: str, name: str) -> dict[str, str]:
    m = re.search(_DICT_BLOCK.format(name=name), source, re.S | re.M)
    return dict(_PAIR.findall(m.group(1))) if m else {}


def _parse_type(text: str, owner: str, field: str) -> FieldType:
    if (owner, field) in _INT_OR_STRING:
        return FieldType("int-or-string")
    if (owner, field) in _QUANTITY:
        quantity = FieldType("quantity")
        return FieldType("map", item=quantity) if text.startswith("dict(") else quantity
    if (owner, field) in _BYTES:
        byte = FieldType("byte")
        return FieldType("map", item=byte) if text.startswith("dict(") else byte
    return _type_of(text)


def _type_of(text: str) -> FieldType:
    if text.startswith("list["):
        return FieldType("array", item=_type_of(text[5:-1]))
    if text.startswith("dict(str, "):
        return FieldType("map", item=_type_of(text[10:-1]))
    simple = {"str": "string", "int": "integer", "float": "number", "bool": "boolean",
              "datetime": "date-time", "date": "date-time", "object": "object"}
    if text in simple:
        return FieldType(simple[text])
    return FieldType("ref", ref=text)


@cache
def model(name: str) -> Model:
    """The :class:`Model` of a generated model class (``V1PodSpec``); :class:`KeyError` if
    kubernetes-asyncio has no such model."""
    path = _module_file(name)
    try:
        source = path.read_text()
    except FileNotFoundError:
        raise KeyError(f"kubernetes-asyncio has no model {name!r}") from None
    if f"class {name}(object):" not in source:
        raise KeyError(f"kubernetes-asyncio has no model {name!r} (in {path.name})")
    types = _block(source, "openapi_types")
    names = _block(source, "attribute_map")
    required = set(_REQUIRED.findall(source))
    docs = {attr: _unescape(body) for attr, body in _GETTER.findall(source)}
    fields: dict[str, Field] = {}
    top_level = "metadata" in names.values() and "kind" in names.values()
    for attr, text in types.items():
        json_name = names[attr]
        description = docs.get(attr, "") or (
            _conventional(name, json_name, text) if top_level else "")
        fields[json_name] = Field(
            name=json_name,
            type=_parse_type(text, name, json_name),
            description=description,
            required=attr in required,
            merge_key=_MERGE_KEYS.get((name, json_name), ""),
        )
    return Model(name, MappingProxyType(fields))


_CONVENTIONS = "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md"


def _conventional(owner: str, field: str, type_text: str) -> str:
    """The API conventions' wording of ``metadata``/``spec``/``status`` of a kind (the
    generated models drop the descriptions of fields whose type is another model)."""
    if field == "metadata":
        if type_text == "V1ListMeta":
            return f"Standard list metadata. More info: {_CONVENTIONS}#types-kinds"
        return f"Standard object's metadata. More info: {_CONVENTIONS}#metadata"
    m = _VERSIONED.match(owner)
    kind = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", m.group(3) if m else owner).lower()
    if field == "spec":
        return (f"Specification of the desired behavior of the {kind}. More info: "
                f"{_CONVENTIONS}#spec-and-status")
    if field == "status":
        return (f"Most recently observed status of the {kind}. This data may not be up to "
                f"date. Populated by the system. Read-only. More info: "
                f"{_CONVENTIONS}#spec-and-status")
    return ""


def kind_model(api_version: str, kind: str) -> str | None:
    """The model class name of a built-in kind (``V1Pod`` for ``v1``/``Pod``), or ``None``
    when kubernetes-asyncio has none (a custom resource)."""
    name = _KIND_MODELS.get((api_version, kind))
    if name is None:
        version = api_version.rpartition("/")[2]
        name = version[:1].upper() + version[1:] + kind
    try:
        model(name)
    except KeyError:
        return None
    return name


def kind_description(kind: str) -> str:
    """The API reference's description of a top-level kind (empty when unknown)."""
    return _KIND_DESCRIPTIONS.get(kind, "")


def reachable(name: str) -> Iterator[str]:
    """``name`` and every model its fields refer to, each once, depth first."""
    seen: set[str] = set()
    stack = [name]
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        yield n
        for f in model(n).fields.values():
            t: FieldType | None = f.type
            while t is not None and t.kind in ("array", "map"):
                t = t.item
            if t is not None and t.kind == "ref":
                stack.append(t.ref)


def definition_name(name: str, group: str) -> str:
    """The OpenAPI definition name of model ``name`` reached from a kind of ``group``:
    ``io.k8s.api.core.v1.PodSpec``, ``io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta``."""
    m = _VERSIONED.match(name)
    if m is None:
        return name
    prefix, version, kind = m.group(1), m.group(2).lower(), m.group(3)
    if prefix is not None:
        group = _PREFIXED_GROUPS.get(prefix, group)
    if name in _META:
        return f"io.k8s.apimachinery.pkg.apis.meta.{version}.{kind}"
    if group == "apiextensions.k8s.io":
        return f"io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.{version}.{kind}"
    if group == "apiregistration.k8s.io":
        return f"io.k8s.kube-aggregator.pkg.apis.apiregistration.{version}.{kind}"
    package = group.split(".")[0] if group else "core"
    return f"io.k8s.api.{package}.{version}.{kind}"
