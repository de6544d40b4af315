"""A raw HTTP client for the fake apiserver tests: requests in, (status, JSON) out.

Deliberately not kcs.client: the fake apiserver is proved with clients nobody here wrote
(kubectl, kubernetes-asyncio) and with plain aiohttp.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import orjson
from multidict import CIMultiDictProxy

POD = "/api/v1/namespaces/{ns}/pods"
CM = "/api/v1/namespaces/{ns}/configmaps"


def pod(name: str, ns: str = "default", **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


def configmap(name: str, ns: str = "default", data: Mapping[str, str] | None = None,
              **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": ns, "labels": labels},
            "data": dict(data or {})}


class Response:
    def __init__(self, status: int, body: Any, headers: CIMultiDictProxy[str]) -> None:
        self.status = status
        self.body = body
        self.headers = headers

    @property
    def rv(self) -> str:
        return str(self.body["metadata"]["resourceVersion"])

    @property
    def reason(self) -> str:
        return str(self.body.get("reason", "")) if isinstance(self.body, dict) else ""

    def names(self) -> list[str]:
        return [i["metadata"]["name"] for i in self.body["items"]]

    def __repr__(self) -> str:
        return f"Response({self.status}, {self.body!r})"


class Http:
    def __init__(self, url: str, session: aiohttp.ClientSession) -> None:
        self.url = url
        self.session = session

    async def req(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: Mapping[str, str] | None = None,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
        raw: bytes | None = None,
    ) -> Response:
        h = {"Content-Type": content_type, **(headers or {})}
        data = raw if raw is not None else (orjson.dumps(body) if body is not None else None)
        async with self.session.request(method, self.url + path, data=data, params=params,
                                        headers=h) as resp:
            payload = await resp.read()
            try:
                decoded = orjson.loads(payload) if payload else None
            except orjson.JSONDecodeError:
                decoded = payload.decode()
            return Response(resp.status, decoded, resp.headers)

    async def get(self, path: str, **params: str) -> Response:
        return await self.req("GET", path, params=params)

    async def post(self, path: str, body: Any, **params: str) -> Response:
        return await self.req("POST", path, body, params=params)

    async def put(self, path: str, body: Any) -> Response:
        return await self.req("PUT", path, body)

    async def patch(self, path: str, body: Any, kind: str = "merge", **params: str) -> Response:
        ctype = {
            "merge": "application/merge-patch+json",
            "json": "application/json-patch+json",
            "strategic": "application/strategic-merge-patch+json",
            "apply": "application/apply-patch+yaml",
        }[kind]
        return await self.req("PATCH", path, body, content_type=ctype, params=params)

    async def delete(self, path: str, body: Any = None) -> Response:
        return await self.req("DELETE", path, body)

    @asynccontextmanager
    async def watch(self, path: str, **params: str) -> AsyncIterator[WatchStream]:
        q = {"watch": "1", **params}
        async with self.session.get(self.url + path, params=q,
                                    timeout=aiohttp.ClientTimeout(total=None)) as resp:
            yield WatchStream(resp)


class WatchStream:
    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self.resp = resp
        self.status = resp.status

    async def next(self) -> dict[str, Any] | None:
        """The next event, or None at the end of the stream."""
        line = await self.resp.content.readline()
        if not line:
            return None
        event: dict[str, Any] = orjson.loads(line)
        return event

    async def take(self, n: int) -> list[dict[str, Any]]:
        out = []
        for _ in range(n):
            ev = await self.next()
            if ev is None:
                break
            out.append(ev)
        return out

    async def rest(self) -> list[dict[str, Any]]:
        out = []
        while (ev := await self.next()) is not None:
            out.append(ev)
        return out


def summary(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(type, name) of each event; bookmarks as (BOOKMARK, rv)."""
    out = []
    for e in events:
        obj = e["object"]
        if e["type"] == "BOOKMARK":
            out.append(("BOOKMARK", obj["metadata"]["resourceVersion"]))
        elif e["type"] == "ERROR":
            out.append(("ERROR", str(obj.get("code"))))
        else:
            out.append((e["type"], obj["metadata"]["name"]))
    return out


@asynccontextmanager
async def http(url: str, token: str | None = None,
               user_agent: str = "kcs-tests") -> AsyncIterator[Http]:
    headers = {"User-Agent": user_agent}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with aiohttp.ClientSession(headers=headers) as session:
        yield Http(url, session)
