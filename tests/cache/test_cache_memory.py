"""Memory sanity: cached pods add almost nothing for the garbage collector to track."""

from __future__ import annotations

import gc
import json

import msgspec
import pytest

from kcs.cache import IndexOptions, Store, StoreOptions
from kcs.core import codec_for
from kcs.testing._workload import typical_pod

pytestmark = pytest.mark.timeout(60)

N = 2_000


def _tracked() -> int:
    gc.collect()
    return len(gc.get_objects())


@pytest.fixture(scope="module")
def pod_json() -> list[bytes]:
    return [msgspec.json.encode(typical_pod(i)) for i in range(N)]


def test_a_store_with_three_indexes_tracks_well_under_one_object_per_pod(
    pod_json: list[bytes],
) -> None:
    codec = codec_for("Pod")
    before = _tracked()
    store = Store(StoreOptions(indexes=IndexOptions(fields=["spec.nodeName"], labels=True, owners=True)))
    store.replace([codec.decode_object(raw) for raw in pod_json], "1")
    for i, raw in enumerate(pod_json[:500]):  # updates go through the history too
        newer = raw.replace(b'"resourceVersion":"1"', b'"resourceVersion":"%d"' % (i + 2))
        obj = codec.decode_object(newer)
        store.apply(obj)
    assert store.resource_version == "501"
    tracked = _tracked() - before
    # Only index buckets holding two or more keys are sets (a node's pods, an app's pods):
    # one per distinct value, not per pod. The objects, their metadata and label dicts,
    # single-key buckets and history entries are not tracked at all.
    shared_buckets = sum(
        1
        for name in store.index_names()
        for value in store.index_values(name)
        if len(store.index_keys(name, value)) >= 2
    )
    assert tracked - shared_buckets < 50, (tracked, shared_buckets)
    per_pod = tracked / N
    assert per_pod < 1, per_pod
    cached = store.list()[0]
    assert not gc.is_tracked(cached)
    assert not gc.is_tracked(cached.metadata)
    assert not gc.is_tracked(cached.metadata.labels)
    assert not gc.is_tracked(cached.metadata.owner_references)
    # The baseline this representation was chosen over: dozens per pod.
    before = _tracked()
    dicts = [json.loads(raw) for raw in pod_json]
    per_dict = (_tracked() - before) / N
    assert per_dict > 20 * max(per_pod, 0.01)
    assert len(dicts) == len(store) == N


def test_metadata_only_store_keeps_no_body(pod_json: list[bytes]) -> None:
    codec = codec_for("Pod")
    store = Store(StoreOptions(metadata_only=True))
    store.replace([codec.decode_object(raw) for raw in pod_json[:100]], "1")
    assert all(obj.body == b"{}" for obj in store.list())
    assert all(obj.labels for obj in store.list())
