"""What a request is about: kube-apiserver's RequestInfo, from the method, path and query.

The fake routes and authorizes by it, as kube-apiserver does: a path under ``/api/v1`` or
``/apis/GROUP/VERSION`` naming a resource is a *resource request* (verb, namespace,
resource, name, subresource); anything else is a *non-resource request* (verb and path).

* Verbs come from the method: GET is ``get``, ``list`` (no name) or ``watch`` (no name and
  ``watch=true``, or the deprecated ``/watch/`` prefix, with or without a name); POST is
  ``create``; PUT ``update``; PATCH ``patch``; DELETE ``delete`` or ``deletecollection``.
  A GET of one object with ``?watch=1`` is still a ``get``: it answers the object.
* ``/api/v1/namespaces/NS`` is the namespace NS (resource ``namespaces``, name NS), and
  ``/api/v1/namespaces/NS/status`` its status.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["RequestInfo", "parse_request_info"]

_NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})
_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_METHOD_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """The attributes kube-apiserver derives from a request (its ``RequestInfo``)."""

    path: str
    verb: str
    resource_request: bool = False
    group: str = ""
    version: str = ""
    namespace: str = ""
    resource: str = ""
    name: str = ""
    subresource: str = ""
    parts: tuple[str, ...] = ()
    """The path segments after ``/api/VERSION`` or ``/apis/GROUP/VERSION`` (without a
    ``watch`` prefix); more than a resource request can hold means an unknown path."""

    @property
    def api_version(self) -> str:
        """``v1`` or ``group/version``."""
        return f"{self.group}/{self.version}" if self.group else self.version


def _watching(query: Mapping[str, str]) -> bool:
    return query.get("watch", "") in _TRUE


def parse_request_info(method: str, path: str, query: Mapping[str, str]) -> RequestInfo:
    """The :class:`RequestInfo` of one request (see the module doc)."""
    segs = [s for s in path.split("/") if s]
    nonresource = RequestInfo(path=path, verb=method.lower())
    if not segs or segs[0] not in ("api", "apis"):
        return nonresource
    if segs[0] == "api":
        if len(segs) < 3:
            return nonresource
        group, version, rest = "", segs[1], segs[2:]
    else:
        if len(segs) < 4:
            return nonresource
        group, version, rest = segs[1], segs[2], segs[3:]
    watch_prefix = rest[0] == "watch"
    if watch_prefix:
        rest = rest[1:]
        if not rest:
            return nonresource
    namespace = ""
    body = rest
    if rest[0] == "namespaces" and len(rest) > 1:
        # kube: /namespaces/NS/KIND/... is KIND in NS; /namespaces/NS[/status|/finalize] is
        # the namespace NS itself (whose request namespace is NS too)
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            body = rest[2:]
    resource = body[0]
    name = body[1] if len(body) >= 2 else ""
    subresource = body[2] if len(body) >= 3 else ""
    if method == "GET":
        if watch_prefix:
            verb = "watch"
        elif name:
            verb = "get"
        else:
            verb = "watch" if _watching(query) else "list"
    else:
        verb = _METHOD_VERBS.get(method, method.lower())
        if verb == "delete" and not name:
            verb = "deletecollection"
    return RequestInfo(path=path, verb=verb, resource_request=True, group=group,
                       version=version, namespace=namespace, resource=resource, name=name,
                       subresource=subresource, parts=tuple(body))
