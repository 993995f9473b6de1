"""The wire models of scoring's internal alert and webhook-delivery API."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from cxloop_shared.events import Metric
from pydantic import AwareDatetime, BaseModel, ConfigDict, StringConstraints

from cxloop_scoring.alerts import AlertState

DeliveryStatus = Literal["pending", "delivered", "failed"]


class AlertOut(BaseModel):
    """An alert: the answer that raised it, its touchpoint's context, who is on it.

    Also the `data` of the `alert.*` webhooks.
    """

    model_config = ConfigDict(from_attributes=True)

    alert_id: uuid.UUID
    workspace_id: str
    rule: str
    state: AlertState = "open"
    response_id: str
    revision: int
    invitation_id: uuid.UUID | None = None
    customer_id: str
    touchpoint: str
    survey: str | None = None
    metric: Metric
    channel: str | None = None
    score: int
    comment: str | None = None
    context: dict[str, Any]
    raised_at: AwareDatetime
    acknowledged_at: AwareDatetime | None = None
    acknowledged_by: str | None = None
    resolved_at: AwareDatetime | None = None
    resolved_by: str | None = None
    note: str | None = None


class AlertPage(BaseModel):
    """Alerts newest first; `next_cursor` fetches the page after this one."""

    alerts: list[AlertOut]
    next_cursor: str | None = None


class AlertChange(BaseModel):
    """Who acknowledges or resolves an alert, and a note (e.g. what was done)."""

    model_config = ConfigDict(extra="forbid")

    by: Annotated[str, StringConstraints(max_length=200)] | None = None
    note: Annotated[str, StringConstraints(max_length=2000)] | None = None


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
