"""Queries on gateway.api_keys."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import RowMapping, func, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from cxloop_gateway.tables import api_keys

# Everything but the hash: what listing a key may show.
_SHOWN = (
    api_keys.c.id,
    api_keys.c.name,
    api_keys.c.prefix,
    api_keys.c.scopes,
    api_keys.c.created_at,
    api_keys.c.last_used_at,
    api_keys.c.revoked_at,
)


async def insert_new(
    session: AsyncSession,
    *,
    workspace_id: str,
    name: str,
    prefix: str,
    key_hash: str,
    scopes: Sequence[str],
) -> RowMapping | None:
    """Store a key's digest and return the key's row; None when its prefix is taken."""
    statement = (
        pg_insert(api_keys)
        .values(
            id=uuid.uuid4(),
            workspace_id=workspace_id,
            name=name,
            prefix=prefix,
            key_hash=key_hash,
            scopes=list(scopes),
        )
        .on_conflict_do_nothing(index_elements=[api_keys.c.prefix])
        .returning(*_SHOWN)
    )
    return (await session.execute(statement)).mappings().one_or_none()


async def get(session: AsyncSession, *, workspace_id: str, key_id: uuid.UUID) -> RowMapping | None:
    """The workspace's key, or None."""
    statement = select(*_SHOWN).where(
        api_keys.c.workspace_id == workspace_id, api_keys.c.id == key_id
    )
    return (await session.execute(statement)).mappings().one_or_none()


async def page(
    session: AsyncSession, *, workspace_id: str, after: uuid.UUID | None, limit: int
) -> Sequence[RowMapping]:
    """Up to `limit` keys of the workspace, oldest first, after the key `after`."""
    statement = select(*_SHOWN).where(api_keys.c.workspace_id == workspace_id)
    if after is not None:
        cursor = (
            select(api_keys.c.created_at, api_keys.c.id)
            .where(api_keys.c.workspace_id == workspace_id, api_keys.c.id == after)
            .scalar_subquery()
        )
        statement = statement.where(tuple_(api_keys.c.created_at, api_keys.c.id) > cursor)
    statement = statement.order_by(api_keys.c.created_at, api_keys.c.id).limit(limit)
    return (await session.execute(statement)).mappings().all()


async def revoke(session: AsyncSession, *, workspace_id: str, key_id: uuid.UUID) -> bool:
    """Revoke the workspace's key (a no-op if already revoked); False if there is no such key."""
    statement = (
        update(api_keys)
        .where(api_keys.c.workspace_id == workspace_id, api_keys.c.id == key_id)
        .values(revoked_at=func.coalesce(api_keys.c.revoked_at, func.now()))
        .returning(api_keys.c.id)
    )
    return (await session.scalar(statement)) is not None


async def touch(session: AsyncSession, *, key_id: str, interval: float) -> None:
    """Record that the key was used, unless another process did so within `interval`."""
    await session.execute(
        update(api_keys)
        .where(
            api_keys.c.id == uuid.UUID(key_id),
            or_(
                api_keys.c.last_used_at.is_(None),
                api_keys.c.last_used_at < func.now() - timedelta(seconds=interval),
            ),
        )
        .values(last_used_at=func.now())
    )
