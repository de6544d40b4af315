"""The OpenTelemetry SDK with in-memory reader and exporter, installed once as the global
providers (as an application would), for the observability tests."""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


@dataclass
class Otel:
    reader: InMemoryMetricReader
    spans: InMemorySpanExporter


_OTEL: Otel | None = None


def installed_otel() -> Otel:
    global _OTEL
    if _OTEL is None:
        reader = InMemoryMetricReader()
        exporter = InMemorySpanExporter()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
        trace.set_tracer_provider(tracer_provider)
        _OTEL = Otel(reader, exporter)
    return _OTEL
