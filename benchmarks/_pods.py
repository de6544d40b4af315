"""Shared by the benchmarks that need a fake apiserver full of typical pods.

Sizes can be overridden (for the smoke test only) with ``KCS_BENCH_N`` and
``KCS_BENCH_ROUNDS``; ``python -m benchmarks --tiny`` sets both.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import aiohttp
import orjson

from benchmarks._harness import Sizes
from kcs.core import builtin
from kcs.testing import ApiServerProcess, typical_pod

PODS = builtin("pods")
SEED_BATCH = 140  # pods per control-channel call: its bodies must stay < 1 MB
SERVER_ARGS: list[str] = []
# Typical pods name ReplicaSets that the benchmarks do not create: a cluster's garbage
# collector would delete them, so the servers of these benchmarks run without it.
CONTROLLERS_OFF = ("garbage-collector-controller",)


def sizes(quick: bool) -> tuple[int, int]:
    """``(n, rounds)`` for this run: the run's sizes unless overridden (smoke test)."""
    s = Sizes(quick)
    n = int(os.environ.get("KCS_BENCH_N", s.n))
    rounds = int(os.environ.get("KCS_BENCH_ROUNDS", s.rounds))
    return n, rounds


def tiny() -> bool:
    """Whether the sizes are overridden (the smoke test): scale fixed counts down too."""
    return "KCS_BENCH_N" in os.environ


def pod_dicts(n: int, seed: int = 0, offset: int = 0) -> Iterator[dict[str, Any]]:
    """The typical pods offset..offset+n-1, with no resourceVersion."""
    for i in range(offset, offset + n):
        pod = typical_pod(i, seed)
        pod["metadata"].pop("resourceVersion", None)
        yield pod


_generated: list[bytes] = []


def pod_bytes(n: int) -> list[bytes]:
    """The typical pods 0..n-1 (seed 0) as JSON with no resourceVersion.

    Generated once per process and reused (building a typical pod takes a while).
    Read from ``KCS_BENCH_PODS_FILE`` (JSON lines, written by :func:`write_pods`) if set.
    """
    if len(_generated) < n:
        path = os.environ.get("KCS_BENCH_PODS_FILE")
        if path and not _generated:
            with open(path, "rb") as f:
                _generated.extend(line.rstrip(b"\n") for line in f)
        start = len(_generated)
        _generated.extend(orjson.dumps(p) for p in pod_dicts(n - start, offset=start))
    return _generated[:n]


def write_pods(path: str, n: int) -> None:
    """Write :func:`pod_bytes` to ``path``, one JSON object a line."""
    with open(path, "wb") as f:
        for data in pod_bytes(n):
            f.write(data + b"\n")


async def seed_pods(api: ApiServerProcess, n: int) -> int:
    """Load ``n`` typical pods into the server; returns its revision afterwards.

    Posts the prepared JSON straight to the control channel's ``seed`` endpoint (the
    same request :meth:`ApiServerProcess.seed` sends, without re-encoding dicts).
    """
    revision = 0
    pods = pod_bytes(n)
    async with aiohttp.ClientSession() as session:
        for start in range(0, n, SEED_BATCH):
            body = b'{"resource":"pods","objects":[' + b",".join(
                pods[start:start + SEED_BATCH]) + b"]}"
            async with session.post(f"{api.url}/_fake/seed", data=body,
                                    headers={"Content-Type": "application/json"}) as resp:
                resp.raise_for_status()
                revision = int((await resp.json())["revision"])
    # Seeding made namespaces: the cluster's service-account controller gives each its
    # default ServiceAccount. Let it finish, so that nothing else writes while measuring.
    await api.wait_controllers_idle()
    return max(revision, int((await api.state())["revision"]))


def percentile(values: list[float], q: float) -> float:
    """The ``q``-quantile (0..1) of ``values``, nearest rank."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[k]
