"""Every SQL statement about one customer in scoring: their timeline, their erasure, and
the erased customers late data is checked against.

Erasure changes no column any rollup is built from (scores, touchpoints, metrics,
channels, personas, times, response and invitation ids); see `redaction.py`. Nothing
here commits: the entry point owns the transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from typing import Any

from cxloop_shared.erasure import CustomerKey, customer_digest
from sqlalchemy import RowMapping, Table, bindparam, func, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from cxloop_scoring.tables import (
    alerts,
    answer_revisions,
    answers,
    erased_customers,
    touchpoint_contexts,
    webhook_deliveries,
)

# --- Timeline --------------------------------------------------------------------------


async def touchpoints_of(
    session: AsyncSession, *, workspace_id: str, customer_id: str, limit: int
) -> list[RowMapping]:
    """The customer's touchpoints, newest first, up to `limit`."""
    table = touchpoint_contexts
    statement = (
        select(
            table.c.source,
            table.c.event_id,
            table.c.touchpoint,
            table.c.channel,
            table.c.occurred_at,
            table.c.attributes,
        )
        .where(table.c.workspace_id == workspace_id, table.c.customer_id == customer_id)
        .order_by(table.c.occurred_at.desc(), table.c.source, table.c.event_id)
        .limit(limit)
    )
    return list((await session.execute(statement)).mappings())


async def answers_of(
    session: AsyncSession, *, workspace_id: str, customer_id: str, limit: int
) -> list[RowMapping]:
    """The latest revision of each of the customer's answers, newest first, up to `limit`."""
    statement = (
        select(
            answers.c.response_id,
            answers.c.revision,
            answers.c.invitation_id,
            answers.c.touchpoint,
            answers.c.survey,
            answers.c.metric,
            answers.c.channel,
            answers.c.score,
            answers.c.comment,
            answers.c.answered_at,
        )
        .where(answers.c.workspace_id == workspace_id, answers.c.customer_id == customer_id)
        .order_by(answers.c.answered_at.desc(), answers.c.response_id)
        .limit(limit)
    )
    return list((await session.execute(statement)).mappings())


# --- Erasure ---------------------------------------------------------------------------


async def response_ids_of(
    session: AsyncSession, *, workspace_id: str, customer_id: str
) -> set[str]:
    """The responses the customer gave (any revision)."""
    statement = select(answer_revisions.c.response_id).where(
        answer_revisions.c.workspace_id == workspace_id,
        answer_revisions.c.customer_id == customer_id,
    )
    return set((await session.scalars(statement.distinct())).all())


async def pseudonymize_answers(
    session: AsyncSession, *, workspace_id: str, customer_id: str, pseudonym: str
) -> int:
    """Every revision and latest answer of the customer: comment dropped, id replaced.
    Returns how many latest answers there were."""
    results = [
        await session.execute(
            update(table)
            .where(table.c.workspace_id == workspace_id, table.c.customer_id == customer_id)
            .values(customer_id=pseudonym, comment=None)
        )
        for table in (answer_revisions, answers)
    ]
    return int(results[-1].rowcount or 0)  # type: ignore[attr-defined]


async def _rewrite_rows(
    session: AsyncSession,
    table: Table,
    *,
    key: str,
    rows: list[dict[str, Any]],
) -> None:
    """Write back each row's new values by its one-column key (one executemany)."""
    if not rows:
        return
    names = [name for name in rows[0] if name != key]
    statement = (
        update(table)
        .where(table.c[key] == bindparam(f"_{key}"))
        .values({name: bindparam(f"_{name}") for name in names})
    )
    await session.execute(statement, [{f"_{k}": v for k, v in row.items()} for row in rows])


async def erase_alerts(
    session: AsyncSession,
    *,
    workspace_id: str,
    customer_id: str,
    pseudonym: str,
    scrub: Callable[[Mapping[str, Any]], dict[str, Any]],
) -> int:
    """The customer's alerts: comment and note dropped, context scrubbed, id replaced.
    State, score and times stay, so alert counts do too. Returns how many."""
    found = await session.execute(
        select(alerts.c.alert_id, alerts.c.context)
        .where(alerts.c.workspace_id == workspace_id, alerts.c.customer_id == customer_id)
        .order_by(alerts.c.alert_id)
        .with_for_update()
    )
    rows = [
        {
            "alert_id": row.alert_id,
            "customer_id": pseudonym,
            "comment": None,
            "note": None,
            "context": scrub(row.context),
        }
        for row in found
    ]
    await _rewrite_rows(session, alerts, key="alert_id", rows=rows)
    return len(rows)


