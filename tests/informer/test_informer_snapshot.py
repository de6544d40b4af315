"""Warm start from a snapshot: load, resume the watch at its resourceVersion, no list."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from informer_helpers import (
    FAST_BACKOFF,
    PODS,
    Recorder,
    cache_state,
    caught_up,
    new_pod,
    running,
    server_state,
)

from kcs.cache import IndexOptions, StoreOptions
from kcs.client import Client
from kcs.core import Object, builtin
from kcs.informer import Informer, InformerOptions, SnapshotError
from kcs.informer._snapshot import read_snapshot
from kcs.testing import FakeApiServer
from kcs.watch import WatchOptions

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(20)]


async def test_warm_start_resumes_without_a_list(
    api: FakeApiServer, client: Client, tmp_path: Path
) -> None:
    api.seed("pods", [new_pod(f"p{i}", app="a") for i in range(30)])
    path = tmp_path / "pods.snapshot"
    first = Informer(client, PODS)
    async with running(first):
        assert await first.save_snapshot(path) == 30
        saved_rv = first.resource_version
    assert os.listdir(tmp_path) == ["pods.snapshot"]  # no temporary file left behind
    # the world moves on while nobody watches
    api.create("pods", new_pod("new"))
    api.delete("pods", "p0", "default")
    api.patch("pods", "p1", {"metadata": {"labels": {"app": "b"}}}, namespace="default")

    warm = Informer(client, PODS, options=InformerOptions(watch=WatchOptions(backoff=FAST_BACKOFF), snapshot=path))
    rec = Recorder()
    reg = warm.add_handler(rec)
    async with running(warm):
        assert warm.stats.snapshot_loads == 1
        await caught_up(api, warm, reg)
        assert warm.watcher is not None
        assert warm.watcher.stats.lists == 0 and warm.watcher.stats.pages == 0
        assert cache_state(warm) == server_state(api) == rec.versions()
        initial = [c for c in rec.calls if c[0] == "add-initial"]
        assert len(initial) == 30 and all(int(c[2]) <= int(saved_rv) for c in initial)
        assert sorted(c[:2] for c in rec.calls[30:]) == [
            ("add", "default/new"), ("delete", "default/p0"), ("update", "default/p1")
        ]
    assert not rec.violations


async def test_a_snapshot_older_than_the_history_relists(
    api: FakeApiServer, client: Client, tmp_path: Path
) -> None:
    api.seed("pods", [new_pod(f"p{i}") for i in range(10)])
    path = tmp_path / "pods.snapshot"
    first = Informer(client, PODS)
    async with running(first):
        await first.save_snapshot(path)
    api.delete("pods", "p0", "default")
    api.create("pods", new_pod("new"))
    api.compact()  # the snapshot's resourceVersion is gone: 410 -> relist

    warm = Informer(client, PODS, options=InformerOptions(watch=WatchOptions(backoff=FAST_BACKOFF), snapshot=path))
    rec = Recorder()
    reg = warm.add_handler(rec)
    async with running(warm):
        await caught_up(api, warm, reg)
        assert warm.watcher is not None and warm.watcher.stats.lists == 1
        assert cache_state(warm) == server_state(api) == rec.versions()
        # the relist brought only the true differences
        assert sorted(c[:2] for c in rec.calls[10:]) == [
            ("add", "default/new"), ("delete", "default/p0")
        ]
    assert not rec.violations


@pytest.mark.parametrize("damage", ["truncate", "garbage", "other-resource", "missing"])
async def test_an_unusable_snapshot_means_a_list(
    api: FakeApiServer,
    client: Client,
    tmp_path: Path,
    damage: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    api.seed("pods", [new_pod(f"p{i}") for i in range(5)])
    path = tmp_path / "pods.snapshot"
    first = Informer(client, PODS)
    async with running(first):
        await first.save_snapshot(path)
    lines = path.read_bytes().splitlines(keepends=True)
    if damage == "truncate":
        path.write_bytes(b"".join(lines[:-2]))
    elif damage == "garbage":
        path.write_bytes(b"".join([lines[0], b"{not json\n", *lines[2:]]))
    elif damage == "other-resource":
        with pytest.raises(SnapshotError, match="not configmaps"):
            read_snapshot(path, builtin("configmaps"), first._codec)
    else:
        path.unlink()
    resource = builtin("configmaps") if damage == "other-resource" else PODS
    with caplog.at_level(logging.WARNING, logger="kcs.informer"):
        warm = Informer(client, resource, options=InformerOptions(snapshot=path))
        async with running(warm):
            assert warm.stats.snapshot_loads == 0
            assert warm.watcher is not None and warm.watcher.stats.lists == 1
    assert "not using the snapshot" in caplog.text


async def test_save_before_sync_is_refused(client: Client, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="not synced"):
        await Informer(client, PODS).save_snapshot(tmp_path / "x")


async def test_saving_replaces_the_previous_snapshot(
    api: FakeApiServer, client: Client, tmp_path: Path
) -> None:
    path = tmp_path / "s"
    informer = Informer(client, PODS)
    async with running(informer):
        await informer.save_snapshot(path)
        api.create("pods", new_pod("p"))
        await caught_up(api, informer)
        assert await informer.save_snapshot(path) == 1
        snapshot = read_snapshot(path, PODS, informer._codec)
        rv, objects = snapshot.resource_version, snapshot.objects
        assert rv == informer.resource_version
        assert [o.key for o in objects] == ["default/p"]
        assert objects[0] == informer.lister.get("p", "default")


def _store_contents(informer: Informer) -> tuple[dict[str, Object], dict[str, dict[str, set[str]]]]:
    """Everything a reader can see: the objects by key, and every index's buckets."""
    lister = informer.lister
    objects = {o.key: o for o in lister.list()}
    store = informer._store
    indexes = {
        name: {value: set(store.index_keys(name, value)) for value in store.index_values(name)}
        for name in store.index_names()
    }
    return objects, indexes


