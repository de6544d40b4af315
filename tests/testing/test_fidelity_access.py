"""Fidelity: HTTPS, tokens, RBAC and the subresources, through kubectl and plain HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import ssl
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest
from test_apiserver_kubectl import KUBECTL, Kubectl

from kcs.testing import FakeApiServer

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60),
              pytest.mark.skipif(not os.path.exists(KUBECTL), reason="kubectl is not installed")]

POD = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": "web-0", "namespace": "default", "labels": {"app": "web"}},
       "spec": {"containers": [{"name": "app", "image": "nginx"}]}}


async def _get(api: FakeApiServer, path: str, token: str | None = None,
               method: str = "GET", body: Any = None) -> tuple[int, Any]:
    ctx = ssl.create_default_context(cadata=api.ca_pem.decode()) if api.ca_pem else None
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as s, s.request(
            method, api.url + path, headers=headers, ssl=ctx if ctx is not None else True,
            json=body) as r:
        data = await r.read()
        try:
            return r.status, json.loads(data)
        except ValueError:
            return r.status, data.decode()


def _within(sent: Any, stored: Any) -> bool:
    if isinstance(sent, dict):
        return isinstance(stored, dict) and all(
            v is None or (k in stored and _within(v, stored[k])) for k, v in sent.items())
    if isinstance(sent, list):
        return isinstance(stored, list) and len(sent) == len(stored) and all(
            _within(a, b) for a, b in zip(sent, stored, strict=True))
    return bool(sent == stored)


async def test_kubectl_over_https_with_a_token_and_the_generated_kubeconfig(
        tmp_path: Path) -> None:
    async with FakeApiServer(tls=True, token="admin-t0ken") as api:
        assert api.url.startswith("https://127.0.0.1:")
        kubectl = Kubectl(api.write_kubeconfig(tmp_path / "kc"), tmp_path)
        assert "namespace/x created" in await kubectl.run("create", "namespace", "x")
        # kubectl's write (the service-account controller's `default` account follows it)
        created = next(r for r in api.writes.records if r.resource == "namespaces")
        assert created.user == "kcs:admin"
        assert created.token not in (None, "admin-t0ken")  # a fingerprint
        bad = Kubectl(api.write_kubeconfig(tmp_path / "bad", token="wrong"), tmp_path)
        out = await bad.run("get", "ns", check=False)
        assert "Unauthorized" in out or "provide credentials" in out
        assert (await _get(api, "/api/v1/namespaces"))[0] == 401
        # the control channel works over HTTPS too, and is exempt from the token
        assert (await _get(api, "/_fake/state"))[0] == 200


async def test_over_plain_http_kubectl_sends_no_token(api: FakeApiServer,
                                                      tmp_path: Path) -> None:
    async with FakeApiServer(token="t0ken") as plain:
        kubectl = Kubectl(plain.write_kubeconfig(tmp_path / "kc"), tmp_path)
        out = await kubectl.run("get", "ns", check=False)
        # client-go refuses to send a bearer token over http: the fake answers 401
        assert plain.requests.total > 0
        assert "Unauthorized" in out or "must be logged in" in out or "credentials" in out


async def test_rbac_forbids_as_kube_words_it_and_can_i_answers(tmp_path: Path) -> None:
    async with FakeApiServer(tls=True, authorization="RBAC") as api:
        api.create("serviceaccounts", {"metadata": {"name": "bot", "namespace": "default"}})
        token = api.issue_token("default", "bot")
        status, body = await _get(api, "/api/v1/namespaces/default/pods", token)
        assert status == 403
        assert body["message"] == ('pods is forbidden: User "system:serviceaccount:default:bot"'
                                   ' cannot list resource "pods" in API group "" in the '
                                   'namespace "default"')
        assert body["details"] == {"kind": "pods"} and body["reason"] == "Forbidden"
        status, body = await _get(api, "/apis/apps/v1/deployments", token)
        assert body["message"].endswith('in API group "apps" at the cluster scope')
        assert body["details"] == {"group": "apps", "kind": "deployments"}
        assert (await _get(api, "/api", token))[0] == 200  # system:discovery
        status, body = await _get(api, "/metrics-nope", token)
        assert status == 403 and body["message"] == (
            'forbidden: User "system:serviceaccount:default:bot" cannot get path '
            '"/metrics-nope"')
        api.create("roles.rbac.authorization.k8s.io", {
            "metadata": {"name": "reader", "namespace": "default"},
            "rules": [{"apiGroups": [""], "resources": ["pods", "pods/log"],
                       "verbs": ["get", "list", "watch"]},
                      {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"],
                       "resourceNames": ["only"]}]})
        api.create("rolebindings.rbac.authorization.k8s.io", {
            "metadata": {"name": "bot-reads", "namespace": "default"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                        "name": "reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "bot", "namespace": "default"}]})
        assert (await _get(api, "/api/v1/namespaces/default/pods", token))[0] == 200
        assert (await _get(api, "/api/v1/namespaces/kube-system/pods", token))[0] == 403
        assert (await _get(api, "/api/v1/namespaces/default/configmaps/only", token))[0] == 404
        assert (await _get(api, "/api/v1/namespaces/default/configmaps/other", token))[0] == 403
        assert (await _get(api, "/api/v1/namespaces/default/configmaps", token))[0] == 403
        # kubectl auth can-i (SelfSubjectAccessReview) as that service account
        kubectl = Kubectl(api.write_kubeconfig(tmp_path / "kc", token=token), tmp_path)
        assert (await kubectl.run("auth", "can-i", "list", "pods")).strip() == "yes"
        assert (await kubectl.run("auth", "can-i", "delete", "pods", check=False)
                ).strip().startswith("no")
        assert (await kubectl.run("auth", "can-i", "get", "configmaps/only")).strip() == "yes"
        who = await kubectl.run("auth", "whoami", "-o", "json")
        assert json.loads(who)["status"]["userInfo"]["username"] == \
            "system:serviceaccount:default:bot"
        # the token stops working when its ServiceAccount goes
        api.delete("serviceaccounts", "bot", "default")
        assert (await _get(api, "/api/v1/namespaces/default/pods", token))[0] == 401


async def test_an_aggregated_cluster_role_takes_the_rules_its_selectors_match() -> None:
    async with FakeApiServer(authorization="RBAC") as api:
        api.create("serviceaccounts", {"metadata": {"name": "bot", "namespace": "default"}})
        token = api.issue_token("default", "bot")
        roles = "clusterroles.rbac.authorization.k8s.io"
        api.create(roles, {
            "metadata": {"name": "aggregate"},
            "aggregationRule": {"clusterRoleSelectors": [
                {"matchExpressions": [{"key": "example.com/aggregate-to", "operator": "In",
                                       "values": ["aggregate"]}]},
                # not a valid selector: it aggregates nothing (it does not match everything)
                {"matchExpressions": [{"key": "anything", "operator": "Bogus"}]},
            ]},
            "rules": []})
        api.create(roles, {
            "metadata": {"name": "pod-reader",
                         "labels": {"example.com/aggregate-to": "aggregate"}},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]})
        api.create(roles, {
            "metadata": {"name": "configmap-reader", "labels": {"anything": "else"}},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}]})
        api.create("clusterrolebindings.rbac.authorization.k8s.io", {
            "metadata": {"name": "bot-aggregate"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": "aggregate"},
            "subjects": [{"kind": "ServiceAccount", "name": "bot", "namespace": "default"}]})
        assert (await _get(api, "/api/v1/namespaces/default/pods", token))[0] == 200
        assert (await _get(api, "/api/v1/namespaces/default/configmaps", token))[0] == 403


async def test_in_cluster_layout(tmp_path: Path) -> None:
    async with FakeApiServer(tls=True) as api:
        api.create("serviceaccounts", {"metadata": {"name": "ctl", "namespace": "default"}})
        env = api.in_cluster(tmp_path / "sa", "default", "ctl")
        assert env["KUBERNETES_SERVICE_HOST"] == "127.0.0.1"
        assert int(env["KUBERNETES_SERVICE_PORT"]) == api.port
        assert (tmp_path / "sa" / "namespace").read_text() == "default"
        assert (tmp_path / "sa" / "ca.crt").read_bytes() == api.ca_pem
        token = (tmp_path / "sa" / "token").read_text()
        status, body = await _get(api, "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                                  token, "POST", {"apiVersion": "authentication.k8s.io/v1",
                                                  "kind": "SelfSubjectReview"})
        assert status == 201
        assert body["status"]["userInfo"]["username"] == "system:serviceaccount:default:ctl"


async def test_kubectl_imperative_commands_send_protobuf(api: FakeApiServer,
                                                         tmp_path: Path) -> None:
    kubectl = Kubectl(api.write_kubeconfig(tmp_path / "kc"), tmp_path)
    commands = [
        ("namespace", "x"), ("configmap", "c", "--from-literal=a=b"),
        ("secret", "generic", "s", "--from-literal=k=v"), ("serviceaccount", "sa"),
        ("deployment", "d", "--image=nginx", "--port=80", "--replicas=2"),
        ("role", "r", "--verb=get,list", "--resource=pods"),
        ("rolebinding", "rb", "--role=r", "--serviceaccount=default:sa"),
        ("clusterrole", "cr", "--verb=get", "--resource=nodes"),
        ("clusterrolebinding", "crb", "--clusterrole=cr", "--user=alice"),
        # its port is named "80-8080": a DNS-1123 label, valid for a Service port
        ("service", "clusterip", "svc", "--tcp=80:8080"),
    ]
    for args in commands:
        # what kubectl would have sent as JSON, against what the server stored from protobuf
        want = json.loads(await kubectl.run("create", *args, "--dry-run=client", "-o", "json"))
        got = json.loads(await kubectl.run("create", *args, "-o", "json"))
        for obj in (want, got):
            for k in ("uid", "resourceVersion", "creationTimestamp", "generation", "namespace"):
                obj["metadata"].pop(k, None)
            obj.pop("status", None)
        # everything kubectl sent is stored (the server adds its defaults on top)
        assert _within(want, got), (args, want, got)
    agents = {r.verb for r in api.writes.records}
    assert agents == {"create"}
    out = await kubectl.run("scale", "deployment", "d", "--replicas=3")
    assert "deployment.apps/d scaled" in out
    dep = api.get("deployments.apps", "d", "default")
    assert dep["spec"]["replicas"] == 3 and dep["metadata"]["generation"] == 2
    assert api.writes.records[-1].subresource == "scale"
    assert "pod/p created" in await kubectl.run("run", "p", "--image=nginx")
    token = await kubectl.run("create", "token", "sa")
    assert token.count(".") == 2


async def test_scale_subresource_as_kube_serves_it(api: FakeApiServer) -> None:
    api.create("deployments.apps", {
        "metadata": {"name": "d", "namespace": "default"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "d"}},
                 "template": {"metadata": {"labels": {"app": "d"}},
                              "spec": {"containers": [{"name": "c", "image": "i"}]}}}})
    status, scale = await _get(api, "/apis/apps/v1/namespaces/default/deployments/d/scale")
    assert status == 200 and scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1"
    assert scale["spec"] == {"replicas": 2}
    assert scale["status"] == {"replicas": 0, "selector": "app=d"}
    stale = {**scale, "metadata": {**scale["metadata"], "resourceVersion": "1"},
             "spec": {"replicas": 5}}
    status, body = await _get(api, "/apis/apps/v1/namespaces/default/deployments/d/scale",
                              method="PUT", body=stale)
    assert status == 409 and body["reason"] == "Conflict"
    _, disc = await _get(api, "/apis/apps/v1")
    entry = next(r for r in disc["resources"] if r["name"] == "deployments/scale")
    assert (entry["group"], entry["version"], entry["kind"]) == ("autoscaling", "v1", "Scale")
    # The selector string as apimachinery prints it: requirements sorted by key, labels
    # and expressions together, the values of a set sorted.
    api.create("deployments.apps", {
        "metadata": {"name": "e", "namespace": "default"},
        "spec": {"selector": {
                     "matchLabels": {"tier": "web", "app": "e"},
                     "matchExpressions": [
                         {"key": "zone", "operator": "NotIn", "values": ["b", "a"]},
                         {"key": "env", "operator": "In", "values": ["prod", "dev"]},
                         {"key": "canary", "operator": "DoesNotExist"},
                         {"key": "beta", "operator": "Exists"}]},
                 "template": {"metadata": {"labels": {"app": "e", "tier": "web",
                                                      "env": "dev", "beta": "1"}},
                              "spec": {"containers": [{"name": "c", "image": "i"}]}}}})
    _, scale = await _get(api, "/apis/apps/v1/namespaces/default/deployments/e/scale")
    assert scale["status"]["selector"] == (
        "app=e,beta,!canary,env in (dev,prod),tier=web,zone notin (a,b)"
    )


async def test_pod_log_binding_and_eviction(api: FakeApiServer, tmp_path: Path) -> None:
    api.create("pods", POD)
    api.append_log("web-0", "hello\nworld")
    kubectl = Kubectl(api.write_kubeconfig(tmp_path / "kc"), tmp_path)
    assert await kubectl.run("logs", "web-0") == "hello\nworld\n"
    assert await kubectl.run("logs", "web-0", "--tail=1") == "world\n"
    follow = await asyncio.create_subprocess_exec(
        KUBECTL, "logs", "-f", "web-0", env=kubectl.env, stdout=asyncio.subprocess.PIPE)
    assert follow.stdout is not None
    with anyio.fail_after(20):
        assert await follow.stdout.readline() == b"hello\n"
        await follow.stdout.readline()
        api.append_log("web-0", "later")
        assert await follow.stdout.readline() == b"later\n"
    follow.kill()
    await follow.wait()
    # binding assigns the node once (409 after), as the scheduler's write does
    bind = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "web-0"},
            "target": {"kind": "Node", "name": "n1"}}
    path = "/api/v1/namespaces/default/pods/web-0/binding"
    assert (await _get(api, path, method="POST", body=bind))[0] == 201
    status, body = await _get(api, path, method="POST", body=bind)
    assert status == 409 and body["message"].endswith('is already assigned to node "n1"')
    # eviction: a running pod guarded by a budget that allows no disruption is 429
    from kcs.core import Resource
    pdbs = Resource("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True)
    if api.registry.served(pdbs) is None:
        api.register(pdbs)
    api.update("pods", {**api.get("pods", "web-0", "default"),
                        "status": {"phase": "Running"}}, status=True)
    api.create(pdbs, {"metadata": {"name": "web", "namespace": "default", "generation": 1},
                      "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}})
    pdb = api.get(pdbs, "web", "default")
    api.update(pdbs, {**pdb, "status": {"observedGeneration": pdb["metadata"]["generation"],
                                        "disruptionsAllowed": 0, "currentHealthy": 1,
                                        "desiredHealthy": 1}}, status=True)
    evict = {"apiVersion": "policy/v1", "kind": "Eviction",
             "metadata": {"name": "web-0", "namespace": "default"}}
    epath = "/api/v1/namespaces/default/pods/web-0/eviction"
    status, body = await _get(api, epath, method="POST", body=evict)
    assert status == 429 and body["reason"] == "TooManyRequests"
    assert body["message"] == "Cannot evict pod as it would violate the pod's disruption budget."
    assert body["details"]["causes"] == [{"reason": "DisruptionBudget", "message":
                                          "The disruption budget web needs 1 healthy pods and "
                                          "has 1 currently"}]
    pdb = api.get(pdbs, "web", "default")
    api.update(pdbs, {**pdb, "status": {**pdb["status"], "disruptionsAllowed": 1}}, status=True)
    status, body = await _get(api, epath, method="POST", body=evict)
    assert status == 201 and body["status"] == "Success"
    assert api.list("pods", "default") == []
    assert api.get(pdbs, "web", "default")["status"]["disruptionsAllowed"] == 0
