"""``/metrics`` in the Prometheus text format, scraped from a running ``kcs run`` (a Manager
with a controller and leader election) against the fake apiserver: the informer, work
queue, reconcile, leader-election and client metrics of ``docs/observability.md``, on the
health port by default, on a port of its own, or off."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from cli_helpers import CONTROLLERS, http_get, kcs_process
from prometheus_client.parser import text_string_to_metric_families

from kcs.testing import FakeApiServer, eventually

pytestmark = [pytest.mark.anyio]

TOKEN = "metrics-token-0123456789abcdef"


@pytest.fixture
def app(tmp_path: Path) -> Path:
    path = tmp_path / "stamp.py"
    path.write_text(CONTROLLERS)
    return path


def _samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def _value(samples: dict[str, list[tuple[dict[str, str], float]]], metric: str, /,
           **labels: str) -> float:
    matching = [v for lbl, v in samples.get(metric, []) if labels.items() <= lbl.items()]
    assert matching, f"no {metric}{labels} in {sorted(samples)}"
    return sum(matching)


def _args(app: Path, kubeconfig: Path, *extra: str) -> list[str]:
    return ["run", str(app), "--kubeconfig", str(kubeconfig), "--identity", "m",
            "--health-bind-address", "127.0.0.1:0", "--lease-duration", "2",
            "--renew-deadline", "1.2", "--retry-period", "0.3", *extra]


@pytest.mark.slow
@pytest.mark.timeout(60)
async def test_metrics_on_the_health_port_show_every_layer(app: Path, tmp_path: Path) -> None:
    async with FakeApiServer(token=TOKEN) as api:
        for i in range(3):
            api.create("configmaps", {"metadata": {"name": f"c{i}", "namespace": "default"},
                                      "data": {"value": str(i)}})
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
        async with kcs_process(_args(app, kubeconfig)) as proc:
            port = await proc.health_port()

            async def scraped() -> dict[str, list[tuple[dict[str, str], float]]] | None:
                status, text, ctype = await http_get(port, "/metrics")
                assert status == 200 and ctype.startswith("text/plain"), (status, ctype)
                assert TOKEN not in text
                s = _samples(text)
                # Three reconciles need not be three patches (a key's own patch brings it
                # back once more): wait for what the assertions below count.
                patches = [v for lbl, v in s.get("kcs_client_requests_total", [])
                           if lbl.get("verb") == "patch" and lbl.get("resource") == "configmaps"]
                reconciles = [v for _, v in s.get("kcs_reconcile_count_total", [])]
                return s if sum(patches) >= 3 and sum(reconciles) >= 3 else None

            s = await eventually(scraped, 20, "three patches and three reconciles counted")
            assert await proc.stop() == 0, proc.text()
    # informers (read from the informers' own counters at scrape time)
    assert _value(s, "kcs_informer_objects", resource="configmaps") == 3
    assert _value(s, "kcs_informer_lists_total", resource="configmaps") >= 1
    assert _value(s, "kcs_informer_events_total", resource="configmaps") >= 3
    assert "kcs_informer_staleness_seconds" in s
    # the controller's work queue, named after the controller
    assert _value(s, "kcs_workqueue_adds_total", name="stamp") >= 3
    assert _value(s, "kcs_workqueue_work_duration_seconds_count", name="stamp") >= 3
    assert "kcs_workqueue_depth" in s
    # reconciles, by controller and outcome
    assert _value(s, "kcs_reconcile_count_total", controller="stamp", outcome="success") >= 3
    assert _value(s, "kcs_reconcile_duration_seconds_count", controller="stamp") >= 3
    # leader election, on the Lease the command derived from the target
    assert _value(s, "kcs_leader_is_leader", lease="kcs-stamp") == 1
    assert _value(s, "kcs_leader_transitions_total", lease="kcs-stamp", direction="started") == 1
    # the client, by verb and resource (no URL, no name)
    assert _value(s, "kcs_client_requests_total", verb="patch", resource="configmaps") >= 3
    assert all("name" not in lbl for lbl, _ in s["kcs_client_requests_total"])


@pytest.mark.timeout(60)
async def test_metrics_on_their_own_port_or_off(app: Path, tmp_path: Path) -> None:
    async with FakeApiServer() as api:
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
        async with kcs_process(_args(app, kubeconfig, "--metrics-bind-address",
                                     "127.0.0.1:0")) as proc:
            health, metrics = await proc.health_port(), await proc.metrics_port()
            assert health != metrics
            status, text, _ = await eventually(lambda: http_get(metrics, "/metrics"), 10, "up")
            assert status == 200 and "kcs_informer_objects" in text
            assert (await http_get(health, "/metrics"))[0] == 404
            assert await proc.stop() == 0
        async with kcs_process(_args(app, kubeconfig, "--metrics-bind-address", "0")) as proc:
            health = await proc.health_port()
            await eventually(lambda: _ok(health, "/readyz"), 10, "ready")
            assert (await http_get(health, "/metrics"))[0] == 404
            assert await proc.stop() == 0


async def _ok(port: int, path: str) -> bool:
    return (await http_get(port, path))[0] == 200


WITHOUT_EXTRA = """
import sys
sys.modules["opentelemetry.exporter.prometheus"] = None  # as if kcs[prometheus] were absent
from kcs.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.timeout(60)
async def test_without_the_extra_the_default_says_how_to_get_it_and_an_address_is_an_error(
    app: Path, tmp_path: Path,
) -> None:
    async with FakeApiServer() as api:
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
        cmd = [sys.executable, "-c", WITHOUT_EXTRA, *_args(app, kubeconfig)[0:]]
        explicit = await anyio.run_process([*cmd, "--metrics-bind-address", "127.0.0.1:0"],
                                           check=False)
        assert explicit.returncode == 2
        assert "pip install 'kcs[prometheus]'" in explicit.stderr.decode()
        async with await anyio.open_process(cmd) as process:
            assert process.stderr is not None
            seen = b""
            with anyio.fail_after(20):
                while b"caches synced" not in seen:
                    seen += await process.stderr.receive()
            process.terminate()
            assert await process.wait() == 0
        assert b"no /metrics: the prometheus extra is not installed" in seen


@pytest.mark.timeout(30)
def test_install_prometheus_refuses_a_second_meter_provider() -> None:
    code = ("from opentelemetry import metrics\n"
            "from opentelemetry.sdk.metrics import MeterProvider\n"
            "metrics.set_meter_provider(MeterProvider())\n"
            "from kcs.observability.prometheus import install_prometheus\n"
            "try:\n    install_prometheus()\nexcept RuntimeError as e:\n    print(e)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=20, check=True)
    assert "a MeterProvider is already installed" in proc.stdout, proc.stdout + proc.stderr
