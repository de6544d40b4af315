"""The snippets of docs/observability.md run as written: the OTLP set-up exports kcs's
metrics and the program's spans to a collector (here one on 127.0.0.1, reading the OTLP
protobuf the exporters send) when the process exits; a Manager built by the Prometheus
snippet serves /metrics beside /healthz, with the leader-election metrics of its Lease."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from aiohttp import web
from doc_blocks import python_blocks
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

PAGE = Path(__file__).resolve().parents[2] / "docs" / "observability.md"

DRIVER = '''
import aiohttp, anyio
from kcs.testing import FakeApiServer

async def drive() -> None:
    async with FakeApiServer() as api, Client.from_url(api.url) as client:
        manager = make_manager(client)
        manager.handle_signals = False
        async with anyio.create_task_group() as tg:
            tg.start_soon(manager.run)
            await manager.started.wait()
            url = f"http://127.0.0.1:{manager.health.port}/metrics"
            with anyio.fail_after(10):
                while not manager.is_leader:
                    await anyio.sleep(0.05)
            async with aiohttp.ClientSession() as s, s.get(url) as r:
                print(r.status, r.headers["Content-Type"])
                print(await r.text())
            await manager.shutdown()

anyio.run(drive)
'''


@pytest.mark.timeout(60)
def test_the_prometheus_snippet_serves_metrics_beside_the_probes() -> None:
    snippet = next(s for s in re.findall(r"```python\n(.*?)```", PAGE.read_text(), re.S)
                   if "install_prometheus" in s)
    proc = subprocess.run([sys.executable, "-c", snippet + DRIVER], capture_output=True,
                          text=True, timeout=50, check=False)
    assert proc.returncode == 0, proc.stderr
    status, _, body = proc.stdout.partition("\n")
    assert status.startswith("200 text/plain"), status
    assert re.search(r'^kcs_leader_is_leader\{[^}]*lease="my-controller"[^}]*\} 1\.0$', body,
                     re.M), body[-2000:]
    assert "kcs_leader_transitions_total{" in body


OTLP_DRIVER = """
import anyio
from kcs.client import Client
from kcs.observability import ClientTelemetry
from kcs.testing import FakeApiServer

async def drive() -> None:
    with trace.get_tracer("docs-test").start_as_current_span("drive"):
        async with FakeApiServer() as api, \\
                Client.from_url(api.url, observer=ClientTelemetry()) as client:
            await client.list("pods", "default")

anyio.run(drive)
"""


@pytest.mark.anyio
@pytest.mark.timeout(60)
async def test_the_otlp_snippet_exports_to_a_collector() -> None:
    snippet = python_blocks("observability.md")[0]
    assert "OTLPMetricExporter" in snippet.code
    received: dict[str, list[bytes]] = {"/v1/metrics": [], "/v1/traces": []}

    async def collect(request: web.Request) -> web.Response:
        received[request.path].append(await request.read())
        return web.Response(content_type="application/x-protobuf")  # an empty Export*Response

    app = web.Application()
    app.router.add_post("/v1/metrics", collect)
    app.router.add_post("/v1/traces", collect)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}"}
        with anyio.fail_after(50):
            proc = await anyio.run_process([sys.executable, "-c", snippet.code + OTLP_DRIVER],
                                           env=env, check=False)
    finally:
        await runner.cleanup()
    assert proc.returncode == 0, proc.stderr.decode()
    metric_names: set[str] = set()
    services: set[str] = set()
    for body in received["/v1/metrics"]:
        metrics_request = ExportMetricsServiceRequest.FromString(body)
        for rm in metrics_request.resource_metrics:
            services.update(a.value.string_value for a in rm.resource.attributes
                            if a.key == "service.name")
            metric_names.update(m.name for sm in rm.scope_metrics for m in sm.metrics)
    spans = [span.name for body in received["/v1/traces"]
             for rs in ExportTraceServiceRequest.FromString(body).resource_spans
             for ss in rs.scope_spans for span in ss.spans]
    assert services == {"my-controller"}, services
    assert {"kcs.client.requests", "kcs.client.request.duration"} <= metric_names, metric_names
    assert sorted(spans) == ["drive", "list pods"], spans  # kcs's client span inside ours
