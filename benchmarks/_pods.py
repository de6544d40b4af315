"""Shared by the benchmarks that need a fake apiserver full of typical pods.

Sizes can be overridden (for the smoke test only) with ``KCS_BENCH_N`` and
``KCS_BENCH_ROUNDS``; ``python -m benchmarks --tiny`` sets both.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import orjson

from benchmarks._harness import Sizes
from kcs.client import builtin
from kcs.testing import ApiServerProcess, typical_pod

PODS = builtin("pods")
SEED_BATCH = 140  # pods per control-channel call: its bodies must stay < 1 MB
SERVER_ARGS: list[str] = []


def sizes(quick: bool) -> tuple[int, int]:
    """``(n, rounds)`` for this run: BENCHMARKS.md's sizes unless overridden (smoke test)."""
    s = Sizes(quick)
    n = int(os.environ.get("KCS_BENCH_N", s.n))
    rounds = int(os.environ.get("KCS_BENCH_ROUNDS", s.rounds))
    return n, rounds


def tiny() -> bool:
    """Whether the sizes are overridden (the smoke test): scale fixed counts down too."""
    return "KCS_BENCH_N" in os.environ


def pod_dicts(n: int, seed: int = 0) -> Iterator[dict[str, Any]]:
    """The typical pods 0..n-1, with no resourceVersion (the server assigns one)."""
    for i in range(n):
        pod = typical_pod(i, seed)
        pod["metadata"].pop("resourceVersion", None)
        yield pod


def pod_bytes(n: int, seed: int = 0) -> list[bytes]:
    """The typical pods 0..n-1 as JSON, as the apiserver would send them."""
    out = []
    for i, pod in enumerate(pod_dicts(n, seed)):
        pod["metadata"]["resourceVersion"] = str(i + 1)
        out.append(orjson.dumps(pod))
    return out


async def seed_pods(api: ApiServerProcess, n: int) -> int:
    """Load ``n`` typical pods into the server; returns its revision afterwards."""
    revision = 0
    batch: list[dict[str, Any]] = []
    for pod in pod_dicts(n):
        batch.append(pod)
        if len(batch) == SEED_BATCH:
            revision = await api.seed(PODS, batch)
            batch = []
    if batch:
        revision = await api.seed(PODS, batch)
    return revision


def percentile(values: list[float], q: float) -> float:
    """The ``q``-quantile (0..1) of ``values``, nearest rank."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[k]
