"""One waiting helper for tests: poll a condition that has no event to await."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import TypedDict, TypeVar, Unpack, overload

import anyio

from kcs.core import NotFound

__all__ = ["EventuallyOptions", "eventually"]

T = TypeVar("T")

_NOT_YET: tuple[type[BaseException], ...] = (LookupError, NotFound)


class EventuallyOptions(TypedDict, total=False):
    """The keyword options of :func:`eventually`."""

    interval: float
    """Seconds between checks (default 0.01)."""
    not_yet: tuple[type[BaseException], ...]
    """The exceptions of ``check`` that count as "not yet" (default ``(LookupError,
    kcs.core.NotFound)``)."""
    log: Callable[[], str] | None
    """Called on a timeout; its text ends the failure's message (default: none)."""


# Two signatures, so that a lambda returning a coroutine is typed by what it awaits; the
# value returned is true, so never None.
@overload
async def eventually(check: Callable[[], Awaitable[T | None]], within: float = 5.0,
                     what: str = "", **options: Unpack[EventuallyOptions]) -> T: ...


@overload
async def eventually(check: Callable[[], T | None], within: float = 5.0, what: str = "",
                     **options: Unpack[EventuallyOptions]) -> T: ...


async def eventually(
    check: Callable[[], T | Awaitable[T | None] | None],
    within: float = 5.0,
    what: str = "",
    **options: Unpack[EventuallyOptions],
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
    * A keyword that is not one of :class:`EventuallyOptions` is a ``TypeError``.
    """
    unknown = options.keys() - EventuallyOptions.__optional_keys__
    if unknown:
        raise TypeError(f"eventually() got unexpected keyword arguments {sorted(unknown)}")
    interval = options.get("interval", 0.01)
    not_yet = options.get("not_yet", _NOT_YET)
    log = options.get("log")
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
