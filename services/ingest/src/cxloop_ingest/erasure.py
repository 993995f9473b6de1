"""Erasure in ingest: a `CustomerChanged(change="erasure")` on `cx.customers` makes ingest
forget what it keeps about the customer.

Ingest keeps, per invitation sent, the keyed digest of the address it went to (so an
SMS reply finds its question) and the answers' latest revisions (so a double submit
is no revision). On erasure the customer's sent invitations are forgotten — a text
from their number no longer finds a question — and the comments of their answers
(those to the invitations, and those posted without one) are dropped. Scores stay:
they are no personal data once nothing names the customer, and scoring counts them.
A redelivered request finds nothing left.

The erasure is remembered (by a digest of the id, never the id), so what arrives later
is not kept either: an answer is recorded without its comment (`service.record_answer`)
and an invitation sent to the customer is not remembered (`replies.InvitationHandler`).
A customer lock orders the erasure and those, so nothing lands between the erasure's
reads and its commit.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog
from cxloop_shared.db import transaction
from cxloop_shared.erasure import erasure_requests, lock_customers
from cxloop_shared.events import utcnow
from cxloop_shared.kafka import Delivery
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cxloop_ingest import customer_repository

log = structlog.get_logger(__name__)


class ErasureHandler:
    """The batch handler of ingest's consumer of `cx.customers`: applies erasure requests."""

    def __init__(self, *, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def __call__(self, deliveries: Sequence[Delivery]) -> None:
        """Forget every customer the batch asks to, in one transaction."""
        erasures = erasure_requests(deliveries)
        if not erasures:
            return
        async with transaction(self._sessions) as session:
            await lock_customers(
                session, [(r.workspace_id, r.customer_id) for r in erasures], exclusive=True
            )
            for request in erasures:
                workspace_id, customer_id = request.workspace_id, request.customer_id
                await customer_repository.remember_erasure(
                    session, workspace_id=workspace_id, customer_id=customer_id, erased_at=utcnow()
                )
                forgotten = await customer_repository.forget_sent_invitations(
                    session, workspace_id=workspace_id, customer_id=customer_id
                )
                answers = await customer_repository.drop_comments(
                    session,
                    workspace_id=workspace_id,
                    customer_id=customer_id,
                    invitation_ids=forgotten,
                )
                # Counts only: the customer's id is exactly what must not be logged.
                log.info(
                    "customer.erased",
                    workspace_id=workspace_id,
                    sent_invitations=len(forgotten),
                    answers=answers,
                )
