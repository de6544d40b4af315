"""Candidates: replicas that make themselves known, and say whether they are ready to lead.

Each replica keeps its own Lease ``<election lease>-candidate-<identity>`` (in the spirit
of the apiserver's ``LeaseCandidate``), renewed every ``candidate_renew_period``, labelled
``leaderelection.kcs.io/candidate-for=<election lease>`` and annotated
``leaderelection.kcs.io/synced: "true"`` once its caches are synced. A leader that hands
off picks its successor among them: only a synced candidate whose renewal is recent is
eligible.

Freshness compares the candidate's ``renewTime`` with the reader's wall clock, with a
a second of slack (:attr:`~kcs.leaderelection.ElectionTimings.candidate_ttl`). That is a
liveness hint, never a safety decision: handing the lease to a replica that has just died
costs one lease duration, after which another replica takes it as after a crash.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio

from kcs.client import Client, ClientError
from kcs.core import AlreadyExists, ApiError, Conflict, NotFound, Object
from kcs.leaderelection._identity import candidate_lease_name, label_value
from kcs.leaderelection._lock import LEASES
from kcs.leaderelection._record import (
    ANNOTATION_LIVENESS,
    ANNOTATION_SYNCED,
    LABEL_CANDIDATE_FOR,
    format_micro_time,
    parse_micro_time,
)
from kcs.leaderelection._timing import ElectionTimings

__all__ = ["Candidacy", "Candidate", "choose_successor", "get_candidate", "list_candidates"]

_log = logging.getLogger("kcs.leaderelection")

_WITHDRAW_TIMEOUT = 2.0


@dataclass(frozen=True, slots=True)
class Candidate:
    """A replica standing for election, as its candidate Lease describes it."""

    identity: str
    synced: bool
    renew_time: datetime | None
    lease_name: str
    liveness: str = ""
    """The liveness endpoint it advertises (``""``: none, no crash detection)."""

    def fresh(self, now: datetime, ttl: float) -> bool:
        """Whether the candidate renewed within ``ttl`` seconds of ``now`` (either side,
        to allow for clock offsets)."""
        if self.renew_time is None:
            return False
        return abs((now - self.renew_time).total_seconds()) <= ttl

    def eligible(self, now: datetime, ttl: float) -> bool:
        """Synced and fresh: fit to be handed the lease."""
        return self.synced and self.fresh(now, ttl)


def _candidate(lease: Object) -> Candidate | None:
    spec = lease.get("spec")
    if not isinstance(spec, Mapping):
        return None
    identity = spec.get("holderIdentity")
    if not isinstance(identity, str) or not identity:
        return None
    return Candidate(
        identity=identity,
        synced=lease.annotations.get(ANNOTATION_SYNCED) == "true",
        renew_time=parse_micro_time(spec.get("renewTime")),
        lease_name=lease.name,
        liveness=lease.annotations.get(ANNOTATION_LIVENESS, ""),
    )


async def list_candidates(client: Client, election: str, namespace: str) -> list[Candidate]:
    """Every candidate for the election Lease ``election`` (one LIST)."""
    result = await client.list(
        LEASES, namespace, label_selector={LABEL_CANDIDATE_FOR: label_value(election)}
    )
    found = (_candidate(item) for item in result)
    return [c for c in found if c is not None]


async def get_candidate(
    client: Client, election: str, namespace: str, identity: str
) -> Candidate | None:
    """``identity``'s candidate for ``election`` (one GET), or ``None`` if it has none."""
    lease = await client.get(LEASES, candidate_lease_name(election, identity), namespace)
    if lease is None:
        return None
    found = _candidate(lease)
    return found if found is not None and found.identity == identity else None


def _resource_version(obj: Object | None) -> str:
    return obj.metadata.resource_version if obj is not None else ""


def choose_successor(
    candidates: list[Candidate], exclude: str, now: datetime, ttl: float
) -> Candidate | None:
    """The eligible candidate (synced, fresh, not ``exclude``) that renewed last."""
    eligible = [c for c in candidates if c.identity != exclude and c.eligible(now, ttl)]
    if not eligible:
        return None
    never = datetime.min.replace(tzinfo=UTC)
    return max(eligible, key=lambda c: (c.renew_time or never, c.identity))


