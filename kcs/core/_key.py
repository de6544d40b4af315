"""The work item of a controller: which object to reconcile, by namespace and name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kcs.core._codec import Object

__all__ = ["ObjectKey"]


@dataclass(frozen=True, slots=True, order=True)
class ObjectKey:
    """The namespace and name of one object; the key a controller's work queue holds.

    ``namespace`` is ``""`` for a cluster-scoped object. Instances are immutable, hashable
    and ordered; ``str(key)`` is client-go's key: ``"namespace/name"``, or ``"name"`` when
    cluster-scoped. A reconcile receives a key, never an event: it reads the current state
    of the object (which may be gone) from the cache.
    """

    namespace: str
    name: str

    @classmethod
    def of(cls, obj: Object | dict[str, Any]) -> ObjectKey:
        """The key of a cached :class:`~kcs.core.Object` or of an object ``dict``."""
        if isinstance(obj, Object):
            return cls(obj.metadata.namespace, obj.metadata.name)
        meta = obj.get("metadata") or {}
        return cls(str(meta.get("namespace") or ""), str(meta.get("name") or ""))

    @classmethod
    def parse(cls, text: str) -> ObjectKey:
        """The inverse of ``str(key)``: ``"ns/name"`` or ``"name"`` (cluster-scoped)."""
        namespace, sep, name = text.partition("/")
        return cls(namespace, name) if sep else cls("", namespace)

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name
