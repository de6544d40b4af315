"""Replica identities, and object names derived from them."""

from __future__ import annotations

import hashlib
import re
import socket
import uuid

__all__ = ["candidate_lease_name", "default_identity", "label_value"]

_NOT_NAME = re.compile(r"[^a-z0-9.-]+")
_MAX_NAME = 253
_MAX_LABEL = 63
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?)?")


def default_identity() -> str:
    """``<hostname>_<8 random hex digits>``: unique per process, as client-go advises
    (a pod's hostname alone is reused when the pod is replaced)."""
    return f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}"


def _digest(text: str, n: int = 10) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def candidate_lease_name(lease_name: str, identity: str) -> str:
    """The name of ``identity``'s candidate Lease for the election Lease ``lease_name``:
    ``<lease_name>-candidate-<identity>``, with the identity lower-cased and reduced to
    name characters; when that changed it (or the name would be too long) a short hash of
    the identity is appended so that distinct identities keep distinct names."""
    slug = _NOT_NAME.sub("-", identity.lower()).strip(".-")
    prefix = f"{lease_name}-candidate-"
    if slug != identity or not slug or len(prefix) + len(slug) > _MAX_NAME:
        suffix = _digest(identity)
        room = _MAX_NAME - len(prefix) - len(suffix) - 1
        slug = f"{slug[: max(room, 0)].strip('.-')}-{suffix}".lstrip("-")
    return f"{prefix}{slug}"


def label_value(text: str) -> str:
    """``text`` if it is a valid label value, else a shortened form with a hash."""
    if len(text) <= _MAX_LABEL and _LABEL_VALUE.fullmatch(text):
        return text
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", text)[: _MAX_LABEL - 11].strip("_.-")
    return f"{cleaned}-{_digest(text)}".lstrip("-")
