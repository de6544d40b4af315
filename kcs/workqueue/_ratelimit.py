"""Rate limiters: how long a failed key waits before it is retried.

The defaults are client-go's ``DefaultControllerRateLimiter``: per-key exponential backoff
(5 ms doubling to 1000 s) combined by maximum with an overall token bucket (10 per second,
burst 100), so that one broken key backs off alone and many failing keys together cannot
retry faster than the bucket allows.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable
from typing import Generic, Protocol, TypeVar

__all__ = [
    "BucketRateLimiter",
    "ItemExponentialFailureRateLimiter",
    "ItemRateLimiter",
    "MaxOfRateLimiter",
    "default_controller_rate_limiter",
]

K = TypeVar("K", bound=Hashable)
K_contra = TypeVar("K_contra", bound=Hashable, contravariant=True)

# 2**_MAX_EXPONENT * any sensible base delay is far above any sensible cap; beyond it the
# cap applies without computing a power that could overflow a float.
_MAX_EXPONENT = 1000


class ItemRateLimiter(Protocol[K_contra]):
    """Decides the delay before a failed key is retried.

    A work queue calls :meth:`when` once per ``add_rate_limited(key)``, :meth:`forget` on
    ``forget(key)`` and :meth:`retries` on ``retries(key)``, always on the event loop.
    """

    def when(self, key: K_contra) -> float:
        """Record one more failure of ``key``; return the seconds to wait before retrying."""
        ...

    def forget(self, key: K_contra) -> None:
        """Stop tracking ``key``: its next failure counts as the first."""
        ...

    def retries(self, key: K_contra) -> int:
        """How many failures of ``key`` are being tracked."""
        ...


class ItemExponentialFailureRateLimiter(Generic[K]):
    """Per-key exponential backoff: ``base_delay * 2**failures``, capped at ``max_delay``.

    The n-th failure of a key (counting from 0) waits ``min(base_delay * 2**n, max_delay)``
    seconds. Failure counts are kept per key until :meth:`forget`, so memory grows with the
    number of keys that failed and were not forgotten.
    """

    def __init__(self, base_delay: float = 0.005, max_delay: float = 1000.0) -> None:
        if not base_delay > 0 or not max_delay >= base_delay:
            raise ValueError("need 0 < base_delay <= max_delay")
        self._base = base_delay
        self._max = max_delay
        self._failures: dict[K, int] = {}

    def when(self, key: K) -> float:
        """Record a failure of ``key``; return its backoff in seconds."""
        exponent = self._failures.get(key, 0)
        self._failures[key] = exponent + 1
        if exponent >= _MAX_EXPONENT:
            return self._max
        return min(math.ldexp(self._base, exponent), self._max)

    def forget(self, key: K) -> None:
        """Reset the failure count of ``key``."""
        self._failures.pop(key, None)

    def retries(self, key: K) -> int:
        """The number of failures of ``key`` since it was last forgotten."""
        return self._failures.get(key, 0)


class BucketRateLimiter:
    """An overall token bucket: ``qps`` tokens per second, holding at most ``burst``.

    Every :meth:`when` takes one token, whichever key it is for; when the bucket is empty
    the token is borrowed from the future and the answer is how long until it is earned
    (like Go's ``rate.Limiter.Reserve().Delay()``). The bucket starts full. It tracks no
    keys: :meth:`forget` does nothing and :meth:`retries` is always 0.
    """

    def __init__(
        self,
        qps: float = 10.0,
        burst: int = 100,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not qps > 0 or burst < 1:
            raise ValueError("need qps > 0 and burst >= 1")
        self._qps = qps
        self._burst = float(burst)
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()

    def when(self, key: object) -> float:
        """Take one token; return the seconds until it is available (0 if it is now)."""
        now = self._clock()
        elapsed = max(0.0, now - self._last)
        self._last = now
        self._tokens = min(self._burst, self._tokens + elapsed * self._qps) - 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self._qps

    def forget(self, key: object) -> None:
        """Nothing to forget: the bucket is shared by all keys."""

    def retries(self, key: object) -> int:
        """Always 0: the bucket counts no failures."""
        return 0


class MaxOfRateLimiter(Generic[K]):
    """Combines rate limiters: every one is consulted, the longest delay wins.

    :meth:`when` calls every limiter (so each records the failure or takes its token),
    :meth:`forget` forgets in all, :meth:`retries` is the largest count any of them keeps.
    """

    def __init__(self, *limiters: ItemRateLimiter[K]) -> None:
        if not limiters:
            raise ValueError("need at least one rate limiter")
        self._limiters = limiters

    def when(self, key: K) -> float:
        """The largest delay any limiter asks for."""
        return max([limiter.when(key) for limiter in self._limiters])

    def forget(self, key: K) -> None:
        """Forget ``key`` in every limiter."""
        for limiter in self._limiters:
            limiter.forget(key)

    def retries(self, key: K) -> int:
        """The largest failure count any limiter keeps for ``key``."""
        return max(limiter.retries(key) for limiter in self._limiters)


def default_controller_rate_limiter(
    *,
    base_delay: float = 0.005,
    max_delay: float = 1000.0,
    qps: float = 10.0,
    burst: int = 100,
    clock: Callable[[], float] = time.monotonic,
) -> MaxOfRateLimiter[K]:
    """client-go's default for controllers: per-key backoff combined with a token bucket.

    ``max(ItemExponentialFailureRateLimiter(base_delay, max_delay), BucketRateLimiter(qps,
    burst))``; the defaults are client-go's (5 ms, 1000 s, 10 qps, burst 100).
    """
    return MaxOfRateLimiter(
        ItemExponentialFailureRateLimiter(base_delay, max_delay),
        BucketRateLimiter(qps, burst, clock=clock),
    )
