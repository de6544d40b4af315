"""Smoke test of the benchmark suite: each module runs at a tiny size and returns the
metric names of docs/benchmarks.md; the watch benchmark runs every baseline (lightkube,
lean, orjson_stripped, kubernetes-asyncio, kopf, raw) and both ceilings (decode,
transport), each in its own process.
Not timed: the figures at this size mean nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

WATCH_CLIENTS = ["kcs", "lightkube", "lean", "decode", "orjson_stripped", "k8s_asyncio", "kopf",
                 "raw", "transport"]
EXPECTED = {
    "watch": [*(f"watch.events_per_s.{c}" for c in WATCH_CLIENTS),
              *(f"watch.cpu_us_per_event.{c}" for c in WATCH_CLIENTS),
              *(f"watch.ratio_vs_{c}" for c in WATCH_CLIENTS if c != "kcs"),
              "watch.server_cpu_us_per_event",
              *(f"watch.bump.events_per_s.{c}" for c in ("kcs", "lightkube", "lean")),
              "watch.bump.cpu_us_per_event.kcs", "watch.bump.ratio_vs_lightkube",
              "watch.bump.ratio_vs_lean", "watch.decode_ceiling_vs_lean",
              "watch.bump.decode_ceiling_vs_lean",
              *(f"watch.stage_us.{stage}.{c}" for stage in ("decode", "cache")
                for c in ("kcs", "lean"))],
    "memory": ["memory.bytes_per_object.kcs", "memory.bytes_per_object.dict",
               "memory.ratio_vs_dict", "memory.gc_full_ms.kcs", "memory.gc_full_ms.dict",
               "memory.gc_ratio_vs_dict", "memory.bytes_per_object.dict_stripped",
               "memory.ratio_vs_dict_stripped", "memory.churn_growth",
               "memory.bytes_per_object.kcs_after_update"],
    "index": ["index.list_by_namespace_us.kcs", "index.list_by_namespace_us.scan",
              "index.list_by_label_us.kcs", "index.list_by_label_us.scan",
              "index.ratio_vs_scan"],
    "sync": ["sync.seconds.list", "sync.seconds.watch_list", "sync.seconds.snapshot",
             "sync.ratio_snapshot_vs_list", "sync.ratio_watch_list_vs_list",
             "sync.seconds.list_lightkube", "sync.seconds.list_first",
             "sync.ratio_list_vs_lightkube"],
    "latency": ["latency.watch_ms.p50", "latency.watch_ms.p99",
                "latency.consistent_read_ms.p50", "latency.consistent_read_ms.p99",
                "latency.live_get_ms.p50", "latency.consistent_quiet_ms.p50",
                "latency.consistent_quiet_ms.p99", "latency.consistent_quiet_vs_live_p50",
                "latency.consistent_quiet_vs_live_p99"],
    "sharding": ["sharding.memory_ratio_4", "sharding.throughput_ratio_2",
                 "sharding.throughput_ratio_4", "sharding.moved_share_join",
                 "sharding.dead_shard_recovery_s", "sharding.lease_duration_s",
                 "sharding.cpu_ms_per_reconcile_1", "sharding.cpu_ms_per_reconcile_2"],
}


@pytest.mark.timeout(90)
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_benchmark_runs_and_reports_its_metrics(name: str, tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KCS_BENCH_")}
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--tiny", "--only", name, "--json", str(out)],
        check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=80,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads(out.read_text())
    missing = [m for m in EXPECTED[name] if m not in metrics]
    assert not missing, missing
    assert all(isinstance(v, float) and v >= 0 for v in metrics.values())
    assert all(k.startswith(f"{name}.") for k in metrics)
    assert name in proc.stdout.split("\n", 2)[2]  # the table lists the metrics


def test_unknown_benchmark_is_refused() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--only", "nosuch"],
        check=False, cwd=ROOT, capture_output=True, text=True, timeout=30,
    )
    assert proc.returncode == 2
    assert "nosuch" in proc.stderr
