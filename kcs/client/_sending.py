"""The last moment before a request's bytes are handed to the connection.

aiohttp lets a session build its requests from a :class:`aiohttp.ClientRequest`
subclass. :class:`CheckedRequest` reads the fences in force (see
:mod:`kcs.client._fence`) when aiohttp sends the request, and checks them against the
monotonic clock twice: in :meth:`~CheckedRequest.send`, which writes the request line and
the headers (a request without a body goes out there in full), and in
:meth:`~CheckedRequest.write_bytes`, which writes the body and may run in a task of its
own, one turn of the event loop later. Between the check and the write there is no
``await``: a pause of the process can land only in the handful of instructions between
the two, never in a wait for the loop.

A refused request never reaches the server: in ``send`` nothing has been written yet; in
``write_bytes`` the connection is aborted before the body, so at most an incomplete
request (headers without their body) was written, which a server discards. The caller
gets :class:`~kcs.client.FencedError`.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from kcs.client._fence import Fence, FencedError, check_fences, current_fences

__all__ = ["CheckedRequest"]


class CheckedRequest(aiohttp.ClientRequest):
    """A :class:`aiohttp.ClientRequest` that refuses to go out once a fence has closed."""

    _kcs_fences: tuple[Fence, ...] = ()

    async def send(self, conn: Any) -> aiohttp.ClientResponse:
        fences = current_fences()
        if fences:
            self._kcs_fences = fences
            check_fences(fences, method=self.method, url=_safe_url(self))
        return await super().send(conn)

    async def write_bytes(self, writer: Any, conn: Any, *args: Any, **kwargs: Any) -> None:
        fences = self._kcs_fences
        if fences:
            try:
                check_fences(fences, method=self.method, url=_safe_url(self))
            except FencedError as exc:
                _abort(conn, exc)
                return
        await super().write_bytes(writer, conn, *args, **kwargs)


def _abort(conn: Any, exc: FencedError) -> None:
    """Fail the response with ``exc`` and drop the connection without flushing it."""
    protocol = conn.protocol
    transport = conn.transport
    if protocol is not None:
        protocol.set_exception(exc)
    if transport is not None:
        transport.abort()
    conn.close()


def _safe_url(request: aiohttp.ClientRequest) -> str:
    return str(request.url.with_query(None).with_user(None).with_password(None))
