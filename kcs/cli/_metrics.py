"""``--metrics-bind-address``: /metrics on the health port, on its own port, or off."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from kcs.cli._load import LoadError
from kcs.manager import Manager

if TYPE_CHECKING:
    from kcs.observability.prometheus import PrometheusMetrics

__all__ = ["MetricsEndpoint"]

_log = logging.getLogger("kcs.cli")

_EXTRA_HINT = "pip install 'kcs[prometheus]'"


class MetricsEndpoint:
    """Where /metrics is served (``None``: nowhere) and the metrics it serves."""

    def __init__(self, metrics: PrometheusMetrics | None,
                 bind: tuple[str, int] | None, on_health: bool) -> None:
        self.metrics = metrics
        self.bind = bind
        self.on_health = on_health

    @classmethod
    def from_flag(cls, flag: tuple[str, int] | str | None,
                  health: tuple[str, int] | None) -> MetricsEndpoint:
        """Install the Prometheus reader now (before any instrument is made) if metrics are
        wanted. The default (``"health"``) serves them on the health port when the
        ``prometheus`` extra is installed and says how to get it when not; an explicit
        address without the extra is an error (:class:`LoadError`)."""
        if flag is None or (flag == "health" and health is None):
            return cls(None, None, False)
        try:
            from kcs.observability.prometheus import install_prometheus
        except ImportError as exc:
            if flag == "health":
                _log.info("no /metrics: the prometheus extra is not installed (%s)", _EXTRA_HINT)
                return cls(None, None, False)
            raise LoadError(f"--metrics-bind-address needs {_EXTRA_HINT} ({exc})") from None
        metrics = install_prometheus()
        if flag == "health":
            return cls(metrics, None, True)
        assert not isinstance(flag, str)
        return cls(metrics, flag, False)

    @asynccontextmanager
    async def serving(self, manager: Manager) -> AsyncIterator[None]:
        """Serve /metrics while the body runs (the manager's health server serves it
        from its start when that is where it goes)."""
        if self.metrics is None:
            yield
            return
        if self.on_health:
            assert manager.health is not None
            manager.health.add_route("/metrics", self.metrics.handle)
            yield
            return
        from kcs.observability.prometheus import MetricsServer

        assert self.bind is not None
        async with MetricsServer(self.metrics, host=self.bind[0], port=self.bind[1]):
            yield
