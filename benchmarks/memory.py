"""memory.*: bytes per cached typical pod, after sync and after one update of every pod,
and one full ``gc.collect()`` with the cache full.

Each measurement runs in a fresh interpreter (:func:`~benchmarks._harness.in_child`): RSS
never shrinks back. The pods' JSON (the initial state and one realistic status update of
every pod, see :func:`benchmarks._workload.updated_pods`) is read before the first RSS
reading, so only what the cache keeps is counted.

* ``kcs``: a :class:`~kcs.cache.Store` with the three indexes (namespace, every label
  key, ``spec.nodeName``), default settings (a history of 10,000 changes), filled as an
  informer's first list fills it, then updated as its watch would be.
* ``dict``: stdlib ``json.loads`` dicts (managedFields kept) in a dict keyed
  namespace/name.
* ``dict_stripped``: ``orjson.loads`` dicts with managedFields removed, in a dict keyed
  namespace/name: the fairer baseline.

``bytes_per_object`` is the RSS growth after the sync over the objects; the
``after_update`` figures are taken once every object has been replaced by its update.
``ratio_vs_dict`` compares after sync (as before); ``ratio_vs_dict_stripped`` after the
update; ``churn_growth`` is kcs after the update over kcs after the sync (the store's
history keeps the replaced objects).
"""

from __future__ import annotations

import gc
import json
import os
import tempfile
import time
from typing import Any

import orjson

from benchmarks import _kcs
from benchmarks._harness import Metrics, in_child, median, rss_bytes
from benchmarks._pods import pod_bytes, sizes
from benchmarks._workload import updated_pods

GC_REPEAT = 1  # the median is taken over the rounds
KINDS = ("kcs", "dict", "dict_stripped")


def _gc_ms() -> float:
    times = []
    for _ in range(GC_REPEAT):
        t0 = time.perf_counter()
        gc.collect()
        times.append((time.perf_counter() - t0) * 1000)
    return median(times)


def write_workload(directory: str, n: int) -> tuple[str, str]:
    """Write the ``n`` pods and their updates as JSON lines; returns the two paths."""
    pods = [orjson.loads(data) for data in pod_bytes(n)]  # built once per process
    for i, pod in enumerate(pods):
        pod["metadata"]["resourceVersion"] = str(i + 1)
    paths = (os.path.join(directory, "pods.jsonl"), os.path.join(directory, "updates.jsonl"))
    with open(paths[0], "wb") as f:
        for pod in pods:
            f.write(orjson.dumps(pod) + b"\n")
    with open(paths[1], "wb") as f:
        for pod in updated_pods(pods, seed=0):
            f.write(orjson.dumps(pod) + b"\n")
    return paths


def _read(path: str) -> list[bytes]:
    with open(path, "rb") as f:
        return [line.rstrip(b"\n") for line in f]


def _dict_cache(raw: list[bytes], cache: dict[str, Any], stripped: bool) -> None:
    for data in raw:
        if stripped:
            obj = orjson.loads(data)
            meta = obj["metadata"]
            meta.pop("managedFields", None)
        else:
            obj = json.loads(data)
            meta = obj["metadata"]
        cache[f"{meta['namespace']}/{meta['name']}"] = obj


def measure(kind: str, pods_path: str, updates_path: str) -> Metrics:
    """In a fresh process: fill a ``kind`` cache with the pods, then update every one
    (``dict``: no update; it is compared after the sync only)."""
    raw, updates = _read(pods_path), _read(updates_path) if kind != "dict" else []
    count = len(raw)
    gc.disable()  # RSS is read after an explicit collection; automatic ones only slow the fill
    gc.collect()
    before = rss_bytes()
    keep: Any
    if kind == "kcs":
        keep = _kcs.filled_store(raw, str(count))
        assert len(keep) == count
    else:
        keep = {}
        _dict_cache(raw, keep, stripped=kind == "dict_stripped")
        assert len(keep) == count
    gc.collect()
    synced = rss_bytes() - before
    gc_ms = _gc_ms()
    if kind == "dict":  # compared after sync only, as before
        return {"bytes_per_object": synced / count, "gc_full_ms": gc_ms}
    if kind == "kcs":
        _kcs.update_store(keep, updates)
    else:
        _dict_cache(updates, keep, stripped=True)
    assert len(keep) == count
    gc.collect()
    updated = rss_bytes() - before
    del keep
    return {"bytes_per_object": synced / count, "after_update": updated / count,
            "gc_full_ms": gc_ms}


def run(quick: bool) -> Metrics:
    """Measure memory per object and the full-GC pause; returns the ``memory.*`` metrics."""
    n, rounds = sizes(quick)
    results: dict[str, list[Metrics]] = {kind: [] for kind in KINDS}
    with tempfile.TemporaryDirectory(prefix="kcs-bench-") as tmp:
        pods_path, updates_path = write_workload(tmp, n)
        for _ in range(rounds):
            for kind, runs in results.items():
                runs.append(in_child("benchmarks.memory", "measure", kind, pods_path,
                                     updates_path))
        json_bytes = os.path.getsize(pods_path) / n
    out: Metrics = {}
    for kind, runs in results.items():
        for metric in ("bytes_per_object", "gc_full_ms"):
            out[f"memory.{metric}.{kind}"] = median([r[metric] for r in runs])
        if kind != "dict":
            out[f"memory.bytes_per_object.{kind}_after_update"] = median(
                [r["after_update"] for r in runs])
    b = out
    out["memory.ratio_vs_dict"] = b["memory.bytes_per_object.kcs"] / b["memory.bytes_per_object.dict"]
    # dict_stripped is reported after the update (the figure its ratio uses).
    out["memory.bytes_per_object.dict_stripped_after_sync"] = b["memory.bytes_per_object.dict_stripped"]
    out["memory.bytes_per_object.dict_stripped"] = b["memory.bytes_per_object.dict_stripped_after_update"]
    del out["memory.bytes_per_object.dict_stripped_after_update"]
    out["memory.ratio_vs_dict_stripped"] = (
        b["memory.bytes_per_object.kcs_after_update"] / b["memory.bytes_per_object.dict_stripped"])
    out["memory.churn_growth"] = (
        b["memory.bytes_per_object.kcs_after_update"] / b["memory.bytes_per_object.kcs"])
    out["memory.churn_growth_dict_stripped"] = (
        b["memory.bytes_per_object.dict_stripped"] / b["memory.bytes_per_object.dict_stripped_after_sync"])
    out["memory.gc_ratio_vs_dict"] = out["memory.gc_full_ms.kcs"] / out["memory.gc_full_ms.dict"]
    out["memory.json_bytes_per_object"] = json_bytes
    out["memory.objects"] = float(n)
    return out
