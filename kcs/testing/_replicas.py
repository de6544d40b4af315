"""Replicas of the controller under test, as real OS processes a test can kill, pause,
resume and partition.

The harness knows nothing of what a replica runs: ``command(spec)`` returns its argv.
Each replica gets an identity (``spec.identity``) that it must put in the User-Agent of
its clients (``replica/<identity>/<client>``) so that the write log tells its writes
apart (see :class:`~kcs.testing.chaos.ReplicaWrites`). With ``liveness=True`` each
replica also gets a :class:`~kcs.testing.chaos.TcpProxy` in front of a port chosen for its
liveness endpoint (``spec.liveness_port``, advertised as ``spec.advertise``), so that a
partition can cut the replicas off from each other as well as from the apiserver.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType

import anyio
import anyio.abc

from kcs.testing._proxy import TcpProxy

__all__ = ["Replica", "ReplicaSet", "ReplicaSpec"]

_TAIL = 200


@dataclass(frozen=True, slots=True)
class ReplicaSpec:
    """What one replica is told: its identity, and (with liveness proxies) the port its
    liveness endpoint must listen on and the address it must advertise instead."""

    identity: str
    liveness_port: int | None = None
    advertise: str | None = None


Command = Callable[[ReplicaSpec], Sequence[str]]


@dataclass(slots=True)
class Replica:
    """One replica process."""

    spec: ReplicaSpec
    process: anyio.abc.Process
    proxy: TcpProxy | None = None
    paused: bool = False
    killed: bool = False
    """Whether the harness killed it (an exit without this is the replica's own)."""
    exited: anyio.Event = field(default_factory=anyio.Event)
    output: deque[str] = field(default_factory=lambda: deque(maxlen=_TAIL))

    @property
    def identity(self) -> str:
        return self.spec.identity

    @property
    def alive(self) -> bool:
        """Whether the process has not exited."""
        return self.process.returncode is None and not self.exited.is_set()

    def log(self) -> str:
        """The last lines it printed (stdout and stderr)."""
        return "".join(self.output)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class ReplicaSet:
    """Starts replica processes and injects process faults into them.

    Use it as ``async with ReplicaSet(command) as replicas:``; every process still
    running is killed on exit. Identities are ``<prefix><n>`` with ``n`` counting up, so
    a replacement never reuses the identity of the replica it replaces.
    """

    def __init__(
        self,
        command: Command,
        *,
        liveness: bool = False,
        env: Mapping[str, str] | None = None,
        prefix: str = "r",
    ) -> None:
        self.command = command
        self.liveness = liveness
        self.env = dict(os.environ if env is None else env)
        self.env.setdefault("PYTHONUNBUFFERED", "1")
        self.prefix = prefix
        self.all: dict[str, Replica] = {}
        self._count = 0
        self._tg: anyio.abc.TaskGroup | None = None
        self._tg_cm: anyio.abc.TaskGroup | None = None

    async def __aenter__(self) -> ReplicaSet:
        self._tg_cm = anyio.create_task_group()
        self._tg = await self._tg_cm.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with anyio.CancelScope(shield=True):
            await self.stop()
        assert self._tg_cm is not None and self._tg is not None
        self._tg.cancel_scope.cancel()
        await self._tg_cm.__aexit__(exc_type, exc, tb)
        self._tg = self._tg_cm = None

    def living(self) -> list[Replica]:
        """The replicas whose process runs (paused ones included)."""
        return [r for r in self.all.values() if r.alive]

    def crashed(self) -> list[Replica]:
        """The replicas that exited without being killed by the harness."""
        return [r for r in self.all.values() if not r.alive and not r.killed]

    async def start(self) -> Replica:
        """Start one more replica, with a new identity."""
        if self._tg is None:
            raise RuntimeError("use the ReplicaSet as `async with`")
        self._count += 1
        identity = f"{self.prefix}{self._count}"
        proxy = None
        spec = ReplicaSpec(identity)
        if self.liveness:
            port = _free_port()
            proxy = TcpProxy(("127.0.0.1", port))
            await proxy.start()
            spec = ReplicaSpec(identity, port, proxy.address)
        process = await anyio.open_process(list(self.command(spec)), env=self.env)
        replica = Replica(spec, process, proxy)
        self.all[identity] = replica
        self._tg.start_soon(self._drain, replica, process.stdout)
        self._tg.start_soon(self._drain, replica, process.stderr)
        self._tg.start_soon(self._wait, replica)
        return replica

    async def _drain(self, replica: Replica, stream: anyio.abc.ByteReceiveStream | None) -> None:
        if stream is None:
            return
        buffer = b""
        with contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError,
                                 anyio.ClosedResourceError):
            async for chunk in stream:
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    replica.output.append(line.decode("utf-8", "replace") + "\n")

    async def _wait(self, replica: Replica) -> None:
        await replica.process.wait()
        replica.exited.set()

    def kill(self, replica: Replica) -> None:
        """SIGKILL (a paused process dies too)."""
        if replica.alive:
            replica.killed = True
            replica.process.kill()

    def pause(self, replica: Replica) -> None:
        """SIGSTOP."""
        if replica.alive and not replica.paused:
            replica.process.send_signal(signal.SIGSTOP)
            replica.paused = True

    def resume(self, replica: Replica) -> None:
        """SIGCONT."""
        if replica.paused:
            replica.paused = False
            if replica.alive:
                replica.process.send_signal(signal.SIGCONT)

    async def stop(self) -> None:
        """Kill every replica and wait for the processes; close the proxies."""
        for replica in self.all.values():
            if replica.alive:
                replica.process.kill()
        with anyio.move_on_after(10):
            for replica in self.all.values():
                await replica.process.wait()
        for replica in self.all.values():
            if replica.proxy is not None:
                await replica.proxy.stop()
