# ruff: noqa: ASYNC109  (release(timeout=...) bounds the release write, as documented)
"""The elector: campaign, lead a term inside its fence, give the lease up.

One :class:`LeaderElector` per replica and Lease. Its :meth:`~LeaderElector.run` keeps
going, side by side: the observer (a watch on the Lease), the candidacy (this replica's
candidate Lease), the liveness endpoint and the holder monitor (with crash detection),
and the campaign: wait until the lease may be taken (:mod:`._campaign`), take it with a
preconditioned write, run the leader-only work inside the term's fence while renewing
(:mod:`._term`), give the lease up when the term ends (:mod:`._release`), and campaign
again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum

import anyio
import anyio.abc

from kcs.client import Client, ClientError, fenced
from kcs.core import ApiError
from kcs.leaderelection._campaign import Acquired, Campaign
from kcs.leaderelection._candidate import Candidacy
from kcs.leaderelection._context import Election, Wakeup
from kcs.leaderelection._events import ElectionEventHandler, ElectionEventKind, EndReason
from kcs.leaderelection._handoff import AUTO, Successor
from kcs.leaderelection._identity import default_identity
from kcs.leaderelection._janitor import CandidateJanitor
from kcs.leaderelection._leadership import Leadership
from kcs.leaderelection._leading import DEFAULT_DRAIN_TIMEOUT, StopRequest, keep_leading
from kcs.leaderelection._liveness import CrashDetection, LivenessEndpoint
from kcs.leaderelection._lock import LeaseLock
from kcs.leaderelection._monitor import HolderMonitor
from kcs.leaderelection._observe import LeaseObserver, Observation
from kcs.leaderelection._release import release_lease
from kcs.leaderelection._term import MAX_IMMEDIATE_RETRIES, Term
from kcs.leaderelection._timing import ElectionTimings
from kcs.watch import WatchStats

__all__ = ["DEFAULT_DRAIN_TIMEOUT", "ElectorState", "LeadFunction", "LeaderElector"]

_log = logging.getLogger("kcs.leaderelection")

LeadFunction = Callable[[Leadership], Awaitable[None]]
"""The leader-only work: ``async def lead(leadership: Leadership) -> None``."""

_EV = ElectionEventKind


class ElectorState(StrEnum):
    """Where an elector is."""

    STOPPED = "stopped"
    """:meth:`LeaderElector.run` is not running."""
    STANDBY = "standby"
    """Campaigning: watching the lease, waiting until it may be taken."""
    LEADING = "leading"
    """A term is in progress (see :attr:`LeaderElector.leadership`)."""
    STOPPING = "stopping"
    """:meth:`LeaderElector.release` was called: draining, then giving the lease up."""


@dataclass(slots=True)
class _Run:
    """The state of one call of :meth:`LeaderElector.run`."""

    tg: anyio.abc.TaskGroup
    finished: anyio.Event = field(default_factory=anyio.Event)
    stop: StopRequest | None = None
    handed_to: str | None = None


class LeaderElector:
    """Lease-based leader election with fencing, warm standby, hand-off and crash
    detection.

    ``name`` is the Lease in ``namespace`` (default: the client's). ``identity`` must be
    unique per process (default ``<hostname>_<random>``). Give the elector a client of
    its own (or one whose rate limit the controllers cannot exhaust): renewals must not
    queue behind other traffic.

    Guarantees (see docs/leader-election.md for the assumptions and the proof):

    * **Mutual exclusion of the lease.** The lease is only taken with a create or a
      resourceVersion-conditioned update, so of replicas that decided on the same state
      exactly one succeeds.
    * **Fencing.** ``on_started_leading`` runs inside the term's fence, whose deadline
      is ``send time of the last successful renewal + renew_deadline`` (this process's
      monotonic clock): a cancel scope, and a :class:`kcs.client.Fence` that every
      request of the work checks right before its bytes are written, so a request is
      refused once the deadline has passed even when the process was paused and the
      event loop resumes the work before the cancellation. Another replica takes an
      unreleased lease no sooner than ``lease_duration`` after it observed the last
      renewal (its monotonic clock). With clock rates within ``max_clock_drift`` of real
      time, which :class:`ElectionTimings` enforces, the fence closes before another
      replica can lead. It also closes at once when the lease is seen taken or deleted.
    * **Standbys watch** the Lease and act at once on a release or a hand-off to them;
      they take an unreleased lease when it was not renewed for ``lease_duration`` on
      their own clock, or at once with ``crash_detection`` when its holder's process is
      proved gone (its liveness endpoint refused them after greeting them).
    * **Graceful stop** (:meth:`release`): the work is told to stop
      (:attr:`Leadership.stopping`), given ``drain_timeout`` to return, then cancelled;
      only then is the lease released or handed to an eligible successor.
    * **Dead candidates are cleaned up**: the leader deletes candidate Leases not renewed
      for twice their time to live (preconditioned on what it saw).
    * **Bad input is safe.** A Lease edited into nonsense counts as held until it stays
      unchanged for a full lease duration; a Lease deleted while held ends leadership at
      once, and standbys wait out the last holder's lease before recreating it; apiserver
      errors are logged and retried, and leave no leader rather than two.

    Callbacks run in the elector's tasks: ``on_started_leading(leadership)`` is the
    leader-only work (if it returns, the lease is kept until :meth:`release`; if it
    raises, the lease is released and :meth:`run` raises the exception);
    ``on_stopped_leading()`` runs after the work has stopped; ``on_new_leader(identity)``
    whenever the observed holder changes (``""``: none). The last two and ``on_event``
    must be quick and must not raise (exceptions are logged).
    """

    def __init__(
        self,
        client: Client,
        name: str,
        *,
        namespace: str | None = None,
        identity: str | None = None,
        timings: ElectionTimings | None = None,
        on_started_leading: LeadFunction | None = None,
        on_stopped_leading: Callable[[], None] | None = None,
        on_new_leader: Callable[[str], None] | None = None,
        on_event: ElectionEventHandler | None = None,
        candidate: bool = True,
        release_on_cancel: bool = True,
        crash_detection: CrashDetection | None = None,
    ) -> None:
        self.client = client
        self.name = name
        self.namespace = namespace or client.namespace
        self.identity = identity or default_identity()
        self.timings = timings or ElectionTimings()
        self.crash_detection = crash_detection
        self._on_started_leading = on_started_leading
        self._on_stopped_leading = on_stopped_leading
        self._on_new_leader = on_new_leader
        self._release_on_cancel = release_on_cancel
        lock = LeaseLock(client, name, self.namespace)
        observer = LeaseObserver(lock, self.timings, self._observed)
        self._election = Election(lock, self.identity, self.timings, observer, on_event,
                                  Wakeup())
        self._candidacy = (
            Candidacy(client, name, self.namespace, self.identity, self.timings)
            if candidate else None
        )
        self._monitor = (
            HolderMonitor(self._election, crash_detection) if crash_detection else None
        )
        self._campaign = Campaign(
            self._election, self._monitor.proves_gone if self._monitor else None
        )
        self._janitor = (
            CandidateJanitor(self._election, self._candidacy.lease_name)
            if self._candidacy is not None else None
        )
        self._endpoint: LivenessEndpoint | None = None
        self._run: _Run | None = None
        self._term: Term | None = None
        self._warned_key: bytes | None = None

    def __repr__(self) -> str:
        return (
            f"LeaderElector({self.namespace}/{self.name}, identity={self.identity!r}, "
            f"state={self.state}, leader={self.leader!r})"
        )

    # -- state ----------------------------------------------------------------------

    @property
    def state(self) -> ElectorState:
        """Where this elector is now."""
        run = self._run
        if run is None:
            return ElectorState.STOPPED
        if run.stop is not None:
            return ElectorState.STOPPING
        return ElectorState.LEADING if self._term is not None else ElectorState.STANDBY

    @property
    def is_leader(self) -> bool:
        """Whether this replica leads now: it holds the lease and its fence is open."""
        term = self._term
        return term is not None and term.leadership.active

    @property
    def leadership(self) -> Leadership | None:
        """The current term of leadership, if any."""
        term = self._term
        return term.leadership if term is not None else None

    @property
    def leader(self) -> str | None:
        """The holder this replica last observed (``None``: nobody, or not known yet)."""
        return self._election.leader

    @property
    def transitions(self) -> int:
        """The Lease's ``leaseTransitions`` as last observed (0 if unknown)."""
        obs = self._election.observer.current
        record = None if obs is None else obs.record or obs.last_record
        return record.lease_transitions if record is not None else 0

    @property
    def observation(self) -> Observation | None:
        """The Lease as last observed, with the local time it was first seen."""
        return self._election.observer.current

    @property
    def watching(self) -> bool:
        """Whether the Lease's watch is healthy: open, and nothing failed since the last
        list or event (``False``: polling the Lease every retry period, or starting)."""
        return self._election.observer.watching

    @property
    def watch_stats(self) -> WatchStats | None:
        """The counters of the Lease's :class:`~kcs.watch.Watcher` (which errors, how
        often) while :meth:`run` runs; ``None`` otherwise."""
        watcher = self._election.observer.watcher
        return watcher.stats if watcher is not None else None

    @property
    def synced(self) -> bool:
        """The synced flag this replica publishes as a candidate."""
        return self._candidacy.synced if self._candidacy is not None else False

    @property
    def liveness_endpoint(self) -> str | None:
        """The liveness endpoint this replica advertises (``None``: no crash detection,
        or not running)."""
        endpoint = self._endpoint
        return str(endpoint.endpoint) if endpoint and endpoint.endpoint else None

    @property
    def candidates_removed(self) -> int:
        """Candidate Leases of dead replicas this replica deleted while it led."""
        return self._janitor.removed if self._janitor is not None else 0

    async def set_synced(self, synced: bool = True) -> None:
        """Publish that this replica's caches are synced: only a synced candidate is
        eligible to be handed the lease. Written at once when :meth:`run` is running."""
        if self._candidacy is not None:
            await self._candidacy.set_synced(synced)

    # -- lifecycle ------------------------------------------------------------------

    async def run(self) -> None:
        """Campaign and lead until :meth:`release` completes, or until cancelled.

        When cancelled while leading, the work is cancelled and then (with
        ``release_on_cancel``) the lease is released within ``renew_deadline``, shielded.
        Losing leadership does not end :meth:`run`: the replica goes back to standby and
        ``on_started_leading`` is called again when it next leads. With crash detection,
        the liveness endpoint is opened first (``OSError`` if it cannot listen); if it
        fails later, the work is fenced first, the lease released, and :meth:`run`
        raises.
        """
        if self._run is not None:
            raise RuntimeError("this elector is already running")
        try:
            async with anyio.create_task_group() as tg:
                run = self._run = _Run(tg)
                endpoint = await self._open_endpoint()
                tg.start_soon(self._election.observer.run)
                if endpoint is not None:
                    tg.start_soon(endpoint.serve)
                if self._monitor is not None:
                    tg.start_soon(self._monitor.run)
                if self._candidacy is not None:
                    tg.start_soon(self._candidacy.run)
                await self._campaign_until_stopped(run)
                tg.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            if len(group.exceptions) == 1:
                raise group.exceptions[0] from None
            raise
        finally:
            ended, self._run = self._run, None
            self._endpoint = None
            if ended is not None:
                ended.finished.set()

    async def release(
        self,
        successor: Successor = AUTO,
        *,
        drain_timeout: float = DEFAULT_DRAIN_TIMEOUT,
        timeout: float | None = None,
    ) -> str | None:
        """Stop gracefully and end :meth:`run`; returns the identity the lease was handed
        to, or ``None`` (released, or this replica did not lead).

        If leading: set :attr:`Leadership.stopping`, wait up to ``drain_timeout`` for the
        work to return (renewing meanwhile), cancel it if needed, then write the lease,
        within ``timeout`` (default ``renew_deadline``): to ``successor`` if it is an
        eligible candidate (synced, fresh; :data:`AUTO` picks the freshest), else
        released (holder cleared), so that standbys take it at once. If the write fails,
        the lease expires after ``lease_duration`` as after a crash.
        """
        run = self._run
        if run is None:
            return None
        if run.stop is None:
            run.stop = StopRequest(
                successor, drain_timeout,
                timeout if timeout is not None else self.timings.renew_deadline,
            )
            if self._term is not None:
                self._term.drain()
            self._election.wakeup.notify()
        await run.finished.wait()
        return run.handed_to

    async def _open_endpoint(self) -> LivenessEndpoint | None:
        if self.crash_detection is None:
            return None
        endpoint = LivenessEndpoint(self.crash_detection, self._endpoint_closing)
        advertised = await endpoint.open()
        self._endpoint = endpoint
        if self._candidacy is not None:
            self._candidacy.liveness = str(advertised)
        _log.info("%s: liveness endpoint listening, advertised as %s", self._election.who,
                  advertised)
        host, port = endpoint.listening or ("", 0)
        self._election.emit(_EV.ENDPOINT_OPENED,
                            detail=f"listening on {host}:{port}, advertised as {advertised}")
        return endpoint

    def _endpoint_closing(self) -> None:
        """The liveness endpoint is about to close: from then on a standby may take the
        lease at once, so no request of the work may go out any more."""
        term = self._term
        if term is not None:
            term.close_fence("the liveness endpoint closed")

    # -- campaign -------------------------------------------------------------------

    async def _campaign_until_stopped(self, run: _Run) -> None:
        el = self._election
        immediate = 0
        while run.stop is None:
            armed = el.wakeup.arm()
            if self._endpoint is not None and self._endpoint.closed:
                raise RuntimeError("the liveness endpoint closed; not campaigning any more")
            try:
                # A timed-out write may still have been applied: the observer then shows
                # this replica as the holder, and the next attempt renews.
                with anyio.fail_after(self.timings.request_timeout):
                    outcome = await self._campaign.try_acquire()
            except (ApiError, ClientError, TimeoutError) as e:
                _log.warning("%s: could not read or write the lease: %s", el.who,
                             str(e) or type(e).__name__)
                outcome = self.timings.retry_wait(self._campaign.rng)
            except ValueError as e:  # a Lease the lock cannot write back (bad input)
                _log.warning("%s: cannot take the lease as it is: %s", el.who, e)
                outcome = self.timings.retry_wait(self._campaign.rng)
            if isinstance(outcome, Acquired):
                immediate = 0
                await self._lead(run, outcome)
                continue
            if outcome <= 0:
                immediate += 1
                if immediate > MAX_IMMEDIATE_RETRIES:
                    outcome = self.timings.retry_wait(self._campaign.rng)
            else:
                immediate = 0
            await el.wakeup.sleep(armed, outcome)

    # -- leading --------------------------------------------------------------------

    async def _lead(self, run: _Run, acquired: Acquired) -> None:
        el = self._election
        el.term += 1
        term = Term(el, el.term, acquired.sent, acquired.lease)
        self._term = term
        if run.stop is not None:
            term.drain()
        _log.info("%s: started leading (term %d, %d transitions%s)", el.who, el.term,
                  self.transitions, ", taken on a crash signal" if acquired.crash else "")
        el.emit(_EV.STARTED_LEADING, holder=self.identity, sent=acquired.sent,
                detail="crash" if acquired.crash else "")
        helpers = anyio.CancelScope()
        work_done = anyio.Event()
        run.tg.start_soon(self._keep_leading, run, term, work_done, helpers)
        failure: BaseException | None = None
        try:
            with term.scope, fenced(term.fence):
                if run.stop is None and self._on_started_leading is not None:
                    await self._on_started_leading(term.leadership)
                work_done.set()
                el.wakeup.notify()
                await anyio.sleep_forever()
        except BaseException as exc:
            failure = exc
            raise
        finally:
            helpers.cancel()
            work_done.set()
            if failure is None:
                reason = term.requested_end or EndReason.FENCED
            elif isinstance(failure, anyio.get_cancelled_exc_class()):
                reason = EndReason.CANCELLED
            else:
                reason = EndReason.ERROR
            self._stopped_leading(term, reason)
            await self._after_leading(run, term, reason)

    async def _after_leading(self, run: _Run, term: Term, reason: EndReason) -> None:
        timeout = self.timings.renew_deadline
        try:
            if reason is EndReason.RELEASED and run.stop is not None:
                run.handed_to = await release_lease(
                    self._election, term, run.stop.successor, run.stop.timeout
                )
            elif reason is EndReason.YIELDED:
                await release_lease(self._election, term, term.yield_to, timeout)
            elif reason is EndReason.ERROR or (
                reason is EndReason.CANCELLED and self._release_on_cancel
            ):
                with anyio.move_on_after(timeout, shield=True):
                    await release_lease(self._election, term, None, timeout)
        finally:
            self._term = None

    def _stopped_leading(self, term: Term, reason: EndReason) -> None:
        el = self._election
        term.finish(reason)
        log = _log.warning if reason.unexpected else _log.info
        why = {
            EndReason.FENCED: "the lease could not be renewed by the renew deadline; "
                              "work cancelled",
            EndReason.LOST: f"the lease was taken by {self.leader!r}; work cancelled",
            EndReason.DELETED: "the lease was deleted; work cancelled",
            EndReason.ERROR: "the leader-only work failed",
        }.get(reason, str(reason))
        log("%s: stopped leading (term %d): %s", el.who, term.leadership.term, why)
        el.emit(_EV.STOPPED_LEADING, holder=self.leader or "", reason=reason)
        if self._on_stopped_leading is not None:
            try:
                self._on_stopped_leading()
            except Exception:
                _log.exception("on_stopped_leading raised")

    async def _keep_leading(
        self, run: _Run, term: Term, work_done: anyio.Event, helpers: anyio.CancelScope
    ) -> None:
        """Keep the term going (see :func:`keep_leading`); sweep dead candidates
        meanwhile."""
        with helpers:
            async with anyio.create_task_group() as tg:
                if self._janitor is not None:
                    tg.start_soon(self._janitor.run)
                await keep_leading(self._election, term, work_done, lambda: run.stop)
                tg.cancel_scope.cancel()

    # -- observations ---------------------------------------------------------------

    def _observed(self, new: Observation, old: Observation | None) -> None:
        el = self._election
        record = new.record
        if record is not None and record.problems and record.key != self._warned_key:
            self._warned_key = record.key
            _log.warning(
                "%s: the lease has invalid fields (%s); it counts as held by %r until it stays "
                "unchanged for %.1fs on this replica's clock", el.who,
                "; ".join(record.problems), record.holder_identity,
                self._campaign.duration(record),
            )
        if new.lease is None and old is not None and old.lease is not None:
            _log.warning("%s: the lease was deleted (last holder %r)", el.who, old.holder)
        if old is None or new.holder != old.holder:
            el.emit(_EV.LEADER_CHANGED, holder=new.holder)
            if self._on_new_leader is not None:
                try:
                    self._on_new_leader(new.holder)
                except Exception:
                    _log.exception("on_new_leader raised")
        el.wakeup.notify()
