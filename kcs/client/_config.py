"""Where the apiserver is and how to authenticate: kubeconfig, in-cluster, or a URL.

Loading is done by kubernetes-asyncio's loaders (``kubernetes_asyncio.config``), so kcs
reads kubeconfigs exactly as that client does: contexts, certificate files and inline
data, ``insecure-skip-tls-verify``, ``tls-server-name``, ``proxy-url``, tokens, token
files, exec plugins and auth providers. What kcs adds is keeping the credentials fresh
(see :class:`~kcs.client.Credentials`) and never logging them.

TLS verification is on unless the kubeconfig says ``insecure-skip-tls-verify: true`` (a
warning is logged then) or the caller passes ``verify=False``.
"""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kcs.client._auth import Credentials
from kcs.client._clienterrors import ConfigError

__all__ = [
    "SERVICE_ACCOUNT_DIR",
    "SERVICE_ACCOUNT_DIR_ENV",
    "ClientConfig",
    "default_kubeconfig_path",
    "in_cluster_available",
    "load_in_cluster_config",
    "load_kubeconfig",
    "service_account_dir",
]

_log = logging.getLogger("kcs.client")

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
"""Where a pod finds its service-account token, CA bundle and namespace."""

SERVICE_ACCOUNT_DIR_ENV = "KCS_SERVICE_ACCOUNT_DIR"
"""The environment variable naming another directory with that layout (``token``,
``ca.crt``, ``namespace``): for a projected token volume mounted elsewhere, or a test."""


def service_account_dir(environ: Mapping[str, str] | None = None) -> str:
    """``$KCS_SERVICE_ACCOUNT_DIR`` if set, else :data:`SERVICE_ACCOUNT_DIR`."""
    env = os.environ if environ is None else environ
    return env.get(SERVICE_ACCOUNT_DIR_ENV) or SERVICE_ACCOUNT_DIR


