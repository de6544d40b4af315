# ruff: noqa: ASYNC109  (the timeout bounds the whole release, as documented)
"""Giving the lease up after the work has stopped: hand it to a successor, or release it.

Both are one preconditioned update of the lease this term last wrote: to the successor
(``holderIdentity`` = it, the preferred-holder annotation naming it until it confirms),
or released (``holderIdentity`` = ``""``, ``leaseDurationSeconds`` 1, as client-go).
A conflict that still shows us as the holder is retried once with the fresh lease; any
other outcome leaves the lease to expire as after a crash.
"""

from __future__ import annotations

import logging

import anyio

from kcs.client import ClientError
from kcs.core import ApiError
from kcs.leaderelection._context import Election
from kcs.leaderelection._events import ElectionEventKind
from kcs.leaderelection._handoff import Successor, pick_successor
from kcs.leaderelection._lock import holder_write
from kcs.leaderelection._ownwrite import write_own
from kcs.leaderelection._term import Term

__all__ = ["release_lease"]

_log = logging.getLogger("kcs.leaderelection")


async def release_lease(
    election: Election, term: Term, successor: Successor, timeout: float
) -> str | None:
    """Write the lease of ``term`` to ``successor`` (or release it), within ``timeout``
    seconds; returns the identity it was handed to, or ``None``. Call only once the work
    of ``term`` has stopped."""
    el = election
    with anyio.move_on_after(timeout):
        try:
            target = await pick_successor(el.client, el.name, el.namespace, el.identity,
                                          successor, el.timings)
        except (ApiError, ClientError) as e:
            _log.warning("%s: could not list candidates (%s); releasing", el.who, e)
            target = None
        for _ in range(2):
            base = term.own
            if base is None:
                return None
            spec, annotations = holder_write(base, target or "", el.timings,
                                             handoff=bool(target))
            try:
                written = await write_own(el, base, spec, annotations)
            except (ApiError, ClientError) as e:
                _log.warning("%s: could not release the lease (%s); it expires in %.1fs",
                             el.who, e, el.timings.lease_duration)
                return None
            if written.read_error is not None:
                _log.warning("%s: releasing the lease conflicted and reading it failed "
                             "(%s); it expires in %.1fs", el.who, written.read_error,
                             el.timings.lease_duration)
                return None
            if written.retry is not None:
                term.own = written.retry
                continue
            if written.lease is None:
                return None  # taken or deleted meanwhile: nothing of ours to give up
            term.own = None
            el.observer.observe(written.lease)
            if target:
                _log.info("%s: handed the lease to %r", el.who, target)
                el.emit(ElectionEventKind.HANDED_OFF, holder=target)
            else:
                _log.info("%s: released the lease", el.who)
                el.emit(ElectionEventKind.RELEASED)
            return target
    _log.warning("%s: releasing the lease timed out; it expires in %.1fs", el.who,
                 el.timings.lease_duration)
    return None
