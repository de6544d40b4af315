"""The Controller base class: a level-based reconcile loop over keys.

Subclass :class:`Controller`, declare sources in :meth:`Controller.setup` and write
:meth:`Controller.reconcile`. ``await controller.run()`` runs it until cancelled; the
manager runs it only on the leader and cancels it when leadership is lost.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from typing import ClassVar

import anyio

from kcs.client import Client, HedgedReads
from kcs.controller._client import ControllerClient
from kcs.controller._events import EventRecorder
from kcs.controller._metrics import (
    ControllerMetrics,
    ControllerStats,
    Outcome,
)
from kcs.controller._predicates import Predicate
from kcs.controller._result import Result, TerminalError
from kcs.controller._sources import Builder, MapFunc, Source
from kcs.controller._writes import WriteTracker
from kcs.core import Object, Resource
from kcs.core._key import ObjectKey
from kcs.informer import HandlerRegistration, Informer, InformerFactory, ResourceEventHandler
from kcs.observability import QueueTelemetry, ReconcileTelemetry, observe_queue, reconcile_span
from kcs.workqueue import Priority, QueueMetrics, RateLimiter, WorkQueue, run_workers

__all__ = ["Controller"]

_log = logging.getLogger("kcs.controller")

# Seconds after which a controller still waiting for a cache to sync says so.
_SYNC_WARNING_AFTER = 30.0


class _Enqueue(ResourceEventHandler):
    """Turns one source's events into keys in the work queue (sync: never blocks)."""

    def __init__(self, queue: WorkQueue[ObjectKey], source: Source) -> None:
        self._queue = queue
        self._keys: MapFunc = source.keys
        self._predicate: Predicate = source.predicate

    def on_add(self, obj: Object, is_initial: bool) -> None:
        if self._predicate.on_add(obj):
            priority = Priority.LOW if is_initial else Priority.NORMAL
            for key in self._keys(obj):
                self._queue.add(key, priority)

    def on_update(self, old: Object, new: Object) -> None:
        if self._predicate.on_update(old, new):
            for key in {*self._keys(old), *self._keys(new)}:
                self._queue.add(key, Priority.NORMAL)

    def on_delete(self, obj: Object) -> None:
        if self._predicate.on_delete(obj):
            for key in self._keys(obj):
                self._queue.add(key, Priority.NORMAL)


def _is_terminal(exc: BaseException) -> bool:
    if isinstance(exc, TerminalError):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return all(_is_terminal(e) for e in exc.exceptions)
    return False


