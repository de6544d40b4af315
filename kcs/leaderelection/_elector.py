# ruff: noqa: ASYNC109  (release(timeout=...) bounds the release write, as documented)
"""The elector: campaign, lead inside a fence, renew, hand off.

One :class:`LeaderElector` per replica and Lease. Its :meth:`~LeaderElector.run` keeps
three things going: the observer (a watch on the Lease), the candidacy (this replica's
candidate Lease) and the campaign: wait until the lease is free, expired, or handed to
this replica, take it with a preconditioned write, run the leader-only work inside the
fence while renewing, and go back to waiting when leadership ends.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel

from kcs.client import Client, ClientError
from kcs.core import AlreadyExists, ApiError, Conflict, NotFound
from kcs.leaderelection._candidate import Candidacy
from kcs.leaderelection._events import ElectionEvent, ElectionEventHandler, ElectionEventKind
from kcs.leaderelection._handoff import AUTO, Successor, is_eligible, pick_successor
from kcs.leaderelection._identity import default_identity
from kcs.leaderelection._leadership import Leadership
from kcs.leaderelection._lock import LeaseLock, holder_write, next_spec
from kcs.leaderelection._observe import LeaseObserver, Observation
from kcs.leaderelection._record import ANNOTATION_LEASE_DURATION, LeaderElectionRecord
from kcs.leaderelection._timing import ElectionTimings

__all__ = ["DEFAULT_DRAIN_TIMEOUT", "LeadFunction", "LeaderElector"]

_log = logging.getLogger("kcs.leaderelection")

LeadFunction = Callable[[Leadership], Awaitable[None]]
"""The leader-only work: ``async def lead(leadership: Leadership) -> None``."""

DEFAULT_DRAIN_TIMEOUT = 10.0
_MAX_IMMEDIATE_RETRIES = 3
_EV = ElectionEventKind


@dataclass(frozen=True, slots=True)
class _Acquired:
    sent: float
    lease: dict[str, Any]


@dataclass(frozen=True, slots=True)
class _StopRequest:
    successor: Successor
    drain_timeout: float
    timeout: float


class LeaderElector:
    """Lease-based leader election with fencing, warm standby and hand-off.

    ``name`` is the Lease in ``namespace`` (default: the client's). ``identity`` must be
    unique per process (default ``<hostname>_<random>``). Give the elector a client of
    its own (or one whose rate limit the controllers cannot exhaust): renewals must not
    queue behind other traffic.

    Guarantees (see docs/leader-election.md for the assumptions and the proof):

    * **Mutual exclusion of the lease.** The lease is only taken with a create or a
      resourceVersion-conditioned update, so of replicas that decided on the same state
      exactly one succeeds.
    * **Fencing.** ``on_started_leading`` runs inside a cancel scope whose deadline is
      ``send time of the last successful renewal + renew_deadline`` (this process's
      monotonic clock). Another replica takes an unreleased lease no sooner than
      ``lease_duration`` after it observed the last renewal (its monotonic clock). With
      clock rates within ``max_clock_drift`` of real time, which
      :class:`ElectionTimings` enforces, the work is cancelled before another replica
      can lead. It is also cancelled at once when the lease is seen taken or deleted.
    * **Standbys watch** the Lease and act at once on a release or a hand-off to them;
      they take an unreleased lease when it was not renewed for ``lease_duration`` on
      their own clock. If watching fails they poll every ``retry_period`` (jittered).
    * **Graceful stop** (:meth:`release`): the work is told to stop
      (:attr:`Leadership.stopping`), given ``drain_timeout`` to return, then cancelled;
      only then is the lease released or handed to an eligible successor.
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
    ) -> None:
        self.client = client
        self.name = name
        self.namespace = namespace or client.namespace
        self.identity = identity or default_identity()
        self.timings = timings or ElectionTimings()
        self._on_started_leading = on_started_leading
        self._on_stopped_leading = on_stopped_leading
        self._on_new_leader = on_new_leader
        self._on_event = on_event
        self._release_on_cancel = release_on_cancel
        self._lock = LeaseLock(client, name, self.namespace)
        self._observer = LeaseObserver(self._lock, self.timings, self._observed)
        self._candidacy = (
            Candidacy(client, name, self.namespace, self.identity, self.timings)
            if candidate else None
        )
        self._rng = random.Random()
        self._wake = anyio.Event()
        self._running = False
        self._finished = anyio.Event()
        self._tg: anyio.abc.TaskGroup | None = None
        self._stop: _StopRequest | None = None
        self._yield_to: str | None = None
        self._yield_checked: tuple[str, float] | None = None
        self._leadership: Leadership | None = None
        self._own: dict[str, Any] | None = None
        self._end_reason: str | None = None
        self._term = 0
        self._immediate = 0
        self._handed_to: str | None = None
        self._warned_key: bytes | None = None

    def __repr__(self) -> str:
        return (
            f"LeaderElector({self.namespace}/{self.name}, identity={self.identity!r}, "
            f"leader={self.leader!r}, is_leader={self.is_leader})"
        )

    # -- state ----------------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        """Whether this replica leads now: it holds the lease and its fence is open."""
        lp = self._leadership
        return lp is not None and lp.active

    @property
    def leadership(self) -> Leadership | None:
        """The current term of leadership, if any."""
        return self._leadership

    @property
    def leader(self) -> str | None:
        """The holder this replica last observed (``None``: nobody, or not known yet)."""
        obs = self._observer.current
        return obs.holder or None if obs is not None else None

    @property
    def transitions(self) -> int:
        """The Lease's ``leaseTransitions`` as last observed (0 if unknown)."""
        obs = self._observer.current
        record = None if obs is None else obs.record or obs.last_record
        return record.lease_transitions if record is not None else 0

    @property
    def observation(self) -> Observation | None:
        """The Lease as last observed, with the local time it was first seen."""
        return self._observer.current

    @property
    def watching(self) -> bool:
        """Whether the observer's watch is open (``False``: polling or starting)."""
        return self._observer.watching

    @property
    def synced(self) -> bool:
        """The synced flag this replica publishes as a candidate."""
        return self._candidacy.synced if self._candidacy is not None else False

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
        ``on_started_leading`` is called again when it next leads.
        """
        if self._running:
            raise RuntimeError("this elector is already running")
        self._running = True
        self._finished = anyio.Event()
        self._stop = None
        self._handed_to = None
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                tg.start_soon(self._observer.run)
                if self._candidacy is not None:
                    tg.start_soon(self._candidacy.run)
                await self._campaign()
                tg.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            if len(group.exceptions) == 1:
                raise group.exceptions[0] from None
            raise
        finally:
            self._tg = None
            self._running = False
            self._finished.set()

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
        if not self._running:
            return None
        if self._stop is None:
            self._stop = _StopRequest(
                successor, drain_timeout,
                timeout if timeout is not None else self.timings.renew_deadline,
            )
            if self._leadership is not None:
                self._leadership.stopping.set()
            self._notify()
        await self._finished.wait()
        return self._handed_to

    # -- campaign -------------------------------------------------------------------

    async def _campaign(self) -> None:
        while self._stop is None:
            wake = self._new_wake()
            try:
                # A timed-out write may still have been applied: the observer then shows
                # this replica as the holder, and the next attempt renews.
                with anyio.fail_after(self.timings.request_timeout):
                    outcome = await self._try_acquire()
            except (ApiError, ClientError, TimeoutError) as e:
                _log.warning("%s: could not read or write the lease: %s", self._who(),
                             str(e) or type(e).__name__)
                outcome = self.timings.retry_wait(self._rng)
            if isinstance(outcome, _Acquired):
                self._immediate = 0
                await self._lead(outcome)
                continue
            if outcome <= 0:
                self._immediate += 1
                if self._immediate > _MAX_IMMEDIATE_RETRIES:
                    outcome = self.timings.retry_wait(self._rng)
            else:
                self._immediate = 0
            await self._sleep(wake, outcome)

    def _duration(self, record: LeaderElectionRecord) -> float:
        return max(self.timings.lease_duration, record.lease_duration or 0.0)

    async def _try_acquire(self) -> _Acquired | float:
        """Take the lease if this replica may now; else how long to wait."""
        obs = self._observer.current
        if obs is None:
            obs = self._observe_read(await self._lock.get())
            assert obs is not None
        now = anyio.current_time()
        jitter = self._rng.random() * 0.1 * self.timings.retry_period
        if obs.lease is None:
            last = obs.last_record
            if last is not None and last.held and last.holder_identity != self.identity:
                expires = obs.observed_at + self._duration(last)
                if now < expires:
                    return expires - now + jitter
            return await self._create()
        record = obs.record
        assert record is not None
        if record.held and record.holder_identity != self.identity:
            expires = obs.observed_at + self._duration(record)
            if now < expires:
                return expires - now + jitter
            _log.info(
                "%s: the lease held by %r was not renewed for %.1fs on this replica's "
                "clock; trying to take it", self._who(), record.holder_identity,
                now - obs.observed_at,
            )
        return await self._update(obs.lease)

    async def _create(self) -> _Acquired | float:
        spec = next_spec(
            None, self.identity, lease_duration_seconds=self.timings.lease_duration_seconds,
            now=datetime.now(UTC),
        )
        sent = anyio.current_time()
        try:
            lease = await self._lock.create(
                spec, {ANNOTATION_LEASE_DURATION: f"{self.timings.lease_duration:g}"}
            )
        except AlreadyExists:
            self._observe_read(await self._lock.get())
            return 0.0
        self._observer.observe(lease)
        return _Acquired(sent, lease)

    async def _update(self, base: dict[str, Any]) -> _Acquired | float:
        spec, annotations = holder_write(base, self.identity, self.timings)
        sent = anyio.current_time()
        try:
            lease = await self._lock.update(base, spec, annotations)
        except Conflict:
            self._observe_read(await self._lock.get())
            return 0.0
        except NotFound:
            self._observer.observe(None, "")
            return 0.0
        self._observer.observe(lease)
        return _Acquired(sent, lease)

    # -- leading --------------------------------------------------------------------

    async def _lead(self, acquired: _Acquired) -> None:
        assert self._tg is not None
        self._term += 1
        fence = anyio.CancelScope(deadline=acquired.sent + self.timings.renew_deadline)
        leadership = Leadership(self.identity, self._term, anyio.current_time(), fence)
        self._leadership = leadership
        self._own = acquired.lease
        self._end_reason = None
        self._yield_to = None
        self._yield_checked = None
        if self._stop is not None:
            leadership.stopping.set()
        _log.info(
            "%s: started leading (term %d, %d transitions)", self._who(), self._term,
            self.transitions,
        )
        self._emit(_EV.STARTED_LEADING, holder=self.identity, sent=acquired.sent)
        keeper = anyio.CancelScope()
        work_done = anyio.Event()
        self._tg.start_soon(self._keep_leading, leadership, fence, work_done, keeper)
        failure: BaseException | None = None
        try:
            with fence:
                if self._stop is None and self._on_started_leading is not None:
                    await self._on_started_leading(leadership)
                work_done.set()
                self._notify()
                await anyio.sleep_forever()
        except BaseException as exc:
            failure = exc
            raise
        finally:
            keeper.cancel()
            work_done.set()
            if failure is None:
                reason = self._end_reason or "fenced"
            elif isinstance(failure, anyio.get_cancelled_exc_class()):
                reason = "cancelled"
            else:
                reason = "error"
            self._stopped_leading(leadership, reason)
            await self._after_leading(reason)

    async def _after_leading(self, reason: str) -> None:
        if reason == "released" and self._stop is not None:
            stop = self._stop
            self._handed_to = await self._release_lease(stop.successor, stop.timeout)
        elif reason == "yielded":
            await self._release_lease(self._yield_to, self.timings.renew_deadline)
        elif reason == "error" or (reason == "cancelled" and self._release_on_cancel):
            with anyio.move_on_after(self.timings.renew_deadline, shield=True):
                await self._release_lease(None, self.timings.renew_deadline)
        self._own = None
        self._yield_to = None

    def _stopped_leading(self, leadership: Leadership, reason: str) -> None:
        leadership.ended = True
        leadership.reason = reason
        self._leadership = None
        log = _log.warning if reason in ("fenced", "lost", "deleted", "error") else _log.info
        why = {
            "fenced": "the lease could not be renewed by the renew deadline; work cancelled",
            "lost": f"the lease was taken by {self.leader!r}; work cancelled",
            "deleted": "the lease was deleted; work cancelled",
            "error": "the leader-only work failed",
        }.get(reason, reason)
        log("%s: stopped leading (term %d): %s", self._who(), leadership.term, why)
        self._emit(_EV.STOPPED_LEADING, holder=self.leader or "", detail=reason)
        if self._on_stopped_leading is not None:
            try:
                self._on_stopped_leading()
            except Exception:
                _log.exception("on_stopped_leading raised")

    def _end(self, fence: anyio.CancelScope, reason: str) -> None:
        if self._end_reason is None:
            self._end_reason = reason
        fence.cancel()

    async def _keep_leading(
        self,
        leadership: Leadership,
        fence: anyio.CancelScope,
        work_done: anyio.Event,
        keeper: anyio.CancelScope,
    ) -> None:
        """Renew every ``retry_period``; end the term when the lease is seen lost, or when
        a requested drain is over. The fence's own deadline needs no help from here."""
        with keeper:
            next_renew = leadership.acquired_at + self.timings.retry_period
            drain_until: float | None = None
            while True:
                wake = self._new_wake()
                now = anyio.current_time()
                if drain_until is None and (self._stop is not None or self._yield_to):
                    timeout = (
                        self._stop.drain_timeout if self._stop is not None
                        else DEFAULT_DRAIN_TIMEOUT
                    )
                    drain_until = now + timeout
                    leadership.stopping.set()
                if drain_until is not None and (work_done.is_set() or now >= drain_until):
                    if not work_done.is_set():
                        _log.warning("%s: work did not finish within the drain timeout; "
                                     "cancelling it", self._who())
                    self._end(fence, "released" if self._stop is not None else "yielded")
                    return
                lost = self._lost_reason()
                if lost is not None:
                    self._end(fence, lost)
                    return
                if drain_until is None:
                    await self._check_yield()
                    if self._yield_to:
                        continue
                if now >= next_renew:
                    next_renew = now + self.timings.retry_period
                    await self._renew(fence)
                    if self._end_reason is not None:
                        return
                    continue
                wait = next_renew - now
                if drain_until is not None:
                    wait = min(wait, drain_until - now)
                await self._sleep(wake, wait)

    def _lost_reason(self) -> str | None:
        obs = self._observer.current
        if obs is None or self._own is None:
            return None
        if obs.lease is None:
            return "deleted"
        if obs.holder != self.identity:
            return "lost"
        return None

    async def _renew(self, fence: anyio.CancelScope) -> None:
        attempt_timeout = self.timings.request_timeout
        for _ in range(_MAX_IMMEDIATE_RETRIES):
            sent = anyio.current_time()
            remaining = fence.deadline - sent
            base = self._own
            if remaining <= 0 or base is None:
                return
            spec, annotations = holder_write(base, self.identity, self.timings)
            with anyio.move_on_after(min(remaining, attempt_timeout)):
                try:
                    lease = await self._lock.update(base, spec, annotations)
                except Conflict:
                    current = await self._lock.get()
                    self._observe_read(current)
                    if current is None:
                        self._end(fence, "deleted")
                        return
                    if LeaderElectionRecord.from_lease(current).holder_identity != self.identity:
                        self._end(fence, "lost")
                        return
                    self._own = current
                    continue
                except NotFound:
                    self._observer.observe(None, "")
                    self._end(fence, "deleted")
                    return
                except (ApiError, ClientError) as e:
                    self._renew_failed(fence, str(e))
                    return
                self._observer.observe(lease)
                self._own = lease
                if anyio.current_time() < fence.deadline:
                    fence.deadline = sent + self.timings.renew_deadline
                self._emit(_EV.RENEWED, holder=self.identity, sent=sent)
                return
            self._renew_failed(fence, "timed out")
            return

    def _renew_failed(self, fence: anyio.CancelScope, why: str) -> None:
        left = fence.deadline - anyio.current_time()
        _log.warning("%s: renewing the lease failed (%s); work is cancelled in %.2fs unless a "
                     "renewal succeeds", self._who(), why, max(left, 0.0))
        self._emit(_EV.RENEW_FAILED, holder=self.identity, detail=why)

    async def _check_yield(self) -> None:
        """A preferred holder set on the lease (by an operator or a coordinator) asks the
        leader to hand over: do so if that replica is an eligible candidate."""
        obs = self._observer.current
        preferred = obs.record.preferred_holder if obs is not None and obs.record else ""
        if not preferred or preferred == self.identity:
            return
        now = anyio.current_time()
        checked = self._yield_checked
        if checked is not None and checked[0] == preferred and now < checked[1]:
            return
        self._yield_checked = (preferred, now + self.timings.lease_duration)
        try:
            with anyio.fail_after(self.timings.request_timeout):
                eligible = await is_eligible(self.client, self.name, self.namespace, preferred,
                                             self.timings)
        except (ApiError, ClientError, TimeoutError) as e:
            _log.info("%s: could not read candidate %r: %s", self._who(), preferred, e)
            return
        if eligible:
            _log.info("%s: the lease prefers %r; handing over", self._who(), preferred)
            self._yield_to = preferred
        else:
            _log.warning("%s: the lease prefers %r, which is not an eligible candidate "
                         "(none, not synced, or not fresh); keeping the lease",
                         self._who(), preferred)

    # -- release --------------------------------------------------------------------

    async def _release_lease(self, successor: Successor, timeout: float) -> str | None:
        """Write the lease to ``successor`` (or release it) after the work stopped."""
        with anyio.move_on_after(timeout):
            try:
                target = await pick_successor(self.client, self.name, self.namespace,
                                              self.identity, successor, self.timings)
            except (ApiError, ClientError) as e:
                _log.warning("%s: could not list candidates (%s); releasing", self._who(), e)
                target = None
            for _ in range(2):
                base = self._own
                if base is None:
                    return None
                spec, annotations = holder_write(base, target or "", self.timings,
                                                 handoff=bool(target))
                try:
                    lease = await self._lock.update(base, spec, annotations)
                except Conflict:
                    current = await self._lock.get()
                    self._observe_read(current)
                    if current is None or (
                        LeaderElectionRecord.from_lease(current).holder_identity != self.identity
                    ):
                        return None
                    self._own = current
                    continue
                except NotFound:
                    return None
                except (ApiError, ClientError) as e:
                    _log.warning("%s: could not release the lease (%s); it expires in %.1fs",
                                 self._who(), e, self.timings.lease_duration)
                    return None
                self._own = None
                self._observer.observe(lease)
                if target:
                    _log.info("%s: handed the lease to %r", self._who(), target)
                    self._emit(_EV.HANDED_OFF, holder=target)
                else:
                    _log.info("%s: released the lease", self._who())
                    self._emit(_EV.RELEASED)
                return target
        _log.warning("%s: releasing the lease timed out; it expires in %.1fs", self._who(),
                     self.timings.lease_duration)
        return None

    # -- plumbing -------------------------------------------------------------------

    def _observe_read(self, lease: dict[str, Any] | None) -> Observation | None:
        return self._observer.observe(lease, None if lease is not None else "")

    def _observed(self, new: Observation, old: Observation | None) -> None:
        record = new.record
        if record is not None and record.problems and record.key != self._warned_key:
            self._warned_key = record.key
            _log.warning(
                "%s: the lease has invalid fields (%s); it counts as held by %r until it stays "
                "unchanged for %.1fs on this replica's clock", self._who(),
                "; ".join(record.problems), record.holder_identity, self._duration(record),
            )
        if new.lease is None and old is not None and old.lease is not None:
            _log.warning("%s: the lease was deleted (last holder %r)", self._who(), old.holder)
        if old is None or new.holder != old.holder:
            self._emit(_EV.LEADER_CHANGED, holder=new.holder)
            if self._on_new_leader is not None:
                try:
                    self._on_new_leader(new.holder)
                except Exception:
                    _log.exception("on_new_leader raised")
        self._notify()

    def _emit(
        self, kind: ElectionEventKind, *, holder: str = "", sent: float | None = None,
        detail: str = "",
    ) -> None:
        if self._on_event is None:
            return
        event = ElectionEvent(
            kind=kind, at=anyio.current_time(), identity=self.identity, holder=holder,
            term=self._term, sent=sent, detail=detail,
        )
        try:
            self._on_event(event)
        except Exception:
            _log.exception("on_event raised")

    def _new_wake(self) -> anyio.Event:
        if self._wake.is_set():
            self._wake = anyio.Event()
        return self._wake

    def _notify(self) -> None:
        self._wake.set()

    @staticmethod
    async def _sleep(wake: anyio.Event, timeout: float) -> None:
        if timeout <= 0:
            await anyio.lowlevel.checkpoint()
            return
        with anyio.move_on_after(timeout):
            await wake.wait()

    def _who(self) -> str:
        return f"{self.namespace}/{self.name} [{self.identity}]"
