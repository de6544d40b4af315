"""kcs.leaderelection: Lease-based leader election with fencing, warm standby, hand-off
and crash detection.

It sits beside the flow and uses :mod:`kcs.core`, :mod:`kcs.client` and :mod:`kcs.watch`.
One :class:`LeaderElector` per replica: standbys watch the ``coordination.k8s.io/v1``
Lease and take it the moment it is released or handed to them, once it has not been
renewed for a lease duration on their own monotonic clock, or (with
:class:`CrashDetection`) at once when its holder's process is proved gone; the leader's
work runs in a fence (a cancel scope, and a :class:`kcs.client.Fence` every request
checks right before it is written) that closes before any other replica could take the
lease; a graceful stop drains the work, then releases the lease or hands it to a synced
standby. See ``docs/leader-election.md``.
"""

from kcs.leaderelection._candidate import (
    Candidacy,
    Candidate,
    choose_successor,
    get_candidate,
    list_candidates,
)
from kcs.leaderelection._elector import ElectorState, LeaderElector, LeadFunction
from kcs.leaderelection._events import (
    ElectionEvent,
    ElectionEventHandler,
    ElectionEventKind,
    EndReason,
)
from kcs.leaderelection._handoff import AUTO, Successor, pick_successor
from kcs.leaderelection._identity import candidate_lease_name, default_identity
from kcs.leaderelection._janitor import CandidateJanitor
from kcs.leaderelection._leadership import Leadership
from kcs.leaderelection._liveness import (
    CrashDetection,
    Endpoint,
    LivenessEndpoint,
    parse_endpoint,
    wait_until_gone,
)
from kcs.leaderelection._lock import LEASES, LeaseLock, next_spec
from kcs.leaderelection._observe import LeaseObserver, Observation
from kcs.leaderelection._record import (
    ANNOTATION_LEASE_DURATION,
    ANNOTATION_LIVENESS,
    ANNOTATION_PREFERRED_HOLDER,
    ANNOTATION_SYNCED,
    LABEL_CANDIDATE_FOR,
    LeaderElectionRecord,
    format_micro_time,
    parse_micro_time,
)
from kcs.leaderelection._term import TermState
from kcs.leaderelection._timing import ElectionTimings

__all__ = [
    "ANNOTATION_LEASE_DURATION",
    "ANNOTATION_LIVENESS",
    "ANNOTATION_PREFERRED_HOLDER",
    "ANNOTATION_SYNCED",
    "AUTO",
    "LABEL_CANDIDATE_FOR",
    "LEASES",
    "Candidacy",
    "Candidate",
    "CandidateJanitor",
    "CrashDetection",
    "ElectionEvent",
    "ElectionEventHandler",
    "ElectionEventKind",
    "ElectionTimings",
    "ElectorState",
    "EndReason",
    "Endpoint",
    "LeadFunction",
    "LeaderElectionRecord",
    "LeaderElector",
    "Leadership",
    "LeaseLock",
    "LeaseObserver",
    "LivenessEndpoint",
    "Observation",
    "Successor",
    "TermState",
    "candidate_lease_name",
    "choose_successor",
    "default_identity",
    "format_micro_time",
    "get_candidate",
    "list_candidates",
    "next_spec",
    "parse_endpoint",
    "parse_micro_time",
    "pick_successor",
    "wait_until_gone",
]
