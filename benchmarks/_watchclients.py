"""The clients of the watch benchmark; each runs in a process of its own.

``python -m benchmarks._watchclients NAME URL EVENTS`` runs client ``NAME`` against the
static watch server at ``URL`` (:mod:`benchmarks._watchserver`) and prints one JSON line:
``{"events": ..., "seconds": ..., "cpu_s": ..., "objects": ...}``.

Every client does the same three steps:

1. **Set-up, not timed**: arm the server's gate, then sync: list the pods' initial state
   into its cache (the clients that keep one), and, for the informer, open its watch (the
   gate holds it before the first event).
2. **The clock**: note the wall time and the process's CPU time
   (``getrusage(RUSAGE_SELF)``: user + system, every thread), open the gate, consume
   ``EVENTS`` events (ADDED, MODIFIED and DELETED all count) into the cache.
3. Stop the clock when the last event is in the cache (the informer: and its handler has
   been called for every change); report the events, seconds, CPU seconds (the client's
   and the server's over the same span) and the number of objects cached, which the
   harness checks against the stream.

k8s_asyncio is the exception to step 1: its cache starts empty (see :func:`k8s_asyncio`).

The clients (see ``docs/benchmarks.md``): ``kcs``, ``lightkube``, ``lean``, ``decode``,
``orjson_stripped``, ``raw``, ``transport`` and ``k8s_asyncio``; ``kopf`` runs under
``kopf run`` (:mod:`benchmarks._kopf_operator`).
"""

from __future__ import annotations

import json
import resource
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import anyio
import msgspec
import orjson

from benchmarks._workload import INDEXED_LABEL

Result = dict[str, float]
LIST_PAGE = 500


def cpu_seconds() -> float:
    """User + system CPU time of this process (all its threads) so far."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def post(url: str, path: str) -> None:
    """A control request to the benchmark server (``/_bench/arm`` or ``/_bench/go``)."""
    req = urllib.request.Request(url + path, data=b"", method="POST")
    with urllib.request.urlopen(req, timeout=30) as resp:
        resp.read()


def info(url: str, path: str) -> Any:
    """A GET of the benchmark server's control endpoints."""
    with urllib.request.urlopen(url + path, timeout=30) as resp:
        return json.loads(resp.read())


def arm(url: str, events: int) -> None:
    """Arm the server's gate for a client that will count ``events`` events."""
    post(url, f"/_bench/arm?events={events}")


class Clock:
    """Wall and CPU time from :meth:`start` (which opens the server's gate) to
    :meth:`stop`, and the server's CPU time over the same span."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.t0 = self.c0 = self.s0 = 0.0

    def start(self) -> None:
        self.s0 = float(info(self.url, "/_bench/stats")["cpu_s"])
        self.t0, self.c0 = time.perf_counter(), cpu_seconds()
        post(self.url, "/_bench/go")

    def stop(self, events: int, objects: int) -> Result:
        seconds, cpu = time.perf_counter() - self.t0, cpu_seconds() - self.c0
        server = float(info(self.url, "/_bench/stats")["cpu_s"]) - self.s0
        return {"events": float(events), "seconds": seconds, "cpu_s": cpu,
                "server_cpu_s": server, "objects": float(objects), "prefilled": 1.0}


def _session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3600))


async def _list_pages(session: aiohttp.ClientSession, url: str) -> tuple[list[bytes], str]:
    """The pods' list, page by page (bodies as bytes), and its resourceVersion."""
    pages: list[bytes] = []
    cont, rv = "", ""
    while True:
        params = {"limit": str(LIST_PAGE), **({"continue": cont} if cont else {})}
        async with session.get(f"{url}/api/v1/pods", params=params) as resp:
            resp.raise_for_status()
            body = await resp.read()
        pages.append(body)
        meta = msgspec.json.decode(body, type=_ListHead).metadata
        rv = rv or meta.resourceVersion
        cont = meta.cont
        if not cont:
            return pages, rv


class _ListMeta(msgspec.Struct):
    resourceVersion: str = ""
    cont: str = msgspec.field(name="continue", default="")


class _ListHead(msgspec.Struct):
    metadata: _ListMeta


async def _lines(session: aiohttp.ClientSession, url: str, rv: str,
                 on_line: Callable[[bytes], None], events: int) -> int:
    """Watch the pods from ``rv``; call ``on_line`` for each of ``events`` lines."""
    params = {"watch": "true", "resourceVersion": rv, "allowWatchBookmarks": "true"}
    seen = 0
    async with session.get(f"{url}/api/v1/pods", params=params) as resp:
        resp.raise_for_status()
        rest = b""
        async for chunk in resp.content.iter_any():
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            for line in lines:
                on_line(line)
                seen += 1
                if seen == events:
                    return seen
    raise RuntimeError(f"the watch ended after {seen} of {events} events")


# --- transport: aiohttp reading lines, nothing else -------------------------------------


async def transport(url: str, events: int) -> Result:
    """The transport ceiling: aiohttp streaming the watch and splitting it into lines."""
    arm(url, events)
    async with _session() as session:
        rv = str(info(url, "/_bench/info")["base"])
        clock = Clock(url)
        clock.start()
        seen = await _lines(session, url, rv, lambda _line: None, events)
        return clock.stop(seen, 0)


