"""watch.stage_us.*: where kcs's and the lean cache's CPU per event go, fed from memory.

The live figures (``watch.cpu_us_per_event.*``) include the transport and the event loop,
and they move with the machine from run to run. These split the client's own work on the
same ``realistic`` stream, fed from memory in one process of its own (no socket, no event
loop), CPU time per event, the best of 7 rounds that alternate the two clients:

* ``decode``: a network read's bytes (35 lines, about 220 KB, what the live stream reads
  at a time) to objects. kcs: ``Codec.decode_watch_lines_spans`` (typed metadata, the body
  rebuilt, its spans) over each block; lean: the ``PodEvent`` decode of each line.
* ``cache``: what each client does with the decoded events, measured as (decode and
  cache) minus decode. kcs: ``Store.apply``/``delete`` with the benchmark's three indexes
  (no watcher, no informer, no handler); lean: ``LeanCache.put``/``delete``. The
  decode-only rounds free each object at once and the full ones free the object each
  event replaces, so freeing is in both terms and mostly cancels out.

Both caches start from the stream's initial pods, listed and cached before the clock.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

import msgspec

from benchmarks import _workload
from benchmarks._harness import Metrics
from benchmarks._kcs import FIELD_INDEXES
from benchmarks._watchclients import LeanCache, PodEvent, PodList
from benchmarks._workload import INDEXED_LABEL
from kcs.cache import IndexOptions, Store, StoreOptions
from kcs.core import codec_for

LINES_PER_READ = 35
ROUNDS = 7
SEED = 1


class _Stream:
    """The stream's initial list and its events, as bytes, the way the server sends them."""

    def __init__(self, pods: int, events: int) -> None:
        initial = _workload.initial_pods(pods, SEED)
        self.rv = str(pods)
        self.list_body = msgspec.json.encode({
            "apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": self.rv},
            "items": initial,
        })
        self.lines = [e.line.rstrip(b"\n")
                      for e in _workload.events("realistic", initial, events, SEED)]
        self.blocks = [b"\n".join(self.lines[i : i + LINES_PER_READ])
                       for i in range(0, len(self.lines), LINES_PER_READ)]


def _kcs_store(stream: _Stream) -> Store:
    codec = codec_for("Pod")
    store = Store(StoreOptions(indexes=IndexOptions(labels=[INDEXED_LABEL],
                                                    fields=FIELD_INDEXES)))
    _, objects, spans = codec.decode_list_spans(stream.list_body)
    relist = store.relist()
    for i, obj in enumerate(objects):
        relist.add(obj, spans[i] if spans is not None else None)
    relist.commit(stream.rv)
    return store


def _kcs_decode(stream: _Stream) -> Callable[[], None]:
    decode = codec_for("Pod").decode_watch_lines_spans

    def run() -> None:
        for block in stream.blocks:
            decode(block)

    return run


def _kcs_all(stream: _Stream) -> Callable[[], None]:
    decode = codec_for("Pod").decode_watch_lines_spans
    store = _kcs_store(stream)

    def run() -> None:
        apply, delete = store.apply, store.delete
        for block in stream.blocks:
            for etype, obj, spans in decode(block):
                if etype == "DELETED":
                    delete(obj)
                else:
                    apply(obj, spans)

    return run


def _lean_decode(stream: _Stream) -> Callable[[], None]:
    decode = msgspec.json.Decoder(PodEvent).decode

    def run() -> None:
        for line in stream.lines:
            decode(line)

    return run


def _lean_all(stream: _Stream) -> Callable[[], None]:
    decode = msgspec.json.Decoder(PodEvent).decode
    cache = LeanCache(INDEXED_LABEL)
    for pod in msgspec.json.Decoder(PodList).decode(stream.list_body).items:
        cache.put(pod)

    def run() -> None:
        for line in stream.lines:
            event = decode(line)
            if event.type == "DELETED":
                cache.delete(event.object)
            else:
                cache.put(event.object)

    return run


def _cpu_us(run: Callable[[], None], events: int) -> float:
    gc.collect()
    start = time.process_time()
    run()
    return (time.process_time() - start) / events * 1e6


def stages(pods: str, events: str) -> Metrics:
    """In a process of its own: the ``watch.stage_us.*`` metrics (see the module doc)."""
    stream = _Stream(int(pods), int(events))
    n = len(stream.lines)
    best: dict[str, float] = {}
    makers = {"decode.kcs": _kcs_decode, "all.kcs": _kcs_all,
              "decode.lean": _lean_decode, "all.lean": _lean_all}
    for _ in range(ROUNDS):
        for name, make in makers.items():
            run = make(stream)  # a fresh cache each round: the stream applies once
            us = _cpu_us(run, n)
            best[name] = min(best.get(name, us), us)
    out: Metrics = {}
    for client in ("kcs", "lean"):
        decode, total = best[f"decode.{client}"], best[f"all.{client}"]
        out[f"watch.stage_us.decode.{client}"] = decode
        out[f"watch.stage_us.cache.{client}"] = max(total - decode, 0.0)
    return out
