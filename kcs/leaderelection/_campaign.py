"""The campaign: when a standby may take the lease, and the write that takes it.

A standby may take the lease when it is free (released, or never created), handed to it,
held by itself (a restart of this identity), or held by another holder whose content
this replica has seen unchanged for a lease duration on its own monotonic clock. With a
crash signal (see :mod:`kcs.leaderelection._liveness`) it may also take it at once from a
holder whose process is proved gone. Every take is a create or an update preconditioned
on the resourceVersion it decided on.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import anyio

from kcs.core import AlreadyExists, Conflict, NotFound, Object
from kcs.leaderelection._context import Election
from kcs.leaderelection._lock import holder_write, next_spec
from kcs.leaderelection._observe import Observation
from kcs.leaderelection._record import ANNOTATION_LEASE_DURATION, LeaderElectionRecord

__all__ = ["Acquired", "Campaign", "CrashProof"]

_log = logging.getLogger("kcs.leaderelection")

CrashProof = Callable[[Observation], bool]
"""Whether the holder of this exact observation is proved to be gone."""


@dataclass(frozen=True, slots=True)
class Acquired:
    """The write that took the lease: when it was sent, what it stored, and whether it
    was taken early on a crash signal."""

    sent: float
    lease: Object
    crash: bool = False


class Campaign:
    """Takes the lease for this replica when the rules above allow it."""

    def __init__(
        self, election: Election, crash_proof: CrashProof | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.election = election
        self.crash_proof = crash_proof
        self.rng = rng or random.Random()

    def duration(self, record: LeaderElectionRecord) -> float:
        """How long a holder's renewal counts: the longer of ours and the holder's."""
        return max(self.election.timings.lease_duration, record.lease_duration or 0.0)

    def expires_in(self, obs: Observation, now: float) -> float | None:
        """Seconds until another holder's lease has expired on our clock (``None`` when
        nobody else holds it, or when it has expired)."""
        me = self.election.identity
        record = obs.record if obs.lease is not None else obs.last_record
        if record is None or not record.held or record.holder_identity == me:
            return None
        left = obs.observed_at + self.duration(record) - now
        return left if left > 0 else None

    async def try_acquire(self) -> Acquired | float:
        """Take the lease if this replica may now (the write that did it); else how many
        seconds to wait before trying again."""
        el = self.election
        obs = el.observer.current
        if obs is None:
            obs = el.observe(await el.lock.get())
            assert obs is not None
        now = anyio.current_time()
        left = self.expires_in(obs, now)
        if obs.lease is None:
            if left is not None:
                return left + self._jitter()
            return await self._create()
        record = obs.record
        assert record is not None
        crash = False
        if left is not None:
            if self.crash_proof is None or not self.crash_proof(obs):
                return left + self._jitter()
            crash = True
            _log.warning(
                "%s: the process of %r is gone (its liveness endpoint refused us); taking "
                "the lease now instead of in %.1fs", el.who, record.holder_identity, left,
            )
        elif record.held and record.holder_identity != el.identity:
            _log.info(
                "%s: the lease held by %r was not renewed for %.1fs on this replica's "
                "clock; trying to take it", el.who, record.holder_identity,
                now - obs.observed_at,
            )
        return await self._update(obs.lease, crash)

    def _jitter(self) -> float:
        return self.rng.random() * 0.1 * self.election.timings.retry_period

    async def _create(self) -> Acquired | float:
        el = self.election
        spec = next_spec(
            None, el.identity, lease_duration_seconds=el.timings.lease_duration_seconds,
            now=datetime.now(UTC),
        )
        sent = anyio.current_time()
        try:
            lease = await el.lock.create(
                spec, {ANNOTATION_LEASE_DURATION: f"{el.timings.lease_duration:g}"}
            )
        except AlreadyExists:
            el.observe(await el.lock.get())
            return 0.0
        el.observer.observe(lease)
        return Acquired(sent, lease)

    async def _update(self, base: Object, crash: bool) -> Acquired | float:
        el = self.election
        spec, annotations = holder_write(base, el.identity, el.timings)
        sent = anyio.current_time()
        try:
            lease = await el.lock.update(base, spec, annotations)
        except Conflict:
            el.observe(await el.lock.get())
            return 0.0
        except NotFound:
            el.observer.observe(None, "")
            return 0.0
        el.observer.observe(lease)
        return Acquired(sent, lease, crash)
