"""The election record kept in a ``coordination.k8s.io/v1`` Lease, read defensively.

A Lease can be edited by hand into anything. :meth:`LeaderElectionRecord.from_lease` never
raises: a field it cannot make sense of is noted in :attr:`LeaderElectionRecord.problems`
and read in the way that keeps the election safe (a nonsense holder still counts as a
holder, so nobody steals the lease before it has stayed unchanged for a full lease
duration).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson

from kcs.core import Object

__all__ = [
    "ANNOTATION_LEASE_DURATION",
    "ANNOTATION_LIVENESS",
    "ANNOTATION_PREFERRED_HOLDER",
    "ANNOTATION_SYNCED",
    "LABEL_CANDIDATE_FOR",
    "LeaderElectionRecord",
    "format_micro_time",
    "parse_micro_time",
]

ANNOTATION_PREFERRED_HOLDER = "leaderelection.kcs.io/preferred-holder"
"""On the election Lease: the identity the lease was handed to (or should be handed to)."""
ANNOTATION_LEASE_DURATION = "leaderelection.kcs.io/lease-duration"
"""On the election Lease: the holder's exact lease duration in seconds (the spec field is
whole seconds)."""
ANNOTATION_SYNCED = "leaderelection.kcs.io/synced"
"""On a candidate Lease: ``"true"`` when the candidate's caches are synced."""
ANNOTATION_LIVENESS = "leaderelection.kcs.io/liveness"
"""On a candidate Lease: the candidate's liveness endpoint, ``<ip>:<port> <nonce>``, when
it runs with crash detection (see :class:`~kcs.leaderelection.CrashDetection`)."""
LABEL_CANDIDATE_FOR = "leaderelection.kcs.io/candidate-for"
"""On a candidate Lease: the name of the election Lease it is a candidate for."""

_MICRO_TIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))$"
)


def format_micro_time(when: datetime) -> str:
    """A ``metav1.MicroTime`` as the apiserver writes it: RFC 3339, UTC, microseconds."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_micro_time(value: object) -> datetime | None:
    """Parse an RFC 3339 time (``MicroTime`` or ``Time``); ``None`` if it is not one."""
    if not isinstance(value, str):
        return None
    m = _MICRO_TIME.match(value)
    if m is None:
        return None
    year, month, day, hour, minute, second, frac, zulu, sign, oh, om = m.groups()
    micros = int((frac or "0")[:6].ljust(6, "0"))
    if zulu:
        tz = UTC
    else:
        offset = timedelta(hours=int(oh), minutes=int(om))
        tz = timezone(-offset if sign == "-" else offset)
    try:
        return datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micros, tz
        )
    except ValueError:
        return None


def _positive_number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if 0 < number < float("inf") else None


@dataclass(frozen=True, slots=True)
class LeaderElectionRecord:
    """Who holds a Lease, as far as its content says.

    ``holder_identity`` is ``""`` when nobody holds it (released, or never held); a
    holder that is not a string is kept as a non-empty placeholder such as
    ``"<invalid holderIdentity: 42>"``, which matches no replica. ``lease_duration`` is
    ``None`` when missing or not a positive number (callers then use their own).
    ``preferred_holder`` comes from the kcs annotation or ``spec.preferredHolder``.
    ``key`` identifies the content: two records with equal keys are the same observation
    of the lease (a renewal always changes it).
    """

    holder_identity: str
    lease_duration: float | None
    acquire_time: datetime | None
    renew_time: datetime | None
    lease_transitions: int
    preferred_holder: str
    problems: tuple[str, ...]
    key: bytes

    @property
    def held(self) -> bool:
        """Whether someone (possibly unknown or nonsense) holds the lease."""
        return self.holder_identity != ""

    @classmethod
    def from_lease(cls, lease: Object) -> LeaderElectionRecord:
        """Read the record from a Lease as the client or a watch decoded it. Never
        raises."""
        problems: list[str] = []
        spec = lease.get("spec")
        annotations: Mapping[str, Any] = lease.metadata.annotations
        if spec is None:
            spec = {}
        if not isinstance(spec, Mapping):
            problems.append(f"spec is not an object: {spec!r:.80}")
            return cls(
                holder_identity=f"<invalid spec: {spec!r:.40}>",
                lease_duration=None,
                acquire_time=None,
                renew_time=None,
                lease_transitions=0,
                preferred_holder="",
                problems=tuple(problems),
                key=_key(spec, annotations),
            )
        holder_raw = spec.get("holderIdentity")
        if holder_raw is None:
            holder = ""
        elif isinstance(holder_raw, str):
            holder = holder_raw
        else:
            holder = f"<invalid holderIdentity: {holder_raw!r:.40}>"
            problems.append(f"holderIdentity is not a string: {holder_raw!r:.80}")

        duration = _positive_number(annotations.get(ANNOTATION_LEASE_DURATION))
        spec_duration = spec.get("leaseDurationSeconds")
        whole = (
            float(spec_duration)
            if isinstance(spec_duration, int) and not isinstance(spec_duration, bool)
            and spec_duration > 0
            else None
        )
        if whole is None and spec_duration is not None:
            problems.append(
                f"leaseDurationSeconds is not a positive integer: {spec_duration!r:.80}"
            )
        if duration is None or (whole is not None and duration > whole):
            duration = whole

        times: dict[str, datetime | None] = {}
        for field in ("acquireTime", "renewTime"):
            raw = spec.get(field)
            times[field] = parse_micro_time(raw)
            if raw is not None and times[field] is None:
                problems.append(f"{field} is not an RFC 3339 time: {raw!r:.80}")

        transitions_raw = spec.get("leaseTransitions", 0)
        if isinstance(transitions_raw, int) and not isinstance(transitions_raw, bool):
            transitions = max(0, transitions_raw)
            if transitions_raw < 0:
                problems.append(f"leaseTransitions is negative: {transitions_raw}")
        else:
            transitions = 0
            problems.append(f"leaseTransitions is not an integer: {transitions_raw!r:.80}")

        preferred = annotations.get(ANNOTATION_PREFERRED_HOLDER) or spec.get("preferredHolder")
        if preferred is not None and not isinstance(preferred, str):
            problems.append(f"preferred holder is not a string: {preferred!r:.80}")
            preferred = ""
        return cls(
            holder_identity=holder,
            lease_duration=duration,
            acquire_time=times["acquireTime"],
            renew_time=times["renewTime"],
            lease_transitions=transitions,
            preferred_holder=preferred or "",
            problems=tuple(problems),
            key=_key(spec, annotations),
        )


def _key(spec: object, annotations: Mapping[str, Any]) -> bytes:
    relevant = {
        k: annotations.get(k)
        for k in (ANNOTATION_PREFERRED_HOLDER, ANNOTATION_LEASE_DURATION)
        if k in annotations
    }
    try:
        return orjson.dumps([spec, relevant], option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return repr((spec, relevant)).encode()
