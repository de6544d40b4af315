"""One waiting helper for tests: poll a condition that has no event to await."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import TypeVar, overload

import anyio

from kcs.core import NotFound

__all__ = ["eventually"]

T = TypeVar("T")

_NOT_YET: tuple[type[BaseException], ...] = (LookupError, NotFound)


# Two signatures, so that a lambda returning a coroutine is typed by what it awaits; the
# value returned is true, so never None.
@overload
async def eventually(
    check: Callable[[], Awaitable[T | None]],
    within: float = 5.0,
    what: str = "",
    *,
    interval: float = 0.01,
    not_yet: tuple[type[BaseException], ...] = _NOT_YET,
    log: Callable[[], str] | None = None,
) -> T: ...


@overload
async def eventually(
    check: Callable[[], T | None],
    within: float = 5.0,
    what: str = "",
    *,
    interval: float = 0.01,
    not_yet: tuple[type[BaseException], ...] = _NOT_YET,
    log: Callable[[], str] | None = None,
) -> T: ...


async def eventually(
    check: Callable[[], T | Awaitable[T | None] | None],
    within: float = 5.0,
    what: str = "",
    *,
    interval: float = 0.01,
    not_yet: tuple[type[BaseException], ...] = _NOT_YET,
    log: Callable[[], str] | None = None,
) -> T:
    """Call ``check()`` (a function or a coroutine function) until it returns a true value,
    and return that value.

    For state that has no event to await: the fake apiserver's contents, another
    process's output, an HTTP endpoint. Prefer awaiting an event where there is one
    (``WriteLog.wait_until``, ``Informer.wait_for``, an ``anyio.Event``).

    * ``check`` raising one of ``not_yet`` (by default ``LookupError``, which covers
      ``KeyError``, and kcs's ``NotFound``) counts as "not yet"; any other exception
      propagates at once.
    * After ``within`` seconds it raises ``AssertionError`` naming ``what``, the last
      value seen and, if ``log`` is given, ``log()`` (a process's output, say).
    * It checks every ``interval`` seconds, and once more at the deadline.
    """
    deadline = anyio.current_time() + within
    last: object = None
    while True:
        try:
            result = check()
            if inspect.isawaitable(result):
                result = await result
        except not_yet as exc:
            last = exc
        else:
            if result:
                return result
            last = result
        left = deadline - anyio.current_time()
        if left <= 0:
            shown = f"; last: {last!r}"
            extra = f"\n{log()}" if log is not None else ""
            raise AssertionError(
                f"timed out after {within:g}s waiting for {what or 'the condition'}{shown}{extra}"
            )
        await anyio.sleep(min(interval, left))
