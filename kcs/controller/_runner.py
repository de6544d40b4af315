"""The Runner: what runs a :class:`~kcs.controller.Controller`.

A runner binds one controller to a client and an informer factory: it calls the
controller's ``setup`` (declaring the sources requests their informers, so they warm up
wherever the factory runs), and :meth:`Runner.run` reconciles until cancelled. The
manager makes one per controller (:meth:`kcs.manager.Manager.add`) and runs it only on
the leader; tests can make one directly.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable

import anyio

from kcs.client import Client
from kcs.controller._cache import SourceCache
from kcs.controller._context import Context
from kcs.controller._controller import Controller, check_options
from kcs.controller._events import EventRecorder
from kcs.controller._gate import ReconcileGate
from kcs.controller._metrics import ControllerMetrics, ControllerStats, Outcome
from kcs.controller._predicates import Predicate
from kcs.controller._result import Result, TerminalError
from kcs.controller._sources import Builder, MapFunc, Source
from kcs.controller._writes import WriteTracker
from kcs.core import LabelSelector, Object, ObjectKey, Resource
from kcs.informer import HandlerRegistration, Informer, InformerFactory, ResourceEventHandler
from kcs.observability import QueueTelemetry, ReconcileTelemetry, observe_queue, reconcile_span
from kcs.workqueue import ItemRateLimiter, Priority, QueueMetrics, WorkQueue, run_workers

__all__ = ["CacheSyncTimeout", "Runner"]

_log = logging.getLogger("kcs.controller")


class CacheSyncTimeout(TimeoutError):
    """A controller's informers did not sync within its ``sync_timeout``.

    The message names each informer that had not synced and why (the watch's last
    error, such as a 403 or a 404, or that the informer was never started).
    """


class _Enqueue(ResourceEventHandler):
    """Turns one source's events into keys in the work queue (sync: never blocks).

    The predicates and the mapping function are the user's code: an exception they
    raise reaches the informer's handler registration, which logs it with its traceback
    under this handler's name (``<controller>: <source>``).
    """

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


class Runner:
    """Runs one :class:`~kcs.controller.Controller` (see its guarantees).

    Construction calls ``controller.setup(builder)`` once: the sources request their
    informers from ``informers`` now, so they warm up wherever the factory runs (on
    standby replicas too); reconciling starts with :meth:`run`. ``events``: a shared
    recorder (run it yourself); by default the runner makes one and runs it with itself.
    ``identity`` names this replica in the Events it records.

    ``scope`` narrows the ``for_`` and ``owns`` sources to the objects it selects (see
    :class:`~kcs.controller.Builder`); ``gate`` (a :class:`~kcs.controller.ReconcileGate`)
    is asked before each reconcile and told when it ends; a refused key is skipped
    (counted in ``stats.skipped``). Both are for sharding; without them the runner
    reconciles every key of every object its sources see.
    """

    def __init__(
        self,
        controller: Controller,
        client: Client,
        informers: InformerFactory,
        *,
        events: EventRecorder | None = None,
        identity: str = "",
        rate_limiter: ItemRateLimiter[ObjectKey] | None = None,
        metrics: ControllerMetrics | None = None,
        queue_metrics: QueueMetrics | None = None,
        scope: LabelSelector | None = None,
        gate: ReconcileGate | None = None,
    ) -> None:
        if not isinstance(controller, Controller):
            raise TypeError(f"{controller!r} is not a kcs.controller.Controller")
        check_options(controller, type(controller).__qualname__)
        self.controller = controller
        """The controller this runner runs."""
        self.name = controller.name or type(controller).__name__
        """The controller's name."""
        self.client = client
        self.informers = informers
        self.stats = ControllerStats()
        """What the controller has done (monotonic counters)."""
        builder = Builder(informers, scope=scope)
        controller.setup(builder)
        if builder.primary is None or not builder.sources:
            raise ValueError(f"{self.name}.setup() must call builder.for_()")
        self.sources: tuple[Source, ...] = tuple(builder.sources)
        """The declared sources, the primary first."""
        self._tracker = WriteTracker(builder.primary)
        for source in self.sources:
            self._tracker.track(source.informer)
        self._own_events = events is None
        self.events = events if events is not None else EventRecorder(
            client, self.name, instance=identity
        )
        self.context = Context(
            controller=self.name,
            client=client,
            cache=SourceCache(self.name, [s.informer for s in self.sources]),
            events=self.events,
            enqueue=self._enqueue,
        )
        """What every reconcile of this runner is given."""
        self._rate_limiter = rate_limiter
        self._metrics: ControllerMetrics = metrics if metrics is not None else ReconcileTelemetry()
        self._queue_metrics = (
            queue_metrics if queue_metrics is not None else QueueTelemetry(self.name)
        )
        self._queue: WorkQueue[ObjectKey] | None = None
        self._started = False
        self.gate: ReconcileGate | None = gate
        """The gate asked before each reconcile (``None``: every key is reconciled)."""

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
        raise KeyError(f"{self.name} declares no source for {resource}")

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
        self._enqueue(key, after)

    def _enqueue(self, key: ObjectKey, after: float) -> None:
        if self._queue is not None:
            self._queue.add_after(key, after)

    # -- running --------------------------------------------------------------------------

    async def run(self) -> None:
        """Reconcile until cancelled (see :class:`~kcs.controller.Controller`).

        Needs the informer factory to be running (in the same process, on every replica);
        workers start once the sources' informers have synced. Raises
        :class:`CacheSyncTimeout` when they do not within the controller's
        ``sync_timeout``. Cancellation is prompt: reconciles in flight are cancelled and
        their requests aborted before this returns. May be called again afterwards (a
        new term of leadership), with a fresh queue.
        """
        if self._queue is not None:
            raise RuntimeError(f"{self.name} is already running")
        queue: WorkQueue[ObjectKey] = WorkQueue(
            rate_limiter=self._rate_limiter, metrics=self._queue_metrics
        )
        self._queue = queue
        observe_queue(self.name, queue)
        ryw = self.controller.read_your_writes_timeout is not None
        remove_hook = self.client.add_write_hook(self._tracker.record) if ryw else None
        registrations: list[HandlerRegistration] = []
        try:
            for source in self.sources:
                handler = _Enqueue(queue, source)
                name = f"{self.name}: {source.kind} {source.resource}"
                registrations.append(source.informer.add_handler(handler, name=name))
            # Outside the task group, so that CacheSyncTimeout reaches the caller as itself.
            await self._wait_synced(self._distinct_informers())
            async with anyio.create_task_group() as tg:
                if self._own_events:
                    tg.start_soon(self.events.run)
                _log.info(
                    "%s: caches synced, starting %d workers",
                    self.name,
                    self.controller.max_concurrent_reconciles,
                )
                self._started = True
                await run_workers(
                    queue, self.controller.max_concurrent_reconciles, self._process
                )
        finally:
            if remove_hook is not None:
                remove_hook()
            for registration in registrations:
                registration.remove()
            queue.shut_down(drop_waiting=True)
            self._queue = None
            self._started = False

    def _distinct_informers(self) -> list[Informer]:
        return list({id(s.informer): s.informer for s in self.sources}.values())

    async def _wait_synced(self, informers: Iterable[Informer]) -> None:
        timeout = self.controller.sync_timeout
        waiting = [i for i in informers if not i.has_synced]
        if timeout is None:  # as long as it takes; each informer logs why every 30 s
            for informer in waiting:
                await informer.wait_synced()
            return
        deadline = anyio.current_time() + timeout
        for informer in waiting:
            await informer.lister.wait_synced(max(0.0, deadline - anyio.current_time()))
        unsynced = [i for i in waiting if not i.has_synced]
        if unsynced:
            causes = "; ".join(f"{i.scope}: {i.not_synced_reason}" for i in unsynced)
            raise CacheSyncTimeout(
                f"{self.name}: caches not synced after {timeout:g}s: {causes}"
            )

    async def _process(self, key: ObjectKey) -> None:
        queue = self._queue
        assert queue is not None
        gate = self.gate
        if gate is None:
            await self._reconcile(queue, key)
            return
        if not gate.enter(key):
            queue.forget(key)
            self.stats.skipped += 1
            return
        try:
            await self._reconcile(queue, key)
        finally:
            gate.exit(key)

    async def _reconcile(self, queue: WorkQueue[ObjectKey], key: ObjectKey) -> None:
        await self._wait_for_own_writes(key)
        self.stats.reconciles += 1
        started = anyio.current_time()
        outcome: Outcome = "success"
        timeout = self.controller.reconcile_timeout
        scope = anyio.CancelScope(
            deadline=math.inf if timeout is None else started + timeout
        )
        try:
            with (
                self._tracker.reconciling(key),
                scope,
                reconcile_span(self.name, key.namespace, key.name),
            ):
                result = await self.controller.reconcile(self.context, key)
            if result is not None and not isinstance(result, Result):
                raise TypeError(
                    f"{self.name}.reconcile returned {result!r}; return None or a Result"
                )
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
                self.name, outcome, anyio.current_time() - started
            )

    def _succeeded(
        self, queue: WorkQueue[ObjectKey], key: ObjectKey, result: Result | None
    ) -> Outcome:
        queue.forget(key)
        if result is not None and result.requeue_after is not None:
            queue.add_after(key, result.requeue_after)
            self.stats.requeues_after += 1
            return "requeue_after"
        self.stats.successes += 1
        return "success"

    def _failed(
        self, queue: WorkQueue[ObjectKey], key: ObjectKey, exc: Exception, timed_out: bool
    ) -> Outcome:
        if _is_terminal(exc):
            queue.forget(key)
            self.stats.terminal_errors += 1
            _log.error("%s: reconcile of %s failed for good: %s", self.name, key, exc,
                       exc_info=exc)
            return "terminal"
        retries = queue.retries(key)
        queue.add_rate_limited(key)
        self.stats.errors += 1
        if timed_out:
            self.stats.timeouts += 1
            _log.warning(
                "%s: reconcile of %s timed out after %ss (retry %d)",
                self.name, key, self.controller.reconcile_timeout, retries + 1,
            )
            return "timeout"
        # The first failure of a key is logged with the user's traceback; its retries
        # (which usually fail the same way) with the message only.
        _log.warning(
            "%s: reconcile of %s failed (retry %d): %s: %s",
            self.name, key, retries + 1, type(exc).__name__, exc,
            exc_info=exc if retries == 0 else None,
        )
        return "error"

    async def _wait_for_own_writes(self, key: ObjectKey) -> None:
        timeout = self.controller.read_your_writes_timeout
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
                self.name, key, timeout,
            )
        self._metrics.read_your_writes_waited(self.name, waited, reached)

    def __repr__(self) -> str:
        resources = " ".join(f"{s.kind}={s.resource}" for s in self.sources)
        return f"<Runner {self.name} {resources}>"
