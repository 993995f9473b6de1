"""Routes of /v1/customers: a customer's profile and timeline, and their erasure."""

from __future__ import annotations

from typing import Annotated

from cxloop_shared.customers import DEFAULT_TIMELINE, MAX_TIMELINE, CustomerView, ErasureAccepted
from cxloop_shared.events import CustomerChanged, utcnow
from fastapi import APIRouter, Path, Query

from cxloop_gateway.customers import service
from cxloop_gateway.deps import (
    CustomersReader,
    CustomersWriter,
    DispatchDep,
    ErasuresDep,
    ScoringDep,
)

router = APIRouter(prefix="/v1/customers", tags=["customers"])

# `:path`, so a customer id with a slash (percent-encoded by the caller) is one id.
CustomerId = Annotated[
    str, Path(min_length=1, max_length=200, description="The customer's id in your systems.")
]
Limit = Annotated[
    int, Query(ge=1, le=MAX_TIMELINE, description=f"Most timeline entries, at most {MAX_TIMELINE}.")
]


@router.get("/{customer_id:path}", response_model=CustomerView)
async def get_customer(
    dispatch: DispatchDep,
    scoring: ScoringDep,
    caller: CustomersReader,
    customer_id: CustomerId,
    limit: Limit = DEFAULT_TIMELINE,
) -> CustomerView:
    """The customer's profile (contacts masked), whether they were erased, and the
    timeline of their touchpoints, decisions and answers, oldest first."""
    return await service.customer_view(
        dispatch=dispatch,
        scoring=scoring,
        workspace_id=caller.workspace_id,
        customer_id=customer_id,
        limit=limit,
    )


@router.delete("/{customer_id:path}", status_code=202, response_model=ErasureAccepted)
async def erase_customer(
    erasures: ErasuresDep, caller: CustomersWriter, customer_id: CustomerId
) -> ErasureAccepted:
    """Erase the customer's personal data in every service; counts and metrics stay.

    Answered once the request is durable in Kafka; each service applies it shortly
    after. Asking again is harmless, and so is asking for a customer nobody knows.
    """
    requested_at = utcnow()
    await erasures.publish(
        CustomerChanged(
            workspace_id=caller.workspace_id,
            customer_id=customer_id,
            change="erasure",
            changed_at=requested_at,
        )
    )
    return service.erasure_accepted(
        workspace_id=caller.workspace_id, customer_id=customer_id, at=requested_at
    )
