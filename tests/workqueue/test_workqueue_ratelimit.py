"""Rate limiters: per-key exponential backoff, the token bucket, their maximum, the queue."""

from __future__ import annotations

import itertools

import pytest
from wq_helpers import FakeClock

from kcs.workqueue import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    MaxOfRateLimiter,
    WorkQueue,
    default_controller_rate_limiter,
)


def test_backoff_doubles_from_base_to_the_cap() -> None:
    limiter: ItemExponentialFailureRateLimiter[str] = ItemExponentialFailureRateLimiter()
    delays = [limiter.when("ns/a") for _ in range(30)]
    assert delays[:3] == [0.005, 0.01, 0.02]  # client-go: 5 ms base, doubling
    assert all(b == min(2 * a, 1000.0) for a, b in itertools.pairwise(delays))
    assert delays[-1] == 1000.0 and max(delays) == 1000.0  # the 1000 s cap
    assert delays.index(1000.0) == 18  # 5 ms * 2**18 > 1000 s > 5 ms * 2**17
    assert limiter.retries("ns/a") == 30


def test_backoff_is_per_key_and_forget_resets() -> None:
    limiter: ItemExponentialFailureRateLimiter[str] = ItemExponentialFailureRateLimiter(
        base_delay=1.0, max_delay=60.0
    )
    assert [limiter.when("ns/a") for _ in range(3)] == [1.0, 2.0, 4.0]
    assert limiter.when("ns/b") == 1.0
    assert (limiter.retries("ns/a"), limiter.retries("ns/b"), limiter.retries("ns/c")) == (3, 1, 0)
    limiter.forget("ns/a")
    assert limiter.retries("ns/a") == 0
    assert limiter.when("ns/a") == 1.0


def test_backoff_never_overflows() -> None:
    limiter: ItemExponentialFailureRateLimiter[str] = ItemExponentialFailureRateLimiter()
    for _ in range(5000):
        delay = limiter.when("ns/a")
    assert delay == 1000.0


def test_bucket_allows_a_burst_then_qps() -> None:
    clock = FakeClock()
    bucket = BucketRateLimiter(qps=10.0, burst=100, clock=clock)
    assert [bucket.when(i) for i in range(100)] == [0.0] * 100
    after_burst = [bucket.when(i) for i in range(3)]
    assert after_burst == pytest.approx([0.1, 0.2, 0.3])  # one token per 1/qps, borrowed
    clock.advance(1.0)  # earns 10 tokens: 3 repay the debt, 7 are free
    assert [bucket.when(i) for i in range(7)] == [0.0] * 7
    assert bucket.when(0) == pytest.approx(0.1)
    assert bucket.retries(0) == 0


def test_bucket_holds_at_most_burst_tokens() -> None:
    clock = FakeClock()
    bucket = BucketRateLimiter(qps=5.0, burst=3, clock=clock)
    clock.advance(3600.0)
    assert [bucket.when(i) for i in range(4)] == pytest.approx([0.0, 0.0, 0.0, 0.2])


def test_max_of_consults_every_limiter() -> None:
    clock = FakeClock()
    limiter: MaxOfRateLimiter[int] = default_controller_rate_limiter(clock=clock)
    assert [limiter.when(i) for i in range(100)] == [0.005] * 100  # backoff dominates
    assert limiter.when(100) == pytest.approx(0.1)  # the bucket is empty: it dominates
    clock.advance(60.0)  # the bucket refills
    for _ in range(19):
        limiter.when(7)
    assert limiter.retries(7) == 20
    assert limiter.when(7) == 1000.0  # its 21st failure: the cap
    limiter.forget(7)
    assert limiter.retries(7) == 0


def test_limiters_validate_their_settings() -> None:
    with pytest.raises(ValueError):
        ItemExponentialFailureRateLimiter(base_delay=0.0)
    with pytest.raises(ValueError):
        ItemExponentialFailureRateLimiter(base_delay=2.0, max_delay=1.0)
    with pytest.raises(ValueError):
        BucketRateLimiter(qps=0.0)
    with pytest.raises(ValueError):
        BucketRateLimiter(burst=0)
    with pytest.raises(ValueError):
        MaxOfRateLimiter()


@pytest.mark.anyio
async def test_the_queue_backs_a_failing_key_off() -> None:
    clock = FakeClock()
    queue: WorkQueue[str] = WorkQueue(clock=clock)  # the default limiter
    for failures in range(4):
        backoff = 0.005 * 2**failures
        queue.add_rate_limited("ns/a")
        assert queue.retries("ns/a") == failures + 1
        clock.advance(backoff / 2)
        assert len(queue) == 0
        clock.advance(backoff / 2)
        assert len(queue) == 1
        assert await queue.get() == "ns/a"
        queue.done("ns/a")
    queue.forget("ns/a")
    assert queue.retries("ns/a") == 0
    queue.add_rate_limited("ns/a")
    clock.advance(0.005)
    assert len(queue) == 1


class FixedDelays:
    """A rate limiter written by a user: the protocol is all it needs."""

    def __init__(self) -> None:
        self.failures: dict[str, int] = {}

    def when(self, key: str) -> float:
        self.failures[key] = self.failures.get(key, 0) + 1
        return 7.0

    def forget(self, key: str) -> None:
        self.failures.pop(key, None)

    def retries(self, key: str) -> int:
        return self.failures.get(key, 0)


def test_the_queue_takes_a_custom_rate_limiter() -> None:
    clock = FakeClock()
    limiter = FixedDelays()
    queue: WorkQueue[str] = WorkQueue(clock=clock, rate_limiter=limiter)
    queue.add_rate_limited("ns/a")
    queue.add_rate_limited("ns/a")  # a later deadline: the first one stands
    assert queue.retries("ns/a") == 2
    clock.advance(6.9)
    assert len(queue) == 0
    clock.advance(0.1)
    assert len(queue) == 1
    queue.forget("ns/a")
    assert limiter.failures == {}
