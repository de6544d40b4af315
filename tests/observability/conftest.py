"""OpenTelemetry SDK with in-memory reader and exporter, installed once as the global providers.

The hooks kcs installs by default record to the global providers, so the tests install the
SDK exactly as an application would (once per process) and read what was recorded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from kcs.client import Client
from kcs.informer import InformerFactory
from kcs.testing import FakeApiServer


@dataclass
class Otel:
    reader: InMemoryMetricReader
    spans: InMemorySpanExporter


_OTEL: Otel | None = None


@pytest.fixture
def otel() -> Iterator[Otel]:
    global _OTEL
    if _OTEL is None:
        reader = InMemoryMetricReader()
        exporter = InMemorySpanExporter()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
        trace.set_tracer_provider(tracer_provider)
        _OTEL = Otel(reader, exporter)
    _OTEL.spans.clear()
    yield _OTEL


@pytest.fixture
async def api() -> AsyncIterator[FakeApiServer]:
    async with FakeApiServer(bookmark_interval=0.2, token="s3cr3t-token-value") as server:
        yield server


@pytest.fixture
async def client(api: FakeApiServer) -> AsyncIterator[Client]:
    async with Client.from_url(api.url, "s3cr3t-token-value") as c:
        yield c


@pytest.fixture
def factory(client: Client) -> InformerFactory:
    return InformerFactory(client)
