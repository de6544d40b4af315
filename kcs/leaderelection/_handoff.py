"""Choosing whom to hand the lease to: only a synced, fresh candidate is eligible."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from enum import Enum
from typing import Final, Literal

from kcs.client import Client
from kcs.leaderelection._candidate import choose_successor, get_candidate, list_candidates
from kcs.leaderelection._timing import ElectionTimings

__all__ = ["AUTO", "Successor", "is_eligible", "pick_successor"]

_log = logging.getLogger("kcs.leaderelection")


class _Auto(Enum):
    AUTO = "auto"

    def __repr__(self) -> str:
        return "AUTO"


AUTO: Final = _Auto.AUTO
"""Hand the lease to the best eligible candidate (synced, fresh), or release it if none."""

Successor = str | None | Literal[_Auto.AUTO]
"""Whom to hand the lease to: an identity, ``None`` (release it), or :data:`AUTO`."""


async def is_eligible(
    client: Client, election: str, namespace: str, identity: str, timings: ElectionTimings
) -> bool:
    """Whether ``identity`` has a candidate Lease for ``election`` that is synced and fresh."""
    candidate = await get_candidate(client, election, namespace, identity)
    return candidate is not None and candidate.eligible(datetime.now(UTC), timings.candidate_ttl)


async def pick_successor(
    client: Client,
    election: str,
    namespace: str,
    me: str,
    successor: Successor,
    timings: ElectionTimings,
) -> str | None:
    """The identity to hand the lease to, or ``None`` to release it: :data:`AUTO` picks the
    eligible candidate that renewed last; a named successor is used only if eligible (a
    warning is logged otherwise)."""
    if successor is None or successor == me:
        return None
    if successor is AUTO:
        candidates = await list_candidates(client, election, namespace)
        best = choose_successor(candidates, me, datetime.now(UTC), timings.candidate_ttl)
        return best.identity if best is not None else None
    if not await is_eligible(client, election, namespace, successor, timings):
        _log.warning("%s/%s [%s]: %r is not an eligible successor (no candidate Lease, not "
                     "synced, or not fresh); releasing the lease instead",
                     namespace, election, me, successor)
        return None
    return successor
