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
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import anyio
import anyio.abc

__all__ = [
    "GREETING",
    "CrashDetection",
    "Endpoint",
    "LivenessEndpoint",
    "close_stream",
    "connect",
    "parse_endpoint",
    "wait_until_gone",
]

_log = logging.getLogger("kcs.leaderelection")

GREETING: Final = b"kcs-liveness/1 "
"""The first bytes of the line a liveness endpoint greets each connection with; the nonce
and a newline follow."""
_MAX_CONNECTIONS: Final = 256
_MAX_GREETING: Final = 128
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
        # Whatever a peer does to its connection must never end the endpoint (that would
        # close the listener: a false crash signal is avoided only because the fence
        # closes first, but the replica would stop campaigning for nothing).
        if self._connections >= _MAX_CONNECTIONS:
            with contextlib.suppress(Exception):
                await stream.aclose()
            return
        self._connections += 1
        try:
            await stream.send(GREETING + self.nonce.encode() + b"\n")
            async for _ in stream:  # nothing is expected; wait for the peer to go
                pass
        except Exception as e:  # a reset, a broken pipe, anything else of the peer's
            _log.debug("liveness connection ended: %s", type(e).__name__)
        finally:
            self._connections -= 1
            with contextlib.suppress(Exception):
                await stream.aclose()


# -- the follower's side: connecting, and proving an endpoint gone ------------------------


async def connect(
    endpoint: Endpoint, step_timeout: float
) -> tuple[str, anyio.abc.SocketStream | None]:
    """One connection attempt to ``endpoint``: ``("greeted", stream)`` when it greeted
    with its nonce (the caller owns the stream), ``("refused", None)`` when the
    connection was refused, ``("failed", None)`` for anything else (a timeout, an
    unreachable address, a wrong or missing greeting). Each step (the connection, the
    greeting) is bounded by ``step_timeout``."""
    try:
        with anyio.fail_after(step_timeout):
            stream = await anyio.connect_tcp(endpoint.host, endpoint.port)
    except OSError as e:
        return ("refused" if _refused(e) else "failed"), None
    except TimeoutError:
        return "failed", None
    try:
        with anyio.fail_after(step_timeout):
            greeting = await _read_line(stream)
    except (TimeoutError, OSError, anyio.BrokenResourceError, anyio.EndOfStream):
        greeting = b""
    if greeting == GREETING + endpoint.nonce.encode():
        return "greeted", stream
    await close_stream(stream)
    return "failed", None


async def wait_until_gone(
    endpoint: Endpoint,
    config: CrashDetection,
    *,
    retry: float = 1.0,
    on_greeted: Callable[[], None] | None = None,
) -> None:
    """Return once ``endpoint`` is proved gone; until then hold a connection to it.

    The proof is the one :class:`LivenessEndpoint` makes safe: the endpoint greeted this
    call with its nonce, and later refused a connection. Everything else proves nothing
    and is retried: a refusal before any greeting (a wrong address, or an endpoint not
    open yet) every ``retry`` seconds, a timeout or a failed greeting likewise. When a
    held connection ends, the endpoint is probed at once and a few more times over about
    2.5 s (a dying process's kernel closes its sockets one by one, so its listener may
    still accept a connection it is about to reset); an endpoint that greets and hangs
    up at once is not called again more often than every ``retry`` seconds.
    ``on_greeted`` is called at each greeting. Cancel the call to stop following."""
    greeted = False
    probes = _PROBES
    last_greeting = -math.inf
    while True:
        outcome, stream = await connect(endpoint, config.connect_timeout)
        if outcome == "greeted":
            assert stream is not None
            if anyio.current_time() - last_greeting < retry:
                await close_stream(stream)  # it hung up on the last greeting at once
                await anyio.sleep(retry)
                continue
            greeted, probes = True, 0
            last_greeting = anyio.current_time()
            if on_greeted is not None:
                on_greeted()
            try:
                with contextlib.suppress(
                    anyio.BrokenResourceError, anyio.ClosedResourceError, OSError
                ):
                    async for _ in stream:
                        pass
            finally:
                await close_stream(stream)
            continue  # the connection ended: probe at once
        if outcome == "refused" and greeted:
            return
        if probes < _PROBES:
            probes += 1
            await anyio.sleep(min(_PROBE_DELAY * 2.0**probes, retry))
        else:
            await anyio.sleep(retry)


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


async def close_stream(stream: anyio.abc.SocketStream | None) -> None:
    """Close ``stream`` (if any), shielded from cancellation."""
    if stream is not None:
        with anyio.CancelScope(shield=True):
            await stream.aclose()
