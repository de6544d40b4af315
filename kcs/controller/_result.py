"""What a reconcile returns, and the error that stops retries."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Result", "TerminalError"]


@dataclass(frozen=True, slots=True)
class Result:
    """The outcome of a successful reconcile.

    Returning ``None`` (or ``Result()``) means done: the key's failure count is reset and
    it is reconciled again only when a watched object changes.

    * ``requeue_after=s``: reconcile the key again in ``s`` seconds (its failure count is
      reset first), unless a change brings it back sooner: a key has one deadline, the
      earliest wins.

    There is no ``requeue=True`` (controller-runtime deprecated it): to retry with
    backoff, raise; to poll, return ``Result(requeue_after=s)``.
    """

    requeue_after: float | None = None

    def __post_init__(self) -> None:
        if self.requeue_after is not None and self.requeue_after < 0:
            raise ValueError("requeue_after must not be negative")


class TerminalError(Exception):
    """Raise from ``reconcile`` to report a failure that retrying cannot fix.

    The error is logged and counted; the key is **not** retried (its failure count is
    reset). It is reconciled again when a watched object changes, which is what can fix
    a terminal error (a user edits a bad spec). The original exception, if any, is best
    chained: ``raise TerminalError("bad spec") from exc``.
    """
