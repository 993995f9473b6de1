"""Who is calling: the bootstrap admin token or a workspace's API key, and on which workspace."""

from __future__ import annotations

import hmac
import time
from typing import TYPE_CHECKING

from cxloop_shared.apikeys import ALL_SCOPES, KeyVerifier, Principal, Scope
from cxloop_shared.errors import BadRequest, NotFound, Unauthorized
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from cxloop_gateway.keys import repository as keys_repository
from cxloop_gateway.workspaces import repository as workspaces_repository

if TYPE_CHECKING:
    from cxloop_gateway.limits import RateLimiter

WORKSPACE_HEADER = "X-Cxloop-Workspace"
# The admin token is no row of api_keys; this stands in for its key id.
ADMIN_TOKEN_KEY_ID = "admin-token"  # noqa: S105 (a label, not a secret)


class Authenticator:
    """Turns a bearer token (and the workspace header) into a Principal with its scope checked.

    Keys are checked against the table on every request (a revoked key stops at once);
    `last_used_at` is written at most once per `touch_interval` per key and process, so a
    busy integration does not turn every read into a write. Every authenticated request
    spends a token of its key's bucket in `limiter` (the admin token has a bucket of its
    own), before its scope is checked, so refused requests count too.
    """

    def __init__(
        self,
        *,
        admin_token: SecretStr,
        verifier: KeyVerifier,
        touch_interval: float,
        limiter: RateLimiter,
    ) -> None:
        self._admin_token = admin_token.get_secret_value().encode()
        self._verifier = verifier
        self._touch_interval = touch_interval
        self._touched: dict[str, float] = {}
        self.limiter = limiter

    def is_admin_token(self, token: str) -> bool:
        """Whether `token` is the bootstrap admin token (compared in constant time)."""
        # An empty setting turns the admin token off rather than matching nothing-in-particular.
        return bool(self._admin_token) and hmac.compare_digest(token.encode(), self._admin_token)

    def require_admin_token(self, token: str | None) -> None:
        """Raise unless `token` is the bootstrap admin token."""
        if token is None:
            raise Unauthorized("missing Authorization: Bearer <admin token>")
        if not self.is_admin_token(token):
            raise Unauthorized("this operation needs the bootstrap admin token")
        self.limiter.admit(ADMIN_TOKEN_KEY_ID)

    async def authenticate(
        self,
        session: AsyncSession,
        *,
        token: str | None,
        workspace_id: str | None,
        scope: Scope | None,
    ) -> Principal:
        """The caller, acting on its own workspace (or, for the admin token, the named one)."""
        if token is None:
            raise Unauthorized("missing Authorization: Bearer <key>")
        if self.is_admin_token(token):
            self.limiter.admit(ADMIN_TOKEN_KEY_ID)
            return await self._admin(session, workspace_id=workspace_id)
        principal = await self._verifier.principal(token)
        self.limiter.admit(principal.key_id)
        # A key never reaches into another workspace; it does not even learn that one exists.
        if workspace_id is not None and workspace_id != principal.workspace_id:
            raise NotFound(f"no workspace {workspace_id!r}")
        if scope is not None:
            principal.require(scope)
        await self._touch(session, principal.key_id)
        return principal

    async def _admin(self, session: AsyncSession, *, workspace_id: str | None) -> Principal:
        if workspace_id is None:
            raise BadRequest(f"with the admin token, name the workspace in {WORKSPACE_HEADER}")
        if not await workspaces_repository.exists(session, workspace_id):
            raise NotFound(f"no workspace {workspace_id!r}")
        return Principal(ADMIN_TOKEN_KEY_ID, workspace_id, frozenset(ALL_SCOPES))

    async def _touch(self, session: AsyncSession, key_id: str) -> None:
        now = time.monotonic()
        if now - self._touched.get(key_id, -self._touch_interval) < self._touch_interval:
            return
        self._touched[key_id] = now
        await keys_repository.touch(session, key_id=key_id, interval=self._touch_interval)
