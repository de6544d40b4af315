"""The standby's side of the crash signal: following the holder's liveness endpoint.

A standby connects to the liveness endpoint the holder advertises in its candidate Lease,
checks the greeting (the holder's nonce), and holds the connection. When it ends, the
standby connects again at once; a refusal from an endpoint that greeted it is the proof
that the holder's process is gone (see :mod:`kcs.leaderelection._liveness` for why it is
safe). The proof is bound to the exact content of the lease observed when it was made,
so a takeover it allows is preconditioned on that content.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

import anyio
import anyio.abc

from kcs.client import ClientError
from kcs.core import ApiError
from kcs.leaderelection._context import Election
from kcs.leaderelection._events import ElectionEventKind
from kcs.leaderelection._identity import candidate_lease_name
from kcs.leaderelection._liveness import (
    _PROBE_DELAY,
    _PROBES,
    CrashDetection,
    Endpoint,
    close_stream,
    connect,
    parse_endpoint,
)
from kcs.leaderelection._lock import LEASES
from kcs.leaderelection._observe import Observation
from kcs.leaderelection._record import ANNOTATION_LIVENESS

__all__ = ["HolderMonitor"]

_log = logging.getLogger("kcs.leaderelection")


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
        return await connect(endpoint, self.config.connect_timeout)

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
        await close_stream(stream)
