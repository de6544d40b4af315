"""Building clients: kubeconfig, in-cluster, URL; credentials, their refresh and secrecy; TLS."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from client_wire import TlsFiles, WireServer, json_response

from kcs.client import ApiConnectionError, Client, ConfigError, Credentials, in_cluster_available
from kcs.core import Object, Unauthorized, builtin, status_body

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

PODS = builtin("pods")


def _kind(obj: Object | None) -> str | None:
    return None if obj is None else obj.kind
SECRET = "s3cr3t-t0ken-value"


def require_token(wire: WireServer, *accepted: str) -> None:
    """Answer 401 unless the request carries one of the ``accepted`` bearer tokens."""

    async def handler(request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") not in {f"Bearer {t}" for t in accepted}:
            return json_response(status_body(401, "Unauthorized", "Unauthorized"), 401)
        return json_response({"kind": "Pod", "metadata": {"name": "p"}})

    wire.handler = handler


def kubeconfig(
    path: Path,
    clusters: dict[str, dict[str, Any]],
    users: dict[str, dict[str, Any]],
    contexts: dict[str, dict[str, Any]],
    current: str,
) -> Path:
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": n, "cluster": c} for n, c in clusters.items()],
        "users": [{"name": n, "user": u} for n, u in users.items()],
        "contexts": [{"name": n, "context": c} for n, c in contexts.items()],
        "current-context": current,
    }
    path.write_text(json.dumps(doc))  # JSON is YAML
    return path


def auths(wire: WireServer) -> list[str | None]:
    return [s.headers.get("Authorization") for s in wire.seen]


# -- kubeconfig --------------------------------------------------------------------------


async def test_kubeconfig_current_and_named_context(wire: WireServer, tmp_path: Path) -> None:
    require_token(wire, "token-a", "token-b")
    path = kubeconfig(
        tmp_path / "config",
        clusters={"c": {"server": wire.url}},
        users={"a": {"token": "token-a"}, "b": {"token": "token-b"}},
        contexts={
            "ctx-a": {"cluster": "c", "user": "a", "namespace": "team-a"},
            "ctx-b": {"cluster": "c", "user": "b"},
        },
        current="ctx-a",
    )
    async with await Client.from_kubeconfig(str(path)) as client:
        assert client.namespace == "team-a"
        await client.get(PODS, "p")
    async with await Client.from_kubeconfig(str(path), context="ctx-b") as client:
        assert client.namespace == "default"
        await client.get(PODS, "p")
    assert auths(wire) == ["Bearer token-a", "Bearer token-b"]
    assert [s.path for s in wire.seen] == [
        "/api/v1/namespaces/team-a/pods/p",
        "/api/v1/namespaces/default/pods/p",
    ]


async def test_kubeconfig_from_environment(
    wire: WireServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_token(wire, "env-token")
    path = kubeconfig(
        tmp_path / "config",
        clusters={"c": {"server": wire.url}},
        users={"u": {"token": "env-token"}},
        contexts={"x": {"cluster": "c", "user": "u"}},
        current="x",
    )
    monkeypatch.setenv("KUBECONFIG", str(path))
    async with await Client.auto() as client:
        await client.get(PODS, "p", "ns")
    assert auths(wire) == ["Bearer env-token"]


async def test_kubeconfig_errors_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        await Client.from_kubeconfig(str(tmp_path / "missing"))
    path = kubeconfig(
        tmp_path / "config",
        clusters={"c": {"server": "http://127.0.0.1:1"}},
        users={"u": {}},
        contexts={"x": {"cluster": "c", "user": "u"}},
        current="x",
    )
    with pytest.raises(ConfigError) as caught:
        await Client.from_kubeconfig(str(path), context="nope")
    assert caught.value.__cause__ is not None


EXEC_PLUGIN = """
import json, pathlib, sys
token = pathlib.Path(sys.argv[1]).read_text().strip()
count = pathlib.Path(sys.argv[2])
count.write_text(str(int(count.read_text() or 0) + 1) if count.exists() else "1")
print(json.dumps({
    "apiVersion": "client.authentication.k8s.io/v1beta1",
    "kind": "ExecCredential",
    "status": {"token": token},
}))
"""


async def test_exec_plugin_is_run_again_after_401(wire: WireServer, tmp_path: Path) -> None:
    token_file, runs = tmp_path / "token", tmp_path / "runs"
    token_file.write_text("old-token")
    plugin = tmp_path / "plugin.py"
    plugin.write_text(EXEC_PLUGIN)
    path = kubeconfig(
        tmp_path / "config",
        clusters={"c": {"server": wire.url}},
        users={
            "u": {
                "exec": {
                    "apiVersion": "client.authentication.k8s.io/v1beta1",
                    "command": sys.executable,
                    "args": [str(plugin), str(token_file), str(runs)],
                }
            }
        },
        contexts={"x": {"cluster": "c", "user": "u"}},
        current="x",
    )
    require_token(wire, "old-token")
    async with await Client.from_kubeconfig(str(path)) as client:
        await client.get(PODS, "p", "ns")
        await client.get(PODS, "p", "ns")
        assert runs.read_text() == "1"  # no expiry: the token is reused until a 401
        token_file.write_text("new-token")
        require_token(wire, "new-token")
        await client.get(PODS, "p", "ns")
        assert runs.read_text() == "2"
    assert auths(wire) == ["Bearer old-token"] * 3 + ["Bearer new-token"]


async def test_kubeconfig_token_file_is_read_again_after_401(
    wire: WireServer, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("file-token-1\n")
    path = kubeconfig(
        tmp_path / "config",
        clusters={"c": {"server": wire.url}},
        users={"u": {"tokenFile": str(token_file)}},
        contexts={"x": {"cluster": "c", "user": "u"}},
        current="x",
    )
    require_token(wire, "file-token-1")
    async with await Client.from_kubeconfig(str(path)) as client:
        await client.get(PODS, "p", "ns")
        token_file.write_text("file-token-2\n")
        require_token(wire, "file-token-2")
        await client.get(PODS, "p", "ns")
    assert auths(wire) == ["Bearer file-token-1", "Bearer file-token-1", "Bearer file-token-2"]


async def test_static_token_401_is_not_retried(wire: WireServer) -> None:
    require_token(wire, "right")
    async with Client.from_url(wire.url, token="wrong") as client:
        with pytest.raises(Unauthorized):
            await client.get(PODS, "p", "ns")
    assert len(wire.seen) == 1


# -- credentials --------------------------------------------------------------------------


async def test_credentials_refresh_periodically_and_on_expire() -> None:
    now = [0.0]
    calls: list[bool] = []

    async def refresh(force: bool) -> str:
        calls.append(force)
        return f"Bearer t{len(calls)}"

    creds = Credentials("Bearer t0", refresh, refresh_interval=60, clock=lambda: now[0])
    assert await creds.authorization() == "Bearer t0"
    now[0] = 59.0
    assert await creds.authorization() == "Bearer t0"
    now[0] = 60.0
    assert await creds.authorization() == "Bearer t1"
    assert calls == [False]
    # A 401 with a header that is no longer current does not force another refresh.
    assert creds.expire("Bearer t0")
    assert await creds.authorization() == "Bearer t1"
    assert creds.expire("Bearer t1")
    assert await creds.authorization() == "Bearer t2"
    assert calls == [False, True]
    assert not Credentials.bearer("x").expire("Bearer x")


async def test_failed_periodic_refresh_keeps_the_old_header(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]

    async def refresh(force: bool) -> str:
        raise OSError(f"plugin crashed (force={force})")

    creds = Credentials("Bearer " + SECRET, refresh, refresh_interval=1, clock=lambda: now[0])
    now[0] = 5.0
    with caplog.at_level(logging.DEBUG):
        assert await creds.authorization() == "Bearer " + SECRET
    assert "plugin crashed" in caplog.text
    assert SECRET not in caplog.text
    creds.expire("Bearer " + SECRET)
    with pytest.raises(ConfigError):
        await creds.authorization()


async def test_token_never_in_repr_or_logs(
    wire: WireServer, caplog: pytest.LogCaptureFixture
) -> None:
    from kcs.client import RetryPolicy

    wire.script(
        (503, status_body(503, "ServiceUnavailable", "x")),
        (401, status_body(401, "Unauthorized", "Unauthorized")),
    )
    with caplog.at_level(logging.DEBUG):
        client = Client.from_url(wire.url, token=SECRET, retry=RetryPolicy(backoff_initial=0.001))
        async with client:
            with pytest.raises(Unauthorized) as caught:
                await client.get(PODS, "p", "ns")
    assert wire.seen[0].headers["Authorization"] == f"Bearer {SECRET}"
    texts = [repr(client), repr(client.config), repr(client.config.credentials), str(caught.value)]
    texts += [r.getMessage() for r in caplog.records]
    assert caplog.records, "the retry should have been logged"
    for text in texts:
        assert SECRET not in text


# -- TLS ----------------------------------------------------------------------------------


async def test_tls_is_verified_by_default(tls_wire: WireServer) -> None:
    tls_wire.reply({"kind": "Pod"})
    async with Client.from_url(tls_wire.url) as client:
        with pytest.raises(ApiConnectionError) as caught:
            await client.get(PODS, "p", "ns")
    assert "certificate" in str(caught.value).lower()
    assert tls_wire.seen == []


async def test_tls_with_the_ca_works(tls_wire: WireServer, tls_files: TlsFiles) -> None:
    tls_wire.reply({"kind": "Pod"})
    async with Client.from_url(tls_wire.url, ca_file=str(tls_files.cert)) as client:
        assert _kind(await client.get(PODS, "p", "ns")) == "Pod"
    pem = tls_files.cert.read_text()
    async with Client.from_url(tls_wire.url, ca_data=pem) as client:
        assert _kind(await client.get(PODS, "p", "ns")) == "Pod"


async def test_kubeconfig_ca_data_and_insecure_skip(
    tls_wire: WireServer, tls_files: TlsFiles, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import base64

    tls_wire.reply({"kind": "Pod"})
    ca_b64 = base64.b64encode(tls_files.cert.read_bytes()).decode()
    path = kubeconfig(
        tmp_path / "config",
        clusters={
            "verified": {"server": tls_wire.url, "certificate-authority-data": ca_b64},
            "insecure": {"server": tls_wire.url, "insecure-skip-tls-verify": True},
            "no-ca": {"server": tls_wire.url},
        },
        users={"u": {"token": "t"}},
        contexts={
            "verified": {"cluster": "verified", "user": "u"},
            "insecure": {"cluster": "insecure", "user": "u"},
            "no-ca": {"cluster": "no-ca", "user": "u"},
        },
        current="verified",
    )
    async with await Client.from_kubeconfig(str(path)) as client:
        assert client.config.verify
        await client.get(PODS, "p", "ns")
    assert "TLS verification is OFF" not in caplog.text
    with caplog.at_level(logging.WARNING):
        async with await Client.from_kubeconfig(str(path), context="insecure") as client:
            assert not client.config.verify
            await client.get(PODS, "p", "ns")
    assert "TLS verification is OFF" in caplog.text
    async with await Client.from_kubeconfig(str(path), context="no-ca") as client:
        with pytest.raises(ApiConnectionError):
            await client.get(PODS, "p", "ns")
    assert len(tls_wire.seen) == 2


# -- in-cluster ---------------------------------------------------------------------------


async def test_in_cluster_with_token_rotation(
    tls_wire: WireServer, tls_files: TlsFiles, tmp_path: Path
) -> None:
    token, ns = tmp_path / "token", tmp_path / "namespace"
    token.write_text("pod-token-1")
    ns.write_text("controllers\n")
    env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(tls_wire.port)}
    require_token(tls_wire, "pod-token-1")
    client = await Client.in_cluster(
        token_file=str(token), ca_file=str(tls_files.cert), namespace_file=str(ns), environ=env
    )
    async with client:
        assert client.server == tls_wire.url
        assert client.namespace == "controllers"
        await client.get(PODS, "p")
        # The kubelet rotates the token; the server stops accepting the old one.
        token.write_text("pod-token-2")
        require_token(tls_wire, "pod-token-2")
        await client.get(PODS, "p")
    assert auths(tls_wire) == [
        "Bearer pod-token-1",
        "Bearer pod-token-1",
        "Bearer pod-token-2",
    ]
    assert tls_wire.seen[0].path == "/api/v1/namespaces/controllers/pods/p"


async def test_in_cluster_outside_a_pod_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        await Client.in_cluster(environ={}, token_file=str(tmp_path / "none"))


async def test_in_cluster_from_the_directory_kcs_service_account_dir_names(
    tls_wire: WireServer, tls_files: TlsFiles, tmp_path: Path
) -> None:
    sa = tmp_path / "serviceaccount"
    sa.mkdir()
    (sa / "token").write_text("projected-token")
    (sa / "ca.crt").write_bytes(tls_files.cert.read_bytes())
    (sa / "namespace").write_text("elsewhere")
    env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(tls_wire.port)}
    assert not in_cluster_available(env)  # the default directory has no token here
    env["KCS_SERVICE_ACCOUNT_DIR"] = str(sa)
    assert in_cluster_available(env)
    require_token(tls_wire, "projected-token")
    client = await Client.in_cluster(environ=env)
    async with client:
        assert client.namespace == "elsewhere"
        await client.get(PODS, "p")
    assert auths(tls_wire) == ["Bearer projected-token"]
