"""Finalizers: run cleanup before an object may go, exactly when it is being deleted.

A finalizer is a name in ``metadata.finalizers``. While it is there, a DELETE only marks
the object (``metadata.deletionTimestamp``); the apiserver removes it once the list is
empty. The pattern every controller needs:

.. code-block:: python

    obj = await ctx.cache.get(RESOURCE, key.name, key.namespace)
    if obj is None:
        return None
    obj = await apply_finalizer(ctx.client, RESOURCE, obj, FINALIZER, cleanup=self.cleanup)
    if obj is None:
        return None  # it was being deleted: cleaned up, finalizer removed
    ...  # reconcile a live object that carries the finalizer

Both patches are merge patches that carry the object's ``resourceVersion``, so they apply
only to the state they were computed from (optimistic concurrency; the lists of
finalizers of other controllers are never overwritten). On a 409 Conflict the object is
read again from the apiserver and the patch recomputed, a bounded number of times.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from kcs.client import Client
from kcs.core import Conflict, NotFound, Object, Resource

__all__ = ["apply_finalizer", "ensure_finalizer", "remove_finalizer"]

_ATTEMPTS = 5


async def _patch_finalizers(
    client: Client,
    resource: Resource,
    obj: Object,
    change: Callable[[tuple[str, ...]], tuple[str, ...] | None],
    attempts: int,
) -> Object | None:
    """Apply ``change`` to the finalizers with conflict retries; ``None`` if it is gone."""
    current = obj
    for attempt in range(attempts):
        wanted = change(current.metadata.finalizers)
        if wanted is None:
            return current
        patch: dict[str, Any] = {
            "metadata": {
                "finalizers": list(wanted) or None,
                "resourceVersion": current.metadata.resource_version,
            }
        }
        try:
            answer = await client.patch(
                resource, current.metadata.name, patch, current.metadata.namespace or None
            )
        except NotFound:
            return None
        except Conflict:
            if attempt + 1 == attempts:
                raise
            fresh = await client.get(
                resource, current.metadata.name, current.metadata.namespace or None
            )
            if fresh is None:
                return None
            current = fresh
            continue
        if answer.metadata.deletion_timestamp and not answer.metadata.finalizers:
            return None  # the last finalizer of an object being deleted: it is gone
        return answer
    raise AssertionError("unreachable")  # pragma: no cover


async def ensure_finalizer(
    client: Client,
    resource: Resource,
    obj: Object,
    finalizer: str,
    *,
    attempts: int = _ATTEMPTS,
) -> Object | None:
    """Add ``finalizer`` to ``obj`` unless it is there (or the object is being deleted,
    when Kubernetes forbids adding one).

    Returns the object as it now is (``obj`` itself when nothing had to change), or
    ``None`` if it no longer exists. Raises :class:`~kcs.core.Conflict` after
    ``attempts`` conflicting writes, and any other API error.
    """

    def add(current: tuple[str, ...]) -> tuple[str, ...] | None:
        if finalizer in current:
            return None
        return (*current, finalizer)

    if obj.metadata.deletion_timestamp:
        return obj
    return await _patch_finalizers(client, resource, obj, add, attempts)


async def remove_finalizer(
    client: Client,
    resource: Resource,
    obj: Object,
    finalizer: str,
    *,
    attempts: int = _ATTEMPTS,
) -> Object | None:
    """Remove ``finalizer`` from ``obj`` if it is there.

    Returns the object as it now is, or ``None`` if it no longer exists (removing the
    last finalizer of an object being deleted lets the apiserver delete it). Raises
    :class:`~kcs.core.Conflict` after ``attempts`` conflicting writes.
    """

    def drop(current: tuple[str, ...]) -> tuple[str, ...] | None:
        if finalizer not in current:
            return None
        return tuple(f for f in current if f != finalizer)

    return await _patch_finalizers(client, resource, obj, drop, attempts)


async def apply_finalizer(
    client: Client,
    resource: Resource,
    obj: Object,
    finalizer: str,
    *,
    cleanup: Callable[[Object], Awaitable[None]],
    attempts: int = _ATTEMPTS,
) -> Object | None:
    """The finalizer pattern in one call.

    * The object is live: make sure it carries ``finalizer``; return it (go on
      reconciling it).
    * It is being deleted and carries ``finalizer``: ``await cleanup(obj)``, then remove
      the finalizer; return ``None`` (stop: there is nothing left to reconcile).
    * It is being deleted without ``finalizer``: return ``None``.

    If ``cleanup`` raises, the finalizer stays and the exception propagates: the
    reconcile fails and is retried with backoff, and the object cannot disappear before
    its cleanup succeeded. ``cleanup`` must therefore be idempotent.
    """
    if not obj.metadata.deletion_timestamp:
        return await ensure_finalizer(client, resource, obj, finalizer, attempts=attempts)
    if finalizer in obj.metadata.finalizers:
        await cleanup(obj)
        await remove_finalizer(client, resource, obj, finalizer, attempts=attempts)
    return None