@dataclass(slots=True)
class ClientConfig:
    """How to reach one apiserver: its URL, TLS settings and credentials.

    ``server`` is the base URL (``https://host:6443``, no trailing slash needed).
    ``ca_file`` / ``ca_data`` (PEM) replace the system roots when given;
    ``client_cert`` / ``client_key`` are files for mutual TLS; ``verify=False`` turns TLS
    verification off (never the default); ``tls_server_name`` overrides the name checked
    in the server's certificate (and sent as SNI). ``namespace`` is the default namespace
    of the context, used by verbs on namespaced resources when none is given. ``proxy``
    is an HTTP proxy URL; proxy environment variables are not consulted.
    ``ssl_context``, when set, is used as is and the TLS fields above are ignored.
    """

    server: str
    credentials: Credentials = field(default_factory=Credentials, repr=False)
    ca_file: str | None = None
    ca_data: str | None = field(default=None, repr=False)
    client_cert: str | None = None
    client_key: str | None = field(default=None, repr=False)
    verify: bool = True
    tls_server_name: str | None = None
    namespace: str = "default"
    proxy: str | None = None
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.server = self.server.rstrip("/")
        if not self.server.startswith(("http://", "https://")):
            raise ConfigError(f"the server URL must start with http:// or https://: {self.server}")

    @property
    def uses_tls(self) -> bool:
        """Whether the server URL is ``https``."""
        return self.server.startswith("https://")

    def make_ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context for this server (``None`` for plain ``http``)."""
        if not self.uses_tls:
            return None
        if self.ssl_context is not None:
            return self.ssl_context
        try:
            ctx = ssl.create_default_context(cafile=self.ca_file, cadata=self.ca_data)
            if self.client_cert:
                ctx.load_cert_chain(self.client_cert, keyfile=self.client_key)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"could not load TLS files for {self.server}: {exc}") from exc
        if not self.verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx


def default_kubeconfig_path() -> str:
    """``$KUBECONFIG`` (a ``:``-separated list is merged) or ``~/.kube/config``."""
    return os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")


def _configuration() -> Any:
    from kubernetes_asyncio.client import Configuration

    return Configuration()


def _warn_insecure(server: str, source: str) -> None:
    _log.warning(
        "TLS verification is OFF for %s (%s): the server's identity is not checked",
        server,
        source,
    )


async def load_kubeconfig(path: str | None = None, context: str | None = None) -> ClientConfig:
    """Load a kubeconfig: the ``current-context``, or ``context`` when given.

    Raises :class:`ConfigError` (with the loader's error as cause) when the file is
    missing, unreadable, or the context does not exist. The kubeconfig file is never
    written to.
    """
    from kubernetes_asyncio.config import kube_config

    cfg = _configuration()
    try:
        loader = await kube_config.load_kube_config(
            config_file=path or default_kubeconfig_path(),
            context=context,
            client_configuration=cfg,
            persist_config=False,
        )
        header = await cfg.get_api_key_with_prefix("BearerToken")
    except Exception as exc:
        where = path or default_kubeconfig_path()
        raise ConfigError(f"could not load kubeconfig {where!r}: {exc}") from exc
    current = loader.current_context or {}
    namespace = (current.get("context") or {}).get("namespace") or "default"
    config = ClientConfig(
        server=cfg.host,
        credentials=_kubeconfig_credentials(loader, header),
        ca_file=cfg.ssl_ca_cert,
        client_cert=cfg.cert_file,
        client_key=cfg.key_file,
        verify=bool(cfg.verify_ssl),
        tls_server_name=cfg.tls_server_name,
        namespace=str(namespace),
        proxy=cfg.proxy,
    )
    if config.uses_tls and not config.verify:
        _warn_insecure(config.server, "insecure-skip-tls-verify in the kubeconfig")
    return config


def _kubeconfig_credentials(loader: Any, header: str | None) -> Credentials:
    """Credentials that ask the kubeconfig's user entry again when they may be stale."""
    user = getattr(loader, "_user", None)
    uses_exec = user is not None and "exec" in user
    refreshable = user is not None and any(
        k in user for k in ("exec", "tokenFile", "auth-provider")
    )
    if not refreshable:
        return Credentials(header)

    current: list[str | None] = [header]

    async def refresh(force: bool) -> str | None:
        has_expiry = hasattr(loader, "exec_plugin_expiry")
        if uses_exec and not force and not has_expiry:
            # An exec credential without an expiry is valid until the server says 401.
            return current[0]
        if force and has_expiry:
            del loader.exec_plugin_expiry
        fresh = _configuration()
        await loader.load_and_set(fresh)
        current[0] = await fresh.get_api_key_with_prefix("BearerToken")
        return current[0]

    return Credentials(header, refresh)


def in_cluster_available(environ: Mapping[str, str] | None = None) -> bool:
    """Whether this process runs in a pod: the service env vars and the token file exist."""
    env = os.environ if environ is None else environ
    return bool(env.get("KUBERNETES_SERVICE_HOST")) and bool(
        env.get("KUBERNETES_SERVICE_PORT")
    ) and os.path.isfile(os.path.join(service_account_dir(env), "token"))


def load_in_cluster_config(
    *,
    token_file: str | None = None,
    ca_file: str | None = None,
    namespace_file: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> ClientConfig:
    """The configuration of a pod: ``https://$KUBERNETES_SERVICE_HOST:$..._PORT``, the
    service account's CA bundle, token and namespace (in :func:`service_account_dir`
    unless the paths are given).

    The token file is re-read every minute (the kubelet rotates projected tokens) and
    after a 401. Raises :class:`ConfigError` outside a pod.
    """
    from kubernetes_asyncio.config import incluster_config

    directory = service_account_dir(environ)
    token_path = token_file or os.path.join(directory, "token")
    ca_path = ca_file or os.path.join(directory, "ca.crt")
    ns_path = namespace_file or os.path.join(directory, "namespace")
    cfg = _configuration()
    try:
        incluster_config.load_incluster_config(  # type: ignore[no-untyped-call]
            client_configuration=cfg,
            try_refresh_token=False,
            token_filename=token_path,
            cert_filename=ca_path,
            environ=dict(os.environ if environ is None else environ),
        )
    except Exception as exc:
        raise ConfigError(f"not running in a cluster: {exc}") from exc

    async def refresh(force: bool) -> str | None:
        return _read_token_file(token_path)

    namespace = "default"
    if os.path.isfile(ns_path):
        with open(ns_path, encoding="utf-8") as f:
            namespace = f.read().strip() or "default"
    return ClientConfig(
        server=cfg.host,
        credentials=Credentials(_read_token_file(token_path), refresh),
        ca_file=cfg.ssl_ca_cert,
        namespace=namespace,
    )


def _read_token_file(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        token = f.read().strip()
    if not token:
        raise ConfigError(f"the token file {path} is empty")
    return f"Bearer {token}"
