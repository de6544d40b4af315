"""The crash signal: learning at once that the leader's process is gone.

When a process dies (SIGKILL, OOM kill, crash) its kernel closes its sockets at once:
connections to it end, and its listening port refuses new connections. A paused process
(SIGSTOP, a stopped VM), a slow one, or one cut off by a partition gives no such signal:
its kernel keeps the sockets open and completes new connections (or nothing answers at
all). So:

* every replica with :class:`CrashDetection` listens on a **liveness endpoint**, greets
  each connection with one line naming a random per-run nonce, and advertises
  ``<ip>:<port> <nonce>`` in its candidate Lease (annotation
  :data:`ANNOTATION_LIVENESS`);
* a standby holds a connection to the current holder's endpoint. When that connection
  ends, it connects again: a **refusal from an endpoint that greeted it with the
  holder's nonce** is the proof (:class:`HolderMonitor`). The standby then takes the
  lease at once, preconditioned on the exact content of the lease it saw when the proof
  was made;
* the endpoint is closed only when the process dies or after the fence of the work has
  been closed (:class:`LivenessEndpoint` calls ``before_close`` first), and the elector
  never leads again once it has closed. So a refusal proves that the holder can no
  longer send a request of leader-only work.

Anything else (a timeout, an unreachable host or network, a connection that ends while
the endpoint still accepts, an endpoint that never greeted us) proves nothing: the lease
is waited out as usual. The argument and its assumptions are in
``docs/leader-election.md``.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import anyio
import anyio.abc

from kcs.client import ClientError
from kcs.core import ApiError
from kcs.leaderelection._context import Election
from kcs.leaderelection._events import ElectionEventKind
from kcs.leaderelection._identity import candidate_lease_name
from kcs.leaderelection._lock import LEASES
from kcs.leaderelection._observe import Observation
from kcs.leaderelection._record import ANNOTATION_LIVENESS

__all__ = [
    "CrashDetection",
    "Endpoint",
    "HolderMonitor",
    "LivenessEndpoint",
    "parse_endpoint",
]

_log = logging.getLogger("kcs.leaderelection")

_GREETING: Final = b"kcs-liveness/1 "
_MAX_GREETING: Final = 128
_MAX_CONNECTIONS: Final = 256
_PROBES: Final = 8
_PROBE_DELAY: Final = 0.005


@dataclass(frozen=True, slots=True)
class CrashDetection:
    """Take the lease at once when its holder's process is gone, instead of waiting out
    the lease (opt-in: it opens a TCP port).

    The replica listens on ``host:port`` (``port=0``: any free port) and advertises
    ``advertise`` (an IP address, optionally ``ip:port``; default ``host`` and the bound
    port) in its candidate Lease. Other replicas must reach that address directly: a pod
    IP, never a Service or a proxy. In a pod, listen on ``"0.0.0.0"`` and advertise the
    pod IP (``status.podIP`` through the downward API).

    ``connect_timeout`` bounds each connection attempt and the wait for the greeting.

    Safety rests on one assumption about the network between the replicas: nothing
    between them *rejects* their packets (a firewall rule with REJECT, which answers with
    a TCP reset or an ICMP port-unreachable) rather than dropping them. See
    ``docs/leader-election.md``.
    """

    host: str = "127.0.0.1"
    port: int = 0
    advertise: str | None = None
    connect_timeout: float = 1.0

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0..65535, not {self.port!r}")
        if not self.connect_timeout > 0:
            raise ValueError(f"connect_timeout must be positive, not {self.connect_timeout!r}")
        if self.advertise is None:
            if _ip(self.host) is None or _ip(self.host).is_unspecified:  # type: ignore[union-attr]
                raise ValueError(
                    f"listening on {self.host!r}: give advertise=<the IP other replicas "
                    "reach this one at> (for a pod, its status.podIP)"
                )
        else:
            host, _, port = _split(self.advertise)
            ip = _ip(host)
            if ip is None or ip.is_unspecified:
                raise ValueError(f"advertise must be an IP address (optionally ip:port), "
                                 f"not {self.advertise!r}")
            if port and not port.isdigit():
                raise ValueError(f"advertise has a bad port: {self.advertise!r}")


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _split(address: str) -> tuple[str, str, str]:
    """``(host, ":", port)`` of ``ip``, ``ip:port``, ``[v6]`` or ``[v6]:port``."""
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        return host, ":" if rest.startswith(":") else "", rest[1:]
    if address.count(":") > 1:  # a bare IPv6 address
        return address, "", ""
    host, colon, port = address.partition(":")
    return host, colon, port


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A liveness endpoint as advertised: where it listens, and the nonce of its run."""

    host: str
    port: int
    nonce: str

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port} {self.nonce}"