async def erase_touchpoints(
    session: AsyncSession,
    *,
    workspace_id: str,
    customer_id: str,
    pseudonym: str,
    scrub: Callable[[Mapping[str, Any]], dict[str, Any]],
) -> int:
    """The customer's touchpoint contexts: attributes scrubbed, id replaced. Returns how many."""
    table = touchpoint_contexts
    found = await session.execute(
        select(table.c.source, table.c.event_id, table.c.attributes)
        .where(table.c.workspace_id == workspace_id, table.c.customer_id == customer_id)
        .order_by(table.c.source, table.c.event_id)
        .with_for_update()
    )
    rows = [
        {
            "_source": row.source,
            "_event_id": row.event_id,
            "_attributes": scrub(row.attributes),
        }
        for row in found
    ]
    if rows:
        statement = (
            update(table)
            .where(
                table.c.workspace_id == workspace_id,
                table.c.source == bindparam("_source"),
                table.c.event_id == bindparam("_event_id"),
            )
            .values(attributes=bindparam("_attributes"), customer_id=pseudonym)
        )
        await session.execute(statement, rows)
    return len(rows)


async def webhook_candidates(
    session: AsyncSession, *, workspace_id: str, marker: str
) -> list[RowMapping]:
    """The workspace's deliveries whose body contains `marker`, locked."""
    table = webhook_deliveries
    statement = (
        select(table.c.id, table.c.body, table.c.status)
        .where(table.c.workspace_id == workspace_id, func.strpos(table.c.body, marker) > 0)
        .order_by(table.c.id)
        .with_for_update()
    )
    return list((await session.execute(statement)).mappings())


async def rewrite_deliveries(
    session: AsyncSession, *, bodies: Mapping[int, str], cancel: set[int], now: datetime
) -> None:
    """New bodies for these deliveries; those in `cancel` are never sent: marked failed."""
    rows = [
        {"id": delivery_id, "body": body}
        for delivery_id, body in sorted(bodies.items())
        if delivery_id not in cancel
    ]
    await _rewrite_rows(session, webhook_deliveries, key="id", rows=rows)
    cancelled = [
        {
            "id": delivery_id,
            "body": bodies[delivery_id],
            "status": "failed",
            "finished_at": now,
            "last_error": "customer erased before delivery",
        }
        for delivery_id in sorted(cancel)
    ]
    await _rewrite_rows(session, webhook_deliveries, key="id", rows=cancelled)


# --- Erased customers ------------------------------------------------------------------


async def record_erasure(
    session: AsyncSession,
    *,
    workspace_id: str,
    customer_id: str,
    pseudonym: str,
    erased_at: datetime,
) -> str:
    """Remember that the customer was erased; return their pseudonym: `pseudonym`, or the
    one an earlier erasure of the same customer drew (their rows stay together)."""
    table = erased_customers
    digest = customer_digest(workspace_id, customer_id)
    row = {
        "workspace_id": workspace_id,
        "customer_digest": digest,
        "pseudonym": pseudonym,
        "erased_at": erased_at,
    }
    await session.execute(insert(table).values(row).on_conflict_do_nothing())
    stored = await session.scalar(
        select(table.c.pseudonym).where(
            table.c.workspace_id == workspace_id, table.c.customer_digest == digest
        )
    )
    return str(stored)


async def erased_pseudonyms(
    session: AsyncSession, customers: Collection[CustomerKey]
) -> dict[CustomerKey, str]:
    """The pseudonym of each of these customers that was erased."""
    digests = {(w, customer_digest(w, c)): (w, c) for w, c in customers}
    if not digests:
        return {}
    table = erased_customers
    statement = select(table.c.workspace_id, table.c.customer_digest, table.c.pseudonym).where(
        tuple_(table.c.workspace_id, table.c.customer_digest).in_(sorted(digests))
    )
    found = await session.execute(statement)
    return {digests[(row.workspace_id, row.customer_digest)]: row.pseudonym for row in found}
