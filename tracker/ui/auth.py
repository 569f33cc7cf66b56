"""Who may use the web console: the start-up rule (a token is required off loopback) and the per-request check.

The token travels as ``Authorization: Bearer TOKEN`` (API clients, Prometheus) or as a cookie set by the login
form (browsers). The cookie holds an HMAC of the token, never the token itself.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from dataclasses import dataclass

__all__ = ["AuthRule", "is_loopback", "auth_rule", "BindRefused", "cookie_value", "request_allowed",
           "COOKIE_NAME", "OPEN_PATHS"]

COOKIE_NAME = "mctrack_ui"
#: Paths answered without a token: liveness, static files, the login form itself.
OPEN_PATHS = ("/healthz", "/static/", "/login")
_LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")


class BindRefused(ValueError):
    """The console would listen beyond this machine without a token; the message says how to fix it."""


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost); 0.0.0.0 and :: are not."""
    name = host.strip().strip("[]").lower()
    if name in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class AuthRule:
    """The decision taken at start: whether requests need the token (they do whenever one is set)."""

    token: str | None

    @property
    def required(self) -> bool:
        return bool(self.token)


def auth_rule(host: str, token: str | None, token_env: str) -> AuthRule:
    """The rule for listening on ``host`` with ``token`` (read from ``$token_env``; empty = unset).

    Raises:
        BindRefused: ``host`` is not a loopback address and there is no token.
    """
    token = token or None
    if token is None and not is_loopback(host):
        raise BindRefused(f"ui.host = {host} is reachable from other machines and no access token is set: export "
                          f"{token_env}=<a long random secret> (e.g. `openssl rand -hex 24`), or listen on "
                          f"127.0.0.1 (--host 127.0.0.1) and reach it through an SSH tunnel")
    return AuthRule(token)


def cookie_value(token: str) -> str:
    """What the login cookie holds for ``token``: an HMAC, so the cookie does not reveal the token."""
    return hmac.new(token.encode(), b"mctrack-ui-session-v1", hashlib.sha256).hexdigest()


def request_allowed(rule: AuthRule, path: str, authorization: str | None, cookie: str | None) -> bool:
    """Whether a request for ``path`` with these ``Authorization`` header and login cookie values may pass."""
    if not rule.required or any(path == p or (p.endswith("/") and path.startswith(p)) for p in OPEN_PATHS):
        return True
    assert rule.token is not None
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), rule.token.encode()):
            return True
    return bool(cookie) and hmac.compare_digest(str(cookie).encode(), cookie_value(rule.token).encode())
