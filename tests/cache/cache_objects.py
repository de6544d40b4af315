"""Building objects for the cache tests (plain data in, kcs.core.Object out)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kcs.core import Object, object_from_dict


def pod(
    name: str,
    namespace: str = "default",
    rv: str = "1",
    *,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    node: str | None = None,
    owners: Sequence[str] = (),
    phase: str = "Running",
    uid: str | None = None,
    extra_spec: Mapping[str, Any] | None = None,
) -> Object:
    """A small pod; ``owners`` are owner uids (the first one is the controller)."""
    spec: dict[str, Any] = {"containers": [{"name": "main", "image": "busybox"}]}
    if node is not None:
        spec["nodeName"] = node
    spec.update(extra_spec or {})
    meta: dict[str, Any] = {
        "name": name,
        "resourceVersion": rv,
        "uid": uid or f"uid-{namespace}-{name}",
    }
    if namespace:
        meta["namespace"] = namespace
    if labels is not None:
        meta["labels"] = dict(labels)
    if annotations is not None:
        meta["annotations"] = dict(annotations)
    if owners:
        meta["ownerReferences"] = [
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": f"rs-{uid}",
                "uid": uid,
                "controller": i == 0,
            }
            for i, uid in enumerate(owners)
        ]
    return object_from_dict(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": meta,
            "spec": spec,
            "status": {"phase": phase},
        }
    )


def node(name: str, rv: str = "1", labels: Mapping[str, str] | None = None) -> Object:
    """A cluster-scoped object."""
    meta: dict[str, Any] = {"name": name, "resourceVersion": rv, "uid": f"uid-{name}"}
    if labels is not None:
        meta["labels"] = dict(labels)
    return object_from_dict({"apiVersion": "v1", "kind": "Node", "metadata": meta, "spec": {}})


def bump(obj: Object, rv: str, **changes: Any) -> Object:
    """``obj`` at resourceVersion ``rv`` with ``changes`` (see :func:`pod`) applied."""
    d = obj.to_dict()
    meta = d["metadata"]
    spec = d.get("spec", {})
    owners = [ref["uid"] for ref in meta.get("ownerReferences", [])]
    args: dict[str, Any] = {
        "labels": meta.get("labels"),
        "annotations": meta.get("annotations"),
        "node": spec.get("nodeName"),
        "owners": owners,
        "phase": d.get("status", {}).get("phase", "Running"),
        "uid": meta.get("uid"),
    }
    args.update(changes)
    return pod(meta["name"], meta.get("namespace", ""), rv, **args)
