"""The watch workloads: an initial state of typical pods and a stream of events over it.

Both are generated deterministically from ``(pods, events, seed)``: the same arguments
always give the same bytes, so every client of a run (and every run) sees the same stream.

* ``bump``: every event is a ``MODIFIED`` of an existing pod whose only change is its
  resourceVersion (the pods are visited in a fixed shuffled order, each once per pass).
* ``realistic``: every event changes the pod's status (a container restarts, the Ready
  condition moves); about 10 % of the events also change the ``release`` label, which the
  clients with a label index index; about 5 % are adds (2.5 %) or deletes (2.5 %) of pods.

The initial pods have resourceVersions ``1..pods``; the list is at ``pods`` and event
``i`` (from 0) has resourceVersion ``pods + 1 + i``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from kcs.testing import typical_pod

WORKLOADS = ("bump", "realistic")
LABEL_SHARE = 0.10
ADD_SHARE = 0.025
DELETE_SHARE = 0.025
INDEXED_LABEL = "release"
"""The label the realistic stream changes; the clients with a label index index it."""


@dataclass(frozen=True, slots=True)
class Event:
    """One event of a stream: its type, the key of its object and the JSON line."""

    type: str
    key: str
    resource_version: int
    line: bytes


def _key(pod: dict[str, Any]) -> str:
    meta = pod["metadata"]
    return f"{meta['namespace']}/{meta['name']}"


def _line(type_: str, pod: dict[str, Any]) -> bytes:
    return b'{"type":"' + type_.encode() + b'","object":' + orjson.dumps(pod) + b"}\n"


def initial_pods(pods: int, seed: int) -> list[dict[str, Any]]:
    """The initial state: typical pods ``0..pods-1`` with resourceVersions ``1..pods``."""
    out = []
    for i in range(pods):
        pod = typical_pod(i, seed)
        pod["metadata"]["resourceVersion"] = str(i + 1)
        out.append(pod)
    return out


def _timestamp(i: int) -> str:
    seconds = 86_400 + i  # one second per event, from the day after the pods started
    return (f"2026-01-{1 + seconds // 86_400:02d}T{seconds // 3600 % 24:02d}:"
            f"{seconds // 60 % 60:02d}:{seconds % 60:02d}Z")


def _change_status(pod: dict[str, Any], i: int, rnd: random.Random) -> None:
    status = pod["status"]
    when = _timestamp(i)
    c = status["containerStatuses"][rnd.randrange(len(status["containerStatuses"]))]
    c["restartCount"] += 1
    c["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error",
                                     "finishedAt": when, "startedAt": c["state"]["running"]
                                     ["startedAt"]}}
    c["state"] = {"running": {"startedAt": when}}
    for cond in status["conditions"]:
        if cond["type"] in ("Ready", "ContainersReady"):
            cond["lastTransitionTime"] = when


def events(workload: str, pods: list[dict[str, Any]], count: int, seed: int,
           ) -> Iterator[Event]:
    """The ``count`` events of ``workload`` over ``pods`` (the list :func:`initial_pods`
    returned; it is changed in place as the events are generated)."""
    if workload not in WORKLOADS:
        raise ValueError(f"unknown workload {workload!r}; choose from {WORKLOADS}")
    rnd = random.Random(seed * 7919 + 17)
    live = list(pods)
    order = list(range(len(live)))
    rnd.shuffle(order)
    base = len(pods)
    next_index = len(pods)
    for i in range(count):
        rv = base + 1 + i
        if workload == "bump":
            pod = live[order[i % len(order)]]
            pod["metadata"]["resourceVersion"] = str(rv)
            yield Event("MODIFIED", _key(pod), rv, _line("MODIFIED", pod))
            continue
        r = rnd.random()
        if r < ADD_SHARE or len(live) < 2:
            pod = typical_pod(next_index, seed)
            next_index += 1
            pod["metadata"]["resourceVersion"] = str(rv)
            live.append(pod)
            yield Event("ADDED", _key(pod), rv, _line("ADDED", pod))
            continue
        k = rnd.randrange(len(live))
        pod = live[k]
        pod["metadata"]["resourceVersion"] = str(rv)
        if r < ADD_SHARE + DELETE_SHARE:
            live[k] = live[-1]
            live.pop()
            yield Event("DELETED", _key(pod), rv, _line("DELETED", pod))
            continue
        _change_status(pod, i, rnd)
        if rnd.random() < LABEL_SHARE:
            labels = pod["metadata"]["labels"]
            labels[INDEXED_LABEL] = f"r{(int(labels[INDEXED_LABEL][1:]) + 1) % 20}"
        yield Event("MODIFIED", _key(pod), rv, _line("MODIFIED", pod))


def updated_pods(pods: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """One realistic status update of every pod of ``pods`` (in place), with
    resourceVersions following the pods'."""
    rnd = random.Random(seed * 31 + 5)
    base = len(pods)
    for i, pod in enumerate(pods):
        _change_status(pod, i, rnd)
        pod["metadata"]["resourceVersion"] = str(base + 1 + i)
    return pods
