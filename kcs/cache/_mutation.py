"""The cache mutation detector: fail loudly when a reader changes a cached object.

Listers hand out the cached objects themselves (zero-copy). An :class:`~kcs.core.Object`
is frozen, but the ``labels`` and ``annotations`` dicts of its metadata (and its
``managed_fields`` list, when kept) are ordinary mutable containers. The detector keeps
a fingerprint of each stored object (a hash of its encoded metadata) and compares it
whenever the store replaces or deletes that key, on a relist, and in
:meth:`Store.verify() <kcs.cache.Store.verify>`. Like client-go's
``KUBE_CACHE_MUTATION_DETECTOR``, it is meant for tests: turn it on with
``StoreOptions(mutation_detector=True)`` or the environment variable
``KCS_CACHE_MUTATION_DETECTOR=1``. When off it costs nothing: the store holds ``None``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Final

import msgspec

from kcs.cache._errors import CacheMutationError
from kcs.core import Object

__all__ = ["ENV_VAR", "MutationDetector", "enabled_by_environment", "fingerprint"]

ENV_VAR: Final = "KCS_CACHE_MUTATION_DETECTOR"

_encoder: Final = msgspec.json.Encoder()


def enabled_by_environment() -> bool:
    """Whether ``KCS_CACHE_MUTATION_DETECTOR`` asks for the detector (``1``/``true``/``yes``)."""
    return os.environ.get(ENV_VAR, "").strip().lower() in ("1", "true", "yes", "on")


def fingerprint(obj: Object) -> int:
    """A hash of everything in ``obj`` that could be mutated in place (its metadata)."""
    return hash(_encoder.encode(obj.metadata))


class MutationDetector:
    """Fingerprints of the stored objects, by key (internal)."""

    __slots__ = ("_fingerprints",)

    def __init__(self) -> None:
        self._fingerprints: dict[str, int] = {}

    def record(self, key: str, obj: Object) -> None:
        """Remember ``obj`` as stored under ``key``."""
        self._fingerprints[key] = fingerprint(obj)

    def forget(self, key: str) -> None:
        """``key`` left the store."""
        self._fingerprints.pop(key, None)

    def check(self, key: str, obj: Object) -> None:
        """Raise :class:`CacheMutationError` if ``obj`` changed since it was recorded."""
        recorded = self._fingerprints.get(key)
        if recorded is not None and recorded != fingerprint(obj):
            raise CacheMutationError(key)

    def verify(self, objects: Mapping[str, Object]) -> None:
        """Check every stored object."""
        for key, obj in objects.items():
            self.check(key, obj)

    def rebuild(self, objects: Mapping[str, Object], previous: Mapping[str, Object]) -> None:
        """The store now holds ``objects`` (after a relist); ``previous`` is what it held.

        Fingerprints of instances carried over unchanged (just verified) are kept.
        """
        old = self._fingerprints
        new: dict[str, int] = {}
        for key, obj in objects.items():
            fp = old.get(key) if previous.get(key) is obj else None
            new[key] = fp if fp is not None else fingerprint(obj)
        self._fingerprints = new
