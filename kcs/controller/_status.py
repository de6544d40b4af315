"""Writing status against fresh state: retry on conflict, bounded."""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from kcs.client import Client
from kcs.core import Conflict, NotFound, Object, ObjectKey, Resource

__all__ = ["mutate_status", "retry_on_conflict"]

T = TypeVar("T")


async def retry_on_conflict(fn: Callable[[int], Awaitable[T]], *, attempts: int = 5) -> T:
    """``await fn(attempt)`` until it does not raise :class:`~kcs.core.Conflict`.

    ``attempt`` counts from 0; ``fn`` must read fresh state on every attempt after the
    first (a conflict means what it computed from is stale). Retries immediately: a
    conflict means someone else just wrote, and the fresh read is what is needed, not a
    pause. After ``attempts`` conflicts the last one is raised.
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    for attempt in range(attempts - 1):
        try:
            return await fn(attempt)
        except Conflict:
            continue
    return await fn(attempts - 1)


async def mutate_status(
    client: Client,
    resource: Resource,
    obj: Object | ObjectKey,
    mutate: Callable[[dict[str, Any]], None],
    *,
    attempts: int = 5,
) -> Object | None:
    """Change an object's ``status`` with ``mutate`` and write it, retrying conflicts.

    ``mutate(status)`` edits the ``status`` dict in place (it is ``{}`` when the object
    has none). The first attempt starts from ``obj`` when it is a cached object (no
    extra read), from a live GET otherwise; every retry after a 409 Conflict starts from
    a live GET, so the change is re-applied to the state that won. ``mutate`` may run
    several times and must compute the status from what it is given.

    The write is a PUT of the status subresource carrying the resourceVersion read, so
    it never overwrites a status it did not see. No write is made when ``mutate``
    changes nothing. Returns the object as stored (or as read, when nothing changed), or
    ``None`` if it no longer exists. Raises :class:`~kcs.core.Conflict` after
    ``attempts`` conflicts. Writes through ``client`` count for read-your-writes.
    """
    key = obj if isinstance(obj, ObjectKey) else ObjectKey.of(obj)
    namespace = key.namespace or None

    async def once(attempt: int) -> Object | None:
        read = obj if attempt == 0 and isinstance(obj, Object) else None
        if read is None:
            read = await client.get(resource, key.name, namespace)
            if read is None:
                return None
        current = read.to_dict()
        before = current.get("status") or {}
        status = copy.deepcopy(before)
        mutate(status)
        if status == before:
            return read
        current["status"] = status
        try:
            return await client.update_status(resource, current, namespace)
        except NotFound:
            return None

    return await retry_on_conflict(once, attempts=attempts)
