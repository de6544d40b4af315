"""Bulk writes for benchmarks: seed many objects, or touch them, without HTTP.

These bypass the REST semantics on purpose (no validation beyond names, no write log) so
that a benchmark can load 100,000 objects or produce a burst of MODIFIED events quickly.
The events they produce reach open watches like any other.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from kcs.testing._registry import ServedResource
from kcs.testing._verbs import Verbs, now_rfc3339, object_key

__all__ = ["seed", "touch"]


def seed(verbs: Verbs, served: ServedResource, objects: Iterable[dict[str, Any]]) -> int:
    """Store many objects fast (one ADDED event each).

    Missing ``apiVersion``, ``kind``, ``uid``, ``creationTimestamp`` and ``generation`` are
    filled in; namespaced objects without a namespace go to ``default``, and missing
    namespaces are created. Returns the revision after the last object.
    """
    now = now_rfc3339()
    r = served.resource
    rs = verbs.rs(served)
    store = verbs.store
    for body in objects:
        obj = dict(body)
        obj.setdefault("apiVersion", served.storage_api_version)
        obj.setdefault("kind", r.kind)
        meta = dict(obj.get("metadata") or {})
        obj["metadata"] = meta
        name = meta.get("name")
        if not name:
            raise ValueError("seeded objects need metadata.name")
        ns = meta.get("namespace") or ("default" if r.namespaced else "")
        if r.namespaced:
            meta["namespace"] = ns
            verbs.ensure_namespace(ns)
        else:
            meta.pop("namespace", None)
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", now)
        meta.setdefault("generation", 1)
        store.put(rs, object_key(served, ns, name), ns, obj)
    return store.revision


def touch(verbs: Verbs, served: ServedResource, keys: Iterable[str] | None = None,
          times: int = 1) -> int:
    """Re-write objects unchanged but for their resourceVersion: one MODIFIED each, ``times``
    rounds. ``keys`` are store keys (``namespace/name`` or ``name``); ``None`` touches every
    object. Raises :class:`KeyError` (before writing anything) for a missing key. Returns
    the revision after the last write."""
    rs = verbs.rs(served)
    store = verbs.store
    chosen = list(rs.objects.keys()) if keys is None else list(keys)
    missing = [k for k in chosen if k not in rs.objects]
    if missing:
        raise KeyError(f"no such objects: {missing[:5]}")
    for _ in range(times):
        for key in chosen:
            cur = rs.objects[key]
            store.put(rs, key, str(cur.obj["metadata"].get("namespace") or ""), cur.obj)
    return store.revision
