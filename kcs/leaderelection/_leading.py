"""Keeping a term going: renew, notice the lease lost, drain on a stop or a hand-over.

:func:`keep_leading` runs beside the leader-only work for the whole term. Every
``retry_period`` it renews (:meth:`Term.renew`); it ends the term at once when the
observer shows the lease taken or deleted; when a graceful stop was asked for, or the
lease names another preferred holder that is an eligible candidate, it asks the work to
stop, keeps renewing while it drains, and ends the term (RELEASED or YIELDED) once the
work has returned or the drain timeout is over. The fence's own deadline needs no help
from here: the term's cancel scope and fence close on their own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import anyio

from kcs.client import ClientError
from kcs.core import ApiError
from kcs.leaderelection._context import Election
from kcs.leaderelection._events import EndReason
from kcs.leaderelection._handoff import Successor, is_eligible
from kcs.leaderelection._term import Term, TermState

__all__ = ["DEFAULT_DRAIN_TIMEOUT", "StopRequest", "keep_leading"]

_log = logging.getLogger("kcs.leaderelection")

DEFAULT_DRAIN_TIMEOUT = 10.0
"""Seconds the work gets to return after it was asked to stop."""


@dataclass(frozen=True, slots=True)
class StopRequest:
    """A graceful stop: whom to hand the lease to, how long the work may drain, how long
    the release write may take."""

    successor: Successor
    drain_timeout: float
    timeout: float


async def keep_leading(
    election: Election,
    term: Term,
    work_done: anyio.Event,
    stop_requested: Callable[[], StopRequest | None],
) -> None:
    """Renew, watch for loss, drain: until the term has been ended (see the module
    docstring). ``work_done`` is set when the work returned; ``stop_requested()`` says
    whether a graceful stop was asked for."""
    el = election
    timings = el.timings
    next_renew = term.leadership.acquired_at + timings.retry_period
    drain_until: float | None = None
    yield_checked: tuple[str, float] | None = None
    while True:
        armed = el.wakeup.arm()
        now = anyio.current_time()
        stop = stop_requested()
        if drain_until is None and (stop is not None or term.yield_to):
            drain_until = now + (stop.drain_timeout if stop is not None
                                 else DEFAULT_DRAIN_TIMEOUT)
            term.drain()
        if drain_until is not None and (work_done.is_set() or now >= drain_until):
            if not work_done.is_set():
                _log.warning("%s: work did not finish within the drain timeout; "
                             "cancelling it", el.who)
            term.end(EndReason.RELEASED if stop is not None else EndReason.YIELDED)
            return
        lost = term.lost_reason(el.observer.current)
        if lost is not None:
            term.end(lost)
            return
        if drain_until is None:
            yield_checked = await _check_yield(el, term, yield_checked)
            if term.yield_to:
                continue
        if now >= next_renew:
            next_renew = now + timings.retry_period
            await term.renew()
            if term.state not in (TermState.LEADING, TermState.DRAINING):
                return
            continue
        wait = next_renew - now
        if drain_until is not None:
            wait = min(wait, drain_until - now)
        await el.wakeup.sleep(armed, wait)


async def _check_yield(
    el: Election, term: Term, checked: tuple[str, float] | None
) -> tuple[str, float] | None:
    """A preferred holder set on the lease (by an operator or a coordinator) asks the
    leader to hand over: do so if that replica is an eligible candidate. Returns when it
    was last checked, so that it is checked once per lease duration."""
    obs = el.observer.current
    preferred = obs.record.preferred_holder if obs is not None and obs.record else ""
    if not preferred or preferred == el.identity:
        return checked
    now = anyio.current_time()
    if checked is not None and checked[0] == preferred and now < checked[1]:
        return checked
    checked = (preferred, now + el.timings.lease_duration)
    try:
        with anyio.fail_after(el.timings.request_timeout):
            eligible = await is_eligible(el.client, el.name, el.namespace, preferred,
                                         el.timings)
    except (ApiError, ClientError, TimeoutError) as e:
        _log.info("%s: could not read candidate %r: %s", el.who, preferred, e)
        return checked
    if eligible:
        _log.info("%s: the lease prefers %r; handing over", el.who, preferred)
        term.yield_to = preferred
    else:
        _log.warning("%s: the lease prefers %r, which is not an eligible candidate "
                     "(none, not synced, or not fresh); keeping the lease",
                     el.who, preferred)
    return checked
