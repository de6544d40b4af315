"""Client requests: metrics for every call, and a child span when a span is current."""

from __future__ import annotations

import logging
import time

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from kcs.client._observer import NOOP_OBSERVER, RequestObserver, RequestRecord
from kcs.observability._telemetry import Telemetry, default_telemetry

__all__ = ["ClientTelemetry"]

_log = logging.getLogger(__name__)


class ClientTelemetry:
    """A :class:`~kcs.client.RequestObserver` that records ``kcs.client.*`` metrics.

    Install it with ``client.observer = ClientTelemetry()`` (the
    :class:`~kcs.manager.Manager` does it for its clients when they have none). Every
    record passes on to ``inner``, so it can be chained with another observer.

    Spans: when a span is current in the task that made the call (a reconcile span, see
    :func:`reconcile_span`), the call becomes its child span ``"<verb> <resource>"``,
    back-dated to when the call started. Calls made outside any span make no span, so the
    informers' watches do not flood the traces.

    Guarantees: attributes are only the verb, the resource (``plural.group``), the HTTP
    method and status code and the exception's type name; never a URL, a header, a token,
    a body or an exception message.
    """

    __slots__ = ("_inner", "_t")

    def __init__(
        self, telemetry: Telemetry | None = None, inner: RequestObserver = NOOP_OBSERVER
    ) -> None:
        self._t = telemetry if telemetry is not None else default_telemetry()
        self._inner = inner

    def request_done(self, record: RequestRecord) -> None:
        """Record one finished call; never raises."""
        try:
            self._record(record)
        except Exception:  # an observer must not raise
            _log.exception("kcs.observability: recording a request failed")
        self._inner.request_done(record)

    def _record(self, record: RequestRecord) -> None:
        t = self._t
        attrs: dict[str, str | int] = {"verb": record.verb, "resource": record.resource}
        if record.code is not None:
            attrs["code"] = record.code
        t.client_requests.add(1, attrs)
        t.client_request_duration.record(record.duration, attrs)
        base = {"verb": record.verb, "resource": record.resource}
        if record.retries:
            t.client_retries.add(record.retries, base)
        if record.throttled:
            t.client_throttled.add(record.throttled, base)
        if record.rate_limit_wait:
            t.client_rate_limit_wait.record(record.rate_limit_wait, base)
        parent = trace.get_current_span()
        if parent.get_span_context().is_valid:
            self._span(record, attrs)

    def _span(self, record: RequestRecord, attrs: dict[str, str | int]) -> None:
        end = time.time_ns()
        start = end - int(record.duration * 1e9)
        span_attrs: dict[str, str | int] = {
            "k8s.verb": record.verb,
            "k8s.resource": record.resource,
            "http.request.method": record.method,
        }
        if "code" in attrs:
            span_attrs["http.response.status_code"] = attrs["code"]
        if record.retries:
            span_attrs["kcs.retries"] = record.retries
        if record.throttled:
            span_attrs["kcs.throttled"] = record.throttled
        span = self._t.tracer.start_span(
            f"{record.verb} {record.resource}", kind=SpanKind.CLIENT,
            attributes=span_attrs, start_time=start,
        )
        if record.error is not None:
            span.set_attribute("error.type", type(record.error).__name__)
            span.set_status(Status(StatusCode.ERROR))
        span.end(end_time=end)

    def __repr__(self) -> str:
        return f"ClientTelemetry(inner={self._inner!r})"
