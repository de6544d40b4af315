"""Run le_replica.py processes and check the fake apiserver's write log.

The invariant that proves "never two leaders at work" is checked on the write log, in
commit order: every write of the ConfigMap ``work`` (the leader-only work) must come after
a write of the election Lease by the *same* replica and before any write of the Lease by
another replica. A replica takes the lease only by writing it, so a work write that
follows another replica's Lease write is a write by a deposed leader.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
from anyio.streams.text import TextReceiveStream

from kcs.testing import WriteRecord
from kcs.testing.chaos import ReplicaWrites, Term, check_leader_writes

REPLICA = Path(__file__).with_name("le_replica.py")
LEASE = "le-test"
LEASES = "leases.coordination.k8s.io"
WRITES = ReplicaWrites(LEASE, is_work=lambda r: r.resource == "configmaps" and r.name == "work")
_UA = re.compile(r"replica/([^/\s]+)/(election|work)")

Event = dict[str, Any]


@dataclass
class Replica:
    """One replica process, with the events it printed so far."""

    identity: str
    process: anyio.abc.Process
    events: list[Event] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    changed: anyio.Event = field(default_factory=anyio.Event)
    exited: anyio.Event = field(default_factory=anyio.Event)
    on_change: Callable[[], None] = lambda: None

    def _add(self, event: Event) -> None:
        self.events.append(event)
        self.changed.set()
        self.changed = anyio.Event()
        self.on_change()

    def find(self, name: str, **match: Any) -> list[Event]:
        """Events called ``name`` whose fields equal ``match``."""
        return [
            e for e in self.events
            if e["event"] == name and all(e.get(k) == v for k, v in match.items())
        ]

    async def wait_for(
        self, name: str, within: float = 10.0, *, after: float = 0.0, **match: Any
    ) -> Event:
        """The first event ``name`` (at or after monotonic time ``after``) matching
        ``match``, waiting up to ``within`` seconds."""
        with anyio.fail_after(within):
            while True:
                changed = self.changed
                for e in self.find(name, **match):
                    if e["at"] >= after:
                        return e
                if self.exited.is_set():
                    raise AssertionError(
                        f"{self.identity} exited without {name!r}; stderr:\n" + self.log()
                    )
                await changed.wait()

    @property
    def leading(self) -> bool:
        """Whether the last leadership event this replica printed was a start."""
        marks = [e["event"] for e in self.events if e["event"] in ("started_leading",
                                                                     "stopped_leading")]
        return bool(marks) and marks[-1] == "started_leading"

    def log(self) -> str:
        return "".join(self.stderr[-80:])

    def terminate(self) -> None:
        self.process.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.process.kill()

    def pause(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)


class Replicas:
    """Starts replica processes in a task group that reads their output."""

    def __init__(self, tg: anyio.abc.TaskGroup, url: str) -> None:
        self._tg = tg
        self.url = url
        self.all: dict[str, Replica] = {}
        self.changed = anyio.Event()

    def _changed(self) -> None:
        self.changed.set()
        self.changed = anyio.Event()

    async def start(self, identity: str, *args: str) -> Replica:
        cmd = [sys.executable, str(REPLICA), "--url", self.url, "--identity", identity,
               "--lease", LEASE, *args]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        process = await anyio.open_process(cmd, env=env)
        replica = Replica(identity, process, on_change=self._changed)
        self.all[identity] = replica
        self._tg.start_soon(self._read_stdout, replica)
        self._tg.start_soon(self._read_stderr, replica)
        await replica.wait_for("ready", within=30)
        return replica

    async def _read_stdout(self, replica: Replica) -> None:
        assert replica.process.stdout is not None
        buffer = ""
        async for chunk in TextReceiveStream(replica.process.stdout):
            buffer += chunk
            *lines, buffer = buffer.split("\n")
            for line in lines:
                if line.strip():
                    replica._add(json.loads(line))
        await replica.process.wait()
        replica.exited.set()
        replica._add({"event": "process_exit", "at": anyio.current_time(),
                      "code": replica.process.returncode})

    async def _read_stderr(self, replica: Replica) -> None:
        assert replica.process.stderr is not None
        async for chunk in TextReceiveStream(replica.process.stderr):
            replica.stderr.append(chunk)

    def leaders(self) -> list[Replica]:
        return [r for r in self.all.values() if r.leading and not r.exited.is_set()]

    async def wait_leader(self, within: float = 10.0, *, after: float = 0.0) -> Replica:
        """The replica that started leading first at or after ``after``."""
        with anyio.fail_after(within):
            while True:
                changed = self.changed
                found = [
                    (e["at"], r) for r in self.all.values()
                    for e in r.find("started_leading") if e["at"] >= after
                ]
                if found:
                    return min(found, key=lambda x: x[0])[1]
                await changed.wait()

    async def stop_all(self) -> None:
        for r in self.all.values():
            if r.process.returncode is None:
                r.kill()
        with anyio.move_on_after(10, shield=True):
            for r in self.all.values():
                await r.process.wait()


@asynccontextmanager
async def replica_processes(url: str) -> AsyncIterator[Replicas]:
    async with anyio.create_task_group() as tg:
        replicas = Replicas(tg, url)
        try:
            yield replicas
        finally:
            await replicas.stop_all()
            tg.cancel_scope.cancel()


# -- the write log --------------------------------------------------------------------------


def writer(record: WriteRecord) -> tuple[str, str] | None:
    """``(identity, "election" | "work")`` for a replica's write, else ``None``."""
    m = _UA.search(record.user_agent)
    return (m.group(1), m.group(2)) if m else None


def is_lease_write(record: WriteRecord) -> bool:
    return record.resource == LEASES and record.name == LEASE


def is_work_write(record: WriteRecord) -> bool:
    return record.resource == "configmaps" and record.name == "work"


def check_never_two_leaders(records: Sequence[WriteRecord]) -> list[Term]:
    """Assert the invariant on the write log (kcs.testing.chaos.check_leader_writes, with
    the User-Agents of le_replica.py); return the runs of work writes."""
    check = check_leader_writes(records, WRITES)
    check.assert_ok()
    return list(check.terms)


def lease_writes(records: Sequence[WriteRecord], identity: str) -> list[WriteRecord]:
    return [r for r in records if is_lease_write(r) and writer(r) == (identity, "election")]


def work_writes(records: Sequence[WriteRecord], identity: str) -> list[WriteRecord]:
    return [r for r in records if is_work_write(r) and writer(r) == (identity, "work")]


