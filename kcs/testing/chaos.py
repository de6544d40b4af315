"""kcs.testing.chaos: chaos testing for controllers built on kcs.

Seeded fault schedules (:func:`convergence_schedule`, :func:`election_schedule`) run
against the fake apiserver and against replicas run as real processes
(:class:`ReplicaSet`: kill, pause, resume, partition), and the checks that say whether a
controller survived them: the cache holds exactly what the server holds after the faults
are lifted (:func:`run_convergence`, through a snapshot callable of yours), and no
leader-only write came from a replica that did not hold the Lease, read from the write log
(:func:`run_election`, :func:`check_leader_writes`). Like the rest of :mod:`kcs.testing`
it imports only :mod:`kcs.core` and :mod:`kcs.client`: what it needs of the layers above
comes in as callables. See ``docs/testing.md``.
"""

from kcs.testing._convergence import Collection, ConvergenceReport, run_convergence, server_state
from kcs.testing._election import ElectionReport, run_election, wait_for_leader_at_work
from kcs.testing._leaderwrites import (
    LeaderCheck,
    ReplicaWrites,
    Term,
    Violation,
    check_leader_writes,
)
from kcs.testing._proxy import TcpProxy
from kcs.testing._replicas import Replica, ReplicaSet, ReplicaSpec
from kcs.testing._schedule import (
    Fault,
    Schedule,
    ScheduleKind,
    Step,
    convergence_schedule,
    election_schedule,
)

__all__ = [
    "Collection",
    "ConvergenceReport",
    "ElectionReport",
    "Fault",
    "LeaderCheck",
    "Replica",
    "ReplicaSet",
    "ReplicaSpec",
    "ReplicaWrites",
    "Schedule",
    "ScheduleKind",
    "Step",
    "TcpProxy",
    "Term",
    "Violation",
    "check_leader_writes",
    "convergence_schedule",
    "election_schedule",
    "run_convergence",
    "run_election",
    "server_state",
    "wait_for_leader_at_work",
]