class Controller:
    """Base class of a controller: subclass it, declare sources, write ``reconcile``.

    .. code-block:: python

        class ReplicaSetScaler(Controller):
            def setup(self, builder: Builder) -> None:
                builder.for_(DEPLOYMENTS, predicates=[GenerationChanged()])
                builder.owns(REPLICASETS)

            async def reconcile(self, key: ObjectKey) -> Result | None:
                deployment = self.get(key)
                if deployment is None:
                    return None  # gone: owned objects are garbage collected
                ...

    Guarantees:

    * **Level-based**: ``reconcile`` gets a key, never an event, and reads the current
      state from the caches. Events for a key that arrive while it waits are merged; a
      key is never reconciled by two workers at once; one that changes while it is being
      reconciled is reconciled again afterwards.
    * **Outcomes**: ``None``/``Result()`` forgets the key's failures; ``Result(
      requeue_after=s)`` reconciles it again in ``s`` seconds; ``Result(requeue=True)``
      and any exception retry it with per-key exponential backoff (5 ms doubling to
      1000 s, within an overall 10/s, burst 100); :class:`TerminalError` is logged and not
      retried.
    * **Timeout**: each reconcile runs under ``anyio.fail_after(reconcile_timeout)``;
      every API call inside it inherits that deadline and its cancellation.
    * **Read your writes**: writes made through :attr:`client` during a reconcile are
      remembered; before that key is reconciled again, the controller waits (at most
      ``read_your_writes_timeout`` seconds, then goes ahead) until the caches that will
      see those writes have. ``None`` turns it off.
    * **Start**: workers start once every source's informer has synced; the keys of the
      initial list are queued at low priority, live changes at normal priority, so a
      fresh change does not wait behind the whole initial list.
    * **Stop**: cancelling :meth:`run` cancels the reconciles in flight at once (their
      HTTP requests are aborted) and returns; nothing keeps running. ``run`` may be
      called again later (a new leadership term), with a fresh queue.

    Options are class attributes; a subclass sets them, or an instance overrides them
    before :meth:`run`.
    """

    name: ClassVar[str] = ""
    """The controller's name in logs, Events and metrics (default: the class name)."""
    max_concurrent_reconciles: int = 1
    """Workers: how many different keys may be reconciled at the same time."""
    reconcile_timeout: float | None = 60.0
    """Seconds one reconcile may take; ``None``: no limit."""
    read_your_writes_timeout: float | None = 5.0
    """Longest wait for the caches to see a key's own writes; ``None``: do not wait."""

    def __init__(
        self,
        client: Client,
        informers: InformerFactory,
        *,
        events: EventRecorder | None = None,
        rate_limiter: RateLimiter[ObjectKey] | None = None,
        hedged_reads: HedgedReads | None = None,
        metrics: ControllerMetrics | None = None,
        queue_metrics: QueueMetrics | None = None,
    ) -> None:
        """Declare the sources (``setup`` runs here) and request their informers.

        The informers are requested from ``informers`` now, so that they warm up wherever
        the factory runs (on standby replicas too); reconciling starts with :meth:`run`.
        ``events``: a shared recorder (run it yourself); by default the controller makes
        one and runs it with itself. ``hedged_reads``: answer :attr:`client`'s live reads
        with hedged requests.
        """
        self.controller_name = self.name or type(self).__name__
        self.informers = informers
        self.stats = ControllerStats()
        builder = Builder(informers)
        self.setup(builder)
        if builder.primary is None or not builder.sources:
            raise ValueError(f"{self.controller_name}.setup() must call builder.for_()")
        self.sources: tuple[Source, ...] = tuple(builder.sources)
        self._tracker = WriteTracker(builder.primary)
        for source in self.sources:
            self._tracker.track(source.informer)
        self.client = ControllerClient(client, self._tracker, hedged=hedged_reads)
        self._own_events = events is None
        self.events = events if events is not None else EventRecorder(
            client, self.controller_name
        )
        self._rate_limiter = rate_limiter
        self._metrics: ControllerMetrics = metrics if metrics is not None else ReconcileTelemetry()
        self._queue_metrics = (
            queue_metrics if queue_metrics is not None else QueueTelemetry(self.controller_name)
        )
        self._queue: WorkQueue[ObjectKey] | None = None
        self._started = False

    # -- to override ----------------------------------------------------------------------

    def setup(self, builder: Builder) -> None:
        """Declare the sources: one ``builder.for_(...)``, any ``owns``/``watches``."""
        raise NotImplementedError(f"{type(self).__name__} must implement setup()")

    async def reconcile(self, key: ObjectKey) -> Result | None:
        """Make the world match the desired state of the object ``key`` names.

        Read from the caches (:meth:`get`, :meth:`lister`); write with :attr:`client`.
        The object may be gone (``self.get(key)`` is ``None``). Must be idempotent: it
        runs again after errors, after changes, and after restarts.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement reconcile()")

    # -- reading --------------------------------------------------------------------------

    @property
    def primary(self) -> Informer:
        """The informer of the primary resource."""
        return self.sources[0].informer

    def informer(self, resource: Resource) -> Informer:
        """The informer of the first source declared for ``resource``."""
        for source in self.sources:
            if source.resource == resource:
                return source.informer
        raise KeyError(f"{self.controller_name} declares no source for {resource}")

    def get(self, key: ObjectKey) -> Object | None:
        """The cached primary object for ``key``, or ``None`` if there is none.

        It is the cached instance itself: read it, never mutate it (``to_dict()`` gives a
        copy to edit).
        """
        return self.primary.lister.get(key.name, key.namespace or None)

    @property
    def running(self) -> bool:
        """Whether :meth:`run` is running (possibly still waiting for the caches)."""
        return self._queue is not None

    @property
    def started(self) -> bool:
        """Whether :meth:`run` has synced its caches and started its workers."""
        return self._started

    @property
    def queue(self) -> WorkQueue[ObjectKey] | None:
        """The work queue of the current :meth:`run` (``None`` when not running)."""
        return self._queue

    def enqueue(self, key: ObjectKey, *, after: float = 0.0) -> None:
        """Ask for ``key`` to be reconciled (in ``after`` seconds); ignored when not running."""
        if self._queue is not None:
            self._queue.add_after(key, after)

    # -- running --------------------------------------------------------------------------

    async def run(self) -> None:
        """Reconcile until cancelled (see the class guarantees).

        Needs the informer factory to be running (in the same process, on every replica);
        workers start once the sources' informers have synced. Cancellation is prompt:
        reconciles in flight are cancelled and their requests aborted before this returns.
        """
        if self._queue is not None:
            raise RuntimeError(f"{self.controller_name} is already running")
        queue: WorkQueue[ObjectKey] = WorkQueue(
            rate_limiter=self._rate_limiter, metrics=self._queue_metrics
        )
        self._queue = queue
        observe_queue(self.controller_name, queue)
        self._tracker.enabled = self.read_your_writes_timeout is not None
        registrations: list[HandlerRegistration] = []
        try:
            async with anyio.create_task_group() as tg:
                if self._own_events:
                    tg.start_soon(self.events.run)
                for source in self.sources:
                    registrations.append(source.informer.add_handler(_Enqueue(queue, source)))
                for informer in {id(s.informer): s.informer for s in self.sources}.values():
                    await self._wait_synced(informer)
                _log.info(
                    "%s: caches synced, starting %d workers",
                    self.controller_name,
                    self.max_concurrent_reconciles,
                )
                self._started = True
                await run_workers(queue, self.max_concurrent_reconciles, self._process)
        finally:
            for registration in registrations:
                registration.remove()
            queue.shut_down(drop_waiting=True)
            self._queue = None
            self._started = False

    async def _wait_synced(self, informer: Informer) -> None:
        if not await informer.wait_synced(timeout=_SYNC_WARNING_AFTER):
            _log.warning(
                "%s: %s has not synced after %ss%s; still waiting",
                self.controller_name, informer.resource, _SYNC_WARNING_AFTER,
                "" if informer.running else " (is the InformerFactory running?)",
            )
            await informer.wait_synced()

    async def _process(self, key: ObjectKey) -> None:
        queue = self._queue
        assert queue is not None
        await self._wait_for_own_writes(key)
        self.stats.reconciles += 1
        started = anyio.current_time()
        outcome: Outcome = "success"
        timeout = self.reconcile_timeout
        scope = anyio.CancelScope(
            deadline=math.inf if timeout is None else started + timeout
        )
        try:
            with (
                self._tracker.reconciling(key),
                scope,
                reconcile_span(self.controller_name, key.namespace, key.name),
            ):
                result = await self.reconcile(key)
            if scope.cancelled_caught:
                raise TimeoutError(f"reconcile exceeded {timeout}s")
        except anyio.get_cancelled_exc_class():
            self.stats.cancelled += 1
            outcome = "cancelled"
            raise
        except Exception as exc:
            outcome = self._failed(queue, key, exc, scope.cancelled_caught)
        else:
            outcome = self._succeeded(queue, key, result)
        finally:
            self._metrics.reconcile_done(
                self.controller_name, outcome, anyio.current_time() - started
            )

    def _succeeded(
        self, queue: WorkQueue[ObjectKey], key: ObjectKey, result: Result | None
    ) -> Outcome:
        if result is not None and result.requeue_after is not None:
            queue.forget(key)
            queue.add_after(key, result.requeue_after)
            self.stats.requeues_after += 1
            return "requeue_after"
        if result is not None and result.requeue:
            queue.add_rate_limited(key)
            self.stats.requeues += 1
            return "requeue"
        queue.forget(key)
        self.stats.successes += 1
        return "success"

    def _failed(
        self, queue: WorkQueue[ObjectKey], key: ObjectKey, exc: Exception, timed_out: bool
    ) -> Outcome:
        if _is_terminal(exc):
            queue.forget(key)
            self.stats.terminal_errors += 1
            _log.error("%s: reconcile of %s failed for good: %s", self.controller_name, key, exc)
            return "terminal"
        retries = queue.retries(key)
        queue.add_rate_limited(key)
        self.stats.errors += 1
        if timed_out:
            self.stats.timeouts += 1
            _log.warning(
                "%s: reconcile of %s timed out after %ss (retry %d)",
                self.controller_name, key, self.reconcile_timeout, retries + 1,
            )
            return "timeout"
        _log.warning(
            "%s: reconcile of %s failed (retry %d): %s",
            self.controller_name, key, retries + 1, exc,
            exc_info=exc if retries == 0 else None,
        )
        return "error"

    async def _wait_for_own_writes(self, key: ObjectKey) -> None:
        timeout = self.read_your_writes_timeout
        if timeout is None or not self._tracker.pending(key):
            self._tracker.discard(key)
            return
        started = anyio.current_time()
        reached = await self._tracker.wait(key, timeout)
        waited = anyio.current_time() - started
        self.stats.read_your_writes_waits += 1
        self.stats.read_your_writes_seconds += waited
        if not reached:
            self.stats.read_your_writes_timeouts += 1
            _log.warning(
                "%s: the cache did not see the writes for %s within %ss; reconciling anyway",
                self.controller_name, key, timeout,
            )
        self._metrics.read_your_writes_waited(self.controller_name, waited, reached)

    def __repr__(self) -> str:
        resources: Iterable[str] = (f"{s.kind}={s.resource}" for s in self.sources)
        return f"<{self.controller_name} {' '.join(resources)}>"
