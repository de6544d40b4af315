"""The kubeconfig of a fake apiserver (in this process or a child): one cluster, one user,
one context, all named ``kcs-fake``."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

__all__ = ["kubeconfig_for", "write_kubeconfig_file"]


def kubeconfig_for(url: str, ca_pem: bytes | None, token: str | None,
               namespace: str) -> dict[str, Any]:
    """A kubeconfig (as a dict) for the server at ``url``: trusting the CA ``ca_pem``
    (HTTPS), with ``token`` (none: no credentials), in ``namespace``."""
    user: dict[str, Any] = {"token": token} if token else {}
    cluster: dict[str, Any] = {"server": url}
    if ca_pem is not None:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "kcs-fake", "cluster": cluster}],
        "users": [{"name": "kcs-fake", "user": user}],
        "contexts": [{"name": "kcs-fake", "context": {
            "cluster": "kcs-fake", "user": "kcs-fake", "namespace": namespace}}],
        "current-context": "kcs-fake",
        "preferences": {},
    }


def write_kubeconfig_file(path: str | os.PathLike[str], config: dict[str, Any]) -> Path:
    """Write ``config`` to ``path`` (JSON, which kubeconfig readers accept; mode 0600,
    since it may hold a token) and return the path."""
    p = Path(path)
    p.write_text(json.dumps(config, indent=2))
    p.chmod(0o600)
    return p
