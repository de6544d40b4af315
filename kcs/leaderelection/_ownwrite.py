"""One preconditioned write of a lease this replica holds, and what a conflict means.

A renewal and a release both update the lease from the state this term last wrote. A
Conflict means someone wrote in between: the lease is read again, and either it still
names us (write again on the fresh state), or it was taken or deleted (the term is
over). Both writers share this one reading of the answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kcs.client import ClientError
from kcs.core import ApiError, Conflict, NotFound, Object
from kcs.leaderelection._context import Election
from kcs.leaderelection._events import EndReason
from kcs.leaderelection._record import LeaderElectionRecord

__all__ = ["OwnWrite", "write_own"]


@dataclass(frozen=True, slots=True)
class OwnWrite:
    """What one write of our own lease found; exactly one field is set."""

    lease: Object | None = None
    """The lease as written: the write succeeded."""
    retry: Object | None = None
    """The write conflicted, and the lease still names us at this newer state."""
    ended: EndReason | None = None
    """The lease is gone (``DELETED``) or names another holder (``LOST``)."""
    read_error: ApiError | ClientError | None = None
    """The write conflicted, and reading the lease again failed."""


async def write_own(
    election: Election, base: Object, spec: Mapping[str, Any], annotations: Mapping[str, str | None]
) -> OwnWrite:
    """Update the lease from ``base`` (preconditioned on its resourceVersion).

    Every state of the lease read or found gone here is fed to the election's observer.
    Errors of the update other than Conflict and NotFound are raised.
    """
    el = election
    try:
        return OwnWrite(lease=await el.lock.update(base, spec, annotations))
    except Conflict:
        try:
            current = await el.lock.get()
        except (ApiError, ClientError) as e:
            return OwnWrite(read_error=e)
    except NotFound:
        el.observe(None)
        return OwnWrite(ended=EndReason.DELETED)
    el.observe(current)
    if current is None:
        return OwnWrite(ended=EndReason.DELETED)
    if LeaderElectionRecord.from_lease(current).holder_identity != el.identity:
        return OwnWrite(ended=EndReason.LOST)
    return OwnWrite(retry=current)
