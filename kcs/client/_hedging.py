"""Hedged reads: cut the latency tail of idempotent GETs and LISTs (opt-in).

"The Tail at Scale" (Dean and Barroso): when a read has not answered after the time in
which most reads answer, send a second, identical one and take whichever answers first;
cancel the other. The extra load is small (only the slowest few percent are hedged, and
a budget caps it) and the tail latency drops to about that of the faster of two.

:class:`HedgedReads` is a policy given to a :class:`~kcs.client.Client`
(``Client.from_url(url, hedging=HedgedReads())``); the client's transport applies it to
every ``get`` and ``list``, whoever calls them (a controller, a consistent read's live
fallback, your own code). It learns the latency of each (verb, resource) from a window of
recent answers and hedges after its ``percentile`` (default p95), or after a fixed
``after`` seconds. Only reads are hedged: GET and LIST are idempotent, so a duplicate
costs load, never correctness. Writes and watches are never hedged.

Guarantees:

* the first *answer* wins, an error Status included (a 404 is an answer): its result is
  returned or its :class:`~kcs.core.ApiError` raised;
* the loser is cancelled at once and its HTTP request aborted (the apiserver sees the
  client go away); nothing is left running when the call returns;
* a request that fails without an answer (:class:`~kcs.client.ClientError`) does not win
  while the other is still running; if both fail, the first failure is raised;
* both requests run under the call's one deadline (the caller's, or ``timeout=``) and
  its cancellation;
* at most ``max_ratio`` of calls (plus a burst of 10) are hedged: when the server is slow
  for everyone, hedging does not double its load.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import anyio

from kcs.client._clienterrors import ClientError

__all__ = ["HedgeStats", "HedgedReads"]

T = TypeVar("T")

_BUDGET_BURST = 10.0


@dataclass(slots=True)
class HedgeStats:
    """Counters of a :class:`HedgedReads` (monotonic).

    :ivar calls: Reads made through it.
    :ivar slow: Reads not answered within their hedge delay (the slow tail).
    :ivar hedged: Second requests sent.
    :ivar hedge_wins: Reads answered by the second request.
    :ivar budget_denied: Slow reads not hedged because the budget was spent.
    """

    calls: int = 0
    slow: int = 0
    hedged: int = 0
    hedge_wins: int = 0
    budget_denied: int = 0


class _Window:
    """The last ``size`` latencies of one (verb, resource), and their percentile."""

    __slots__ = ("_cached", "_samples", "_since")

    def __init__(self, size: int) -> None:
        self._samples: deque[float] = deque(maxlen=size)
        self._cached: float | None = None
        self._since = 0

    def add(self, seconds: float) -> None:
        self._samples.append(seconds)
        self._since += 1

    def __len__(self) -> int:
        return len(self._samples)

    def percentile(self, p: float) -> float:
        # Sorting a few hundred floats is cheap; recompute every 16 samples at most.
        if self._cached is None or self._since >= 16:
            ordered = sorted(self._samples)
            index = min(len(ordered) - 1, max(0, math.ceil(p / 100.0 * len(ordered)) - 1))
            self._cached = ordered[index]
            self._since = 0
        return self._cached


class HedgedReads:
    """The hedging policy of a client's reads (see the module doc).

    ``after``: a fixed hedge delay in seconds; ``None`` (default) learns it: the
    ``percentile`` of the last ``window`` latencies of the same verb and resource, once
    ``min_samples`` were seen (no hedging before), never below ``min_delay``.
    ``max_ratio``: the share of calls that may be hedged over time. One policy serves one
    client (its latency windows are that server's).
    """

    def __init__(
        self,
        *,
        after: float | None = None,
        percentile: float = 95.0,
        min_samples: int = 20,
        window: int = 512,
        min_delay: float = 0.002,
        max_ratio: float = 0.1,
    ) -> None:
        if not 0 < percentile <= 100:
            raise ValueError("percentile must be in (0, 100]")
        if after is not None and after < 0:
            raise ValueError("after must not be negative")
        self.after = after
        self.percentile = percentile
        self.min_samples = min_samples
        self.min_delay = min_delay
        self.max_ratio = max_ratio
        self.stats = HedgeStats()
        self._window = window
        self._windows: dict[tuple[str, str], _Window] = {}
        self._budget = _BUDGET_BURST

    def delay(self, verb: str, resource: str) -> float | None:
        """The current hedge delay for ``verb`` on ``resource``; ``None``: not hedged yet."""
        if self.after is not None:
            return self.after
        win = self._windows.get((verb, resource))
        if win is None or len(win) < self.min_samples:
            return None
        return max(self.min_delay, win.percentile(self.percentile))

    # -- the hedge ------------------------------------------------------------------------

    def _observe(self, verb: str, resource: str, seconds: float) -> None:
        key = (verb, resource)
        win = self._windows.get(key)
        if win is None:
            win = self._windows[key] = _Window(self._window)
        win.add(seconds)

    async def run(self, verb: str, resource: str, call: Callable[[], Awaitable[T]]) -> T:
        """Run the read ``call()`` for ``verb`` on ``resource`` (``plural.group``), hedged
        by a second ``call()`` when the first is slow. The client's transport calls this;
        ``call`` carries the whole request, retries included."""
        self.stats.calls += 1
        self._budget = min(_BUDGET_BURST, self._budget + self.max_ratio)
        delay = self.delay(verb, resource)
        started = anyio.current_time()
        if delay is None:
            result = await call()
            self._observe(verb, resource, anyio.current_time() - started)
            return result

        answers: list[tuple[int, T | None, BaseException | None]] = []
        failures: list[BaseException] = []
        finished = anyio.Event()
        running = [0]

        async def attempt(index: int) -> None:
            began = anyio.current_time()
            try:
                value = await call()
            except ClientError as exc:
                failures.append(exc)
                running[0] -= 1
                if running[0] == 0:
                    finished.set()
                return
            except Exception as exc:  # an answer (ApiError) or a bug: either way it wins
                answers.append((index, None, exc))
            else:
                answers.append((index, value, None))
            self._observe(verb, resource, anyio.current_time() - began)
            finished.set()

        async with anyio.create_task_group() as tg:
            running[0] = 1
            tg.start_soon(attempt, 0)
            with anyio.move_on_after(delay):
                await finished.wait()
            if not finished.is_set():
                self.stats.slow += 1
                if self._budget >= 1.0:
                    self._budget -= 1.0
                    self.stats.hedged += 1
                    running[0] += 1
                    tg.start_soon(attempt, 1)
                else:
                    self.stats.budget_denied += 1
            await finished.wait()
            if answers and answers[0][0] == 1:
                # The primary lost: remember at least how long it had been waiting.
                self._observe(verb, resource, anyio.current_time() - started)
            tg.cancel_scope.cancel()
        if not answers:
            raise failures[0]
        index, value, error = answers[0]
        if index == 1:
            self.stats.hedge_wins += 1
        if error is not None:
            raise error
        return value  # type: ignore[return-value]

    def __repr__(self) -> str:
        return f"HedgedReads(after={self.after}, p={self.percentile})"
