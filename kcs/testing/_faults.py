"""Fault injection: slow answers, failed requests, cut and stalled watches, partitions.

Every injected fault is counted in :attr:`Faults.counts` under one of these names:

``delay``        a request answered late (one count per delayed request)
``fail_429``     a request refused with 429 TooManyRequests (Retry-After set); likewise
                 ``fail_500``, ``fail_503`` and ``fail_504``
``drop_watch``   a watch connection cut (one count per stream)
``stall``        event delivery stopped (one count per :meth:`Faults.stall`)
``partition``    a request from a partitioned client held or refused, or one of its watch
                 connections cut (one count each)
``compact``      the history compacted (by the server's ``compact()``)
``restart``      the server restarted (by the server's ``restart()``)

Randomness is seeded per rule, so a test that fails half of all requests with
``seed=1`` fails the same ones every run.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal, TypeVar

from kcs.core import ApiError, ServerTimeout, ServiceUnavailable, status_body
from kcs.testing._status import internal_error, too_many_requests
from kcs.testing._watch import ClientInfo, WatchHub

__all__ = ["VERBS", "Faults", "PartitionMode"]

VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")
"""The request verbs faults apply to (discovery and the control channel are exempt)."""

PartitionMode = Literal["hang", "close"]

_T = TypeVar("_T")


def _verbs(verbs: Iterable[str] | str | None) -> frozenset[str] | None:
    if verbs is None:
        return None
    chosen = frozenset([verbs] if isinstance(verbs, str) else verbs)
    unknown = chosen - set(VERBS)
    if unknown:
        raise ValueError(f"unknown verbs {sorted(unknown)}; known: {VERBS}")
    return chosen


@dataclass(slots=True)
class _Delay:
    seconds: float | Callable[[], float]
    jitter: float
    verbs: frozenset[str] | None
    rng: random.Random

    def draw(self) -> float:
        base = self.seconds() if callable(self.seconds) else self.seconds
        return max(0.0, base + (self.rng.uniform(0.0, self.jitter) if self.jitter else 0.0))


@dataclass(slots=True)
class _Failure:
    code: int
    share: float
    verbs: frozenset[str] | None
    retry_after: int
    remaining: int | None
    rng: random.Random


@dataclass(frozen=True, slots=True)
class _Partition:
    user_agent: str | None
    token: str | None
    mode: PartitionMode

    def hits(self, client: ClientInfo) -> bool:
        if self.user_agent is not None and self.user_agent in client.user_agent:
            return True
        return self.token is not None and client.token == self.token


class Faults:
    """The faults in force. Change them at any time; they apply to the next request.

    Delays and failures are rules matched by verb (``None`` = every verb); the first delay
    rule and the first failure rule that match a request apply. Watches are affected at
    the start (delay, failure) and while streaming (stall, drop, partition).
    """

    def __init__(self, hub: WatchHub) -> None:
        self._hub = hub
        self.counts: Counter[str] = hub.counts
        self._delays: list[_Delay] = []
        self._failures: list[_Failure] = []
        self._partitions: list[_Partition] = []
        self._healed = asyncio.Event()
        hub.blocked = self._blocks_stream

    # --- configuration ------------------------------------------------------------------

    def delay(
        self,
        seconds: float | Callable[[], float],
        *,
        verbs: Iterable[str] | str | None = None,
        jitter: float = 0.0,
        seed: int | None = None,
    ) -> Callable[[], None]:
        """Answer matching requests ``seconds`` late (plus a seeded uniform ``jitter``).

        ``seconds`` may be a callable drawing each delay (for example
        ``functools.partial(random.Random(1).expovariate, 20)``). Returns a function that
        removes this rule again (the others stay).
        """
        rule = _Delay(seconds, jitter, _verbs(verbs), random.Random(seed))
        self._delays.append(rule)
        return lambda: _remove(self._delays, rule)

    def fail(
        self,
        code: int = 429,
        *,
        share: float = 1.0,
        verbs: Iterable[str] | str | None = None,
        retry_after: int = 1,
        times: int | None = None,
        seed: int | None = None,
    ) -> Callable[[], None]:
        """Refuse a ``share`` of matching requests with ``code`` (429, 500, 503 or 504).

        A 429 carries ``Retry-After: retry_after`` and ``details.retryAfterSeconds``.
        ``times`` limits how many requests this rule refuses in all. Returns a function
        that removes this rule again (the others stay).
        """
        if code not in (429, 500, 503, 504):
            raise ValueError("code must be 429, 500, 503 or 504")
        if not 0.0 <= share <= 1.0:
            raise ValueError("share must be between 0 and 1")
        rule = _Failure(code, share, _verbs(verbs), retry_after, times, random.Random(seed))
        self._failures.append(rule)
        return lambda: _remove(self._failures, rule)

    def drop_watches(self, *, user_agent: str | None = None) -> int:
        """Cut every open watch connection now (only those whose User-Agent contains
        ``user_agent``, if given). The client sees the connection reset mid-stream.
        Returns how many were cut."""
        n = self._hub.abort_where(
            lambda w: user_agent is None or user_agent in w.client.user_agent, "drop_watch"
        )
        self.counts["drop_watch"] += n
        return n

    def drop_watches_every(self, events: int | None) -> None:
        """Cut each watch connection after it has carried ``events`` lines (``None``: never)."""
        if events is not None and events < 1:
            raise ValueError("events must be at least 1")
        self._hub.drop_every = events

    def stall(self) -> None:
        """Stop writing to every watch stream; events queue up until :meth:`unstall`."""
        self._hub.stalled = True
        self.counts["stall"] += 1

    def unstall(self) -> None:
        """Resume writing to watch streams (queued events go out in one batch each)."""
        self._hub.stalled = False
        self._hub.kick()

    def partition(
        self,
        *,
        user_agent: str | None = None,
        token: str | None = None,
        mode: PartitionMode = "hang",
    ) -> None:
        """Cut one client off as a network partition would, until :meth:`heal`.

        The client is recognised by a substring of its User-Agent or by its bearer token.
        ``mode="hang"``: its requests get no answer (they wait, and proceed once healed, as
        TCP would), and its watch streams stop delivering. ``mode="close"``: its requests
        and its open watch connections are cut at once (connection reset).
        """
        if user_agent is None and token is None:
            raise ValueError("give user_agent or token")
        p = _Partition(user_agent, token, mode)
        self._partitions.append(p)
        self._healed.clear()
        if mode == "close":
            self.counts["partition"] += self._hub.abort_where(
                lambda w: p.hits(w.client), "partition"
            )

    def heal(self) -> None:
        """End every partition; held requests proceed and streams resume."""
        self._partitions.clear()
        self._healed.set()
        self._hub.kick()

    def clear(self) -> None:
        """Remove every fault in force (the counts are kept)."""
        self._delays.clear()
        self._failures.clear()
        self._hub.drop_every = None
        self.unstall()
        self.heal()

    # --- used by the server -------------------------------------------------------------

    def partition_for(self, client: ClientInfo) -> PartitionMode | None:
        """The partition mode that applies to ``client``, if any."""
        for p in self._partitions:
            if p.hits(client):
                return p.mode
        return None

    async def hold(self, client: ClientInfo) -> None:
        """Wait while ``client`` is partitioned in ``hang`` mode."""
        while self.partition_for(client) == "hang":
            await self._healed.wait()

    def _blocks_stream(self, client: ClientInfo) -> bool:
        return bool(self._partitions) and self.partition_for(client) is not None

    async def before(self, verb: str) -> None:
        """Apply the delay and failure rules to one request with ``verb``."""
        for d in self._delays:
            if d.verbs is None or verb in d.verbs:
                self.counts["delay"] += 1
                await asyncio.sleep(d.draw())
                break
        for f in self._failures:
            if f.verbs is not None and verb not in f.verbs:
                continue
            if f.remaining is not None and f.remaining <= 0:
                continue
            if f.share < 1.0 and f.rng.random() >= f.share:
                break
            if f.remaining is not None:
                f.remaining -= 1
            self.counts[f"fail_{f.code}"] += 1
            raise _failure(f.code, f.retry_after)


def _remove(rules: list[_T], rule: _T) -> None:
    """Remove ``rule`` (the very object) from ``rules``, if it is still there."""
    for i, r in enumerate(rules):
        if r is rule:
            del rules[i]
            return


def _failure(code: int, retry_after: int) -> ApiError:
    if code == 429:
        return too_many_requests(retry_after)
    if code == 503:
        return ServiceUnavailable(status_body(503, "ServiceUnavailable", "injected fault"))
    if code == 504:
        return ServerTimeout(status_body(504, "Timeout", "injected fault"))
    return internal_error("injected fault")

