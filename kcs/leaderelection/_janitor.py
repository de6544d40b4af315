"""Removing the candidate Leases of replicas that died.

A replica deletes its candidate Lease when it stops, but a replica that was killed
cannot. The leader cleans up after it: it lists the candidate Leases of its election
every candidate renew period and deletes one whose content it has seen unchanged, on its
own monotonic clock, for far longer than a candidate's time to live. The delete carries
the resourceVersion (and uid) it saw as preconditions, so a candidate that renewed in
between is never deleted; at most a few are deleted per sweep. A live candidate whose
Lease was deleted while it was cut off writes it again at its next renewal.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import anyio

from kcs.client import ClientError
from kcs.core import ApiError, Conflict, NotFound
from kcs.leaderelection._context import Election
from kcs.leaderelection._events import ElectionEventKind
from kcs.leaderelection._identity import label_value
from kcs.leaderelection._lock import LEASES
from kcs.leaderelection._record import LABEL_CANDIDATE_FOR

__all__ = ["DEFAULT_MAX_REMOVALS", "CandidateJanitor"]

_log = logging.getLogger("kcs.leaderelection")

DEFAULT_MAX_REMOVALS = 5
"""Candidate Leases deleted per sweep, at most."""


class _Seen(NamedTuple):
    """A candidate Lease's resourceVersion, and when this replica first saw it (monotonic)."""

    resource_version: str
    since: float


class CandidateJanitor:
    """Deletes stale candidate Leases of one election (run by its leader).

    A candidate Lease is stale when this replica has seen the same resourceVersion for
    ``stale_after`` seconds (default: twice the candidate time to live), counted from the
    first list that showed it. ``own`` (this replica's candidate Lease) is never deleted.
    """

    def __init__(
        self,
        election: Election,
        own: str,
        *,
        stale_after: float | None = None,
        max_removals: int = DEFAULT_MAX_REMOVALS,
    ) -> None:
        self.election = election
        self.own = own
        self.stale_after = (
            stale_after if stale_after is not None else 2 * election.timings.candidate_ttl
        )
        self.max_removals = max_removals
        self._seen: dict[str, _Seen] = {}
        self.removed = 0
        """Candidate Leases this janitor deleted so far."""

    async def run(self) -> None:
        """Sweep every candidate renew period until cancelled (errors are logged)."""
        el = self.election
        while True:
            try:
                with anyio.fail_after(el.timings.request_timeout):
                    await self.sweep()
            except (ApiError, ClientError, TimeoutError) as e:
                _log.info("%s: could not sweep candidate Leases: %s", el.who,
                          str(e) or type(e).__name__)
            await anyio.sleep(el.timings.candidate_renew_period)

    async def sweep(self) -> list[str]:
        """One sweep; returns the names of the Leases it deleted."""
        el = self.election
        now = anyio.current_time()
        leases = await el.client.list(
            LEASES, el.namespace, label_selector={LABEL_CANDIDATE_FOR: label_value(el.name)}
        )
        seen: dict[str, _Seen] = {}
        stale = []
        for lease in leases:
            rv = lease.resource_version
            before = self._seen.get(lease.name)
            same = before is not None and before.resource_version == rv
            mark = before if same and before is not None else _Seen(rv, now)
            seen[lease.name] = mark
            if lease.name != self.own and now - mark.since >= self.stale_after:
                stale.append(lease)
        self._seen = seen
        removed: list[str] = []
        for lease in stale[: self.max_removals]:
            age = now - seen[lease.name].since
            preconditions = {"resourceVersion": lease.resource_version}
            if lease.uid:
                preconditions["uid"] = lease.uid
            try:
                await el.client.delete(LEASES, lease.name, el.namespace,
                                       preconditions=preconditions)
            except (Conflict, NotFound):
                self._seen.pop(lease.name, None)
                continue
            self._seen.pop(lease.name, None)
            removed.append(lease.name)
            self.removed += 1
            spec = lease.get("spec")
            holder = spec.get("holderIdentity") if isinstance(spec, dict) else ""
            _log.info("%s: deleted the candidate Lease %s of %r, unchanged for %.1fs",
                      el.who, lease.name, holder, age)
            el.emit(ElectionEventKind.CANDIDATE_REMOVED, holder=str(holder))
        return removed
