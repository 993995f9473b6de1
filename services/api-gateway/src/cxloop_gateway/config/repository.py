"""Queries on gateway.workspace_configs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from cxloop_gateway.tables import workspace_configs


async def lock(session: AsyncSession, workspace_id: str) -> None:
    """Serialise configuration writers of one workspace until the transaction ends.

    A row lock cannot do it before the workspace's first configuration row exists.
    """
    key = func.hashtextextended(f"cxloop.gateway.config:{workspace_id}", 0)
    await session.execute(select(func.pg_advisory_xact_lock(key)))


async def get(
    session: AsyncSession, workspace_id: str, *, for_update: bool = False
) -> tuple[dict[str, Any], int] | None:
    """The stored document and its version, or None; `for_update` serialises writers."""
    statement = select(workspace_configs.c.document, workspace_configs.c.version).where(
        workspace_configs.c.workspace_id == workspace_id
    )
    if for_update:
        statement = statement.with_for_update()
    row = (await session.execute(statement)).one_or_none()
    return (dict(row.document), int(row.version)) if row is not None else None


async def save(session: AsyncSession, *, workspace_id: str, document: dict[str, Any]) -> int:
    """Store the document as the workspace's next version and return that version."""
    insert = pg_insert(workspace_configs).values(
        workspace_id=workspace_id, document=document, version=1
    )
    statement = insert.on_conflict_do_update(
        index_elements=[workspace_configs.c.workspace_id],
        set_={
            "document": insert.excluded.document,
            "version": workspace_configs.c.version + 1,
            "updated_at": func.now(),
        },
    ).returning(workspace_configs.c.version)
    version: int = (await session.execute(statement)).scalar_one()
    return version
