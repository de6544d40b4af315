"""A hook that sees every request a client finishes: the seam for metrics and tracing.

The client calls :meth:`RequestObserver.request_done` once per call of a verb (after all
its retries), and once per watch when its stream has started (or failed to). The default
observer does nothing. An observer must be quick and must not raise; an exception it
raises is logged and otherwise ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["NOOP_OBSERVER", "RequestObserver", "RequestRecord"]


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """What happened to one call.

    ``verb`` is the Kubernetes verb (``get``, ``list``, ``watch``, ``create``, ``update``,
    ``patch``, ``delete``, or ``discovery``); ``resource`` is the resource as
    ``plural.group`` (``pods``, ``deployments.apps``), with ``/subresource`` appended when
    one was addressed; ``code`` is the HTTP status of the last answer, or ``None`` when no
    answer came (connection error, timeout, cancellation). ``duration`` is seconds from the
    call to its end (for a watch: until the stream started), including rate-limit waits and
    retries; ``rate_limit_wait`` is the part spent waiting on the client-side rate limiter.
    ``retries`` counts repeated attempts after 5xx answers and connection errors,
    ``throttled`` the 429 answers that were waited out (and the final one, if raised).
    ``error`` is the exception the call raised, if any.
    """

    verb: str
    resource: str
    method: str
    code: int | None
    duration: float
    retries: int = 0
    throttled: int = 0
    rate_limit_wait: float = 0.0
    error: BaseException | None = None


class RequestObserver(Protocol):
    """Receives a :class:`RequestRecord` for every finished call."""

    def request_done(self, record: RequestRecord) -> None:
        """Called once per call, in the task that made it; must not block or raise."""
        ...


class _NoopObserver:
    __slots__ = ()

    def request_done(self, record: RequestRecord) -> None:
        """Ignore the record."""

    def __repr__(self) -> str:
        return "NOOP_OBSERVER"


NOOP_OBSERVER: RequestObserver = _NoopObserver()
"""The default observer: ignores every record."""
