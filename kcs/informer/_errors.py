"""Errors raised by informers: not synced in time, conflicting requests, stale caches."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kcs.core import Resource
from kcs.watch import WatchError

__all__ = ["CacheNotFresh", "InformerConflict", "NotSynced", "SyncTimeoutError"]


@dataclass(frozen=True, slots=True)
class NotSynced:
    """Why one informer has not synced (an entry of :attr:`SyncTimeoutError.not_synced`)."""

    resource: Resource
    scope: str
    """The collection in plain words (``"pods in all namespaces"``)."""
    reason: str
    """One line: the last error and what the watcher does now, or what it is waiting for."""
    last_error: WatchError | None
    """The watcher's last error, if it met one."""

    def __str__(self) -> str:
        return f"{self.scope}: {self.reason}"


class SyncTimeoutError(TimeoutError):
    """``wait_synced(timeout)`` ran out: an informer (or several) had not synced.

    The message names each informer that had not synced — its resource and scope — and
    why: its last error in plain words (a 403 of RBAC, a 404 of a missing CRD ...), or
    that it was never started, or what it is still doing. The same for each is in
    :attr:`not_synced`; :attr:`last_error` is the first informer's last error.
    """

    def __init__(self, timeout: float, not_synced: Sequence[NotSynced]) -> None:
        self.timeout = timeout
        self.not_synced = tuple(not_synced)
        first = self.not_synced[0] if self.not_synced else None
        self.resource = first.resource if first else None
        """The resource of the first informer that had not synced."""
        self.last_error = first.last_error if first else None
        if first is not None and len(self.not_synced) == 1:
            message = (
                f"the informer of {first.scope} did not sync within {timeout:g}s: "
                f"{first.reason}"
            )
        else:
            causes = "; ".join(str(n) for n in self.not_synced)
            message = f"{len(self.not_synced)} informers did not sync within {timeout:g}s: {causes}"
        super().__init__(message)


class InformerConflict(ValueError):
    """A request for a shared informer asked for settings the existing one does not have.

    Informers of the same resource, namespace and selectors share one watch, so every
    setting but the indexes (which are merged) must be equal; ``differences`` lists the
    ones that are not, as ``"store.transform: <a> != <b>"``.
    """

    def __init__(self, scope: str, differences: Sequence[str]) -> None:
        self.scope = scope
        self.differences = tuple(differences)
        super().__init__(
            f"the shared informer of {scope} exists with other settings than this request "
            f"asks for ({'; '.join(differences)}). Informers of the same resource, "
            "namespace and selectors share one watch, so every setting but the indexes "
            "must be equal: pass the same options (a transform or an index function must "
            "be the very same function object: define it once, at module level), or "
            "narrow one of the informers with a selector"
        )


class CacheNotFresh(TimeoutError):
    """A consistent read with ``fallback="error"`` timed out: the cache had not reached
    the server's resourceVersion.

    ``wanted`` is the server's resourceVersion (``""`` if even finding it timed out),
    ``reached`` the cache's at the time of giving up, ``timeout`` the seconds allowed.
    """

    def __init__(self, resource: Resource, wanted: str, reached: str, timeout: float) -> None:
        self.resource = resource
        self.wanted = wanted
        self.reached = reached
        self.timeout = timeout
        target = f"resourceVersion {wanted}" if wanted else "the server's resourceVersion"
        super().__init__(
            f"the {resource} cache did not reach {target} within {timeout:g}s "
            f"(it is at {reached or 'nothing yet'})"
        )
