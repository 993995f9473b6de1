"""What every service that keeps something about a customer shares about erasure: how an
erased customer is named without keeping the id, and the lock that orders an erasure
against the batches and requests that store data about the same customer."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from cxloop_shared.events import CustomerChanged
from cxloop_shared.kafka import Delivery

CustomerKey = tuple[str, str]  # (workspace_id, customer_id)

# Versioned, so that no other digest in cxloop ever equals one of these.
_DIGEST_PURPOSE = "cxloop.erased-customer.v1"


def customer_digest(workspace_id: str, customer_id: str) -> str:
    """How an `erased_customers` table names an erased customer: the hex SHA-256 of a
    purpose label, the workspace and the id, so the table never holds the id itself."""
    message = "\x1f".join((_DIGEST_PURPOSE, workspace_id, customer_id)).encode()
    return hashlib.sha256(message).hexdigest()


def _customer_lock(key: CustomerKey) -> int:
    # '#' starts no workspace id, so no other advisory lock key of cxloop is one of these.
    digest = hashlib.blake2b("\x1f".join(("#customer", *key)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def lock_customers(
    session: AsyncSession, customers: Collection[CustomerKey], *, exclusive: bool
) -> None:
    """Hold these customers until the transaction ends: exclusively to erase them, shared
    to store data about them (many transactions at once; never during an erasure).

    An erasure then either commits before the other transaction reads its service's
    `erased_customers`, or waits until that transaction's rows are committed and forgets
    them too. Taken first in a transaction and in one global order, so that no two
    transactions wait for each other.
    """
    locks = sorted({_customer_lock(key) for key in customers})
    if locks:
        function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
        await session.execute(
            text(f"select {function}(k) from unnest(cast(:locks as bigint[])) as k"),  # noqa: S608
            {"locks": locks},
        )


def erasure_requests(deliveries: Sequence[Delivery]) -> list[CustomerChanged]:
    """The erasure requests among a consumed batch of `cx.customers` (consent changes are
    dispatch's business only)."""
    return [
        d.event
        for d in deliveries
        if isinstance(d.event, CustomerChanged) and d.event.change == "erasure"
    ]
