"""Leader-only writes, read from the fake apiserver's write log.

A replica takes or keeps the election Lease only by writing it, so the write log in
commit order says who could hold the Lease at each moment: the replica whose write of
the Lease came last. A leader-only write by any other replica is a write by a replica
that does not hold the Lease: two leaders' writes interleaved.

Which writes are whose is the caller's to say (:class:`ReplicaWrites`): by default, by
the User-Agent suffix ``replica/<identity>/<client>``, with one client for the election
and one for the leader-only work, as the examples and the replicas of kcs's own tests do.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from kcs.testing._accounting import WriteRecord

__all__ = ["LeaderCheck", "ReplicaWrites", "Term", "Violation", "check_leader_writes"]

_UA = re.compile(r"replica/([^/\s]+)/([^/\s]+)")


@dataclass(frozen=True, slots=True)
class ReplicaWrites:
    """How to tell, in the write log, the election Lease writes and the leader-only writes
    of each replica apart.

    By default a write belongs to the replica named in its User-Agent
    ``replica/<identity>/<client>``: ``<client>`` is ``lease_client`` for the election
    (a write of the Lease ``lease`` in ``namespace``) and ``work_client`` for the
    leader-only work (every write of that client, or those ``is_work`` accepts).
    """

    lease: str
    namespace: str = "default"
    lease_client: str = "election"
    work_client: str = "work"
    is_work: Callable[[WriteRecord], bool] = field(default=lambda record: True)

    def writer(self, record: WriteRecord) -> tuple[str, str] | None:
        """``(identity, client)`` of a replica's write, else ``None``."""
        m = _UA.search(record.user_agent)
        return (m.group(1), m.group(2)) if m else None

    def lease_writer(self, record: WriteRecord) -> str | None:
        """The identity that wrote the election Lease in ``record``, else ``None``."""
        who = self.writer(record)
        if who is None or who[1] != self.lease_client:
            return None
        if record.resource != "leases.coordination.k8s.io" or record.name != self.lease:
            return None
        return who[0] if record.namespace == self.namespace else None

    def work_writer(self, record: WriteRecord) -> str | None:
        """The identity that made the leader-only write ``record``, else ``None``."""
        who = self.writer(record)
        if who is None or who[1] != self.work_client or not self.is_work(record):
            return None
        return who[0]


@dataclass(frozen=True, slots=True)
class Violation:
    """A leader-only write by ``identity`` while ``holder`` held the Lease (had written it
    last), ``overlap`` seconds after ``holder``'s first write of its term."""

    identity: str
    holder: str | None
    record: WriteRecord
    overlap: float

    def __str__(self) -> str:
        return (f"rv {self.record.resource_version}: {self.identity} wrote "
                f"{self.record.resource}/{self.record.name} {self.overlap * 1000:.1f} ms "
                f"after {self.holder or 'nobody'} took the lease")


@dataclass(frozen=True, slots=True)
class Term:
    """A run of consecutive leader-only writes by one replica, in commit order."""

    identity: str
    first: WriteRecord
    last: WriteRecord
    writes: int


@dataclass(frozen=True, slots=True)
class LeaderCheck:
    """The write log checked: the terms of work in order, and every violation."""

    terms: tuple[Term, ...]
    violations: tuple[Violation, ...]
    lease_writes: int
    holder: str | None = None
    """Who held the Lease after the last record."""

    @property
    def ok(self) -> bool:
        """No leader-only write by a replica that did not hold the Lease."""
        return not self.violations

    def assert_ok(self) -> None:
        """Raise ``AssertionError`` listing the violations, if any."""
        if self.violations:
            raise AssertionError("leader-only writes by replicas that did not hold the "
                                 "Lease:\n" + "\n".join(str(v) for v in self.violations))


def check_leader_writes(
    records: Sequence[WriteRecord], writes: ReplicaWrites, *, holder: str | None = None
) -> LeaderCheck:
    """Check, in commit order, that every leader-only write came from the replica that
    wrote the election Lease last (see the module docstring). ``holder`` is who held it
    before the first of ``records`` (for a slice of a longer log)."""
    since = records[0].time if records else 0.0
    violations: list[Violation] = []
    terms: list[Term] = []
    lease_writes = 0
    for r in records:
        writer = writes.lease_writer(r)
        if writer is not None:
            lease_writes += 1
            if writer != holder:
                holder, since = writer, r.time
            continue
        worker = writes.work_writer(r)
        if worker is None:
            continue
        if worker != holder:
            violations.append(Violation(worker, holder, r, r.time - since))
        if terms and terms[-1].identity == worker:
            t = terms[-1]
            terms[-1] = Term(worker, t.first, r, t.writes + 1)
        else:
            terms.append(Term(worker, r, r, 1))
    return LeaderCheck(tuple(terms), tuple(violations), lease_writes, holder)
