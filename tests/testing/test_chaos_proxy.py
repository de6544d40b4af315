"""TcpProxy: forwards, partitions like a network that drops packets, and passes a dead
target's refusal on."""

from __future__ import annotations

import contextlib

import anyio
import anyio.abc
import pytest

from kcs.testing.chaos import TcpProxy

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(20)]


class Echo:
    """A TCP echo server on 127.0.0.1 that can be shut down like a dying process."""

    def __init__(self) -> None:
        self.streams: list[anyio.abc.SocketStream] = []

    async def run(self, listener: anyio.abc.Listener[anyio.abc.SocketStream]) -> None:
        try:
            await listener.serve(self._echo)
        except* anyio.ClosedResourceError:
            pass  # the listener was closed: this "process" died

    async def _echo(self, stream: anyio.abc.SocketStream) -> None:
        self.streams.append(stream)
        async with stream:
            with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
                async for data in stream:
                    await stream.send(data)


async def test_forwarding_a_partition_and_a_heal() -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    echo = Echo()
    async with anyio.create_task_group() as tg, TcpProxy(("127.0.0.1", port)) as proxy:
        tg.start_soon(echo.run, listener)
        stream = await anyio.connect_tcp("127.0.0.1", proxy.port)
        await stream.send(b"one")
        assert await stream.receive() == b"one"
        proxy.partition()
        await stream.send(b"two")
        with anyio.move_on_after(0.3) as waited:
            await stream.receive()
        assert waited.cancelled_caught  # dropped, not answered
        # A new connection is never answered while partitioned.
        other = await anyio.connect_tcp("127.0.0.1", proxy.port)
        await other.send(b"x")
        with anyio.move_on_after(0.3) as waited:
            await other.receive()
        assert waited.cancelled_caught
        proxy.heal()
        with anyio.fail_after(5):
            assert await stream.receive() == b"two"
            assert await other.receive() == b"x"
        await stream.aclose()
        await other.aclose()
        tg.cancel_scope.cancel()


@pytest.mark.parametrize("listener_first", [True, False])
async def test_a_target_that_dies_is_refused_through_the_proxy_too(listener_first: bool) -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    echo = Echo()
    async with TcpProxy(("127.0.0.1", port)) as proxy, anyio.create_task_group() as tg:
        tg.start_soon(echo.run, listener)
        stream = await anyio.connect_tcp("127.0.0.1", proxy.port)
        await stream.send(b"hi")
        assert await stream.receive() == b"hi"
        # The target "dies": its kernel closes its listener and its connections.
        if listener_first:
            await listener.aclose()
        for s in echo.streams:
            await s.aclose()
        if not listener_first:
            await listener.aclose()
        with anyio.fail_after(5), pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
            await stream.receive()
        await stream.aclose()
        # When the proxy saw the connection end while the target still listened, it can
        # only learn of the refusal from the next connection, which it then ends; after
        # that (or at once) it refuses as the target does.
        ended_before_refused = 0
        with anyio.fail_after(5):
            while True:
                try:
                    again = await anyio.connect_tcp("127.0.0.1", proxy.port)
                except OSError:
                    break
                with pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
                    await again.receive()
                await again.aclose()
                ended_before_refused += 1
        assert proxy.refused
        assert ended_before_refused <= (0 if listener_first else 1)
        tg.cancel_scope.cancel()


async def test_the_proxy_listens_on_loopback_only() -> None:
    with pytest.raises(ValueError, match="loopback"):
        TcpProxy(host="0.0.0.0")
