"""What every benchmark shares: sizes, medians of alternating rounds, child processes, RSS."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass

Metrics = dict[str, float]


@dataclass(frozen=True)
class Sizes:
    """Benchmark sizes: ``quick`` must finish in about 5 minutes on 2 cores."""

    quick: bool

    @property
    def n(self) -> int:
        """Objects in a cache: 20,000 quick, 100,000 full."""
        return 20_000 if self.quick else 100_000

    @property
    def rounds(self) -> int:
        """Alternating rounds whose median is reported."""
        return 3 if self.quick else 5


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def alternate(rounds: int, runs: dict[str, Callable[[], float]]) -> dict[str, float]:
    """Run each function once per round, alternating, and return the median per name."""
    results: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, fn in runs.items():
            results[name].append(fn())
    return {name: median(vals) for name, vals in results.items()}


def rss_bytes() -> int:
    """This process's resident set size."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def in_child(module: str, func: str, *args: str, timeout: float = 600) -> Metrics:
    """Run ``module.func(*args)`` in a fresh interpreter and return the metrics it prints.

    Memory figures need a process of their own: RSS never shrinks back.
    """
    code = (
        "import json, sys, importlib; "
        f"m = importlib.import_module({module!r}); "
        f"print(json.dumps(getattr(m, {func!r})(*sys.argv[1:])))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    result: Metrics = json.loads(out.stdout.strip().splitlines()[-1])
    return result