def _indexed(client: Client, **options: object) -> Informer:


    store = StoreOptions(indexes=IndexOptions(labels=True, fields=["spec.nodeName"], owners=True))
    return Informer(client, PODS, options=InformerOptions(store=store, **options))  # type: ignore[arg-type]


@pytest.mark.parametrize("how", ["snapshot", "stream"])
async def test_a_snapshot_or_a_streaming_list_gives_the_store_a_list_gives(
    api: FakeApiServer, client: Client, tmp_path: Path, how: str
) -> None:
    """Same objects (equal, with the same resourceVersions), same buckets in every index
    (namespace, every label key, spec.nodeName, owners) as a paginated list of the same
    state."""
    pods = [new_pod(f"p{i}", f"ns{i % 3}", node=f"node-{i % 4}" if i % 5 else "",
                    app=f"a{i % 2}", tier=f"t{i % 3}") for i in range(40)]
    api.seed("pods", pods)
    listed = _indexed(client, watch=WatchOptions(page_size=7))  # several pages
    async with running(listed):
        await caught_up(api, listed)
        path = tmp_path / "pods.snapshot"
        await listed.save_snapshot(path)
        expected = _store_contents(listed)
    if how == "snapshot":
        other = _indexed(client, snapshot=path)
    else:
        other = _indexed(client, watch=WatchOptions(initial_list="stream"))
    async with running(other):
        await caught_up(api, other)
        if how == "snapshot":
            assert other.stats.snapshot_loads == 1
            assert other.watcher is not None and other.watcher.stats.lists == 0
        else:
            assert other.watcher is not None and other.watcher.streaming_list
        got = _store_contents(other)
    assert got[0].keys() == expected[0].keys() and len(got[0]) == 40
    assert got[0] == expected[0]
    assert got[1] == expected[1]
    assert "field:spec.nodeName" in got[1] and got[1]["field:spec.nodeName"][""]


async def test_a_version_1_snapshot_is_still_read(
    api: FakeApiServer, client: Client, tmp_path: Path
) -> None:
    from kcs.core import encode_object

    api.seed("pods", [new_pod(f"p{i}", node="n1") for i in range(5)])
    first = _indexed(client)
    async with running(first):
        await caught_up(api, first)
        objects = first.lister.list()
        rv = first.resource_version
        expected = _store_contents(first)
    header = (b'{"kind":"InformerSnapshot","version":1,"resource":"pods","apiVersion":"v1",'
              b'"resourceVersion":"%b","count":%d}\n' % (rv.encode(), len(objects)))
    path = tmp_path / "v1.snapshot"
    path.write_bytes(header + b"".join(encode_object(o) + b"\n" for o in objects))
    snapshot = read_snapshot(path, PODS, first._codec)
    assert snapshot.resource_version == rv and snapshot.fields == {}
    warm = _indexed(client, snapshot=path)
    async with running(warm):
        await caught_up(api, warm)
        assert warm.stats.snapshot_loads == 1
        assert _store_contents(warm) == expected


