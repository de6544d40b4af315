"""Discovery: which resources the apiserver serves, by kind and by name.

Built-in kinds (:data:`~kcs.core.BUILTIN_RESOURCES`) are known ahead and never need a
request. Everything else (custom resources, aggregated APIs, kinds kcs does not list) is
read from the apiserver's discovery documents -- ``/api``, ``/apis`` and
``/api/v1`` / ``/apis/GROUP/VERSION`` -- cached, and read again on a miss, so a CRD
created after the client started is found on first use.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import anyio

from kcs.client._clienterrors import ClientError, NoMatchError
from kcs.core import BUILTIN_RESOURCES, ApiError, NotFound, Resource, split_api_version

__all__ = ["Discovery", "resources_from_discovery"]

_log = logging.getLogger("kcs.client")

FetchJson = Callable[[str], Awaitable[Any]]
"""``fetch(path)`` GETs a discovery document and returns it decoded."""


def resources_from_discovery(group_version: str, doc: Mapping[str, Any]) -> list[Resource]:
    """The resources of one ``APIResourceList`` (subresources folded into their parent)."""
    group, version = split_api_version(group_version)
    entries = doc.get("resources") or []
    subresources: dict[str, set[str]] = {}
    for entry in entries:
        name = str(entry.get("name", ""))
        plural, sep, sub = name.partition("/")
        if sep:
            subresources.setdefault(plural, set()).add(sub)
    out: list[Resource] = []
    for entry in entries:
        name = str(entry.get("name", ""))
        if not name or "/" in name:
            continue
        kind = str(entry.get("kind", ""))
        out.append(
            Resource(
                group=group,
                version=version,
                plural=name,
                kind=kind,
                namespaced=bool(entry.get("namespaced", False)),
                singular=str(entry.get("singularName") or kind.lower()),
                short_names=tuple(entry.get("shortNames") or ()),
                subresources=frozenset(subresources.get(name, ())),
                verbs=tuple(entry.get("verbs") or ()),
            )
        )
    return out


class Discovery:
    """A cache of served resources, filled from discovery on demand.

    Name lookups (:meth:`resource`) accept what kubectl accepts: the plural (``pods``),
    the singular (``pod``), a short name (``po``), the kind (``Pod``, case-insensitive),
    ``plural.group`` (``deployments.apps``) and ``plural.version.group``
    (``deployments.v1.apps``). An unqualified name prefers the core group, then the
    groups in the server's order; within a group, its preferred version.
    """

    def __init__(self, fetch: FetchJson, *, concurrency: int = 8) -> None:
        self._fetch = fetch
        self._concurrency = concurrency
        self._by_gvk: dict[tuple[str, str], Resource] = {}
        self._by_name: dict[str, Resource] = {}
        self._discovered: list[Resource] = []
        self._lock: anyio.Lock | None = None
        self._rebuild()

    def _rebuild(self) -> None:
        """Index what discovery said first, then the built-ins where it said nothing."""
        self._by_gvk = {}
        self._by_name = {}
        self._index(self._discovered)
        self._index(BUILTIN_RESOURCES)

    def _index(self, resources: Iterable[Resource]) -> None:
        for res in resources:
            self._by_gvk.setdefault((res.api_version, res.kind), res)
            qualified = [f"{res.plural}.{res.group}", f"{res.plural}.{res.version}.{res.group}"]
            if not res.group:
                qualified = [res.plural, f"{res.plural}.{res.version}"]
            for key in qualified:
                self._by_name.setdefault(key, res)
            for alias in (res.plural, res.singular, res.kind.lower(), *res.short_names):
                if alias:
                    self._by_name.setdefault(alias.lower(), res)

    def cached_for(self, api_version: str, kind: str) -> Resource | None:
        """The resource of ``kind`` in ``api_version`` if known, without any request."""
        return self._by_gvk.get((api_version, kind))

    def cached(self, name: str) -> Resource | None:
        """The resource called ``name`` if known, without any request."""
        return self._by_name.get(name) or self._by_name.get(name.lower())

    @property
    def resources(self) -> list[Resource]:
        """Everything discovered so far (built-ins not included until discovered)."""
        return list(self._discovered)

    async def resource_for(self, api_version: str, kind: str) -> Resource:
        """The resource that serves ``kind`` in ``api_version``; raises NoMatchError."""
        res = self.cached_for(api_version, kind)
        if res is None:
            await self.refresh(api_version)
            res = self.cached_for(api_version, kind)
        if res is None:
            raise NoMatchError(f"no resource serves kind {kind!r} in {api_version!r}")
        return res

    async def resource(self, name: str) -> Resource:
        """The resource called ``name`` (see the class docs); raises NoMatchError."""
        res = self.cached(name)
        if res is None:
            await self.refresh()
            res = self.cached(name)
        if res is None:
            raise NoMatchError(f"the server does not have a resource type {name!r}")
        return res

    async def refresh(self, group_version: str | None = None) -> list[Resource]:
        """Read discovery again: one group version, or everything; returns what was read.

        A group version that the server fails to describe (an aggregated API that is
        down, say) is skipped with a warning when everything is read, and raises when it
        was asked for alone -- except 404, which means it is no longer served: what was
        cached about it is forgotten.
        """
        if self._lock is None:
            self._lock = anyio.Lock()
        async with self._lock:
            if group_version is not None:
                try:
                    found = await self._read_group_version(group_version)
                except NotFound:
                    found = []
            else:
                found = await self._read_all()
            if group_version is None:
                self._discovered = found
            else:
                self._discovered = _merge(self._discovered, found, group_version)
            self._rebuild()
            return found

    async def _read_group_version(self, group_version: str) -> list[Resource]:
        group, version = split_api_version(group_version)
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        doc = await self._fetch(path)
        return resources_from_discovery(group_version, doc)

    async def _read_all(self) -> list[Resource]:
        core = await self._fetch("/api")
        groups = await self._fetch("/apis")
        ordered: list[str] = [str(v) for v in core.get("versions") or []]
        for group in groups.get("groups") or []:
            preferred = (group.get("preferredVersion") or {}).get("groupVersion")
            versions = [str(v.get("groupVersion")) for v in group.get("versions") or []]
            # Preferred version first: name lookups index the first one seen.
            if preferred in versions:
                versions.remove(preferred)
                versions.insert(0, preferred)
            ordered.extend(versions)
        results: dict[str, list[Resource]] = {}
        limiter = anyio.CapacityLimiter(self._concurrency)

        async def read(gv: str) -> None:
            async with limiter:
                try:
                    results[gv] = await self._read_group_version(gv)
                except (ApiError, ClientError) as exc:
                    _log.warning("discovery: could not read %s: %s", gv, exc)

        async with anyio.create_task_group() as tg:
            for gv in ordered:
                tg.start_soon(read, gv)
        return [res for gv in ordered for res in results.get(gv, [])]


def _merge(old: list[Resource], new: list[Resource], group_version: str) -> list[Resource]:
    """Replace what ``old`` says about ``group_version`` with ``new``, keeping the order."""
    kept = [r for r in old if r.api_version != group_version]
    at = next((i for i, r in enumerate(old) if r.api_version == group_version), len(kept))
    at = min(at, len(kept))
    return kept[:at] + new + kept[at:]
