"""Authorization: kube-apiserver's RBAC authorizer over the RBAC objects in the fake's store.

Off by default (every request is allowed, as ``--authorization-mode=AlwaysAllow``); on with
``FakeApiServer(authorization="RBAC")``. Then, as kube-apiserver with ``Node,RBAC``:

* members of ``system:masters`` are allowed everything (the admin identity);
* otherwise a request is allowed when a ClusterRoleBinding, or a RoleBinding in the
  request's namespace, binds the user (``User``), one of its groups (``Group``) or its
  service account (``ServiceAccount``) to a ClusterRole or Role with a rule that allows it:
  ``verbs``, ``apiGroups``, ``resources`` (``*``, ``pods/log``, ``*/scale``),
  ``resourceNames`` (which never match a request without a name, such as list or create)
  or ``nonResourceURLs`` (``*`` and trailing-``*`` prefixes); ClusterRoles with an
  ``aggregationRule`` get the rules of the ClusterRoles their selectors match;
* a refusal is 403 Forbidden worded as kube-apiserver words it, for example
  ``pods is forbidden: User "system:serviceaccount:ns:sa" cannot list resource "pods" in
  API group "" in the namespace "ns"``.

When RBAC is on the server also holds kube's bootstrap roles a client relies on:
``cluster-admin`` (bound to ``system:masters``), ``system:discovery``,
``system:basic-user`` and ``system:public-info-viewer``. The aggregated ``admin``, ``edit``
and ``view`` roles and the controllers' roles are not created.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kcs.core import Forbidden, LabelSelector, SelectorError, status_body
from kcs.testing._authn import UserInfo
from kcs.testing._requestinfo import RequestInfo

__all__ = ["BOOTSTRAP", "Decision", "RbacAuthorizer", "forbidden_error"]

_G = "rbac.authorization.k8s.io"
_PRIVILEGED = "system:masters"


@dataclass(frozen=True, slots=True)
class Decision:
    """An authorization decision and kube's reason for it (``RBAC: allowed by ...``)."""

    allowed: bool
    reason: str = ""


Objects = Callable[[str, str | None], Iterable[Mapping[str, Any]]]
"""``(group-resource, namespace or None) -> objects``: how the authorizer reads the store."""


def _matches(values: Iterable[str], wanted: str) -> bool:
    return any(v in ("*", wanted) for v in values)


def _resource_matches(rule: Mapping[str, Any], resource: str, subresource: str) -> bool:
    combined = f"{resource}/{subresource}" if subresource else resource
    for r in rule.get("resources") or ():
        if r in ("*", combined):
            return True
        if subresource and r == f"*/{subresource}":
            return True
    return False


def _url_matches(rule: Mapping[str, Any], path: str) -> bool:
    for u in rule.get("nonResourceURLs") or ():
        if u in ("*", path) or (u.endswith("*") and path.startswith(u[:-1])):
            return True
    return False


def rule_allows(rule: Mapping[str, Any], info: RequestInfo) -> bool:
    """Whether one PolicyRule allows the request (kube's ``RuleAllows``)."""
    if not _matches(rule.get("verbs") or (), info.verb):
        return False
    if not info.resource_request:
        return _url_matches(rule, info.path)
    if not _matches(rule.get("apiGroups") or (), info.group):
        return False
    if not _resource_matches(rule, info.resource, info.subresource):
        return False
    names = rule.get("resourceNames") or ()
    return not names or info.name in names


def _subject_applies(subject: Mapping[str, Any], user: UserInfo, binding_ns: str) -> bool:
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "User":
        return bool(name == user.name)
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        ns = subject.get("namespace") or binding_ns
        return bool(ns) and user.name == f"system:serviceaccount:{ns}:{name}"
    return False


def _describe(subject: Mapping[str, Any], binding_ns: str) -> str:
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "ServiceAccount":
        return f'{kind} "{name}/{subject.get("namespace") or binding_ns}"'
    return f'{kind} "{name}"'


