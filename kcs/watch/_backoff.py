"""How long a watcher waits before it tries again after a failure.

Exponential backoff with jitter, as client-go's reflector does it (0.8 s doubling to 30 s),
so that thousands of watchers that failed together (an apiserver restart) do not come back
together, and reset after a healthy period so that one failure a day does not cost 30 s.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["Backoff"]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Backoff settings of a watcher; immutable and shareable.

    After the ``n``-th consecutive failure (``n`` counting from 0) the watcher waits
    ``min(maximum, initial * factor ** n)``, reduced by a random share of up to
    ``jitter`` (0.5: between half and all of it). The count of failures starts again
    from 0 once the watcher has been healthy — a list completed, or a watch stream
    delivered an event or stayed open for ``reset_after`` seconds.
    """

    initial: float = 0.8
    maximum: float = 30.0
    factor: float = 2.0
    jitter: float = 0.5
    reset_after: float = 60.0

    def __post_init__(self) -> None:
        if self.initial < 0 or self.maximum < 0 or self.factor < 1:
            raise ValueError("backoff needs initial >= 0, maximum >= 0 and factor >= 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("backoff jitter must be between 0 and 1")

    def delay(self, failures: int, rand: float | None = None) -> float:
        """Seconds to wait after ``failures`` earlier consecutive failures (from 0)."""
        base = min(self.maximum, self.initial * self.factor ** min(failures, 64))
        r = random.random() if rand is None else rand
        return base * (1.0 - self.jitter * r)


class BackoffState:
    """The consecutive-failure count of one watcher (private helper)."""

    __slots__ = ("failures", "policy")

    def __init__(self, policy: Backoff) -> None:
        self.policy = policy
        self.failures = 0

    def next_delay(self) -> float:
        """Count a failure and return how long to wait before the next attempt."""
        delay = self.policy.delay(self.failures)
        self.failures += 1
        return delay

    def reset(self) -> None:
        """Forget earlier failures: the watcher has been healthy."""
        self.failures = 0
