"""Reconciles: the :class:`~kcs.controller.ControllerMetrics` hook and the reconcile span."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode

from kcs.observability._telemetry import Telemetry, default_telemetry

__all__ = ["ReconcileTelemetry", "reconcile_span"]

_ERRORS = frozenset({"error", "timeout", "terminal"})
_REQUEUES = frozenset({"requeue", "requeue_after"})


class ReconcileTelemetry:
    """A :class:`~kcs.controller.ControllerMetrics` recording ``kcs.reconcile.*``.

    Attributes: ``controller`` (its name) and ``outcome`` (``success``, ``requeue``,
    ``requeue_after``, ``error``, ``terminal``, ``timeout``). Never raises.
    """

    __slots__ = ("_t",)

    def __init__(self, telemetry: Telemetry | None = None) -> None:
        self._t = telemetry if telemetry is not None else default_telemetry()

    def reconcile_done(self, controller: str, outcome: str, seconds: float) -> None:
        """Count the reconcile and record its duration."""
        attrs = {"controller": controller, "outcome": outcome}
        t = self._t
        t.reconciles.add(1, attrs)
        t.reconcile_duration.record(seconds, attrs)
        if outcome in _ERRORS:
            t.reconcile_errors.add(1, attrs)
        elif outcome in _REQUEUES:
            t.reconcile_requeues.add(1, attrs)

    def read_your_writes_waited(self, controller: str, seconds: float, reached: bool) -> None:
        """Record the wait in ``kcs.reconcile.read_your_writes.wait``."""
        self._t.read_your_writes_wait.record(
            seconds, {"controller": controller, "reached": reached}
        )


@contextmanager
def reconcile_span(
    controller: str, namespace: str, name: str, telemetry: Telemetry | None = None
) -> Iterator[Span]:
    """One span ``"reconcile <controller>"`` around a reconcile, current inside the block.

    API calls made in the block become its children (through :class:`ClientTelemetry`).
    Attributes: ``kcs.controller``, ``k8s.namespace.name`` (when not empty) and
    ``k8s.object.name``: the key only, never the object's contents. An exception marks
    the span as an error with the exception's type name (not its message, which may quote
    data); cancellation ends the span without an error.
    """
    t = telemetry if telemetry is not None else default_telemetry()
    attrs = {"kcs.controller": controller, "k8s.object.name": name}
    if namespace:
        attrs["k8s.namespace.name"] = namespace
    span = t.tracer.start_span(f"reconcile {controller}", attributes=attrs)
    with trace.use_span(
        span, end_on_exit=True, record_exception=False, set_status_on_exception=False
    ):
        try:
            yield span
        except Exception as exc:
            span.set_attribute("error.type", type(exc).__name__)
            span.set_status(Status(StatusCode.ERROR))
            raise