class RbacAuthorizer:
    """Decides requests from the (Cluster)Role(Binding)s ``objects`` reads."""

    def __init__(self, objects: Objects) -> None:
        self._objects = objects

    def _cluster_role_rules(self, name: str) -> list[Mapping[str, Any]]:
        roles = {str((r.get("metadata") or {}).get("name")): r
                 for r in self._objects(f"clusterroles.{_G}", None)}
        role = roles.get(name)
        if role is None:
            return []
        rules = list(role.get("rules") or ())
        agg = role.get("aggregationRule") or {}
        for sel in agg.get("clusterRoleSelectors") or ():
            selector = _label_selector(sel)
            if selector is None:
                continue
            for other_name, other in sorted(roles.items()):
                if other_name != name and selector.matches(
                        (other.get("metadata") or {}).get("labels")):
                    rules.extend(other.get("rules") or ())
        return rules

    def _role_rules(self, ref: Mapping[str, Any], namespace: str) -> list[Mapping[str, Any]]:
        if ref.get("kind") == "ClusterRole":
            return self._cluster_role_rules(str(ref.get("name")))
        for role in self._objects(f"roles.{_G}", namespace):
            if (role.get("metadata") or {}).get("name") == ref.get("name"):
                return list(role.get("rules") or ())
        return []

    def authorize(self, user: UserInfo, info: RequestInfo) -> Decision:
        """Allow or refuse one request (see the module doc)."""
        if _PRIVILEGED in user.groups:
            return Decision(True)
        for b in self._objects(f"clusterrolebindings.{_G}", None):
            found = self._visit(b, "", user, info)
            if found is not None:
                name = (b.get("metadata") or {}).get("name")
                ref = b.get("roleRef") or {}
                return Decision(True, f'RBAC: allowed by ClusterRoleBinding "{name}" of '
                                      f'{ref.get("kind")} "{ref.get("name")}" to {found}')
        if info.namespace:
            for b in self._objects(f"rolebindings.{_G}", info.namespace):
                found = self._visit(b, info.namespace, user, info)
                if found is not None:
                    name = (b.get("metadata") or {}).get("name")
                    ref = b.get("roleRef") or {}
                    return Decision(True, f'RBAC: allowed by RoleBinding "{name}/'
                                          f'{info.namespace}" of {ref.get("kind")} '
                                          f'"{ref.get("name")}" to {found}')
        return Decision(False)

    def _visit(self, binding: Mapping[str, Any], ns: str, user: UserInfo,
               info: RequestInfo) -> str | None:
        subject = next((s for s in binding.get("subjects") or ()
                        if _subject_applies(s, user, ns)), None)
        if subject is None:
            return None
        rules = self._role_rules(binding.get("roleRef") or {}, ns)
        if any(rule_allows(r, info) for r in rules):
            return _describe(subject, ns)
        return None

    def rules_for(self, user: UserInfo, namespace: str) -> list[Mapping[str, Any]]:
        """Every rule that applies to ``user`` in ``namespace`` (a SelfSubjectRulesReview)."""
        if _PRIVILEGED in user.groups:
            return [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
                    {"verbs": ["*"], "nonResourceURLs": ["*"]}]
        out: list[Mapping[str, Any]] = []
        for b in self._objects(f"clusterrolebindings.{_G}", None):
            if any(_subject_applies(s, user, "") for s in b.get("subjects") or ()):
                out.extend(self._role_rules(b.get("roleRef") or {}, ""))
        if namespace:
            for b in self._objects(f"rolebindings.{_G}", namespace):
                if any(_subject_applies(s, user, namespace) for s in b.get("subjects") or ()):
                    out.extend(self._role_rules(b.get("roleRef") or {}, namespace))
        return out


def _label_selector(sel: Mapping[str, Any]) -> LabelSelector | None:
    """A ``clusterRoleSelectors`` entry; ``None`` when it is not a valid selector (an
    unknown operator, ``In`` without values, a bad key), which aggregates nothing."""
    try:
        return LabelSelector.from_dict(sel)
    except SelectorError:
        return None


def forbidden_error(user: UserInfo, info: RequestInfo, reason: str = "") -> Forbidden:
    """403 Forbidden as kube-apiserver's authorization filter words it."""
    if not info.resource_request:
        msg = f'User "{user.name}" cannot {info.verb} path "{info.path}"'
    else:
        resource = f"{info.resource}/{info.subresource}" if info.subresource else info.resource
        where = (f'in the namespace "{info.namespace}"' if info.namespace
                 else "at the cluster scope")
        msg = (f'User "{user.name}" cannot {info.verb} resource "{resource}" in API group '
               f'"{info.group}" {where}')
    if reason:
        msg = f"{msg}: {reason}"
    if not info.resource_request:
        return Forbidden(status_body(403, "Forbidden", f"forbidden: {msg}"))
    qualified = f"{info.resource}.{info.group}" if info.group else info.resource
    head = f'{qualified} "{info.name}"' if info.name else qualified
    return Forbidden(status_body(403, "Forbidden", f"{head} is forbidden: {msg}",
                                 name=info.name or None, group=info.group or None,
                                 kind=info.resource))


def _role(name: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": f"{_G}/v1", "kind": "ClusterRole",
            "metadata": {"name": name,
                         "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
                         "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}},
            "rules": rules}


def _binding(name: str, groups: list[str]) -> dict[str, Any]:
    return {"apiVersion": f"{_G}/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": name,
                         "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
                         "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}},
            "roleRef": {"apiGroup": _G, "kind": "ClusterRole", "name": name},
            "subjects": [{"apiGroup": _G, "kind": "Group", "name": g} for g in groups]}


_PUBLIC = ["/healthz", "/livez", "/readyz", "/version", "/version/"]

BOOTSTRAP: tuple[dict[str, Any], ...] = (
    _role("cluster-admin", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                            {"nonResourceURLs": ["*"], "verbs": ["*"]}]),
    _role("system:discovery", [{"nonResourceURLs": [
        "/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*",
        "/readyz", "/version", "/version/"], "verbs": ["get"]}]),
    _role("system:basic-user", [
        {"apiGroups": ["authorization.k8s.io"],
         "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
         "verbs": ["create"]},
        {"apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"],
         "verbs": ["create"]}]),
    _role("system:public-info-viewer", [{"nonResourceURLs": _PUBLIC, "verbs": ["get"]}]),
    _binding("cluster-admin", ["system:masters"]),
    _binding("system:discovery", ["system:authenticated"]),
    _binding("system:basic-user", ["system:authenticated"]),
    _binding("system:public-info-viewer", ["system:authenticated", "system:unauthenticated"]),
)
"""kube's bootstrap ClusterRoles and ClusterRoleBindings that every client relies on."""
