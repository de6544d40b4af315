"""The manager: caches on every replica, controllers only on the leader, health, shutdown."""

from __future__ import annotations

import logging
import signal
from collections.abc import Sequence

import anyio
import anyio.abc

from kcs.client import NOOP_OBSERVER, Client
from kcs.controller import Controller, ControllerMetrics, EventRecorder, Runner
from kcs.core import ObjectKey
from kcs.informer import InformerFactory
from kcs.leaderelection import (
    AUTO,
    CrashDetection,
    ElectionEventHandler,
    ElectionTimings,
    LeaderElector,
    Leadership,
    Successor,
    default_identity,
)
from kcs.manager._health import HealthServer, HealthStatus
from kcs.observability import ClientTelemetry, LeaderTelemetry
from kcs.sharding import Shard, Sharding, ShardLost
from kcs.workqueue import WorkQueue

__all__ = ["Manager"]

_log = logging.getLogger("kcs.manager")


class Manager:
    """Runs a replica: informers always, controllers only while this replica leads.

    ``client`` serves the informers and the controllers; the manager owns
    :attr:`informers` (an :class:`~kcs.informer.InformerFactory`): :meth:`add` a
    controller and its sources' informers are requested there at once, so they warm up
    on every replica. With ``lease_name`` the controllers are gated on a
    :class:`~kcs.leaderelection.LeaderElector` for that Lease (give it its own
    ``election_client`` so renewals never queue behind controller traffic); without one
    this replica always leads.

    Guarantees:

    * **Warm standby.** The informers run on every replica from the start, so a standby's
      caches are synced before it leads; once they are, the replica publishes itself as a
      synced candidate (eligible to be handed the lease) and reports ready.
    * **No lost work at takeover.** A new leader starts each controller afresh; the
      controller queues every cached key (at low priority, behind live changes), so every
      object is reconciled at least once by the new leader. Reconciles are level-based, so
      this covers whatever the old leader had not finished. It does not relist.
    * **Fenced.** Controllers run inside the elector's fence: they are cancelled before
      any other replica could take the lease, and every request they make is refused
      (:class:`~kcs.client.FencedError`) once the fence has closed, checked right before
      it is written (see :class:`~kcs.leaderelection.LeaderElector`).
    * **Crash failover** (``crash_detection``): a standby replaces a leader whose process
      died at once instead of waiting out its lease
      (:class:`~kcs.leaderelection.CrashDetection`).
    * **Graceful shutdown** (:meth:`shutdown`, or SIGTERM/SIGINT when ``handle_signals``):
      readiness turns false; the queues stop handing out keys; reconciles in flight get
      ``drain_timeout`` seconds to finish, then are cancelled; only then is the Lease
      handed to ``successor`` (:data:`~kcs.leaderelection.AUTO`: the freshest synced
      standby) or released, so a standby takes over at once. Everything is over within
      ``shutdown_timeout`` seconds; past it the work is cancelled and the Lease expires
      on its own. A second signal cancels at once.
    * **Health** on ``health_host:health_port`` (127.0.0.1 by default; ``health_port=None``
      turns it off): see :class:`~kcs.manager.HealthServer`.
    * **Sharding** (opt-in, ``sharding=``:class:`~kcs.sharding.Sharding`): the
      controllers added run on *every* replica, each as a shard reconciling only the
      objects assigned to it (its informers select its label); the leader also runs the
      :class:`~kcs.sharding.Sharder` as leader-only work. A shard joins (creates its
      shard Lease) when :meth:`run` starts, leaves (deletes it) on graceful shutdown after
      its reconciles have finished, and :meth:`run` raises
      :class:`~kcs.sharding.ShardLost` if its shard fence closes (restart the process to
      rejoin). ``add(..., sharded=False)`` keeps a controller leader-only. Without
      ``sharding`` nothing changes. See docs/sharding.md.
    """

    def __init__(
        self,
        client: Client,
        *,
        lease_name: str | None = None,
        namespace: str | None = None,
        identity: str | None = None,
        timings: ElectionTimings | None = None,
        election_client: Client | None = None,
        informers: InformerFactory | None = None,
        health_host: str = "127.0.0.1",
        health_port: int | None = 0,
        drain_timeout: float = 10.0,
        shutdown_timeout: float = 30.0,
        successor: Successor = AUTO,
        handle_signals: bool = True,
        on_event: ElectionEventHandler | None = None,
        crash_detection: CrashDetection | None = None,
        sharding: Sharding | None = None,
    ) -> None:
        self.client = client
        _install_client_telemetry(client, election_client)
        if lease_name is not None:
            on_event = LeaderTelemetry(lease_name, inner=on_event)
        self.informers = informers if informers is not None else InformerFactory(client)
        """The informers every replica runs; controllers request theirs here."""
        self.runners: list[Runner] = []
        """The runners of the leader-only controllers, in the order they were added."""
        self.sharded_runners: list[Runner] = []
        """The runners of the sharded controllers (they run on every replica)."""
        elector = None
        if lease_name is not None:
            elector = LeaderElector(
                election_client or client, lease_name, namespace=namespace,
                identity=identity, timings=timings, on_started_leading=self._lead,
                on_event=on_event, crash_detection=crash_detection,
            )
        self.elector = elector
        """The elector gating the controllers (``None``: this replica always leads)."""
        self.identity = elector.identity if elector is not None else (identity or "")
        if sharding is not None and not self.identity:
            self.identity = default_identity()
        self.shard = (
            Shard(client, sharding, self.identity, lease_client=election_client)
            if sharding is not None else None
        )
        """This replica as a shard (``None``: not sharded)."""
        self.drain_timeout = drain_timeout
        self.shutdown_timeout = shutdown_timeout
        self.successor: Successor = successor
        self.handle_signals = handle_signals
        self.health = (
            HealthServer(self.status, host=health_host, port=health_port)
            if health_port is not None else None
        )
        self._running = False
        self._synced = False
        self._shutting_down = False
        self._stop = anyio.Event()
        self._finished = anyio.Event()
        self.started = anyio.Event()
        """Set once :meth:`run` has started the informers and the health endpoints listen."""
        self._handed_to: str | None = None
        # The work queues of the term that is ending, held until the Lease is written:
        # freeing what they dropped (about 30 ms for 100,000 keys) must not delay it.
        self._retired_queues: list[WorkQueue[ObjectKey]] = []
        self._term = 0
        self._leading_without_election = False
        self._shard_done = anyio.Event()
        self._shard_lost: ShardLost | None = None

    # -- building -----------------------------------------------------------------------

    def add(
        self,
        controller: Controller,
        *,
        events: EventRecorder | None = None,
        metrics: ControllerMetrics | None = None,
        sharded: bool | None = None,
    ) -> Runner:
        """Run ``controller`` whenever this replica leads; returns its
        :class:`~kcs.controller.Runner` (its stats, queue and informers).

        Calls ``controller.setup()`` now, requesting its informers from
        :attr:`informers`, so that its caches warm up on every replica. Add controllers
        before :meth:`run`. In a sharded manager the controller runs as a shard on every
        replica unless ``sharded=False`` (then it is leader-only, as without sharding)."""
        if self._running:
            raise RuntimeError("add controllers before Manager.run()")
        if sharded and self.shard is None:
            raise ValueError("sharded=True needs Manager(sharding=...)")
        if self.shard is not None and sharded is not False:
            runner = self.shard.runner(
                controller, self.informers, events=events, identity=self.identity,
                metrics=metrics,
            )
            self.sharded_runners.append(runner)
            return runner
        runner = Runner(
            controller, self.client, self.informers, events=events, identity=self.identity,
            metrics=metrics,
        )
        self.runners.append(runner)
        return runner

    # -- state --------------------------------------------------------------------------

    @property
    def synced(self) -> bool:
        """Whether every informer has synced (stays true)."""
        return self._synced

    @property
    def ready(self) -> bool:
        """Synced, running and not shutting down: what ``/readyz`` reports."""
        return self._running and self._synced and not self._shutting_down

    @property
    def is_leader(self) -> bool:
        """Whether this replica's controllers may run now."""
        if self.elector is None:
            return self._leading_without_election
        return self.elector.is_leader

    @property
    def handed_to(self) -> str | None:
        """After a graceful shutdown: the identity the lease was handed to, if any."""
        return self._handed_to

    def status(self) -> HealthStatus:
        """The replica's health as the endpoints report it."""
        reason = ""
        if not self._running:
            reason = "not running"
        elif self._shutting_down:
            reason = "shutting down"
        elif not self._synced:
            reason = f"caches not synced: {self.informers.not_synced_reason or 'syncing'}"
        elector = self.elector
        leadership = elector.leadership if elector is not None else None
        return HealthStatus(
            alive=self._running,
            ready=self.ready,
            reason=reason,
            identity=self.identity,
            leader=elector.leader if elector is not None else (
                self.identity if self._leading_without_election else None),
            is_leader=self.is_leader,
            term=leadership.term if leadership is not None else self._term,
            synced=self._synced,
            lease_transitions=elector.transitions if elector is not None else 0,
        )

    # -- running ------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until :meth:`shutdown` has completed (or a signal asked for it), or until
        cancelled (then the work is cancelled and the elector releases the lease, shielded,
        within its renew deadline). A sharded manager whose shard fence closed shuts down
        gracefully and then raises :class:`~kcs.sharding.ShardLost`."""
        if self._running:
            raise RuntimeError("this manager is already running")
        if self.shard is not None and self.shard.joined.is_set():
            raise RuntimeError("a sharded manager runs once: start a new process to rejoin")
        self._running = True
        self._finished = anyio.Event()
        self._shutting_down = False
        try:
            if self.health is not None:
                await self.health.start()
            async with anyio.create_task_group() as tg:
                tg.start_soon(self.informers.run)
                self.started.set()
                tg.start_soon(self._sync)
                if self.handle_signals:
                    tg.start_soon(self._signals, tg.cancel_scope)
                if self.shard is not None:
                    tg.start_soon(self._run_shard, self.shard)
                if self.elector is not None:
                    await self._run_elected()
                else:
                    await self._run_unelected()
                if self.shard is not None:
                    with anyio.move_on_after(self.shutdown_timeout):
                        await self._shard_done.wait()
                tg.cancel_scope.cancel()
        finally:
            self._retired_queues.clear()  # after the Lease was written, if it was
            self._running = False
            self._finished.set()
            if self.health is not None:
                with anyio.CancelScope(shield=True):
                    await self.health.stop()
        if self._shard_lost is not None:
            raise self._shard_lost

    async def shutdown(self, successor: Successor | str | None = None) -> str | None:
        """Ask :meth:`run` to stop gracefully and wait until it has; returns the identity
        the lease was handed to (``None``: released, or this replica did not lead).
        ``successor`` overrides the manager's :attr:`successor` (pass ``"none"`` to
        release without a hand-off)."""
        if successor is not None:
            self.successor = None if successor == "none" else successor
        self._shutting_down = True
        self._stop.set()
        if self._running:
            await self._finished.wait()
        return self._handed_to

    async def _run_elected(self) -> None:
        elector = self.elector
        assert elector is not None
        async with anyio.create_task_group() as tg:
            tg.start_soon(elector.run)
            await self._stop.wait()
            self._shutting_down = True
            _log.info("%s: shutting down", self.identity)
            with anyio.move_on_after(self.shutdown_timeout) as scope:
                self._handed_to = await elector.release(
                    self.successor, drain_timeout=self.drain_timeout
                )
            if scope.cancelled_caught:
                _log.warning("%s: shutdown took longer than %ss; cancelling", self.identity,
                             self.shutdown_timeout)
            tg.cancel_scope.cancel()
        if self._handed_to:
            _log.info("%s: handed the lease to %s", self.identity, self._handed_to)

    async def _run_shard(self, shard: Shard) -> None:
        try:
            left = await shard.run(self._stop, self.drain_timeout)
        except ShardLost as lost:
            # The shard's work has stopped for good: give up leadership gracefully too,
            # then let run() raise it.
            _log.error("%s: %s", self.identity, lost)
            self._shard_lost = lost
            self._shutting_down = True
            self._stop.set()
            return
        finally:
            self._shard_done.set()
        _log.info("%s: %s ring %s", self.identity, "left" if left else "stopped in",
                  shard.sharding.ring)

    async def _run_unelected(self) -> None:
        self._leading_without_election = True
        self._term = 1
        try:
            await self._run_controllers(self._stop)
        finally:
            self._leading_without_election = False

    async def _sync(self) -> None:
        await self.informers.wait_synced()
        self._synced = True
        sizes = sum(len(i.lister) for i in self.informers.informers)
        _log.info("%s: caches synced (%d objects)", self.identity, sizes)
        if self.elector is not None:
            await self.elector.set_synced(True)

    async def _signals(self, scope: anyio.CancelScope) -> None:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for signum in signals:
                if self._shutting_down:
                    _log.warning("%s: second signal; stopping now", self.identity)
                    scope.cancel()
                    return
                _log.info("%s: %s received", self.identity, signal.Signals(signum).name)
                self._shutting_down = True
                self._stop.set()

    async def _lead(self, leadership: Leadership) -> None:
        self._term = leadership.term
        _log.info("%s: leading (term %d); starting %d controllers", self.identity,
                  leadership.term, len(self.runners))
        try:
            await self._run_controllers(leadership.stopping)
        finally:
            if not self._shutting_down:  # leadership lost: no hand-off to hurry
                self._retired_queues.clear()

    async def _run_controllers(self, stopping: anyio.Event) -> None:
        """Run the controllers (and the sharder) until ``stopping`` is set, then drain."""
        async with anyio.create_task_group() as tg:
            if self.shard is not None:
                tg.start_soon(self.shard.run_sharder)
            for runner in self.runners:
                tg.start_soon(runner.run)
            await stopping.wait()
            with anyio.move_on_after(self.drain_timeout) as scope:
                await _drain(self.runners, self._retired_queues)
            if scope.cancelled_caught:
                _log.warning("%s: reconciles still running after %ss; cancelling them",
                             self.identity, self.drain_timeout)
            tg.cancel_scope.cancel()


async def _drain(runners: Sequence[Runner], retired: list[WorkQueue[ObjectKey]]) -> None:
    """Stop handing out keys and wait until the reconciles in flight have finished;
    each queue is added to ``retired``, which keeps what it dropped alive."""
    async with anyio.create_task_group() as tg:
        for runner in runners:
            queue = runner.queue
            if queue is not None:
                retired.append(queue)
                tg.start_soon(_drain_queue, queue)


async def _drain_queue(queue: WorkQueue[ObjectKey]) -> None:
    await queue.shut_down_with_drain(None, drop_waiting=True)


def _install_client_telemetry(*clients: Client | None) -> None:
    """Give each client without an observer a :class:`ClientTelemetry` (no-op without SDK)."""
    for client in clients:
        if client is not None and client.observer is NOOP_OBSERVER:
            client.observer = ClientTelemetry()
