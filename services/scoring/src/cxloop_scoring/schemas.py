"""The wire models of scoring's internal webhook-delivery API; alerts are read in the
shapes the gateway serves (`cxloop_shared.answers`)."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict

DeliveryStatus = Literal["pending", "delivered", "failed"]


class DeliveryAttemptOut(BaseModel):
    """One POST to an endpoint: what it answered, or what went wrong, and how long it took."""

    model_config = ConfigDict(from_attributes=True)

    attempt: int
    attempted_at: AwareDatetime
    status_code: int | None = None
    error: str | None = None
    duration_ms: int
    outcome: Literal["delivered", "retry", "failed"]
    next_attempt_at: AwareDatetime | None = None


class DeliveryOut(BaseModel):
    """One message to one endpoint, and every attempt at it (the delivery log)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    endpoint: str
    message_id: str
    event_type: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: AwareDatetime | None = None
    created_at: AwareDatetime
    finished_at: AwareDatetime | None = None
    last_error: str | None = None
    log: list[DeliveryAttemptOut] = []


class DeliveryPage(BaseModel):
    """Deliveries newest first; `next_cursor` fetches the page after this one."""

    deliveries: list[DeliveryOut]
    next_cursor: str | None = None
