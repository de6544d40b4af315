"""The client-side token bucket, checked on a fake clock, and what a client charges to it."""

from __future__ import annotations

import anyio
import pytest
from aiohttp import web
from client_wire import WireServer, json_response

from kcs.client import DEFAULT_BURST, DEFAULT_QPS, Client, RetryPolicy, TokenBucket
from kcs.core import builtin, status_body

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(20)]

PODS = builtin("pods")


class FakeTime:
    """A clock that moves only when the bucket sleeps (or the test advances it)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await anyio.lowlevel.checkpoint()


async def test_burst_then_steady_rate() -> None:
    t = FakeTime()
    bucket = TokenBucket(qps=10, burst=5, clock=t.clock, sleep=t.sleep)
    waits = [await bucket.acquire() for _ in range(5)]
    assert waits == [0.0] * 5
    assert t.sleeps == []
    # Each further request waits its turn: 1/qps apart.
    for _ in range(3):
        await bucket.acquire()
    assert t.sleeps == pytest.approx([0.1, 0.1, 0.1])
    assert t.now == pytest.approx(1000.3)


async def test_refill_is_capped_at_burst() -> None:
    t = FakeTime()
    bucket = TokenBucket(qps=2, burst=3, clock=t.clock, sleep=t.sleep)
    for _ in range(3):
        assert bucket.try_acquire()
    assert not bucket.try_acquire()
    t.now += 100.0  # a long pause refills only up to the burst
    assert bucket.tokens == pytest.approx(3.0)
    assert [bucket.try_acquire() for _ in range(4)] == [True, True, True, False]


async def test_over_any_interval_at_most_burst_plus_rate() -> None:
    t = FakeTime()
    qps, burst = 20.0, 4
    bucket = TokenBucket(qps=qps, burst=burst, clock=t.clock, sleep=t.sleep)
    granted: list[float] = []
    for _ in range(50):
        await bucket.acquire()
        granted.append(t.now)
    for i, start in enumerate(granted):
        for j in range(i, len(granted)):
            window = granted[j] - start
            assert j - i + 1 <= burst + qps * window + 1e-6


async def test_concurrent_waiters_queue_in_order() -> None:
    bucket = TokenBucket(qps=100, burst=1)
    order: list[int] = []

    async def take(i: int) -> None:
        await bucket.acquire()
        order.append(i)

    async with anyio.create_task_group() as tg:
        for i in range(5):
            tg.start_soon(take, i)
    assert order == [0, 1, 2, 3, 4]


async def test_cancelled_waiter_gives_its_reservation_back() -> None:
    t = FakeTime()

    async def never(seconds: float) -> None:
        await anyio.sleep_forever()

    bucket = TokenBucket(qps=1, burst=1, clock=t.clock, sleep=never)
    assert await bucket.acquire() == 0.0
    assert bucket.tokens == 0.0
    with anyio.move_on_after(0.01):
        await bucket.acquire()
    assert bucket.tokens == 0.0


def test_invalid_settings_and_defaults() -> None:
    with pytest.raises(ValueError, match="qps"):
        TokenBucket(qps=0, burst=1)
    with pytest.raises(ValueError, match="burst"):
        TokenBucket(qps=1, burst=0)
    assert (DEFAULT_QPS, DEFAULT_BURST) == (50.0, 100)


class CountingLimiter:
    """A RateLimiter that counts what the client charges to it, and never waits."""

    def __init__(self) -> None:
        self.acquired = 0

    async def acquire(self) -> float:
        self.acquired += 1
        return 0.0


async def test_client_default_bucket_and_disabling() -> None:
    client = Client.from_url("http://127.0.0.1:1")
    assert isinstance(client.rate_limiter, TokenBucket)
    assert (client.rate_limiter.qps, client.rate_limiter.burst) == (DEFAULT_QPS, DEFAULT_BURST)
    unlimited = Client.from_url("http://127.0.0.1:1", qps=None)
    assert unlimited.rate_limiter is None
    await client.close()
    await unlimited.close()


async def test_every_attempt_and_watch_start_counts_but_not_stream_reads(
    wire: WireServer,
) -> None:
    answers = iter([503, 200, 429, 201])
    lines = b"".join(b'{"type":"ADDED","object":{}}\n' for _ in range(100))

    async def handler(request: web.Request) -> web.StreamResponse:
        if request.query.get("watch") == "true":
            resp = web.StreamResponse()
            resp.enable_chunked_encoding()
            await resp.prepare(request)
            for i in range(0, len(lines), 50):
                await resp.write(lines[i : i + 50])
            await resp.write_eof()
            return resp
        code = next(answers)
        if code >= 400:
            reason = "TooManyRequests" if code == 429 else "ServiceUnavailable"
            return json_response(status_body(code, reason, "x"), code, {"Retry-After": "0"})
        return json_response({"kind": "Pod"}, code)

    wire.handler = handler
    limiter = CountingLimiter()
    policy = RetryPolicy(backoff_initial=0.001)
    async with Client.from_url(wire.url, rate_limiter=limiter, retry=policy) as client:
        await client.get(PODS, "p", "ns")  # 503 then 200: two attempts
        await client.create(PODS, {"metadata": {"name": "p", "namespace": "ns"}})  # 429, 201
        assert limiter.acquired == 4
        async with client.watch_raw(PODS) as stream:
            count = sum([len(batch) async for batch in stream])
        assert count == 100
        assert limiter.acquired == 5
