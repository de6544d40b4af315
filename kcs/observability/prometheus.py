"""kcs's metrics in the Prometheus text format, for ``/metrics`` (the ``prometheus`` extra).

The library records through the OpenTelemetry API only; this module is the application
side: it installs the OpenTelemetry SDK with the Prometheus exporter's reader as the
global MeterProvider, and renders what it collects for a scrape. It needs
``pip install kcs[prometheus]`` (``opentelemetry-sdk`` and
``opentelemetry-exporter-prometheus``) and is imported only on demand: nothing else in
kcs imports it.

.. code-block:: python

    from kcs.observability.prometheus import install_prometheus

    metrics = install_prometheus()              # before the Client and Manager are built
    manager.health.add_route("/metrics", metrics.handle)   # /metrics on the manager's port

``kcs run`` does both (``--metrics-bind-address``). Names follow the exporter's mapping of
OpenTelemetry to Prometheus: ``kcs.reconcile.count`` becomes ``kcs_reconcile_count_total``,
``kcs.reconcile.duration`` (seconds) ``kcs_reconcile_duration_seconds``.
"""

from __future__ import annotations

import logging
from types import TracebackType

from aiohttp import web
from opentelemetry import metrics
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

__all__ = ["MetricsServer", "PrometheusMetrics", "install_prometheus"]

_log = logging.getLogger("kcs.observability")


class PrometheusMetrics:
    """The global MeterProvider's metrics, rendered for Prometheus.

    ``registry`` is the ``prometheus_client`` registry the exporter's collector is in
    (the process-wide ``REGISTRY``, which also has the process and Python collectors).
    """

    def __init__(self, provider: MeterProvider, registry: CollectorRegistry = REGISTRY) -> None:
        self.provider = provider
        """The SDK MeterProvider installed as the global one."""
        self.registry = registry

    def render(self) -> bytes:
        """Collect now and return the Prometheus text exposition."""
        return generate_latest(self.registry)

    async def handle(self, request: web.Request) -> web.Response:
        """An aiohttp handler for ``GET /metrics``."""
        return web.Response(body=self.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})


def install_prometheus(service_name: str = "kcs") -> PrometheusMetrics:
    """Install an SDK MeterProvider that Prometheus scrapes as the global one, once.

    Call it before building clients and managers (instruments made earlier are upgraded
    too, by the OpenTelemetry API). ``service_name`` becomes the ``service.name`` resource
    attribute (in ``target_info``). Raises ``RuntimeError`` if another MeterProvider was
    installed before: OpenTelemetry allows one per process; add a
    ``PrometheusMetricReader`` to that provider's readers instead.
    """
    provider = MeterProvider(
        resource=Resource.create({"service.name": service_name}),
        metric_readers=[PrometheusMetricReader()],
    )
    metrics.set_meter_provider(provider)
    if metrics.get_meter_provider() is not provider:
        provider.shutdown()
        raise RuntimeError(
            "a MeterProvider is already installed in this process: add a "
            "PrometheusMetricReader to its metric_readers instead of calling install_prometheus()"
        )
    return PrometheusMetrics(provider)


class MetricsServer:
    """``GET /metrics`` alone on ``host:port`` (127.0.0.1 unless told otherwise; port 0
    picks a free port, readable from :attr:`port` after :meth:`start`). For when metrics
    should not share the health port; an async context manager."""

    def __init__(self, metrics: PrometheusMetrics, *, host: str = "127.0.0.1", port: int = 0
                 ) -> None:
        self.metrics = metrics
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Listen; returns once the port is bound."""
        app = web.Application()
        app.router.add_get("/metrics", self.metrics.handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        sockets = getattr(site._server, "sockets", None) or []
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        _log.info("metrics on http://%s:%d/metrics", self.host, self.port)

    async def stop(self) -> None:
        """Stop listening. Idempotent."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> MetricsServer:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()