# --- raw: orjson dicts, managedFields kept, a dict store --------------------------------


def _dict_store(strip: bool) -> tuple[dict[str, Any], Callable[[dict[str, Any]], None],
                                      Callable[[bytes], None]]:
    cache: dict[str, Any] = {}
    loads = orjson.loads

    def put(obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        if strip:
            meta.pop("managedFields", None)
        cache[f"{meta['namespace']}/{meta['name']}"] = obj

    def on_line(line: bytes) -> None:
        event = loads(line)
        obj = event["object"]
        if event["type"] == "DELETED":
            meta = obj["metadata"]
            cache.pop(f"{meta['namespace']}/{meta['name']}", None)
        else:
            put(obj)

    return cache, put, on_line


async def _dicts(url: str, events: int, strip: bool) -> Result:
    arm(url, events)
    cache, put, on_line = _dict_store(strip)
    async with _session() as session:
        pages, rv = await _list_pages(session, url)
        for page in pages:
            for obj in orjson.loads(page)["items"]:
                put(obj)
        del pages
        clock = Clock(url)
        clock.start()
        seen = await _lines(session, url, rv, on_line, events)
        return clock.stop(seen, len(cache))


async def raw(url: str, events: int) -> Result:
    """aiohttp + orjson dicts (managedFields kept) in a dict keyed namespace/name."""
    return await _dicts(url, events, strip=False)


async def orjson_stripped(url: str, events: int) -> Result:
    """aiohttp + orjson dicts with managedFields removed, in a dict keyed namespace/name."""
    return await _dicts(url, events, strip=True)


# --- lean: aiohttp + msgspec typed metadata, raw spec/status, dict store + indexes ------


class OwnerReference(msgspec.Struct):
    apiVersion: str
    kind: str
    name: str
    uid: str
    controller: bool = False
    blockOwnerDeletion: bool = False


class ObjectMeta(msgspec.Struct):
    """The metadata a controller reads; managedFields is not declared, so it is skipped."""

    name: str
    namespace: str = ""
    uid: str = ""
    resourceVersion: str = ""
    generation: int = 0
    creationTimestamp: str | None = None
    deletionTimestamp: str | None = None
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    ownerReferences: list[OwnerReference] = []
    finalizers: list[str] = []


class Pod(msgspec.Struct):
    metadata: ObjectMeta
    apiVersion: str = "v1"
    kind: str = "Pod"
    spec: msgspec.Raw = msgspec.Raw(b"null")
    status: msgspec.Raw = msgspec.Raw(b"null")


class PodEvent(msgspec.Struct):
    type: str
    object: Pod


class PodList(msgspec.Struct):
    items: list[Pod]


class LeanCache:
    """A dict of pods keyed namespace/name, with a namespace index and an index of one
    label's values; spec and status are copied out of the line, so the line is freed."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.objects: dict[str, Pod] = {}
        self.by_namespace: dict[str, set[str]] = {}
        self.by_label: dict[str, set[str]] = {}

    def put(self, pod: Pod) -> None:
        pod.spec, pod.status = pod.spec.copy(), pod.status.copy()
        meta = pod.metadata
        key = f"{meta.namespace}/{meta.name}"
        old = self.objects.get(key)
        self.objects[key] = pod
        value = meta.labels.get(self.label)
        if old is None:
            self.by_namespace.setdefault(meta.namespace, set()).add(key)
        else:
            old_value = old.metadata.labels.get(self.label)
            if old_value == value:
                return
            if old_value is not None:
                self.by_label[old_value].discard(key)
        if value is not None:
            self.by_label.setdefault(value, set()).add(key)

    def delete(self, pod: Pod) -> None:
        meta = pod.metadata
        key = f"{meta.namespace}/{meta.name}"
        old = self.objects.pop(key, None)
        if old is None:
            return
        self.by_namespace[old.metadata.namespace].discard(key)
        value = old.metadata.labels.get(self.label)
        if value is not None:
            self.by_label[value].discard(key)


async def lean(url: str, events: int) -> Result:
    """The cache a careful engineer writes by hand in an afternoon (see :class:`LeanCache`)."""
    arm(url, events)
    cache = LeanCache(INDEXED_LABEL)
    decode_event = msgspec.json.Decoder(PodEvent).decode
    decode_list = msgspec.json.Decoder(PodList).decode

    def on_line(line: bytes) -> None:
        event = decode_event(line)
        if event.type == "DELETED":
            cache.delete(event.object)
        else:
            cache.put(event.object)

    async with _session() as session:
        pages, rv = await _list_pages(session, url)
        for page in pages:
            for pod in decode_list(page).items:
                cache.put(pod)
        del pages
        clock = Clock(url)
        clock.start()
        seen = await _lines(session, url, rv, on_line, events)
        return clock.stop(seen, len(cache.objects))


# --- decode: the lean cache's decode of every event, nothing cached ---------------------


async def decode(url: str, events: int) -> Result:
    """The decode ceiling: aiohttp streaming the watch and msgspec decoding each event the
    way the lean cache does (typed metadata, raw spec and status), then dropping it.

    No client that decodes every event with msgspec on this transport and keeps a cache
    can go faster; its events/s over the lean cache's bound ``watch.ratio_vs_lean``.
    Nothing is cached, so it reports no objects (``-1``: the harness checks none)."""
    arm(url, events)
    decode_event = msgspec.json.Decoder(PodEvent).decode

    def on_line(line: bytes) -> None:
        decode_event(line)

    async with _session() as session:
        rv = str(info(url, "/_bench/info")["base"])
        clock = Clock(url)
        clock.start()
        seen = await _lines(session, url, rv, on_line, events)
        return clock.stop(seen, -1)


# --- lightkube: AsyncClient.watch(Pod) into a dict --------------------------------------


def lightkube_config(url: str) -> Any:
    """A lightkube configuration for ``url`` with no credentials."""
    from lightkube import KubeConfig
    from lightkube.config.models import Cluster, User

    return KubeConfig.from_one(cluster=Cluster(server=url), user=User())


async def lightkube(url: str, events: int) -> Result:
    """lightkube's ``AsyncClient.list`` then ``watch(Pod)`` (msgspec Pod structs) into a
    dict keyed namespace/name."""
    from lightkube import ALL_NS, AsyncClient
    from lightkube.resources.core_v1 import Pod as LkPod

    arm(url, events)
    client = AsyncClient(config=lightkube_config(url), trust_env=False)
    cache: dict[str, Any] = {}
    listing = client.list(LkPod, namespace=ALL_NS, chunk_size=LIST_PAGE)
    async for pod in listing:
        assert pod.metadata is not None  # lightkube types metadata optional; pods have it
        cache[f"{pod.metadata.namespace}/{pod.metadata.name}"] = pod
    clock = Clock(url)
    clock.start()
    seen = 0
    async for op, pod in client.watch(LkPod, namespace=ALL_NS,
                                      resource_version=listing.resourceVersion):
        assert pod.metadata is not None
        key = f"{pod.metadata.namespace}/{pod.metadata.name}"
        if op == "DELETED":
            cache.pop(key, None)
        else:
            cache[key] = pod
        seen += 1
        if seen == events:
            break
    result = clock.stop(seen, len(cache))
    await client.close()
    return result


# --- kubernetes-asyncio: watch.Watch with its models ------------------------------------


async def k8s_asyncio(url: str, events: int) -> Result:
    """kubernetes-asyncio: ``watch.Watch().stream(list_pod_for_all_namespaces)``, its
    models in a dict keyed namespace/name.

    Its cache starts empty: it lists one pod for the resourceVersion only, because
    decoding the initial list through its models takes longer than the whole stream
    (about 6 ms a pod here), so its dict holds only the objects the events bring.
    """
    from kubernetes_asyncio import client as k8s
    from kubernetes_asyncio import watch as k8s_watch

    arm(url, events)
    cache: dict[str, Any] = {}
    async with k8s.ApiClient(k8s.Configuration(host=url)) as api_client:
        v1 = k8s.CoreV1Api(api_client)
        rv = (await v1.list_pod_for_all_namespaces(limit=1)).metadata.resource_version
        clock = Clock(url)
        clock.start()
        seen = 0
        w = k8s_watch.Watch()
        async with w.stream(v1.list_pod_for_all_namespaces, resource_version=rv,
                            timeout_seconds=3600) as stream:
            async for event in stream:
                pod = event["object"]
                key = f"{pod.metadata.namespace}/{pod.metadata.name}"
                if event["type"] == "DELETED":
                    cache.pop(key, None)
                else:
                    cache[key] = pod
                seen += 1
                if seen == events:
                    break
        result = clock.stop(seen, len(cache))
        result["prefilled"] = 0.0
        w.stop()
    return result


# --- kcs: an Informer with three indexes and one handler ---------------------------------


async def kcs(url: str, events: int) -> Result:
    """A kcs informer on pods (see :class:`benchmarks._kcs.WatchInformer`)."""
    from benchmarks._kcs import informer_client, watch_informer

    arm(url, events)
    last = str(int(info(url, "/_bench/info")["base"]) + events)
    async with informer_client(url) as client:
        bench = watch_informer(client)
        async with anyio.create_task_group() as tg:
            tg.start_soon(bench.informer.run)
            await bench.wait_synced(600)
            clock = Clock(url)
            clock.start()
            await bench.wait_handled(last, 600)
            result = clock.stop(events, bench.cached)
            tg.cancel_scope.cancel()
    return result


CLIENTS: dict[str, Callable[[str, int], Awaitable[Result]]] = {
    "kcs": kcs,
    "lightkube": lightkube,
    "lean": lean,
    "decode": decode,
    "orjson_stripped": orjson_stripped,
    "raw": raw,
    "transport": transport,
    "k8s_asyncio": k8s_asyncio,
}


def main(argv: list[str]) -> None:
    name, url, events = argv[0], argv[1], int(argv[2])
    fn = CLIENTS[name]
    result = anyio.run(fn, url, events)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