class Candidacy:
    """This replica's candidate Lease, kept renewed while :meth:`run` runs.

    Guarantees: the Lease is written at start, every ``candidate_renew_period``, and at
    once when :meth:`set_synced` changes the flag; it is deleted (best effort, within
    2 s, even when cancelled) when :meth:`run` ends. Failures are logged and retried;
    they never end :meth:`run`.
    """

    def __init__(
        self, client: Client, election: str, namespace: str, identity: str, timings: ElectionTimings
    ) -> None:
        self.client = client
        self.election = election
        self.namespace = namespace
        self.identity = identity
        self.timings = timings
        self.lease_name = candidate_lease_name(election, identity)
        self.liveness = ""
        """The liveness endpoint to advertise (``""``: none); set before :meth:`run`."""
        self._synced = False
        self._running = False
        self._write_lock = anyio.Lock()
        self._failures = 0
        self._last: Object | None = None

    @property
    def synced(self) -> bool:
        """The flag this replica publishes."""
        return self._synced

    async def set_synced(self, synced: bool = True) -> None:
        """Publish whether this replica's caches are synced (written at once if running)."""
        changed = synced != self._synced
        self._synced = synced
        if changed and self._running:
            await self._publish()

    async def run(self) -> None:
        """Keep the candidate Lease renewed until cancelled; then delete it."""
        self._running = True
        try:
            while True:
                ok = await self._publish()
                wait = self.timings.candidate_renew_period if ok else self.timings.retry_wait()
                await anyio.sleep(wait)
        finally:
            self._running = False
            with anyio.move_on_after(_WITHDRAW_TIMEOUT, shield=True):
                await self._withdraw()
            self._last = None

    def _body(self) -> dict[str, Any]:
        now = format_micro_time(datetime.now(UTC))
        annotations = {ANNOTATION_SYNCED: "true" if self._synced else "false"}
        if self.liveness:
            annotations[ANNOTATION_LIVENESS] = self.liveness
        return {
            "apiVersion": LEASES.api_version,
            "kind": LEASES.kind,
            "metadata": {
                "name": self.lease_name,
                "namespace": self.namespace,
                "labels": {LABEL_CANDIDATE_FOR: label_value(self.election)},
                "annotations": annotations,
            },
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": max(1, round(self.timings.candidate_ttl)),
                "acquireTime": now,
                "renewTime": now,
            },
        }

    async def _publish(self) -> bool:
        async with self._write_lock:
            try:
                with anyio.fail_after(self.timings.request_timeout):
                    await self._write()
            except (ApiError, ClientError, TimeoutError, ValueError) as e:
                self._failures += 1
                if self._failures in (1, 10) or self._failures % 100 == 0:
                    _log.warning(
                        "could not renew candidate Lease %s/%s (%d failures): %s",
                        self.namespace, self.lease_name, self._failures, str(e) or type(e).__name__,
                    )
                return False
            self._failures = 0
            return True

    async def _write(self) -> None:
        # Updates carry the resourceVersion: the apiserver refuses unconditional updates
        # of Leases.
        if self._last is None:
            try:
                self._last = await self.client.create(LEASES, self._body(), self.namespace)
                return
            except AlreadyExists:
                self._last = await self.client.get(LEASES, self.lease_name, self.namespace)
        for attempt in range(2):
            body = self._body()
            body["metadata"]["resourceVersion"] = _resource_version(self._last)
            try:
                self._last = await self.client.replace(LEASES, body, self.namespace)
                return
            except NotFound:
                self._last = None
                self._last = await self.client.create(LEASES, self._body(), self.namespace)
                return
            except Conflict:
                if attempt:
                    raise
                self._last = await self.client.get(LEASES, self.lease_name, self.namespace)

    async def _withdraw(self) -> None:
        try:
            await self.client.delete(LEASES, self.lease_name, self.namespace)
        except NotFound:
            pass
        except (ApiError, ClientError) as e:
            _log.info("could not delete candidate Lease %s/%s: %s", self.namespace,
                      self.lease_name, e)
