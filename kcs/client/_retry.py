"""When a request is sent again, and how long the client waits first.

Two kinds of failure are retried, under different rules:

* **Throttled** (429 TooManyRequests): the server did not process the request, so every
  verb is retried, after the ``Retry-After`` the server asked for (or a backoff when it
  gave none), at most :attr:`RetryPolicy.max_throttle_retries` times.
* **Failed** (a 5xx answer, a refused or reset connection): the request may have been
  processed, so only the methods in :attr:`RetryPolicy.retry_methods` are retried, by
  default ``GET`` and ``HEAD`` (get, list, and the start of a watch). POST, PUT, PATCH and
  DELETE are never retried after a 5xx or a broken connection: a create could happen
  twice, and a conditional write that did land would come back as a confusing Conflict.

Every wait is bounded by the caller's deadline: a retry that could not start before the
deadline is not attempted, and the last error is raised instead.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from dataclasses import dataclass

__all__ = ["DEFAULT_RETRY", "NO_RETRY", "RetryPolicy", "parse_retry_after"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a client retries; immutable, shared by all requests of a client.

    Backoff after the ``n``-th failure (``n`` from 0) is
    ``min(backoff_max, backoff_initial * backoff_factor ** n)``, reduced by a random share
    of up to ``jitter`` (0.5: between half and all of it) so that many clients that failed
    together do not come back together.
    """

    max_retries: int = 5
    """Retries after 5xx answers and connection errors (idempotent methods only)."""
    retry_methods: frozenset[str] = frozenset({"GET", "HEAD"})
    """HTTP methods retried after 5xx answers and connection errors."""
    retry_statuses: frozenset[int] = frozenset({500, 502, 503, 504})
    """HTTP codes that count as a failed (not throttled) request."""
    max_throttle_retries: int = 10
    """Retries after 429 answers (every method)."""
    max_retry_after: float = 60.0
    """A ``Retry-After`` longer than this is not waited for: the 429 is raised."""
    backoff_initial: float = 0.1
    backoff_factor: float = 2.0
    backoff_max: float = 5.0
    jitter: float = 0.5

    def backoff(self, failures: int, rand: float | None = None) -> float:
        """Seconds to wait after ``failures`` consecutive failures (counting from 0)."""
        base = min(self.backoff_max, self.backoff_initial * self.backoff_factor**failures)
        r = random.random() if rand is None else rand
        return base * (1.0 - self.jitter * r)

    def retries_method(self, method: str) -> bool:
        """Whether a failed (5xx / connection error) ``method`` request may be retried."""
        return method in self.retry_methods


DEFAULT_RETRY = RetryPolicy()
"""The default policy: described on :class:`RetryPolicy`."""

NO_RETRY = RetryPolicy(max_retries=0, max_throttle_retries=0)
"""Never retry: every 429, 5xx and connection error is raised at once."""


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date).

    Returns ``None`` when the header is absent or unreadable; never a negative number.
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)
