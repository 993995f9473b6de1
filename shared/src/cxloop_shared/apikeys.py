"""API keys: how they look, how they are stored (a hash, never the key) and checked.

A key is `cxk_<8-char id>_<secret>`. The gateway issues keys and owns the
`gateway.api_keys` table; other services only read it, through `KeyVerifier`.
Keys are 190 bits of randomness, so a SHA-256 digest is the right hash (a slow
password hash buys nothing against a key that cannot be guessed).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cxloop_shared.errors import Forbidden, Unauthorized

Scope = Literal[
    "events:write",
    "responses:write",
    "metrics:read",
    "config:write",
    "customers:read",
    "customers:write",
    "admin",
]
ALL_SCOPES: tuple[Scope, ...] = (
    "events:write",
    "responses:write",
    "metrics:read",
    "config:write",
    "customers:read",
    "customers:write",
    "admin",
)
PREFIX_LENGTH = len("cxk_") + 8


@dataclass(frozen=True, slots=True)
class NewKey:
    """A freshly issued key: `plaintext` is shown once and never stored."""

    plaintext: str
    prefix: str
    digest: str


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a key of one workspace with its scopes."""

    key_id: str
    workspace_id: str
    scopes: frozenset[str]

    def require(self, scope: Scope) -> None:
        """Raise Forbidden unless the key has `scope` (or `admin`)."""
        if scope not in self.scopes and "admin" not in self.scopes:
            raise Forbidden(f"this key lacks the {scope!r} scope")


def digest(plaintext: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(plaintext.encode()).hexdigest()


def issue() -> NewKey:
    """A new random key with its prefix and digest."""
    plaintext = f"cxk_{secrets.token_hex(4)}_{secrets.token_urlsafe(24)}"
    return NewKey(plaintext=plaintext, prefix=plaintext[:PREFIX_LENGTH], digest=digest(plaintext))


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer …` header, or Unauthorized."""
    if not authorization:
        raise Unauthorized("missing Authorization: Bearer <key>")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization must be 'Bearer <key>'")
    return token.strip()


_LOOKUP = text(
    "select id::text, workspace_id, key_hash, scopes from gateway.api_keys "
    "where prefix = :prefix and revoked_at is null"
)


class KeyVerifier:
    """Checks keys against the gateway's table, caching hits for a few seconds.

    A revoked key therefore stops working within `ttl` seconds on services that
    only read the table; the gateway itself checks with `ttl=0`.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, ttl: float) -> None:
        self._sessions = sessions
        self._ttl = ttl
        self._cache: dict[str, tuple[float, Principal]] = {}

    async def authenticate(self, authorization: str | None, scope: Scope) -> Principal:
        """The principal behind the header, with `scope` checked; Unauthorized or Forbidden."""
        principal = await self.principal(bearer_token(authorization))
        principal.require(scope)
        return principal

    async def principal(self, plaintext: str) -> Principal:
        """The principal of a key, or Unauthorized."""
        key_digest = digest(plaintext)
        cached = self._cache.get(key_digest)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        if not plaintext.startswith("cxk_") or len(plaintext) <= PREFIX_LENGTH:
            raise Unauthorized("unknown or revoked key")
        async with self._sessions() as session:
            rows = (await session.execute(_LOOKUP, {"prefix": plaintext[:PREFIX_LENGTH]})).all()
        for key_id, workspace_id, stored, scopes in rows:
            if hmac.compare_digest(stored, key_digest):
                principal = Principal(key_id, workspace_id, frozenset(scopes))
                if self._ttl > 0:
                    self._cache[key_digest] = (time.monotonic() + self._ttl, principal)
                return principal
        raise Unauthorized("unknown or revoked key")
