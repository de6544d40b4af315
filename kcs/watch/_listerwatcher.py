"""The part of :class:`kcs.client.Client` a watcher uses: its two raw, undecoded verbs.

Named after client-go's ``ListerWatcher``. :class:`kcs.client.Client` satisfies it; the
protocol only documents (and type-checks) exactly what the watch layer relies on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, Unpack

from kcs.client import ListParams, WatchParams
from kcs.core import Resource

__all__ = ["ListerWatcher", "RawWatch"]


class RawWatch(Protocol):
    """An open watch: an async context manager and an async iterator of line batches.

    Each item is a list of complete lines, in order. Errors on the start of the watch
    are raised by ``__aenter__`` as typed :class:`~kcs.core.ApiError`; a broken
    connection raises :class:`~kcs.client.ApiConnectionError` from ``__anext__``; a clean
    end of the response ends the iteration. Leaving the context closes the connection.

    What ``__aenter__`` returns may also have a ``blocks()`` method returning an async
    iterator of the same lines in blocks, each a buffer of whole lines joined by ``\\n``
    (as :meth:`kcs.client.WatchStream.blocks` does), or else a ``views()`` method
    returning the same batches with each line a ``memoryview`` (as
    :meth:`kcs.client.WatchStream.views` does); the watcher then reads those, so that no
    line is copied (nor, with blocks, cut in Python) before it is decoded.
    """

    async def __aenter__(self) -> AsyncIterator[list[bytes]]: ...

    async def __aexit__(self, *exc_info: object) -> bool | None: ...


class ListerWatcher(Protocol):
    """Lists and watches a resource, returning raw bytes: :meth:`kcs.client.Client.list_raw`
    and :meth:`~kcs.client.Client.watch_raw`, with the same parameters
    (:class:`~kcs.client.ListParams`, :class:`~kcs.client.WatchParams`)."""

    async def list_raw(
        self, resource: Resource, namespace: str | None = None, **params: Unpack[ListParams]
    ) -> bytes:
        """The body of a List answer, undecoded."""
        ...

    def watch_raw(
        self, resource: Resource, namespace: str | None = None, **params: Unpack[WatchParams]
    ) -> RawWatch:
        """A watch, opened by ``async with``."""
        ...
