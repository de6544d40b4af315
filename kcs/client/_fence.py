"""Fences: a deadline after which no request leaves this process.

A cancel scope with a deadline is not enough to keep leader-only work from writing once
its lease may have passed to another replica. When the process is paused (SIGSTOP, a
long garbage-collection pause, a throttled container, a suspended VM) past the deadline,
the event loop on resuming runs whatever became ready first; a request waiting for its
turn may be sent before the timer that cancels it fires. So the client checks the fence
at the last moment instead: every request made under :func:`fenced` reads the monotonic
clock right before its first byte is handed to the connection, and is refused with
:class:`FencedError` if any fence it runs under has closed.

The fences in force are a context variable: tasks started inside a :func:`fenced` block
inherit them (a task copies its parent's context when it is created), and every
:class:`~kcs.client.Client` in the process honours them. With no fence in force the cost
is one context-variable read per request.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import anyio

from kcs.client._clienterrors import ClientError

__all__ = ["Fence", "FencedError", "check_fences", "current_fences", "fenced"]

_FENCES: ContextVar[tuple[Fence, ...]] = ContextVar("kcs_client_fences", default=())


class FencedError(ClientError):
    """A request was refused before any of it was sent: a fence it ran under had closed.

    Nothing reached the server. ``fence`` is the fence that refused it; ``method`` and
    ``url`` say which request (the URL carries no credentials).
    """

    def __init__(self, fence: Fence, *, method: str = "", url: str = "") -> None:
        why = fence.reason or "its deadline passed"
        super().__init__(f"{method} {url} refused: fence {fence.name!r} is closed ({why})")
        self.fence = fence
        self.method = method
        self.url = url


class Fence:
    """A deadline on the event loop's monotonic clock (``anyio.current_time()``, which on
    asyncio is ``time.monotonic()``), after which requests made under it are refused.

    The owner moves the deadline with :meth:`extend` (a leader renewing its lease) and
    may :meth:`close` the fence at once (the lease was seen taken). Once closed, by
    :meth:`close` or by the deadline passing, a fence never opens again: an
    :meth:`extend` that comes too late is ignored.
    """

    __slots__ = ("_closed", "_deadline", "name", "reason")

    def __init__(self, name: str = "", deadline: float = math.inf) -> None:
        self.name = name
        """What the fence guards, for messages (``"kube-system/my-controller term 3"``)."""
        self._deadline = deadline
        self._closed = False
        self.reason = ""
        """Why the fence was closed (``""`` while open, or when only the deadline passed)."""

    @property
    def deadline(self) -> float:
        """The monotonic time after which requests are refused (``-inf`` once closed)."""
        return -math.inf if self._closed else self._deadline

    def extend(self, deadline: float) -> bool:
        """Move the deadline to ``deadline``; ignored (``False``) when the fence has
        already closed, so that a late renewal never reopens it."""
        if not self.open():
            return False
        self._deadline = deadline
        return True

    def close(self, reason: str = "closed") -> None:
        """Close the fence now; every later request under it is refused."""
        if not self._closed:
            self._closed = True
            self.reason = reason

    def open(self, now: float | None = None) -> bool:
        """Whether requests may be sent now (``now``: a monotonic time, default the
        clock read at this moment)."""
        if self._closed:
            return False
        return (anyio.current_time() if now is None else now) < self._deadline

    def check(self, *, method: str = "", url: str = "") -> None:
        """Raise :class:`FencedError` unless the fence is open at this moment."""
        if not self.open():
            raise FencedError(self, method=method, url=url)

    def __repr__(self) -> str:
        if self._closed:
            state = f"closed: {self.reason}"
        elif math.isinf(self._deadline):
            state = "open"
        else:
            state = f"deadline {self._deadline:.3f}"
        return f"Fence({self.name!r}, {state})"


@contextmanager
def fenced(fence: Fence) -> Iterator[Fence]:
    """Run the block (and the tasks it starts) under ``fence`` as well as the fences
    already in force: each request made there is refused once any of them has closed."""
    token = _FENCES.set((*_FENCES.get(), fence))
    try:
        yield fence
    finally:
        _FENCES.reset(token)


def current_fences() -> tuple[Fence, ...]:
    """The fences in force in this context, outermost first (``()`` when none)."""
    return _FENCES.get()


def check_fences(fences: tuple[Fence, ...], *, method: str = "", url: str = "") -> None:
    """Raise :class:`FencedError` for the first of ``fences`` that is closed now."""
    if not fences:
        return
    now = anyio.current_time()
    for fence in fences:
        if not fence.open(now):
            raise FencedError(fence, method=method, url=url)