async def test_the_snapshot_saves_the_index_buckets(
    api: FakeApiServer, client: Client, tmp_path: Path
) -> None:
    """Version 3: the namespace, label and field buckets are in the file, by position, so
    that a warm start restores them whole; an informer with other indexes still gets
    exactly what a list gives it (what the file lacks is built from the objects)."""


    api.seed("pods", [new_pod(f"p{i}", f"ns{i % 3}", node=f"n{i % 2}", app=f"a{i % 4}")
                      for i in range(20)])
    first = _indexed(client)
    path = tmp_path / "pods.snapshot"
    async with running(first):
        await caught_up(api, first)
        await first.save_snapshot(path)
    snapshot = read_snapshot(path, PODS, first._codec)
    assert snapshot.version == 4 and snapshot.image is not None
    assert snapshot.image.all_labels and set(snapshot.image.labels) == {"app"}
    assert snapshot.image.namespace is not None and len(snapshot.image.namespace[1]) == 3
    assert snapshot.image.namespace_values is not None  # format 4: every bucket's value
    assert sorted(snapshot.image.namespace_values[1]) == ["ns0", "ns1", "ns2"]
    assert snapshot.keys == [o.key for o in snapshot.objects]
    assert set(snapshot.image.fields) == {"spec.nodeName"}

    def odd(obj: Object) -> list[str]:
        return ["odd"] if int(obj.name[1:]) % 2 else []

    other = IndexOptions(labels=["app", "missing"], fields=["spec.nodeName", "spec.restartPolicy"],
                         owners=True, custom={"odd": odd})
    listed = Informer(client, PODS, options=InformerOptions(store=StoreOptions(indexes=other)))
    warm = Informer(client, PODS, options=InformerOptions(
        store=StoreOptions(indexes=other), snapshot=path))
    async with running(listed), running(warm):
        await caught_up(api, listed)
        await caught_up(api, warm)
        assert warm.stats.snapshot_loads == 1
        assert _store_contents(warm) == _store_contents(listed)
        assert warm.lister.by_index("odd", "odd") and warm.lister.by_index("label:missing", "x") == []


async def test_managed_fields_survive_a_snapshot(
    api: FakeApiServer, client: Client, tmp_path: Path
) -> None:
    pod = new_pod("p", app="a")
    pod["metadata"]["managedFields"] = [{"manager": "m", "operation": "Update"}]
    api.create("pods", pod)
    path = tmp_path / "pods.snapshot"
    kept = Informer(client, PODS, options=InformerOptions(keep_managed_fields=True))
    async with running(kept):
        await caught_up(api, kept)
        await kept.save_snapshot(path)
        before = kept.lister.get("p", "default")
    warm = Informer(client, PODS, options=InformerOptions(keep_managed_fields=True, snapshot=path))
    async with running(warm):
        after = warm.lister.get("p", "default")
        assert warm.stats.snapshot_loads == 1
        assert after is not None and after == before
        assert after.to_dict()["metadata"]["managedFields"]


async def _refused_then_listed(
    api: FakeApiServer, client: Client, path: Path, caplog: pytest.LogCaptureFixture, why: str
) -> None:
    """A warm start from ``path`` refuses the snapshot (logging ``why``), lists instead,
    and caches what the server holds."""
    with caplog.at_level(logging.WARNING, logger="kcs.informer"):
        warm = Informer(client, PODS, options=InformerOptions(snapshot=path))
        async with running(warm):
            await caught_up(api, warm)
            assert warm.stats.snapshot_loads == 0
            assert warm.watcher is not None and warm.watcher.stats.lists == 1
            assert cache_state(warm) == server_state(api)
    assert "not using the snapshot" in caplog.text and why in caplog.text


