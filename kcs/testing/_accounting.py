"""What the fake apiserver did: the write log and the request accounting.

Tests prove properties of clients with these, for example "two leaders never wrote at the
same time" (from :class:`WriteLog`) or "a cancelled client call leaves no request running on
the server" (from :class:`RequestLog`). Times are ``time.monotonic()`` of the server's
process; on Linux that clock is shared by all processes of the machine, so records of a
server run in another process (:class:`~kcs.testing.ApiServerProcess`) compare with the
test's own ``time.monotonic()``.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["RequestLog", "ServedRequest", "WriteLog", "WriteRecord", "token_fingerprint"]


def token_fingerprint(token: str | None) -> str | None:
    """A short, stable, one-way fingerprint of a bearer token (never the token itself)."""
    if not token:
        return None
    return hashlib.sha256(token.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class WriteRecord:
    """One successful write, as the store committed it.

    ``verb`` is ``create``, ``update``, ``patch``, ``delete`` or ``deletecollection``;
    ``subresource`` is ``"status"`` for writes to the status subresource. ``resource`` is
    the group-resource (``leases.coordination.k8s.io``). ``resource_version`` is the
    revision the write produced. ``user_agent`` is the client's User-Agent header (or
    ``"in-process"`` for calls made from Python); ``token`` is :func:`token_fingerprint`
    of the bearer token, never the token; ``user`` is the user the request authenticated
    as (``kcs:admin`` when authentication is off, ``None`` for in-process calls).
    """

    time: float
    verb: str
    resource: str
    namespace: str
    name: str
    resource_version: str
    user_agent: str
    token: str | None
    subresource: str = ""
    user: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (used by the control channel)."""
        return asdict(self)


class WriteLog:
    """Every successful write in commit order (unbounded; :meth:`clear` it in long runs)."""

    def __init__(self) -> None:
        self.records: list[WriteRecord] = []
        self._changed = asyncio.Event()

    def append(self, record: WriteRecord) -> None:
        """Record one write."""
        self.records.append(record)
        self._changed.set()

    async def wait_until(self, predicate: Callable[[WriteLog], bool]) -> None:
        """Wait until ``predicate(self)`` holds; it is re-checked after every write (no
        polling). Bound it with the caller's scope (``with anyio.fail_after(5):``)."""
        while not predicate(self):
            self._changed.clear()
            await self._changed.wait()

    def since(self, index: int) -> list[WriteRecord]:
        """The records from position ``index`` on."""
        return self.records[index:]

    def clear(self) -> None:
        """Forget all records."""
        self.records.clear()

    def __len__(self) -> int:
        return len(self.records)


_ids = itertools.count(1)


@dataclass(slots=True)
class ServedRequest:
    """One HTTP request: what it was, who sent it, and how it ended.

    ``cancelled`` is true when the client went away before the response was complete
    (aiohttp cancelled the handler). ``status`` is the HTTP status sent, if any; ``user``
    the user the request authenticated as, once it did.
    """

    method: str
    path: str
    verb: str
    user_agent: str
    token: str | None
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    status: int | None = None
    cancelled: bool = False
    user: str | None = None
    id: int = field(default_factory=lambda: next(_ids))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (used by the control channel)."""
        return asdict(self)


class RequestLog:
    """In-flight requests, and the ones whose client disconnected before the answer.

    ``in_flight`` counts requests being handled, watches excepted (a watch is long-running
    by design; see the server's watch hub for those). ``cancelled`` keeps every request,
    watches included, that ended because the client went away mid-request.
    """

    def __init__(self) -> None:
        self._active: dict[int, ServedRequest] = {}
        self.cancelled: list[ServedRequest] = []
        self.total = 0
        self._changed = asyncio.Event()

    def begin(self, record: ServedRequest) -> ServedRequest:
        """Note a request as started."""
        self.total += 1
        self._active[record.id] = record
        self._notify()
        return record

    def end(self, record: ServedRequest, *, cancelled: bool = False) -> None:
        """Note a request as finished (or abandoned by its client when ``cancelled``)."""
        record.ended = time.monotonic()
        record.cancelled = cancelled
        self._active.pop(record.id, None)
        if cancelled:
            self.cancelled.append(record)
        self._notify()

    @property
    def in_flight(self) -> int:
        """How many non-watch requests are being handled now."""
        return sum(1 for r in self._active.values() if r.verb != "watch")

    def active(self) -> list[ServedRequest]:
        """The requests being handled now, watches included."""
        return list(self._active.values())

    async def wait_until(self, predicate: Callable[[RequestLog], bool]) -> None:
        """Wait until ``predicate(self)`` holds; it is re-checked whenever a request starts
        or ends. Bound it with the caller's scope (``with anyio.fail_after(5):``)."""
        while not predicate(self):
            await self._wait_change()

    async def wait_idle(self) -> None:
        """Wait until no non-watch request is in flight."""
        await self.wait_until(lambda log: log.in_flight == 0)

    async def wait_cancelled(self, count: int = 1) -> None:
        """Wait until at least ``count`` requests were abandoned by their clients."""
        await self.wait_until(lambda log: len(log.cancelled) >= count)

    async def _wait_change(self) -> None:
        self._changed.clear()
        await self._changed.wait()

    def _notify(self) -> None:
        self._changed.set()
