"""The timings of an election, and the inequality that makes fencing safe.

All durations are seconds on the local monotonic clock. The defaults are client-go's:
a lease of 15 s, renewed every 2 s, given up (work cancelled) when it could not be renewed
for 10 s.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

__all__ = ["ElectionTimings"]


@dataclass(frozen=True, slots=True)
class ElectionTimings:
    """How long a lease lasts, how often it is renewed, and when the leader gives up.

    Guarantee: construction fails (:class:`ValueError`) unless the timings satisfy

    * ``lease_duration > renew_deadline > jitter_factor * retry_period > 0`` (as client-go
      requires; ``jitter_factor`` is ``1 + jitter``), and
    * ``renew_deadline * (1 + max_clock_drift) < lease_duration * (1 - max_clock_drift)``,

    the second being what makes fencing safe: the leader cancels its work ``renew_deadline``
    after it *sent* its last successful renewal (on its clock); another replica takes the
    lease no sooner than ``lease_duration`` after it *saw* that renewal (on its clock). When
    each clock's rate is within ``max_clock_drift`` of real time, the first moment always
    comes before the second; :attr:`fence_margin` is by how much, in real seconds, at
    worst. To first order the condition reads
    ``renew_deadline + 2 * max_clock_drift * lease_duration < lease_duration``.
    """

    lease_duration: float = 15.0
    """How long other replicas wait, on their own clock, after they last saw the lease
    change before they may take it. Also written to the Lease (rounded up to whole
    seconds in ``spec.leaseDurationSeconds``, exact in an annotation)."""
    renew_deadline: float = 10.0
    """How long after sending its last successful renewal the leader's work is cancelled
    when no renewal succeeds."""
    retry_period: float = 2.0
    """How often the leader renews, and how often a standby retries after an error or
    polls when it cannot watch."""
    jitter: float = 1.2
    """Retries and polls wait ``retry_period * (1 + jitter * random())`` (client-go's
    JitterFactor), so replicas that failed together do not retry together."""
    max_clock_drift: float = 0.01
    """The largest relative error of any replica's clock *rate* that fencing tolerates
    (0.01: a clock may gain or lose 1 % against real time). Wall-clock offsets between
    machines do not matter: no decision compares wall clocks across machines."""
    candidate_period: float | None = None
    """How often a replica renews its candidate Lease (``None``: ``lease_duration``)."""

    def __post_init__(self) -> None:
        for name in ("lease_duration", "renew_deadline", "retry_period"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number of seconds, not {value!r}")
        if not 0 <= self.jitter <= 10:
            raise ValueError(f"jitter must be between 0 and 10, not {self.jitter!r}")
        if not 0 <= self.max_clock_drift < 0.5:
            raise ValueError(f"max_clock_drift must be in [0, 0.5), not {self.max_clock_drift!r}")
        if self.candidate_period is not None and not self.candidate_period > 0:
            raise ValueError(f"candidate_period must be positive, not {self.candidate_period!r}")
        if not self.lease_duration > self.renew_deadline:
            raise ValueError(
                f"lease_duration ({self.lease_duration}) must be greater than renew_deadline "
                f"({self.renew_deadline})"
            )
        if not self.renew_deadline > (1 + self.jitter) * self.retry_period:
            raise ValueError(
                f"renew_deadline ({self.renew_deadline}) must be greater than "
                f"(1 + jitter) * retry_period ({(1 + self.jitter) * self.retry_period:g})"
            )
        if not self.fence_margin > 0:
            rho = self.max_clock_drift
            raise ValueError(
                f"renew_deadline * (1 + max_clock_drift) = {self.renew_deadline * (1 + rho):g} "
                f"must be less than lease_duration * (1 - max_clock_drift) = "
                f"{self.lease_duration * (1 - rho):g}: with these timings a leader could "
                "still be working when another replica takes the lease"
            )

    @property
    def fence_margin(self) -> float:
        """Real seconds, at worst, between the leader's work being cancelled and the
        earliest moment another replica could take the lease:
        ``lease_duration / (1 + d) - renew_deadline / (1 - d)`` with ``d = max_clock_drift``.
        A write the leader sent before its fence closed must reach the apiserver within
        this margin to be sure to land before a new leader's first write."""
        rho = self.max_clock_drift
        return self.lease_duration / (1 + rho) - self.renew_deadline / (1 - rho)

    @property
    def request_timeout(self) -> float:
        """The longest one request of the elector may take:
        ``max(renew_deadline / 2, retry_period)``. A leader's renewal is further bounded by
        the time left before its fence closes."""
        return max(self.renew_deadline / 2, self.retry_period)

    @property
    def lease_duration_seconds(self) -> int:
        """``lease_duration`` rounded up to whole seconds, for ``spec.leaseDurationSeconds``."""
        return max(1, math.ceil(self.lease_duration))

    @property
    def candidate_renew_period(self) -> float:
        """How often a replica renews its candidate Lease."""
        if self.candidate_period is not None:
            return self.candidate_period
        # A third of a lease: a replica that died is no longer "fresh" by the time a
        # takeover after its death (one lease duration) has happened and settled.
        return max(self.retry_period, self.lease_duration / 3)

    @property
    def candidate_ttl(self) -> float:
        """How old a candidate Lease's ``renewTime`` may be, against the reader's wall clock,
        for the candidate to count as alive: two renew periods plus one second of slack for
        clock offsets between machines. Only used to choose a hand-off successor, never for
        safety: choosing a replica that has just died costs one lease duration."""
        return 2 * self.candidate_renew_period + 1.0

    def retry_wait(self, rng: random.Random | None = None) -> float:
        """A jittered wait before the next retry or poll."""
        r = (rng or random).random()
        return self.retry_period * (1 + self.jitter * r)
