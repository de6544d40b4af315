"""The one place where resourceVersions are compared.

On the wire a resourceVersion is an opaque string. kube-apiserver backed by etcd uses
decimal integers, and the watch cache relies on that; kcs compares them as integers only
here, and falls back safely (to equality) when either side is not a decimal integer.
"""

from __future__ import annotations

__all__ = ["parse_resource_version", "resource_version_at_least", "resource_version_newer"]


def parse_resource_version(rv: str | None) -> int | None:
    """The integer value of a decimal resourceVersion, or ``None`` if it is not one."""
    if not rv or not rv.isdigit() or not rv.isascii():
        return None
    return int(rv)


def resource_version_at_least(have: str | None, want: str | None) -> bool:
    """Whether state at ``have`` includes everything up to ``want``.

    An empty ``want`` is always reached. When either value is not a decimal integer the
    only safe answer is equality of the strings.
    """
    if not want:
        return True
    h, w = parse_resource_version(have), parse_resource_version(want)
    if h is None or w is None:
        return have == want
    return h >= w


def resource_version_newer(a: str | None, b: str | None) -> bool:
    """Whether ``a`` is strictly newer than ``b``; ``False`` when they cannot be compared."""
    x, y = parse_resource_version(a), parse_resource_version(b)
    if x is None or y is None:
        return False
    return x > y
