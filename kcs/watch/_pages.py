"""List pages fetched one ahead: the next page is on its way while this one is cached.

A paginated list alternates two waits: the client decodes and caches a page, then asks
for the next and waits while the server encodes it. The continue token of a page is in
its ``metadata``, which the apiserver writes before the ``items``: reading it from the
head of the body lets the client ask for the next page first, so that the server's work
overlaps the client's.

Guarantees: the pages are the ones a sequential list gets, in order (a prefetched page is
used only when its token is the one the decoded page gives); a prefetch that is not used
(the list failed, stopped or restarted) is cancelled, and its error, if any, is dropped
with it, never reported twice.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Final

import msgspec

from kcs.core import ListMeta

__all__ = ["NextPage", "peek_continue"]

# Where a List's items start: the apiserver (and kcs's fake) write them after the metadata.
_ITEMS: Final = b',"items":'
_HEAD_LIMIT: Final = 16384  # a List's head is short; never scan a whole page for it


class _Head(msgspec.Struct):
    metadata: ListMeta = ListMeta()


_head_decoder: Final = msgspec.json.Decoder(_Head)


def peek_continue(body: bytes) -> str | None:
    """The continue token of the List ``body``, read from its head only; ``None`` when
    it has none or the head cannot be read that way (the full decode decides then)."""
    end = body.find(_ITEMS, 0, _HEAD_LIMIT)
    if end < 0:
        return None
    try:
        head = _head_decoder.decode(body[:end] + b"}")
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return head.metadata.continue_ or None


class NextPage:
    """At most one page being fetched ahead, by its continue token (asyncio only: the
    client is aiohttp's)."""

    __slots__ = ("_task", "_token")

    def __init__(self) -> None:
        self._task: asyncio.Task[bytes] | None = None
        self._token: str | None = None

    async def start(self, token: str, fetch: Callable[[], Awaitable[bytes]]) -> None:
        """Start fetching the page of ``token`` and let the request go out (one
        scheduling turn) before the caller moves on."""
        self.cancel()

        async def run() -> bytes:
            return await fetch()

        self._task = asyncio.ensure_future(run())
        self._token = token
        await asyncio.sleep(0)

    def take(self, token: str | None) -> Callable[[], Awaitable[bytes]] | None:
        """The fetch of ``token``'s page, if it is the one started: a function that
        returns it, for the caller to await; any other fetch is cancelled."""
        task, started = self._task, self._token
        self._task = self._token = None
        if task is None:
            return None
        if token is not None and started == token:
            return partial(_same, task)
        _drop(task)
        return None

    def cancel(self) -> None:
        """Drop the page being fetched, if any."""
        task = self._task
        self._task = self._token = None
        if task is not None:
            _drop(task)


def _same(task: asyncio.Task[bytes]) -> Awaitable[bytes]:
    return task


def _drop(task: asyncio.Task[bytes]) -> None:
    task.cancel()
    task.add_done_callback(_retrieve)


def _retrieve(task: asyncio.Task[bytes]) -> None:
    """Read a dropped fetch's outcome, so that asyncio does not log it as lost."""
    if not task.cancelled():
        with contextlib.suppress(BaseException):
            task.result()
