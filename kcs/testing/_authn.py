"""Authentication: bearer tokens to users, as kube-apiserver's token authenticators do.

Three kinds of tokens are known, all off unless configured:

* the **admin token** (``FakeApiServer(token=...)``): user ``kcs:admin`` in the group
  ``system:masters``, which kube-apiserver allows everything (the tests' own identity);
* **static tokens** (``tokens={"t0k3n": "alice"}`` or a :class:`UserInfo`), like
  kube-apiserver's ``--token-auth-file``;
* **service-account tokens** the fake issues (:meth:`TokenIssuer.issue`, the
  ``serviceaccounts/NAME/token`` subresource): JWT-shaped strings whose claims are those of
  a bound service-account token, signed with a key of this server only (HMAC-SHA256; kube
  signs with RS256, which no client checks). Each use checks, as kube-apiserver does, that
  the token has not expired and that its ServiceAccount still exists with the same uid.

With no admin or static token configured, authentication is off: a request is the admin
unless it carries a service-account token the fake issued (then it is that service
account), so a test can act as itself without a token and as a service account with one.
Once an admin or static token is configured, a request without a token is 401
Unauthorized, unless ``anonymous=True`` makes it ``system:anonymous`` (kube-apiserver's
``--anonymous-auth``), and an unknown token is 401. Tokens never leave memory: records carry
their fingerprint only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from kcs.testing._status import unauthorized

__all__ = [
    "ADMIN",
    "ANONYMOUS",
    "Authenticator",
    "IssuedToken",
    "TokenIssuer",
    "UserInfo",
    "service_account_user",
]

ISSUER = "https://kubernetes.default.svc.cluster.local"


@dataclass(frozen=True, slots=True)
class UserInfo:
    """An authenticated identity: user name, uid, groups and extra, as kube's ``user.Info``."""

    name: str
    groups: tuple[str, ...] = ("system:authenticated",)
    uid: str = ""
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The ``UserInfo`` JSON of a review (``authentication.k8s.io/v1``)."""
        out: dict[str, Any] = {"username": self.name, "groups": list(self.groups)}
        if self.uid:
            out["uid"] = self.uid
        if self.extra:
            out["extra"] = {k: list(v) for k, v in self.extra.items()}
        return out


ADMIN = UserInfo("kcs:admin", ("system:masters", "system:authenticated"))
"""The identity of the admin token, and of every request when authentication is off."""
ANONYMOUS = UserInfo("system:anonymous", ("system:unauthenticated",))
"""The identity of a request without a token, when ``anonymous=True``."""


def service_account_user(namespace: str, name: str, uid: str = "") -> UserInfo:
    """The user kube-apiserver authenticates a service-account token as."""
    return UserInfo(
        f"system:serviceaccount:{namespace}:{name}",
        ("system:serviceaccounts", f"system:serviceaccounts:{namespace}",
         "system:authenticated"),
        uid,
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A service-account token and when it expires (Unix seconds)."""

    token: str
    expires: int


ServiceAccountLookup = Callable[[str, str], str | None]
"""``(namespace, name) -> uid`` of an existing ServiceAccount, or ``None``."""


class TokenIssuer:
    """Issues and verifies the JWT-shaped service-account tokens of one server."""

    def __init__(self, lookup: ServiceAccountLookup) -> None:
        self._key = os.urandom(32)
        self._lookup = lookup

    def issue(
        self,
        namespace: str,
        name: str,
        uid: str,
        *,
        audiences: tuple[str, ...] = (ISSUER,),
        expiration_seconds: int = 3600,
        bound: Mapping[str, str] | None = None,
    ) -> IssuedToken:
        """A token for ServiceAccount ``namespace/name`` (whose uid is ``uid``)."""
        now = int(time.time())
        exp = now + expiration_seconds
        k8s: dict[str, Any] = {"namespace": namespace,
                               "serviceaccount": {"name": name, "uid": uid}}
        if bound:
            k8s[str(bound.get("kind", "")).lower() or "pod"] = {
                "name": bound.get("name", ""), "uid": bound.get("uid", "")}
        claims = {"aud": list(audiences), "exp": exp, "iat": now, "nbf": now, "iss": ISSUER,
                  "jti": _b64(os.urandom(12)), "kubernetes.io": k8s,
                  "sub": f"system:serviceaccount:{namespace}:{name}"}
        head = _b64(orjson.dumps({"alg": "HS256", "kid": "kcs-fake", "typ": "JWT"}))
        body = _b64(orjson.dumps(claims))
        sig = _b64(hmac.new(self._key, f"{head}.{body}".encode(), hashlib.sha256).digest())
        return IssuedToken(f"{head}.{body}.{sig}", exp)

    def verify(self, token: str) -> UserInfo | None:
        """The service-account user of ``token``, or ``None`` when it is not one of ours;
        401 Unauthorized when it is ours but has expired or its ServiceAccount is gone (or
        was recreated: another uid)."""
        parts = token.split(".")
        if len(parts) != 3:
            return None
        expected = _b64(hmac.new(self._key, f"{parts[0]}.{parts[1]}".encode(),
                                 hashlib.sha256).digest())
        if not hmac.compare_digest(expected, parts[2]):
            return None
        try:
            claims = orjson.loads(_unb64(parts[1]))
            k8s = claims["kubernetes.io"]
            namespace, sa = str(k8s["namespace"]), k8s["serviceaccount"]
            name, uid, exp = str(sa["name"]), str(sa["uid"]), int(claims["exp"])
        except (ValueError, KeyError, TypeError, orjson.JSONDecodeError):
            raise unauthorized() from None
        if exp < time.time() or self._lookup(namespace, name) != uid:
            raise unauthorized()
        return service_account_user(namespace, name, uid)


class Authenticator:
    """Maps a request's bearer token to a :class:`UserInfo` (see the module doc)."""

    def __init__(
        self,
        issuer: TokenIssuer,
        *,
        admin_token: str | None = None,
        tokens: Mapping[str, UserInfo | str] | None = None,
        anonymous: bool = False,
    ) -> None:
        self.issuer = issuer
        self.admin_token = admin_token
        self.static: dict[str, UserInfo] = {
            t: u if isinstance(u, UserInfo) else UserInfo(u) for t, u in (tokens or {}).items()
        }
        self.anonymous = anonymous

    @property
    def enabled(self) -> bool:
        """Whether an admin or static token is configured (else unknown is the admin)."""
        return bool(self.admin_token or self.static)

    def authenticate(self, token: str | None) -> UserInfo:
        """The user of a request carrying ``token`` (``None``: no Authorization header);
        raises 401 Unauthorized as kube-apiserver does."""
        if token is None:
            if not self.enabled:
                return ADMIN
            if self.anonymous:
                return ANONYMOUS
            raise unauthorized()
        if self.admin_token is not None and hmac.compare_digest(token, self.admin_token):
            return ADMIN
        user = self.static.get(token)
        if user is not None:
            return user
        user = self.issuer.verify(token)
        if user is not None:
            return user
        if not self.enabled:
            return ADMIN
        raise unauthorized()
