"""index.*: indexed reads of a kcs lister vs a linear scan of a dict, in the same process.

N typical pods over 100 namespaces, each carrying ``shard=s0..s99`` (~1 % per value).

* ``list_by_namespace_us``: the ~N/100 pods of one namespace.
* ``list_by_label_us``: the pods matching ``shard=sK`` (~1 %).
* ``ratio_vs_scan``: the geometric mean of scan / kcs over both queries.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from typing import Any

from benchmarks import _kcs
from benchmarks._harness import Metrics, alternate
from benchmarks._pods import pod_bytes, sizes

QUERIES = 20  # distinct namespaces / shard values per timing


def _timer(query: Callable[[int], int], expect: list[int], repeat: int) -> Callable[[], float]:
    """Microseconds per query, over ``repeat`` passes of the QUERIES queries."""

    def timed() -> float:
        t0 = time.perf_counter()
        for _ in range(repeat):
            for k in range(QUERIES):
                query(k)
        elapsed = time.perf_counter() - t0
        got = [query(k) for k in range(QUERIES)]
        assert got == expect, "the two sides disagree"
        return elapsed / (repeat * QUERIES) * 1e6

    return timed


def run(quick: bool) -> Metrics:
    """Measure indexed list latency against a scan; returns the ``index.*`` metrics."""
    n, rounds = sizes(quick)
    raw = pod_bytes(n)
    lister = _kcs.lister(_kcs.filled_store(raw, str(n)))
    plain: dict[str, dict[str, Any]] = {}
    for data in raw:
        obj = json.loads(data)
        plain[f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"] = obj
    del raw

    def kcs_ns(k: int) -> int:
        return len(lister.list(f"ns-{k}"))

    def scan_ns(k: int) -> int:
        ns = f"ns-{k}"
        return len([o for o in plain.values() if o["metadata"]["namespace"] == ns])

    def kcs_label(k: int) -> int:
        return len(lister.list(label_selector={"shard": f"s{k}"}))

    def scan_label(k: int) -> int:
        v = f"s{k}"
        return len([o for o in plain.values()
                    if o["metadata"].get("labels", {}).get("shard") == v])

    out: Metrics = {}
    for name, kcs_q, scan_q in (("list_by_namespace_us", kcs_ns, scan_ns),
                                ("list_by_label_us", kcs_label, scan_label)):
        expect = [scan_q(k) for k in range(QUERIES)]
        assert all(expect), "every query should match some pods"
        scan_repeat = max(1, 200_000 // (n * QUERIES))
        kcs_repeat = max(5, 2_000_000 // (n * QUERIES) * 5)
        med = alternate(rounds, {"kcs": _timer(kcs_q, expect, kcs_repeat),
                                 "scan": _timer(scan_q, expect, scan_repeat)})
        out[f"index.{name}.kcs"] = med["kcs"]
        out[f"index.{name}.scan"] = med["scan"]
    ratios = [out[f"index.{q}.scan"] / out[f"index.{q}.kcs"]
              for q in ("list_by_namespace_us", "list_by_label_us")]
    out["index.ratio_vs_scan"] = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
    return out