def parse_endpoint(text: str) -> Endpoint | None:
    """The endpoint in an :data:`ANNOTATION_LIVENESS` value, or ``None`` if it is not one
    (a value kcs cannot read proves nothing, so it is ignored)."""
    address, _, nonce = text.strip().partition(" ")
    host, _, port = _split(address)
    if _ip(host) is None or not port.isdigit() or not 0 < int(port) <= 65535:
        return None
    if not nonce or len(nonce) > 64 or not nonce.isalnum():
        return None
    return Endpoint(host, int(port), nonce)


class LivenessEndpoint:
    """This replica's liveness endpoint: a TCP listener that greets every connection
    with its nonce and then keeps it open, sending nothing more.

    Guarantee: the listening socket is closed only by :meth:`serve` ending (cancelled or
    failed), and ``before_close`` (which must close the fence of any leader-only work) is
    called before it is; after that :attr:`closed` is true for good.
    """

    def __init__(self, config: CrashDetection, before_close: Callable[[], None]) -> None:
        self.config = config
        self.nonce = secrets.token_hex(12)
        self._before_close = before_close
        self._listener: anyio.abc.Listener[anyio.abc.SocketStream] | None = None
        self.endpoint: Endpoint | None = None
        """Where others connect (set by :meth:`open`)."""
        self.listening: tuple[str, int] | None = None
        """The address the socket is bound to (set by :meth:`open`)."""
        self.closed = False
        self._connections = 0

    async def open(self) -> Endpoint:
        """Bind the listening socket (raises ``OSError`` if it cannot)."""
        cfg = self.config
        listener = await anyio.create_tcp_listener(local_host=cfg.host, local_port=cfg.port)
        self._listener = listener
        bound = listener.listeners[0].extra(anyio.abc.SocketAttribute.local_port)
        self.listening = (cfg.host, bound)
        host, port = cfg.host, str(bound)
        if cfg.advertise is not None:
            adv_host, _, adv_port = _split(cfg.advertise)
            host, port = adv_host, adv_port or port
        self.endpoint = Endpoint(host, int(port), self.nonce)
        return self.endpoint

    async def serve(self) -> None:
        """Accept and greet connections until cancelled; then (or if accepting fails)
        call ``before_close`` and close the socket."""
        listener = self._listener
        if listener is None:
            raise RuntimeError("open() the liveness endpoint first")
        try:
            await listener.serve(self._handle)
        finally:
            self.closed = True
            self._before_close()
            with anyio.CancelScope(shield=True):
                await listener.aclose()

    async def _handle(self, stream: anyio.abc.SocketStream) -> None:
        async with stream:
            if self._connections >= _MAX_CONNECTIONS:
                return
            self._connections += 1
            try:
                await stream.send(_GREETING + self.nonce.encode() + b"\n")
                async for _ in stream:  # nothing is expected; wait for the peer to go
                    pass
            except (anyio.BrokenResourceError, anyio.EndOfStream, OSError):
                pass
            finally:
                self._connections -= 1


@dataclass(frozen=True, slots=True)
class _Proof:
    holder: str
    key: bytes


