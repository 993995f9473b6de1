"""Issuing, listing and revoking API keys. Only a key's digest is ever stored."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from cxloop_shared import apikeys
from cxloop_shared.errors import NotFound
from sqlalchemy.ext.asyncio import AsyncSession

from cxloop_gateway.keys import repository
from cxloop_gateway.keys.schemas import ApiKey, ApiKeyPage, IssuedKey

# Prefixes carry 32 random bits, so two keys sharing one is rare but possible: draw again.
_ISSUE_ATTEMPTS = 5


def canonical_scopes(scopes: Iterable[str]) -> list[str]:
    """The scopes without repeats, in the order of ALL_SCOPES."""
    wanted = set(scopes)
    return [scope for scope in apikeys.ALL_SCOPES if scope in wanted]


async def issue(
    session: AsyncSession, *, workspace_id: str, name: str, scopes: Iterable[str]
) -> IssuedKey:
    """A new key for the workspace; its plaintext is in the result and nowhere else."""
    for _ in range(_ISSUE_ATTEMPTS):
        new_key = apikeys.issue()
        row = await repository.insert_new(
            session,
            workspace_id=workspace_id,
            name=name,
            prefix=new_key.prefix,
            key_hash=new_key.digest,
            scopes=canonical_scopes(scopes),
        )
        if row is not None:
            return IssuedKey(
                id=row["id"],
                name=row["name"],
                prefix=row["prefix"],
                key=new_key.plaintext,
                scopes=row["scopes"],
                created_at=row["created_at"],
            )
    raise RuntimeError("could not draw an unused key prefix")


async def get(session: AsyncSession, *, workspace_id: str, key_id: uuid.UUID) -> ApiKey:
    """The workspace's key, or NotFound (also for another workspace's key)."""
    row = await repository.get(session, workspace_id=workspace_id, key_id=key_id)
    if row is None:
        raise NotFound(f"no API key {str(key_id)!r}")
    return ApiKey.model_validate(dict(row))


async def list_page(
    session: AsyncSession, *, workspace_id: str, after: uuid.UUID | None, limit: int
) -> ApiKeyPage:
    """One page of the workspace's keys, revoked ones included, oldest first."""
    if after is not None:
        await get(session, workspace_id=workspace_id, key_id=after)
    rows = await repository.page(session, workspace_id=workspace_id, after=after, limit=limit)
    items = [ApiKey.model_validate(dict(row)) for row in rows]
    return ApiKeyPage(items=items, next_after=items[-1].id if len(items) == limit else None)


async def revoke(session: AsyncSession, *, workspace_id: str, key_id: uuid.UUID) -> None:
    """Revoke the workspace's key; it stops working with the next request."""
    if not await repository.revoke(session, workspace_id=workspace_id, key_id=key_id):
        raise NotFound(f"no API key {str(key_id)!r}")
