"""The token rule, one place for the HTTP API, the page and MCP over HTTP."""
from __future__ import annotations

import secrets


def bearer_ok(authorization: str, token: str) -> bool:
    """True when no token is configured, or the Authorization header is `Bearer <token>` (compared in constant
    time)."""
    if not token:
        return True
    scheme, _, given = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and secrets.compare_digest(given.strip().encode(), token.encode())