class HolderMonitor:
    """A standby's watch on the holder's liveness endpoint (see the module docstring).

    :meth:`proves_gone` answers, for one observation of the lease, whether its holder is
    proved gone: a connection to the holder's advertised endpoint was refused after that
    endpoint had greeted this replica with the same nonce, while this observation was
    the current one.
    """

    def __init__(self, election: Election, config: CrashDetection) -> None:
        self.election = election
        self.config = config
        self._verified: set[Endpoint] = set()
        self._proof: _Proof | None = None
        self._holder = ""
        self._endpoint: Endpoint | None = None
        self._stream: anyio.abc.SocketStream | None = None
        self._ended = False
        self._probes = _PROBES

    def proves_gone(self, obs: Observation) -> bool:
        """Whether the holder of ``obs`` is proved gone (see above)."""
        p = self._proof
        return (
            p is not None and obs.record is not None
            and p.holder == obs.holder and p.key == obs.record.key
        )

    async def run(self) -> None:
        """Follow the holder until cancelled."""
        el = self.election
        try:
            async with anyio.create_task_group() as tg:
                while True:
                    armed = el.wakeup.arm()
                    obs = el.observer.current
                    holder = obs.holder if obs is not None and obs.lease is not None else ""
                    if holder != self._holder:
                        await self._disconnect()
                        self._holder, self._endpoint = holder, None
                    if (
                        obs is None or obs.record is None or not holder
                        or holder == el.identity or self.proves_gone(obs)
                    ):
                        wait = float("inf")
                    else:
                        wait = await self._step(tg, obs)
                    await el.wakeup.sleep(armed, wait)
        finally:
            await self._disconnect()

    async def _step(self, tg: anyio.abc.TaskGroup, obs: Observation) -> float:
        """One step of following the holder of ``obs``; how long to wait for the next."""
        el = self.election
        holder = self._holder
        if self._endpoint is None:
            self._endpoint = await self._endpoint_of(holder)
            if self._endpoint is None:
                return el.timings.candidate_renew_period
        endpoint = self._endpoint
        if self._stream is not None and not self._ended:
            return float("inf")  # connected: woken when it ends or the lease changes
        if self._stream is not None:
            self._probes = 0  # the connection just ended: probe promptly
        await self._disconnect()
        outcome, stream = await self._connect(endpoint)
        if outcome == "greeted":
            assert stream is not None
            self._verified.add(endpoint)
            self._probes = _PROBES
            self._stream, self._ended = stream, False
            tg.start_soon(self._until_closed, stream)
            el.emit(ElectionEventKind.WATCHING_HOLDER, holder=holder, detail=str(endpoint))
            return float("inf")
        if outcome == "refused" and endpoint in self._verified:
            assert obs.record is not None
            self._proof = _Proof(holder, obs.record.key)
            _log.warning("%s: the liveness endpoint of the holder %r (%s) refused a "
                         "connection after greeting us: its process is gone", el.who,
                         holder, endpoint)
            el.emit(ElectionEventKind.HOLDER_CRASHED, holder=holder)
            el.wakeup.notify()
            return float("inf")
        if outcome == "refused":
            # It never greeted us: a wrong address, or a holder that died before we met
            # it. That proves nothing about the holder; the lease is waited out.
            self._endpoint = None
            return el.timings.candidate_renew_period
        if self._probes < _PROBES:
            # Right after the connection ended: a dying process's kernel closes its
            # sockets one by one, so the listener may still complete a connection it is
            # about to reset. Try again soon, a few times.
            self._probes += 1
            return min(_PROBE_DELAY * 2.0**self._probes, el.timings.retry_period)
        return el.timings.retry_wait()

    async def _endpoint_of(self, holder: str) -> Endpoint | None:
        el = self.election
        try:
            with anyio.fail_after(el.timings.request_timeout):
                lease = await el.client.get(
                    LEASES, candidate_lease_name(el.name, holder), el.namespace
                )
        except (ApiError, ClientError, TimeoutError) as e:
            _log.debug("%s: could not read the candidate Lease of %r: %s", el.who, holder, e)
            return None
        if lease is None:
            return None
        spec = lease.get("spec")
        if not isinstance(spec, dict) or spec.get("holderIdentity") != holder:
            return None
        text = lease.annotations.get(ANNOTATION_LIVENESS)
        return parse_endpoint(text) if text else None

    async def _connect(
        self, endpoint: Endpoint
    ) -> tuple[str, anyio.abc.SocketStream | None]:
        """``("greeted", stream)``, ``("refused", None)`` or ``("failed", None)``."""
        try:
            with anyio.fail_after(self.config.connect_timeout):
                stream = await anyio.connect_tcp(endpoint.host, endpoint.port)
        except OSError as e:
            return ("refused" if _refused(e) else "failed"), None
        except TimeoutError:
            return "failed", None
        try:
            with anyio.fail_after(self.config.connect_timeout):
                greeting = await _read_line(stream)
        except (TimeoutError, OSError, anyio.BrokenResourceError, anyio.EndOfStream):
            greeting = b""
        if greeting == _GREETING + endpoint.nonce.encode():
            return "greeted", stream
        await _close(stream)
        return "failed", None

    async def _until_closed(self, stream: anyio.abc.SocketStream) -> None:
        with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            async for _ in stream:
                pass
        if stream is self._stream:
            self._ended = True
            self.election.wakeup.notify()

    async def _disconnect(self) -> None:
        stream, self._stream = self._stream, None
        self._ended = False
        await _close(stream)


def _refused(error: BaseException) -> bool:
    """Whether ``error`` (from ``anyio.connect_tcp``) is a refusal of the connection."""
    seen: BaseException | None = error
    for _ in range(4):
        if isinstance(seen, ConnectionRefusedError):
            return True
        if seen is None:
            return False
        seen = seen.__cause__
    return False


async def _read_line(stream: anyio.abc.SocketStream) -> bytes:
    data = b""
    while b"\n" not in data and len(data) <= _MAX_GREETING:
        data += await stream.receive(_MAX_GREETING)
    return data.partition(b"\n")[0]


async def _close(stream: anyio.abc.SocketStream | None) -> None:
    if stream is not None:
        with anyio.CancelScope(shield=True):
            await stream.aclose()
