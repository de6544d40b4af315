"""Helpers of the manager's tests: a fake apiserver with a steady stream of changes, and
the "never two leaders at work" invariant checked on its write log."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import anyio

from kcs.client import Client
from kcs.core import builtin
from kcs.testing import FakeApiServer, WriteRecord

CONFIGMAPS = builtin("configmaps")
LEASE = "kcs-demo"
LEASES = "leases.coordination.k8s.io"
OBJECTS = 10
_UA = re.compile(r"replica/([^/\s]+)/(election|work)")

# lease 1.5 s, renew deadline 1 s, retry period 0.2 s (like the leader-election tests)
TIMINGS = ["--lease-duration", "1.5", "--renew-deadline", "1.0", "--retry-period", "0.2"]
LEASE_DURATION = 1.5
SLACK = 0.5  # scheduling slack on a shared 2-core machine


@asynccontextmanager
async def churning_apiserver() -> AsyncIterator[FakeApiServer]:
    """A fake apiserver with OBJECTS ConfigMaps whose ``data.value`` a driver changes every
    20 ms, so that whoever leads keeps writing (the work seen in the write log)."""
    api = FakeApiServer()
    await api.start()
    try:
        for i in range(OBJECTS):
            api.create("configmaps", {"metadata": {"name": f"cm-{i}", "namespace": "default"},
                                      "data": {"value": "0"}})
        async with Client.from_url(api.url, user_agent_suffix="test-driver", qps=None) as c, \
                anyio.create_task_group() as tg:
            async def churn() -> None:
                n = 0
                while True:
                    n += 1
                    await c.patch(CONFIGMAPS, f"cm-{n % OBJECTS}",
                                  {"data": {"value": str(n)}}, "default")
                    await anyio.sleep(0.02)

            tg.start_soon(churn)
            yield api
            tg.cancel_scope.cancel()
    finally:
        await api.stop()


def writer(record: WriteRecord) -> tuple[str, str] | None:
    m = _UA.search(record.user_agent)
    return (m.group(1), m.group(2)) if m else None


def lease_writes(records: Sequence[WriteRecord], who: str) -> list[WriteRecord]:
    return [r for r in records if r.resource == LEASES and r.name == LEASE
            and writer(r) == (who, "election")]


def work_writes(records: Sequence[WriteRecord], who: str) -> list[WriteRecord]:
    return [r for r in records if r.resource == "configmaps" and writer(r) == (who, "work")]


def check_never_two_leaders(records: Sequence[WriteRecord]) -> list[str]:
    """Every controller write by a replica comes after its own write of the election Lease
    and before any other replica's write of it (commit order). Returns the sequence of
    replicas that did work, one entry per run of consecutive work writes."""
    holder: str | None = None
    bad: list[str] = []
    runs: list[str] = []
    for r in records:
        who = writer(r)
        if who is None:
            continue
        identity, kind = who
        if kind == "election" and r.resource == LEASES and r.name == LEASE:
            holder = identity
        elif kind == "work" and r.resource == "configmaps":
            if identity != holder:
                bad.append(f"rv {r.resource_version}: {identity} wrote after {holder} "
                           "wrote the lease")
            if not runs or runs[-1] != identity:
                runs.append(identity)
    assert not bad, "two leaders at work:\n" + "\n".join(bad)
    return runs


