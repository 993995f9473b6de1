"""Erasure in scoring: a `CustomerChanged(change="erasure")` on `cx.customers` removes the
customer's personal data from scoring's tables and moves no count.

What goes and what stays is decided in `redaction.py`: comments and notes go, the
customer id becomes a random pseudonym, touchpoint attributes and alert snapshots lose
what is about the person, webhook bodies about the customer are rewritten the same way and those
not sent yet are never sent. Rollups are not touched. One erasure is one transaction,
and a redelivered request finds nothing under the customer's id any more, so it
changes nothing.

The erasure is remembered (`erased_customers`, by a digest of the id), and the batch
handlers ask `erased_among` about every customer they store data for: what arrives
after the erasure is stored as the erasure left the rest, and still counts. A
customer lock orders the two, so nothing lands between the erasure's reads and its
commit.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from functools import partial

import structlog
from cxloop_shared.db import transaction
from cxloop_shared.erasure import CustomerKey, erasure_requests, lock_customers
from cxloop_shared.events import utcnow
from cxloop_shared.kafka import Delivery
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cxloop_scoring import customer_repository, redaction, repository

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Erased:
    """How many of each kind of row an erasure rewrote."""

    answers: int
    alerts: int
    touchpoints: int
    webhooks: int
    webhooks_cancelled: int


async def erase_customer(
    session: AsyncSession, *, workspace_id: str, customer_id: str, now: datetime
) -> Erased:
    """Remove the customer's personal data from every scoring table, in `session`, and
    remember the erasure so that late data about the customer is stored the same way."""
    await lock_customers(session, [(workspace_id, customer_id)], exclusive=True)
    stand_in = await customer_repository.record_erasure(
        session,
        workspace_id=workspace_id,
        customer_id=customer_id,
        pseudonym=redaction.pseudonym(),
        erased_at=now,
    )
    scrub = partial(redaction.scrub_attributes, customer_id=customer_id)
    responses = await customer_repository.response_ids_of(
        session, workspace_id=workspace_id, customer_id=customer_id
    )
    # The locks the answer handler takes: a revision in flight lands wholly before.
    await repository.lock_responses(session, {(workspace_id, r) for r in responses})
    answers = await customer_repository.pseudonymize_answers(
        session, workspace_id=workspace_id, customer_id=customer_id, pseudonym=stand_in
    )
    alerts = await customer_repository.erase_alerts(
        session,
        workspace_id=workspace_id,
        customer_id=customer_id,
        pseudonym=stand_in,
        scrub=scrub,
    )
    touchpoints = await customer_repository.erase_touchpoints(
        session,
        workspace_id=workspace_id,
        customer_id=customer_id,
        pseudonym=stand_in,
        scrub=scrub,
    )
    candidates = await customer_repository.webhook_candidates(
        session, workspace_id=workspace_id, marker=redaction.webhook_customer_marker(customer_id)
    )
    about = [row for row in candidates if redaction.webhook_is_about(row["body"], customer_id)]
    bodies = {
        row["id"]: redaction.redact_webhook_body(
            row["body"], customer_id=customer_id, pseudonym=stand_in
        )
        for row in about
    }
    # Not sent yet: an erased customer is followed up by nobody, so it never leaves.
    cancel = {row["id"] for row in about if row["status"] == "pending"}
    await customer_repository.rewrite_deliveries(session, bodies=bodies, cancel=cancel, now=now)
    return Erased(answers, alerts, touchpoints, len(bodies), len(cancel))


async def erased_among(
    session: AsyncSession, customers: Collection[CustomerKey]
) -> dict[CustomerKey, str]:
    """Which of these customers were erased, with their pseudonyms. Call it first in the
    transaction that stores data about them: it holds them (a shared lock) until the
    transaction ends, so a concurrent erasure waits and then finds what it stored."""
    await lock_customers(session, customers, exclusive=False)
    return await customer_repository.erased_pseudonyms(session, customers)


class ErasureHandler:
    """The batch handler of scoring's consumer of `cx.customers`: applies erasure requests
    (consent changes are dispatch's business, not scoring's)."""

    def __init__(self, *, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def __call__(self, deliveries: Sequence[Delivery]) -> None:
        """Erase every customer the batch asks to, in one transaction."""
        erasures = erasure_requests(deliveries)
        if not erasures:
            return
        async with transaction(self._sessions) as session:
            # All of the batch's customers at once, in the locks' one order.
            await lock_customers(
                session, [(r.workspace_id, r.customer_id) for r in erasures], exclusive=True
            )
            for request in erasures:
                erased = await erase_customer(
                    session,
                    workspace_id=request.workspace_id,
                    customer_id=request.customer_id,
                    now=utcnow(),
                )
                # Counts only: the customer's id is exactly what must not be logged.
                log.info("customer.erased", workspace_id=request.workspace_id, **asdict(erased))
