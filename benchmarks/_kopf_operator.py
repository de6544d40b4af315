"""The kopf baseline of the watch benchmark: a no-op ``@kopf.on.event`` handler on pods.

Run by the harness as ``python -m kopf run --standalone --all-namespaces --quiet
benchmarks/_kopf_operator.py`` with ``KCS_BENCH_URL`` (the static watch server) and
``KCS_BENCH_EVENTS`` in the environment. What kopf needs from the server: discovery
(``/api``, ``/api/v1``, ``/apis``) to resolve ``pods``, then the pods' list and watch.

kopf hands each object's events to a worker of that object, which merges the events that
queue up (its batch window) and calls the handler with the latest one, so handler calls
cannot be counted as events. The clock therefore stops when the handler has seen, for
every object, the last of its events among the ``KCS_BENCH_EVENTS`` streamed (the server
tells which resourceVersion that is), and events/s is the events streamed over that time.
The clock starts when the handler has been called for every object of the initial list.

The result is printed as one line ``KCS_BENCH_RESULT {json}`` and the process exits at
once (kopf's graceful shutdown is not part of the benchmark).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import kopf

from benchmarks._watchclients import Clock, arm, info

URL = os.environ.get("KCS_BENCH_URL", "")
EVENTS = int(os.environ.get("KCS_BENCH_EVENTS", "0"))


class _State:
    def __init__(self) -> None:
        self.pods = 0
        self.initial = 0
        self.pending: dict[str, int] = {}
        self.clock = Clock(URL)


state = _State()


@kopf.on.login()
def login(**_: Any) -> kopf.ConnectionInfo:
    """The benchmark server: plain HTTP on 127.0.0.1, no credentials."""
    return kopf.ConnectionInfo(server=URL)


@kopf.on.startup()
def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
    """Arm the server's gate and learn what the stream holds; kopf's defaults otherwise,
    but no Kubernetes Events posted (the handler logs nothing anyway)."""
    settings.posting.enabled = False
    arm(URL, EVENTS)
    state.pods = int(info(URL, "/_bench/info")["pods"])
    state.pending = {k: int(v) for k, v in info(URL, f"/_bench/final?events={EVENTS}").items()}


@kopf.on.event("pods")
async def on_event(event: dict[str, Any], body: kopf.Body, **_: Any) -> None:
    """The no-op handler (and the benchmark's bookkeeping)."""
    if event["type"] is None:
        state.initial += 1
        if state.initial == state.pods:
            state.clock.start()
        return
    meta = body["metadata"]
    key = f"{meta['namespace']}/{meta['name']}"
    final = state.pending.get(key)
    if final is not None and int(meta["resourceVersion"]) >= final:
        del state.pending[key]
        if not state.pending:
            result = state.clock.stop(EVENTS, -1)
            print("KCS_BENCH_RESULT " + json.dumps(result), flush=True)
            sys.stdout.flush()
            os._exit(0)
