"""Freshness probes shared by the consistent reads that arrive together.

A consistent read needs a quorum read of the server, made *after* the read started: an
answer from before it could miss a write that completed just before the call. So readers
may share a probe only if it has not been sent yet. :class:`SharedProbes` keeps, per key,
the one probe that is still open to readers; the first reader yields once to the event
loop (every reader started in the same tick joins), closes it, sends it, and hands the
answer to all of them. A reader that arrives once it was sent opens the next one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

import anyio
import anyio.lowlevel

__all__ = ["SharedProbes"]

_T = TypeVar("_T")


class _Round(Generic[_T]):
    __slots__ = ("answered", "done", "error", "result")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.answered = False
        self.result: _T | None = None
        self.error: Exception | None = None


class SharedProbes(Generic[_T]):
    """One probe in the making per key; readers that arrive before it is sent share it.

    Guarantees: every caller of :meth:`run` gets the answer of a probe sent after it
    called (never an older one); concurrent callers with the same key send one probe
    between them; a probe that fails raises its error in every caller that shared it; a
    caller cancelled while sending leaves the others to send their own.
    """

    __slots__ = ("_open",)

    def __init__(self) -> None:
        self._open: dict[Hashable, _Round[_T]] = {}

    async def run(self, key: Hashable, probe: Callable[[], Awaitable[_T]]) -> _T:
        """The answer of ``probe()``, sent after this call, shared by the callers of ``key``."""
        while True:
            joined = self._open.get(key)
            if joined is None:
                return await self._send(key, probe)
            await joined.done.wait()
            if joined.error is not None:
                raise joined.error
            if joined.answered:
                return joined.result  # type: ignore[return-value]
            # the sender was cancelled before it had an answer: send our own

    async def _send(self, key: Hashable, probe: Callable[[], Awaitable[_T]]) -> _T:
        round_: _Round[_T] = _Round()
        self._open[key] = round_
        try:
            await anyio.lowlevel.checkpoint()  # the readers started in this tick join
        finally:
            if self._open.get(key) is round_:
                del self._open[key]  # closed: later readers need a later probe
        try:
            result = await probe()
        except Exception as exc:
            round_.error = exc
            round_.done.set()
            raise
        except BaseException:
            round_.done.set()  # cancelled: the others send their own
            raise
        round_.result = result
        round_.answered = True
        round_.done.set()
        return result
