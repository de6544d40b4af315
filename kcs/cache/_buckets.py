"""Index buckets: index value -> the keys of the objects that have it.

A bucket that holds one key is that key, a bare ``str``; it becomes a ``set`` when a
second key arrives and a bare ``str`` again when it shrinks back to one. Most values of
a label such as ``pod-template-hash`` or of an owner uid belong to one object or a few,
and a set costs over 200 bytes and is tracked by the garbage collector, while the ``str``
is the object's key, shared with the store. A map whose buckets are all bare keys is a
dict of strings, which the collector does not track either.
"""

from __future__ import annotations

from collections.abc import Collection

__all__ = ["Buckets", "bucket_add", "bucket_discard", "bucket_keys", "bucket_size"]

Buckets = dict[str, str | set[str]]
"""Index value -> one key (``str``) or two or more keys (``set``)."""


def bucket_add(buckets: Buckets, value: str, key: str) -> None:
    """Add ``key`` under ``value``."""
    cur = buckets.get(value)
    if cur is None:
        buckets[value] = key
    elif isinstance(cur, str):
        if cur != key:
            buckets[value] = {cur, key}
    else:
        cur.add(key)


def bucket_discard(buckets: Buckets, value: str, key: str) -> None:
    """Remove ``key`` from under ``value`` (no error if it is not there)."""
    cur = buckets.get(value)
    if cur is None:
        return
    if isinstance(cur, str):
        if cur == key:
            del buckets[value]
        return
    keys = cur
    keys.discard(key)
    if len(keys) == 1:
        buckets[value] = next(iter(keys))
    elif not keys:
        del buckets[value]


def bucket_keys(buckets: Buckets, value: str) -> Collection[str]:
    """The keys under ``value``: the live set itself (do not keep it), a 1-tuple, or ``()``."""
    cur = buckets.get(value)
    if cur is None:
        return ()
    if isinstance(cur, str):
        return (cur,)
    return cur


def bucket_size(buckets: Buckets, value: str) -> int:
    """How many keys are under ``value``."""
    cur = buckets.get(value)
    if cur is None:
        return 0
    return 1 if isinstance(cur, str) else len(cur)
