"""TcpProxy: a TCP path between two processes on loopback that a test can partition.

Without root a test cannot drop packets, but it can put a forwarder in the path: the
replica advertises the proxy's address instead of its own, and the proxy forwards bytes
both ways. :meth:`TcpProxy.partition` then behaves as a network that drops packets: no
byte and no end of connection gets through in either direction, and a new connection is
never answered (the kernel completes the handshake; nothing is ever sent on it).
:meth:`TcpProxy.heal` lets everything through again, in order, including an end of
connection that happened meanwhile.

When the target's process dies its kernel ends its connections and refuses new ones;
the proxy passes that on faithfully: when a forwarded connection ends from the target's
side, the proxy checks whether the target still accepts connections and, if it refuses,
stops listening itself *before* it ends the client's connection, so the client's next
attempt is refused as it would be without the proxy.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any

from kcs.testing._lifecycle import Started

__all__ = ["TcpProxy"]

_CHUNK = 65536


class TcpProxy(Started):
    """Forwards connections to ``127.0.0.1:<port>`` to ``target_host:target_port``.

    Use it as ``async with TcpProxy() as proxy:``; set :attr:`target` (``(host, port)``)
    once the target listens: connections that arrive before are held, unanswered. Binds
    127.0.0.1 only.
    """

    def __init__(self, target: tuple[str, int] | None = None, *, host: str = "127.0.0.1") -> None:
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise ValueError("the proxy listens on loopback only")
        self.host = host
        self.port = 0
        self._target = target
        self._server: asyncio.Server | None = None
        self._open = asyncio.Event()
        self._open.set()
        self._target_set = asyncio.Event()
        if target is not None:
            self._target_set.set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.refused = False
        """Whether the proxy stopped listening because the target refused."""
        self.partitioned = False

    @property
    def address(self) -> str:
        """``host:port`` to advertise."""
        return f"{self.host}:{self.port}"

    @property
    def target(self) -> tuple[str, int] | None:
        """Where connections go (``None``: not known yet; they are held)."""
        return self._target

    @target.setter
    def target(self, target: tuple[str, int]) -> None:
        self._target = target
        self._target_set.set()

    async def start(self) -> None:
        """Listen (on a free port the first time)."""
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and cut every forwarded connection."""
        server = self._server
        self._close_listener()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if server is not None:
            with contextlib.suppress(Exception):
                await server.wait_closed()

    def partition(self) -> None:
        """Drop everything until :meth:`heal`."""
        self.partitioned = True
        self._open.clear()

    def heal(self) -> None:
        """Let everything through again."""
        self.partitioned = False
        self._open.set()

    def _close_listener(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()  # the listening socket is closed at once

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        try:
            await self._open.wait()
            await self._target_set.wait()
            await self._open.wait()
            assert self._target is not None
            try:
                up_reader, up_writer = await asyncio.open_connection(*self._target)
            except ConnectionRefusedError:
                self._target_refused()
                return
            except OSError:
                return
            try:
                down = self._spawn(self._pump(reader, up_writer))
                await self._pump(up_reader, writer)
                # The target ended the connection: pass a refusal on first, if it is one.
                await self._open.wait()
                if await self._refuses():
                    self._target_refused()
                down.cancel()
            finally:
                up_writer.close()
        finally:
            writer.close()

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while True:
                data = await source.read(_CHUNK)
                await self._open.wait()
                if not data:
                    break
                sink.write(data)
                await sink.drain()

    async def _refuses(self) -> bool:
        assert self._target is not None
        try:
            _, probe = await asyncio.open_connection(*self._target)
        except ConnectionRefusedError:
            return True
        except OSError:
            return False
        probe.close()
        return False

    def _target_refused(self) -> None:
        self.refused = True
        self._close_listener()
