"""The SQL of erasure in ingest: what it keeps about a customer, forgotten, and the
erased customers that what arrives later is checked against. Nothing here commits."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime

from cxloop_shared.erasure import CustomerKey, customer_digest, lock_customers
from sqlalchemy import delete, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from cxloop_ingest.tables import answers, erased_customers, sent_invitations


async def remember_erasure(
    session: AsyncSession, *, workspace_id: str, customer_id: str, erased_at: datetime
) -> None:
    """Remember that the customer was erased (once; a redelivery changes nothing)."""
    row = {
        "workspace_id": workspace_id,
        "customer_digest": customer_digest(workspace_id, customer_id),
        "erased_at": erased_at,
    }
    await session.execute(insert(erased_customers).values(row).on_conflict_do_nothing())


async def erased_among(
    session: AsyncSession, customers: Collection[CustomerKey]
) -> set[CustomerKey]:
    """Those of these customers that were erased. Call it first in the transaction that
    keeps something about them: it holds them (a shared lock) until it ends."""
    await lock_customers(session, customers, exclusive=False)
    digests = {(w, customer_digest(w, c)): (w, c) for w, c in customers}
    if not digests:
        return set()
    table = erased_customers
    found = await session.execute(
        select(table.c.workspace_id, table.c.customer_digest).where(
            tuple_(table.c.workspace_id, table.c.customer_digest).in_(sorted(digests))
        )
    )
    return {digests[(row.workspace_id, row.customer_digest)] for row in found}


async def forget_sent_invitations(
    session: AsyncSession, *, workspace_id: str, customer_id: str
) -> list[uuid.UUID]:
    """Forget the invitations sent to the customer's addresses; return which they were."""
    table = sent_invitations
    result = await session.execute(
        delete(table)
        .where(table.c.workspace_id == workspace_id, table.c.customer_id == customer_id)
        .returning(table.c.invitation_id)
    )
    return sorted(row.invitation_id for row in result)


async def drop_comments(
    session: AsyncSession,
    *,
    workspace_id: str,
    customer_id: str,
    invitation_ids: Collection[uuid.UUID],
) -> int:
    """Drop the comments of the customer's answers (and of the answers to these
    invitations, from before answers named their customer) and unname them; return how
    many answers that changed. Scores stay."""
    mine = [answers.c.customer_id == customer_id]
    if invitation_ids:
        mine.append(answers.c.invitation_id.in_(sorted(invitation_ids)))
    result = await session.execute(
        update(answers)
        .where(
            answers.c.workspace_id == workspace_id,
            or_(*mine),
            or_(answers.c.comment.is_not(None), answers.c.customer_id.is_not(None)),
        )
        .values(comment=None, customer_id=None)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
