"""Client-side rate limiting: a token bucket shared by every request of a client.

client-go's default is 5 requests/s with a burst of 10, sized for kubectl. kcs is for
controllers in large clusters, whose startup lists and whose reconcile bursts need more:
:data:`DEFAULT_QPS` is 50 and :data:`DEFAULT_BURST` 100. The apiserver's own priority and
fairness still protects it; this limit keeps one runaway controller from being the reason
it has to.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Protocol

import anyio

__all__ = ["DEFAULT_BURST", "DEFAULT_QPS", "RateLimiter", "TokenBucket"]

DEFAULT_QPS = 50.0
"""Default sustained requests per second of a :class:`~kcs.client.Client`."""

DEFAULT_BURST = 100
"""Default number of requests a :class:`~kcs.client.Client` may send at once after a pause."""


class RateLimiter(Protocol):
    """What a client needs from a rate limiter: wait for permission to send one request."""

    async def acquire(self) -> float:
        """Wait until one more request may be sent; return the seconds waited."""
        ...


class TokenBucket:
    """A token bucket: ``qps`` tokens a second, holding at most ``burst``.

    Guarantees: over any interval of ``t`` seconds at most ``burst + qps * t`` calls of
    :meth:`acquire` return; callers are served in the order they called (each takes a
    reservation at once and sleeps until it is due); a caller cancelled while it waits
    gives its reservation back. The bucket starts full.

    ``clock`` and ``sleep`` default to :func:`time.monotonic` and :func:`anyio.sleep`;
    tests pass a fake pair to check the arithmetic without waiting.
    """

    __slots__ = ("_clock", "_last", "_sleep", "_tokens", "burst", "qps")

    def __init__(
        self,
        qps: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        if qps <= 0:
            raise ValueError(f"qps must be positive, not {qps!r}")
        if burst < 1:
            raise ValueError(f"burst must be at least 1, not {burst!r}")
        self.qps = float(qps)
        self.burst = int(burst)
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._last = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
        self._last = now

    @property
    def tokens(self) -> float:
        """Tokens available now; negative while callers are waiting for reservations."""
        self._refill()
        return self._tokens

    def try_acquire(self) -> bool:
        """Take a token if one is available now, without waiting."""
        self._refill()
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    async def acquire(self) -> float:
        """Wait for a token and take it; return the seconds waited (0.0 if none)."""
        self._refill()
        self._tokens -= 1.0
        if self._tokens >= 0.0:
            return 0.0
        wait = -self._tokens / self.qps
        try:
            await self._sleep(wait)
        except BaseException:
            self._tokens += 1.0
            raise
        return wait

    def __repr__(self) -> str:
        return f"TokenBucket(qps={self.qps:g}, burst={self.burst})"
