"""memory.*: bytes per cached typical pod, and one full ``gc.collect()`` with the cache full.

Each measurement runs in a fresh interpreter (:func:`~benchmarks._harness.in_child`): RSS
never shrinks back. The pods' JSON is built before the first RSS reading, so only what
the cache keeps is counted.

* ``kcs``: a :class:`~kcs.cache.Store` with the three indexes (namespace, every label
  key, ``spec.nodeName``), default settings, filled as an informer's first list fills it.
* ``dict``: ``json.loads`` dicts in a dict keyed namespace/name.
"""

from __future__ import annotations

import gc
import json
import os
import tempfile
import time
from typing import Any

from benchmarks._harness import Metrics, in_child, median, rss_bytes
from benchmarks._pods import pod_bytes, sizes, write_pods
from kcs.cache import Store
from kcs.core import codec_for

GC_REPEAT = 3


def _gc_ms() -> float:
    times = []
    for _ in range(GC_REPEAT):
        t0 = time.perf_counter()
        gc.collect()
        times.append((time.perf_counter() - t0) * 1000)
    return median(times)


def measure(kind: str, n: str) -> Metrics:
    """In a fresh process: fill a ``kind`` cache (``kcs`` or ``dict``) with ``n`` pods."""
    count = int(n)
    raw = pod_bytes(count)
    gc.collect()
    before = rss_bytes()
    keep: Any
    if kind == "kcs":
        store = Store(field_indexes=["spec.nodeName"])
        codec = codec_for("Pod")
        relist = store.relist()
        for data in raw:
            relist.add(codec.decode_object(data))
        relist.commit(str(count))
        keep = store
        assert len(store) == count
    else:
        cache: dict[str, Any] = {}
        for data in raw:
            obj = json.loads(data)
            meta = obj["metadata"]
            cache[f"{meta['namespace']}/{meta['name']}"] = obj
        keep = cache
        assert len(cache) == count
    gc.collect()
    grown = rss_bytes() - before
    gc_ms = _gc_ms()
    del keep
    return {"bytes_per_object": grown / count, "gc_full_ms": gc_ms}


def run(quick: bool) -> Metrics:
    """Measure memory per object and the full-GC pause; returns the ``memory.*`` metrics."""
    n, rounds = sizes(quick)
    results: dict[str, list[Metrics]] = {"kcs": [], "dict": []}
    with tempfile.TemporaryDirectory(prefix="kcs-bench-") as tmp:
        path = os.path.join(tmp, "pods.jsonl")
        write_pods(path, n)  # the children read the pods instead of generating them
        os.environ["KCS_BENCH_PODS_FILE"] = path
        try:
            for _ in range(rounds):
                for kind, runs in results.items():
                    runs.append(in_child("benchmarks.memory", "measure", kind, str(n)))
        finally:
            del os.environ["KCS_BENCH_PODS_FILE"]
    out: Metrics = {}
    for kind, runs in results.items():
        for metric in ("bytes_per_object", "gc_full_ms"):
            out[f"memory.{metric}.{kind}"] = median([r[metric] for r in runs])
    out["memory.ratio_vs_dict"] = (
        out["memory.bytes_per_object.kcs"] / out["memory.bytes_per_object.dict"]
    )
    out["memory.gc_ratio_vs_dict"] = out["memory.gc_full_ms.kcs"] / out["memory.gc_full_ms.dict"]
    out["memory.json_bytes_per_object"] = float(
        sum(len(b) for b in pod_bytes(min(n, 1_000))) / min(n, 1_000)
    )
    return out
