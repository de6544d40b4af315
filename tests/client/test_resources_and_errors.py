"""Resources, resourceVersion comparison and Status errors."""

from __future__ import annotations

import pytest

from kcs.core import (
    AlreadyExists,
    ApiError,
    Conflict,
    Gone,
    NotFound,
    TooManyRequests,
    builtin,
    error_from_status,
    parse_resource_version,
    resource_version_at_least,
    resource_version_newer,
    status_body,
)


def test_paths() -> None:
    pods = builtin("pods")
    assert pods.path() == "/api/v1/pods"
    assert pods.path("ns") == "/api/v1/namespaces/ns/pods"
    assert pods.path("ns", "p", "status") == "/api/v1/namespaces/ns/pods/p/status"
    nodes = builtin("nodes")
    assert nodes.path("ignored", "n1") == "/api/v1/nodes/n1"
    assert (
        builtin("Deployment", "apps/v1").path("a", "b")
        == "/apis/apps/v1/namespaces/a/deployments/b"
    )
    assert builtin("leases.coordination.k8s.io").kind == "Lease"
    with pytest.raises(ValueError):
        pods.path("ns", "")
    with pytest.raises(KeyError):
        builtin("widgets")


@pytest.mark.parametrize(
    ("have", "want", "expected"),
    [
        ("10", "9", True),
        ("10", "10", True),
        ("9", "10", False),
        ("x", "x", True),
        ("x", "10", False),
        ("10", "", True),
        ("", "1", False),
        ("a1", "a2", False),
    ],
)
def test_resource_version_at_least(have: str, want: str, expected: bool) -> None:
    assert resource_version_at_least(have, want) is expected


def test_resource_version_helpers_never_raise_on_opaque_values() -> None:
    assert parse_resource_version("12") == 12
    assert parse_resource_version("١٢") is None  # non-ASCII digits are not a revision
    assert parse_resource_version("") is None
    assert resource_version_newer("11", "2") is True  # numeric, not lexicographic
    assert resource_version_newer("abc", "1") is False


@pytest.mark.parametrize(
    ("code", "reason", "cls"),
    [
        (404, "NotFound", NotFound),
        (409, "AlreadyExists", AlreadyExists),
        (409, "Conflict", Conflict),
        (410, "Expired", Gone),
        (410, "Gone", Gone),
        (429, "TooManyRequests", TooManyRequests),
    ],
)
def test_errors_from_status(code: int, reason: str, cls: type[ApiError]) -> None:
    err = error_from_status(status_body(code, reason, "msg", name="x", kind="pods"), code)
    assert type(err) is cls
    assert err.code == code and err.reason == reason and err.details["name"] == "x"


def test_too_many_requests_retry_after() -> None:
    err = error_from_status(status_body(429, "TooManyRequests", "slow", retry_after_seconds=3), 429)
    assert isinstance(err, TooManyRequests) and err.retry_after == 3.0
    err = error_from_status(None, 429, retry_after=1.5)
    assert isinstance(err, TooManyRequests) and err.retry_after == 1.5


def test_non_status_bodies_map_by_code() -> None:
    err = error_from_status({"html": "oops"}, 503)
    assert err.code == 503 and "503" in str(err)
