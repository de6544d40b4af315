"""The review resources: create-only objects that ask the server a question and are never
stored, as kube-apiserver serves them.

* ``authorization.k8s.io/v1`` ``SelfSubjectAccessReview`` (``kubectl auth can-i``),
  ``SubjectAccessReview`` (for another user) and ``SelfSubjectRulesReview``
  (``kubectl auth can-i --list``): answered by the server's authorizer (everything is
  allowed when authorization is off, as with ``AlwaysAllow``);
* ``authentication.k8s.io/v1`` ``SelfSubjectReview`` (``kubectl auth whoami``) and
  ``TokenReview``: who the caller is, whether a token is valid.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from kcs.core import Resource
from kcs.testing._authn import Authenticator, UserInfo
from kcs.testing._rbac import RbacAuthorizer
from kcs.testing._registry import Registry, ServedResource
from kcs.testing._requestinfo import RequestInfo
from kcs.testing._responses import json_response
from kcs.testing._status import bad_request, method_not_allowed
from kcs.testing._watch import ClientInfo

if TYPE_CHECKING:
    from kcs.testing._handlers import ApiHandler, Subresource

__all__ = ["REVIEW_RESOURCES", "Reviews"]


def _review(group: str, plural: str, kind: str, namespaced: bool = False) -> Resource:
    return Resource(group, "v1", plural, kind, namespaced, singular="",
                    subresources=frozenset(), verbs=("create",))


REVIEW_RESOURCES = (
    _review("authorization.k8s.io", "selfsubjectaccessreviews", "SelfSubjectAccessReview"),
    _review("authorization.k8s.io", "selfsubjectrulesreviews", "SelfSubjectRulesReview"),
    _review("authorization.k8s.io", "subjectaccessreviews", "SubjectAccessReview"),
    _review("authorization.k8s.io", "localsubjectaccessreviews", "LocalSubjectAccessReview",
            namespaced=True),
    _review("authentication.k8s.io", "selfsubjectreviews", "SelfSubjectReview"),
    _review("authentication.k8s.io", "tokenreviews", "TokenReview"),
)
"""The review resources, served (create only) in discovery as kube-apiserver serves them."""


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _attributes(spec: dict[str, Any]) -> RequestInfo:
    res = spec.get("resourceAttributes")
    if isinstance(res, dict):
        return RequestInfo(path="", verb=str(res.get("verb") or ""), resource_request=True,
                           group=str(res.get("group") or ""),
                           version=str(res.get("version") or ""),
                           namespace=str(res.get("namespace") or ""),
                           resource=str(res.get("resource") or ""),
                           name=str(res.get("name") or ""),
                           subresource=str(res.get("subresource") or ""))
    non = spec.get("nonResourceAttributes") or {}
    return RequestInfo(path=str(non.get("path") or ""), verb=str(non.get("verb") or ""))


class Reviews:
    """Answers the review resources for one server."""

    def __init__(self, authn: Authenticator, authz: RbacAuthorizer | None,
                 handler: Callable[[], ApiHandler]) -> None:
        self.authn = authn
        self.authz = authz
        self._handler = handler

    def register(self, registry: Registry) -> None:
        """Serve the review resources."""
        for r in REVIEW_RESOURCES:
            registry.add(ServedResource(r, r.version))

    def lookup(self, served: ServedResource) -> Subresource | None:
        """The handler of ``served`` when it is a review resource."""
        if served.resource in REVIEW_RESOURCES:
            return self._serve
        return None

    def _decide(self, user: UserInfo, info: RequestInfo) -> tuple[bool, str]:
        if self.authz is None:
            return True, ""
        d = self.authz.authorize(user, info)
        return d.allowed, d.reason

    async def _serve(self, request: web.BaseRequest, info: RequestInfo, s: ServedResource,
                     client: ClientInfo, user: UserInfo) -> web.StreamResponse:
        if info.verb != "create":
            raise method_not_allowed(info.verb, s.resource)
        body = await self._handler().body(request, s)
        if not isinstance(body, dict):
            raise bad_request("the body of the request must be a JSON object")
        spec = dict(body.get("spec") or {})
        kind = s.resource.kind
        meta: dict[str, Any] = {"creationTimestamp": _now()}
        if kind in ("SelfSubjectAccessReview", "SubjectAccessReview",
                    "LocalSubjectAccessReview"):
            who = user
            if kind != "SelfSubjectAccessReview":
                who = UserInfo(str(spec.get("user") or ""), tuple(spec.get("groups") or ()),
                               str(spec.get("uid") or ""))
            attrs = _attributes(spec)
            if kind == "LocalSubjectAccessReview":
                attrs = RequestInfo(**{**_fields(attrs), "namespace": info.namespace})
            allowed, reason = self._decide(who, attrs)
            status: dict[str, Any] = {"allowed": allowed}
            if reason:
                status["reason"] = reason
        elif kind == "SelfSubjectRulesReview":
            ns = str(spec.get("namespace") or "")
            rules = (self.authz.rules_for(user, ns) if self.authz is not None
                     else [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
                           {"verbs": ["*"], "nonResourceURLs": ["*"]}])
            res = [_resource_rule(r) for r in rules if r.get("resources")]
            non = [{"verbs": list(r.get("verbs") or ()),
                    "nonResourceURLs": list(r.get("nonResourceURLs") or ())}
                   for r in rules if r.get("nonResourceURLs")]
            status = {"resourceRules": res, "nonResourceRules": non, "incomplete": False}
        elif kind == "SelfSubjectReview":
            status = {"userInfo": user.to_dict()}
        else:  # TokenReview
            token = str(spec.get("token") or "")
            try:
                found = self.authn.authenticate(token) if token else None
            except Exception:
                found = None
            status = ({"authenticated": True, "user": found.to_dict(),
                       "audiences": list(spec.get("audiences") or ())}
                      if found is not None else {"authenticated": False, "user": {}})
            spec.pop("token", None)  # never echoed back
        out = {"kind": kind, "apiVersion": s.resource.api_version, "metadata": meta,
               "spec": spec, "status": status}
        return json_response(out, 201)


def _fields(info: RequestInfo) -> dict[str, Any]:
    return {f: getattr(info, f) for f in info.__slots__}


def _resource_rule(rule: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"verbs": list(rule.get("verbs") or ())}
    for k in ("apiGroups", "resources", "resourceNames"):
        if rule.get(k):
            out[k] = list(rule[k])
    return out