async def test_an_index_image_that_does_not_fit_means_a_list(
    api: FakeApiServer, client: Client, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A well-formed file whose buckets point past its objects: refused with a log line
    naming why, and the informer lists (nothing of the file reaches the cache)."""
    import dataclasses

    from kcs.informer._snapshot import write_snapshot

    api.seed("pods", [new_pod(f"p{i}", app="a") for i in range(5)])
    path = tmp_path / "pods.snapshot"
    first = Informer(client, PODS)
    async with running(first):
        await caught_up(api, first)
        store = first._store
        keys = store.keys()
        image = store.index_image(keys)
        assert image.namespace is not None
        bad = dataclasses.replace(image, namespace=(image.namespace[0], [[0, 99]]))
        write_snapshot(path, PODS, first.resource_version, store.list(), bad)
    await _refused_then_listed(api, client, path, caplog, "does not fit")


async def test_a_version_2_snapshot_is_still_read(
    api: FakeApiServer, client: Client, tmp_path: Path
) -> None:
    import msgspec

    api.seed("pods", [new_pod(f"p{i}", node=f"n{i % 2}", app="a") for i in range(6)])
    first = _indexed(client)
    async with running(first):
        await caught_up(api, first)
        objects = first.lister.list()
        rv = first.resource_version
        expected = _store_contents(first)
    nodes = {o.key: (o.get_path("spec.nodeName") or "") for o in objects}
    document = {"kind": "InformerSnapshot", "version": 2, "resource": "pods", "apiVersion": "v1",
                "resourceVersion": rv, "count": len(objects), "objects": objects,
                "fields": {"spec.nodeName": [nodes[o.key] for o in objects]}}
    path = tmp_path / "v2.snapshot"
    path.write_bytes(b"KCSSNAP2\n" + msgspec.msgpack.encode(document))
    snapshot = read_snapshot(path, PODS, first._codec)
    assert snapshot.version == 2 and snapshot.image is None and snapshot.objects == objects
    warm = _indexed(client, snapshot=path)
    async with running(warm):
        await caught_up(api, warm)
        assert warm.stats.snapshot_loads == 1
        assert _store_contents(warm) == expected


def test_a_newer_format_is_named(tmp_path: Path) -> None:
    from kcs.core import codec_for

    path = tmp_path / "future.snapshot"
    path.write_bytes(b"KCSSNAP9\n" + b"\x00" * 16)
    with pytest.raises(SnapshotError, match=r"KCSSNAP9.*does not read"):
        read_snapshot(path, PODS, codec_for("Pod"))


def _undecoded(informer: Informer) -> int:
    """How many cached objects are still undecoded (read from a snapshot, never read)."""
    return sum(type(o) is not Object for o in informer._store._objects.values())


async def test_a_warm_start_decodes_each_object_on_first_use(
    api: FakeApiServer, client: Client, tmp_path: Path
) -> None:
    """Format 4: loading reads no object (nothing to decode per object: the keys and
    every bucket come from the file); an object is decoded when first read, then is a
    plain Object equal to the listed one, and the index answers are a list's."""
    import copy
    import pickle

    import msgspec

    from kcs.core import encode_object

    api.seed("pods", [new_pod(f"p{i}", f"ns{i % 2}", node=f"n{i % 3}", app=f"a{i % 2}")
                      for i in range(12)])
    path = tmp_path / "pods.snapshot"
    listed = _indexed(client)
    async with running(listed):
        await caught_up(api, listed)
        await listed.save_snapshot(path)
        expected = _store_contents(listed)
    # Nothing to build from the objects; the detector (on in tests) would read them all.
    store = StoreOptions(indexes=IndexOptions(labels=True, fields=["spec.nodeName"]),
                         mutation_detector=False)
    warm = Informer(client, PODS, options=InformerOptions(store=store, snapshot=path))
    async with running(warm):
        await caught_up(api, warm)
        assert warm.stats.snapshot_loads == 1 and _undecoded(warm) == 12
        lister = warm.lister
        # Answered from the restored buckets and keys: still nothing decoded.
        assert sorted(warm._store.index_keys("field:spec.nodeName", "n1")) == sorted(
            expected[1]["field:spec.nodeName"]["n1"])
        assert warm._store.index_values("label:app") and _undecoded(warm) == 12
        first = lister.get("p0", "ns0")
        assert first is not None and _undecoded(warm) == 12  # handed out as it is
        assert first.key == "ns0/p0" and type(first) is Object and _undecoded(warm) == 11
        assert first == expected[0]["ns0/p0"] and first.get_path("spec.nodeName") == "n0"
        assert lister.get("p0", "ns0") is first and first.metadata is first.metadata
        # Every other way in decodes first, and compares as the listed object does.
        rest = [(k, o) for k, o in warm._store._objects.items() if type(o) is not Object]
        assert expected[0][rest[0][0]] == rest[0][1]  # the listed one on the left
        assert (rest[1][1] != expected[0][rest[1][0]]) is False
        assert copy.copy(rest[2][1]) == expected[0][rest[2][0]]
        assert pickle.loads(pickle.dumps(rest[3][1])) == expected[0][rest[3][0]]
        # msgspec reads the fields below the attributes: an undecoded object is refused
        # loudly, never encoded as its row in the file.
        with pytest.raises(TypeError, match="range"):
            msgspec.json.encode(rest[4][1])
        assert encode_object(rest[4][1]) == encode_object(expected[0][rest[4][0]])
        # replace keeps what it is given and reads the rest from the file.
        body = msgspec.structs.replace(rest[5][1], body=b'{"spec":{}}')
        assert body.body == b'{"spec":{}}' and body.key == rest[5][0]
        meta = expected[0][rest[6][0]].metadata
        other = msgspec.structs.replace(rest[6][1], metadata=meta)
        assert other.metadata is meta and other.body == expected[0][rest[6][0]].body
        assert _undecoded(warm) == 6  # replace made new objects: the cached ones are unread
        assert _store_contents(warm)[0] == expected[0] and _undecoded(warm) == 0


async def test_the_mutation_detector_sees_restored_objects(
    api: FakeApiServer, client: Client, tmp_path: Path
) -> None:
    from kcs.cache import CacheMutationError

    api.seed("pods", [new_pod(f"p{i}", app="a") for i in range(4)])
    path = tmp_path / "pods.snapshot"
    first = Informer(client, PODS)
    async with running(first):
        await caught_up(api, first)
        await first.save_snapshot(path)
    store = StoreOptions(mutation_detector=True)
    warm = Informer(client, PODS, options=InformerOptions(store=store, snapshot=path))
    async with running(warm):
        await caught_up(api, warm)
        obj = warm.lister.get("p2", "default")
        assert obj is not None
        warm._store.verify()
        obj.labels["app"] = "mutated"  # what a reader must never do
        with pytest.raises(CacheMutationError, match="default/p2"):
            warm._store.verify()


async def test_a_damaged_snapshot_means_a_list(
    api: FakeApiServer, client: Client, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """One byte of the columns changed (the file's structure intact): the checksum
    refuses it, named in the log, and the informer lists."""
    api.seed("pods", [new_pod(f"p{i}", app="a") for i in range(5)])
    path = tmp_path / "pods.snapshot"
    first = Informer(client, PODS)
    async with running(first):
        await caught_up(api, first)
        await first.save_snapshot(path)
    data = bytearray(path.read_bytes())
    at = data.index(b"default/p3")  # the keys column
    data[at + len("default/p")] = ord("9")
    path.write_bytes(bytes(data))
    with pytest.raises(SnapshotError, match="checksum"):
        read_snapshot(path, PODS, first._codec)
    await _refused_then_listed(api, client, path, caplog, "checksum")


async def test_a_version_3_snapshot_is_still_read(
    api: FakeApiServer, client: Client, tmp_path: Path
) -> None:
    """Format 3 (metadata and bodies decoded per object, buckets by position only), as
    kcs 3's writer made it: read, and the same store as a list."""
    import msgspec

    from kcs.informer import _snapshot as v

    api.seed("pods", [new_pod(f"p{i}", f"ns{i % 2}", node=f"n{i % 2}", app=f"a{i % 3}")
                      for i in range(9)])
    first = _indexed(client)
    async with running(first):
        await caught_up(api, first)
        store = first._store
        keys = store.keys()
        objects = store.list()
        image = store.index_image(keys)
        rv = first.resource_version
        expected = _store_contents(first)
    payload = v._Payload(
        types=[("v1", "Pod")], type_index=[],
        metadata=[o.metadata for o in objects], bodies=[o.body for o in objects],
        indexes=v._Indexes(namespace=image.namespace, all_labels=image.all_labels,
                           labels=dict(image.labels),
                           fields={p: v._FieldImage(c, b) for p, (c, b) in image.fields.items()}),
    )
    header = v._Header("InformerSnapshot", 3, "pods", "v1", rv, len(objects))
    path = tmp_path / "v3.snapshot"
    path.write_bytes(b"KCSSNAP3\n" + msgspec.msgpack.encode((header, payload)))
    snapshot = read_snapshot(path, PODS, first._codec)
    assert snapshot.version == 3 and snapshot.keys is None and snapshot.objects == objects
    assert snapshot.image is not None and snapshot.image.namespace_values is None
    warm = _indexed(client, snapshot=path)
    async with running(warm):
        await caught_up(api, warm)
        assert warm.stats.snapshot_loads == 1
        assert _store_contents(warm) == expected
