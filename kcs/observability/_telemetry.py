"""The instruments: one Meter "kcs" and one Tracer "kcs", created once per provider pair."""

from __future__ import annotations

import weakref
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.metrics import (
    CallbackT,
    Counter,
    Histogram,
    Meter,
    MeterProvider,
)
from opentelemetry.metrics import (
    _Gauge as Gauge,
)
from opentelemetry.trace import Tracer, TracerProvider

__all__ = ["INSTRUMENTATION_NAME", "Telemetry", "default_telemetry"]

INSTRUMENTATION_NAME = "kcs"
"""The name of kcs's Meter and Tracer."""

_VERSION = "0.1.0.dev0"

# Request and reconcile durations: from 5 ms to a minute.
_DURATION_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)


class Telemetry:
    """kcs's instruments, bound to one MeterProvider and one TracerProvider.

    With no providers given it uses OpenTelemetry's global ones, which do nothing until
    the application installs an SDK (``opentelemetry.metrics.set_meter_provider``); the
    instruments made before that are upgraded when it does. Every hook in
    :mod:`kcs.observability` records through a :class:`Telemetry`, by default the one of
    :func:`default_telemetry`. Only the OpenTelemetry API is used.
    """

    def __init__(
        self,
        meter_provider: MeterProvider | None = None,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        self.meter: Meter = (
            meter_provider.get_meter(INSTRUMENTATION_NAME, _VERSION)
            if meter_provider is not None
            else metrics.get_meter(INSTRUMENTATION_NAME, _VERSION)
        )
        """The Meter "kcs"."""
        self.tracer: Tracer = (
            tracer_provider.get_tracer(INSTRUMENTATION_NAME, _VERSION)
            if tracer_provider is not None
            else trace.get_tracer(INSTRUMENTATION_NAME, _VERSION)
        )
        """The Tracer "kcs"."""
        m = self.meter
        self.informers: weakref.WeakSet[Any] = weakref.WeakSet()
        """The informers observed (see :func:`observe_informer`); callbacks read them."""
        self.queues: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()
        """The work queues observed by name (see :func:`observe_queue`)."""
        self.pull_registered: set[str] = set()
        """Which groups of observable instruments were registered (made once)."""
        # kcs.client
        self.client_requests: Counter = m.create_counter(
            "kcs.client.requests", "{request}",
            "Calls to the apiserver, by verb, resource and HTTP status code.",
        )
        self.client_request_duration: Histogram = m.create_histogram(
            "kcs.client.request.duration", "s",
            "Seconds from a call to its end, retries and rate-limit waits included.",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self.client_retries: Counter = m.create_counter(
            "kcs.client.retries", "{retry}",
            "Attempts repeated after 5xx answers and connection errors.",
        )
        self.client_throttled: Counter = m.create_counter(
            "kcs.client.throttled", "{response}", "429 TooManyRequests answers received.",
        )
        self.client_rate_limit_wait: Histogram = m.create_histogram(
            "kcs.client.rate_limit.wait", "s",
            "Seconds a call waited on the client-side rate limiter.",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        # kcs.workqueue
        self.workqueue_adds: Counter = m.create_counter(
            "kcs.workqueue.adds", "{key}", "Keys that started waiting (dedup not counted).",
        )
        self.workqueue_depth: Gauge = m.create_gauge(
            "kcs.workqueue.depth", "{key}", "Keys waiting to be handed to a worker.",
        )
        self.workqueue_queue_duration: Histogram = m.create_histogram(
            "kcs.workqueue.queue_duration", "s",
            "Seconds a key waited, from due to handed out.",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self.workqueue_work_duration: Histogram = m.create_histogram(
            "kcs.workqueue.work_duration", "s", "Seconds from a key handed out to done.",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self.workqueue_retries: Counter = m.create_counter(
            "kcs.workqueue.retries", "{key}", "Keys added back with per-key backoff.",
        )
        self.workqueue_dropped: Counter = m.create_counter(
            "kcs.workqueue.dropped", "{key}",
            "Keys discarded at shutdown, or added after it (reason: shutdown, ignored).",
        )
        # kcs.reconcile
        self.reconciles: Counter = m.create_counter(
            "kcs.reconcile.count", "{reconcile}", "Reconciles ended, by controller and outcome.",
        )
        self.reconcile_duration: Histogram = m.create_histogram(
            "kcs.reconcile.duration", "s", "Seconds one reconcile took.",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self.reconcile_errors: Counter = m.create_counter(
            "kcs.reconcile.errors", "{reconcile}",
            "Reconciles that raised (outcome: error, timeout, terminal).",
        )
        self.reconcile_requeues: Counter = m.create_counter(
            "kcs.reconcile.requeues", "{reconcile}",
            "Reconciles that asked to run again (outcome: requeue, requeue_after).",
        )
        self.read_your_writes_wait: Histogram = m.create_histogram(
            "kcs.reconcile.read_your_writes.wait", "s",
            "Seconds a key waited for the caches to see its own writes.",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        # kcs.leader
        self.leader_transitions: Counter = m.create_counter(
            "kcs.leader.transitions", "{transition}",
            "Times this replica started or stopped leading (direction: started, stopped).",
        )
        self.leader_changes: Counter = m.create_counter(
            "kcs.leader.changes", "{change}", "New lease holders this replica observed.",
        )

    def observe(
        self, name: str, unit: str, description: str, callback: CallbackT, *,
        gauge: bool = False,
    ) -> None:
        """Register an observable counter (or gauge) read by ``callback`` at collection."""
        if gauge:
            self.meter.create_observable_gauge(name, [callback], unit, description)
        else:
            self.meter.create_observable_counter(name, [callback], unit, description)


_default: Telemetry | None = None


def default_telemetry() -> Telemetry:
    """The process-wide :class:`Telemetry` on the global providers (made on first use)."""
    global _default
    if _default is None:
        _default = Telemetry()
    return _default
