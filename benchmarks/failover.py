"""failover.*: leader process stopped or killed -> first reconcile by the standby process.

A fake apiserver in its own process holding N ConfigMaps; two replicas
(``python -m kcs.demo replica``, each its own OS process) with warm caches of all N.

* ``failover.graceful_ms.p50``: SIGTERM to the leader -> first reconcile by the standby
  (drain, hand-off to the synced standby, which watches the Lease).
* ``failover.graceful_ms.polling``: the same with the standby's elector unable to watch,
  so it polls the Lease every retry period (2 s, jittered) like client-go.
* ``failover.crash_ms.p50``: SIGKILL of the leader -> first reconcile by the standby,
  with client-go's default timings (a lease of 15 s, ``failover.lease_duration_s``) and
  crash detection: the standby holds a connection to the leader's liveness endpoint and
  takes the lease as soon as that endpoint refuses it, instead of waiting out the lease.
  ``failover.crash_vs_lease`` is the takeover time as a share of the lease duration.
"""

from __future__ import annotations

import statistics
import time

import anyio

from benchmarks._harness import Metrics, Sizes
from kcs.core import builtin
from kcs.demo import Replicas, with_replicas
from kcs.testing import ApiServerProcess

CONFIGMAPS = builtin("configmaps")
CLIENT_GO = ["--lease-duration", "15", "--renew-deadline", "10", "--retry-period", "2"]
LEASE_DURATION_S = 15.0
CRASH = [*CLIENT_GO, "--crash-detection"]
COMMON = ["--no-write", "--quiet", "--drain-timeout", "2"]


async def _round(rs: Replicas, n: int, mode: str, args: list[str]) -> float:
    """Start a leader and a synced standby; stop the leader; ms to the standby's first
    reconcile."""
    extra = ["--poll-lease"] if mode == "polling" else []
    leader = await rs.start(f"{mode}-{n}-a", *args, *COMMON)
    await leader.wait_for("started_leading", within=60)
    standby = await rs.start(f"{mode}-{n}-b", *args, *COMMON, *extra)
    await standby.wait_for("synced", within=120)
    await anyio.sleep(0.5)  # let the standby publish its synced candidacy
    if mode == "crash":
        await standby.wait_for("watching_holder", within=60)
    t0 = time.monotonic()
    if mode == "crash":
        leader.kill()
    else:
        leader.terminate()
    first = await standby.wait_for("reconcile", after=t0, within=60)
    ms = (first["at"] - t0) * 1000
    standby.kill()
    leader.kill()
    await standby.process.wait()
    await leader.process.wait()
    return ms


async def _main(quick: bool) -> Metrics:
    sizes = Sizes(quick)
    rounds = sizes.rounds
    results: dict[str, list[float]] = {"graceful": [], "polling": [], "crash": []}
    async with ApiServerProcess() as api:
        for start in range(0, sizes.n, 1000):  # the control channel takes bodies < 1 MB
            await api.seed(CONFIGMAPS, [{
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": f"cm-{i}", "namespace": "default"},
                "data": {"value": str(i)}} for i in range(start, min(start + 1000, sizes.n))])

        async def body(rs: Replicas) -> None:
            for n in range(rounds):
                for mode, args in (("graceful", CLIENT_GO), ("polling", CLIENT_GO),
                                   ("crash", CRASH)):
                    lease = ["--lease", f"bench-{mode}-{n}"]
                    results[mode].append(await _round(rs, n, mode, [*args, *lease]))

        await with_replicas(api.url, body)
    crash_ms = statistics.median(results["crash"])
    return {
        "failover.graceful_ms.p50": statistics.median(results["graceful"]),
        "failover.graceful_ms.polling": statistics.median(results["polling"]),
        "failover.crash_ms.p50": crash_ms,
        "failover.crash_ms.max": max(results["crash"]),
        "failover.lease_duration_s": LEASE_DURATION_S,
        "failover.crash_vs_lease": crash_ms / 1000 / LEASE_DURATION_S,
    }


def run(quick: bool) -> dict[str, float]:
    """The failover metrics (see the module docstring)."""
    return anyio.run(_main, quick)


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run("--full" not in sys.argv), indent=2))
