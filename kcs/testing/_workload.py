"""Deterministic "typical pod" objects, as docs/benchmarks.md describes them.

About 5-7 KB of JSON each: 4-8 labels, 2-4 annotations, an ownerReference, three
managedFields entries; two containers with env, ports, resources, probes and volumeMounts;
volumes, tolerations; a status with conditions and containerStatuses. Pods spread over
100 namespaces and 1,000 nodes. The same ``(index, seed)`` always gives the same pod.
"""

from __future__ import annotations

import random
from typing import Any

__all__ = ["typical_pod", "typical_pods"]

_APPS = ["web", "api", "worker", "cache", "db", "queue", "auth", "search", "billing", "mail"]
_TIERS = ["frontend", "backend", "data"]


def typical_pod(
    index: int, seed: int = 0, namespaces: int = 100, nodes: int = 1000
) -> dict[str, Any]:
    """The ``index``-th typical pod for ``seed`` (a fresh dict each call)."""
    rnd = random.Random(seed * 1_000_003 + index)
    ns = f"ns-{index % namespaces}"
    app = _APPS[index % len(_APPS)]
    name = f"{app}-{index:07d}-{rnd.randrange(16**5):05x}"
    labels = {
        "app": app,
        "tier": _TIERS[index % 3],
        "pod-template-hash": f"{rnd.randrange(16**8):08x}",
        "release": f"r{index % 20}",
        # ~1 % of pods carry shard=s0 .. s99, so a selector on one value matches ~1 %.
        "shard": f"s{index % 100}",
    }
    for i in range(rnd.randrange(0, 4)):
        labels[f"extra-{i}"] = f"v{rnd.randrange(1000)}"
    annotations = {
        "kubernetes.io/psp": "restricted",
        "prometheus.io/scrape": "true",
    }
    for i in range(rnd.randrange(0, 3)):
        annotations[f"example.com/note-{i}"] = "x" * rnd.randrange(8, 40)
    owner_uid = f"{rnd.randrange(16**8):08x}-0000-4000-8000-{index:012d}"

    def managed(manager: str, op: str, sub: str | None) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "manager": manager,
            "operation": op,
            "apiVersion": "v1",
            "time": "2026-01-01T00:00:00Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:metadata": {"f:labels": {f"f:{k}": {} for k in labels}},
                "f:spec": {"f:containers": {'k:{"name":"main"}': {".": {}, "f:image": {}}}},
            },
        }
        if sub:
            entry["subresource"] = sub
        return entry

    def container(cname: str, port: int) -> dict[str, Any]:
        return {
            "name": cname,
            "image": f"registry.example.com/{app}/{cname}:v{rnd.randrange(1, 50)}.0",
            "imagePullPolicy": "IfNotPresent",
            "command": ["/bin/" + cname],
            "args": ["--port", str(port), "--log-level", "info"],
            "env": [
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "MODE", "value": "production"},
                {"name": "REGION", "value": f"region-{index % 7}"},
            ],
            "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
            "resources": {
                "requests": {"cpu": "100m", "memory": "128Mi"},
                "limits": {"cpu": "500m", "memory": "512Mi"},
            },
            "livenessProbe": {
                "httpGet": {"path": "/healthz", "port": port, "scheme": "HTTP"},
                "initialDelaySeconds": 10,
                "periodSeconds": 10,
                "timeoutSeconds": 1,
                "successThreshold": 1,
                "failureThreshold": 3,
            },
            "readinessProbe": {
                "httpGet": {"path": "/readyz", "port": port, "scheme": "HTTP"},
                "periodSeconds": 5,
                "timeoutSeconds": 1,
                "successThreshold": 1,
                "failureThreshold": 3,
            },
            "volumeMounts": [
                {"name": "config", "mountPath": "/etc/config", "readOnly": True},
                {
                    "name": "kube-api-access",
                    "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                    "readOnly": True,
                },
            ],
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File",
        }

    node = f"node-{rnd.randrange(nodes):04d}"
    cstatus = [
        {
            "name": c,
            "state": {"running": {"startedAt": "2026-01-01T00:00:05Z"}},
            "lastState": {},
            "ready": True,
            "restartCount": rnd.randrange(3),
            "image": f"registry.example.com/{app}/{c}:v1.0",
            "imageID": f"registry.example.com/{app}/{c}@sha256:{rnd.randrange(16**16):016x}"
            + "0" * 48,
            "containerID": f"containerd://{rnd.randrange(16**16):016x}" + "0" * 48,
            "started": True,
        }
        for c in ("main", "sidecar")
    ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "generateName": f"{app}-{index:07d}-",
            "namespace": ns,
            "uid": f"{rnd.randrange(16**8):08x}-1111-4000-8000-{index:012d}",
            "resourceVersion": "1",
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": f"{app}-{labels['pod-template-hash']}",
                    "uid": owner_uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
            "managedFields": [
                managed("kube-controller-manager", "Update", None),
                managed("kubelet", "Update", "status"),
                managed("kubectl", "Update", None),
            ],
        },
        "spec": {
            "containers": [container("main", 8080), container("sidecar", 9090)],
            "volumes": [
                {"name": "config", "configMap": {"name": f"{app}-config", "defaultMode": 420}},
                {
                    "name": "kube-api-access",
                    "projected": {
                        "defaultMode": 420,
                        "sources": [
                            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                            {
                                "configMap": {
                                    "name": "kube-root-ca.crt",
                                    "items": [{"key": "ca.crt", "path": "ca.crt"}],
                                }
                            },
                        ],
                    },
                },
            ],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default",
            "nodeName": node,
            "schedulerName": "default-scheduler",
            "securityContext": {},
            "priority": 0,
            "enableServiceLinks": True,
            "preemptionPolicy": "PreemptLowerPriority",
            "tolerations": [
                {
                    "key": "node.kubernetes.io/not-ready",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 300,
                },
                {
                    "key": "node.kubernetes.io/unreachable",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 300,
                },
            ],
        },
        "status": {
            "phase": "Running",
            "conditions": [
                {
                    "type": t,
                    "status": "True",
                    "lastProbeTime": None,
                    "lastTransitionTime": "2026-01-01T00:00:05Z",
                }
                for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")
            ],
            "hostIP": f"10.0.{rnd.randrange(256)}.{rnd.randrange(256)}",
            "podIP": f"10.1.{rnd.randrange(256)}.{rnd.randrange(256)}",
            "podIPs": [{"ip": f"10.1.{rnd.randrange(256)}.{rnd.randrange(256)}"}],
            "startTime": "2026-01-01T00:00:01Z",
            "containerStatuses": cstatus,
            "qosClass": "Burstable",
        },
    }


def typical_pods(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` typical pods (``typical_pod(i, seed)`` for ``i`` in ``range(n)``)."""
    return [typical_pod(i, seed) for i in range(n)]
