"""The SQL behind dispatch's customer and trace reads. Nothing here writes."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, select
from sqlalchemy.ext.asyncio import AsyncSession

from cxloop_dispatch.tables import customers, invitations, send_ledger


@dataclass(frozen=True, slots=True)
class CustomerRow:
    """A `dispatch.customers` row as read: fields, consent, erasure."""

    fields: dict[str, Any]
    consent: dict[str, Any]
    erased_at: datetime | None
    updated_at: datetime | None


async def customer(
    session: AsyncSession, *, workspace_id: str, customer_id: str
) -> CustomerRow | None:
    """The customer's stored profile; None when no touchpoint or consent change named them."""
    row = (
        await session.execute(
            select(
                customers.c.fields,
                customers.c.opted_out,
                customers.c.erased_at,
                customers.c.updated_at,
            ).where(
                customers.c.workspace_id == workspace_id, customers.c.customer_id == customer_id
            )
        )
    ).first()
    if row is None:
        return None
    return CustomerRow(dict(row.fields), dict(row.opted_out), row.erased_at, row.updated_at)


async def customer_decisions(
    session: AsyncSession, *, workspace_id: str, customer_id: str, limit: int
) -> list[RowMapping]:
    """The customer's invitations (one per touchpoint event), newest first, up to `limit`."""
    statement = (
        select(invitations)
        .where(
            invitations.c.workspace_id == workspace_id,
            invitations.c.customer_id == customer_id,
        )
        .order_by(invitations.c.created_at.desc(), invitations.c.id)
        .limit(limit)
    )
    return list((await session.execute(statement)).mappings())


async def event_decisions(
    session: AsyncSession, *, workspace_id: str, event_id: str, source: str | None
) -> list[RowMapping]:
    """The invitations decided for a touchpoint event, from one source or every one."""
    statement = select(invitations).where(
        invitations.c.workspace_id == workspace_id, invitations.c.event_id == event_id
    )
    if source is not None:
        statement = statement.where(invitations.c.source == source)
    statement = statement.order_by(invitations.c.created_at, invitations.c.source)
    return list((await session.execute(statement)).mappings())


async def send_attempts(
    session: AsyncSession, invitation_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, list[RowMapping]]:
    """Each invitation's send ledger, oldest attempt first."""
    if not invitation_ids:
        return {}
    statement = (
        select(send_ledger)
        .where(send_ledger.c.invitation_id.in_(sorted(invitation_ids)))
        .order_by(send_ledger.c.invitation_id, send_ledger.c.attempt)
    )
    found: dict[uuid.UUID, list[RowMapping]] = {}
    for row in (await session.execute(statement)).mappings():
        found.setdefault(row["invitation_id"], []).append(row)
    return found
