"""``async with`` for the fake apiserver, its process and the chaos proxy: start on entry,
stop on exit however the block ends."""

from __future__ import annotations

from typing import Protocol, TypeVar

__all__ = ["Started"]


class _Runs(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> object: ...


_R = TypeVar("_R", bound=_Runs)


class Started:
    """A mixin for a class with ``start()`` and ``stop()``: entering ``async with`` awaits
    ``start()`` and gives the object itself; leaving awaits ``stop()``, also when the
    block raised (the exception then goes on)."""

    __slots__ = ()

    async def __aenter__(self: _R) -> _R:
        await self.start()
        return self

    async def __aexit__(self: _Runs, *exc_info: object) -> None:
        await self.stop()
