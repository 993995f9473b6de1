"""The answers and alerts read models: what scoring's internal API answers and the gateway
serves as `GET /v1/responses` (and its export) and `GET /v1/alerts`.

Scoring owns the rows; these are the shapes both sides validate, so the gateway never
passes on a document it does not understand.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from cxloop_shared.events import CxiItem, Identifier, Key, Metric

MAX_PAGE = 200
DEFAULT_PAGE = 50

ExportFormat = Literal["csv", "ndjson"]
AlertState = Literal["open", "acknowledged", "resolved"]
Score = Annotated[int, Field(ge=0, le=10)]


class ResponseFilter(BaseModel):
    """Which answers a caller asks for: every field is optional and all of them must hold.

    Declared as a query-parameter model by scoring's internal API and by the gateway, so
    both validate the same names and name the same field in their errors.
    """

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    touchpoint: Key | None = None
    metric: Metric | None = None
    channel: Key | None = None
    customer_id: Identifier | None = None
    score_min: Score | None = Field(None, description="Lowest score included.")
    score_max: Score | None = Field(None, description="Highest score included.")
    has_comment: bool | None = Field(
        None, description="true: only answers with a comment; false: only those without."
    )
    start: AwareDatetime | None = Field(None, alias="from", description="Answered at or after.")
    end: AwareDatetime | None = Field(None, alias="to", description="Answered before.")

    @field_validator("score_max")
    @classmethod
    def _max_not_below_min(cls, value: int | None, info: ValidationInfo) -> int | None:
        low = info.data.get("score_min")
        if value is not None and low is not None and value < low:
            raise ValueError(f"below score_min ({low})")
        return value

    @field_validator("end")
    @classmethod
    def _end_after_start(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        start = info.data.get("start")
        if value is not None and start is not None and value <= start:
            raise ValueError("must be after `from`")
        return value

    def query(self) -> dict[str, str]:
        """The filter as query parameters (by their public names), to pass it on."""
        found: dict[str, str] = {}
        for name, value in self.model_dump(by_alias=True, exclude_none=True).items():
            if isinstance(value, bool):
                found[name] = "true" if value else "false"
            elif isinstance(value, datetime):
                found[name] = value.isoformat()
            else:
                found[name] = str(value)
        return found


class ResponseView(BaseModel):
    """One answer, at its latest revision: an item of `GET /v1/responses`, a line of its
    NDJSON export, and the `data` of the live stream's `response` events."""

    model_config = ConfigDict(from_attributes=True)

    response_id: str
    revision: int
    touchpoint: str
    survey: str | None = None
    metric: Metric
    score: int
    items: dict[CxiItem, int] | None = Field(
        None, description="A CX Index answer's three items (1-5); `score` is their mean."
    )
    comment: str | None = None
    channel: str | None = None
    customer_id: str
    invitation_id: uuid.UUID | None = None
    answered_at: AwareDatetime


# The export's columns, in order: the CSV header row.
RESPONSE_COLUMNS: tuple[str, ...] = tuple(ResponseView.model_fields)


class ResponsePage(BaseModel):
    """Answers newest first; `next_cursor` (opaque) fetches the page after this one."""

    items: list[ResponseView]
    next_cursor: str | None = None


class AlertView(BaseModel):
    """A closed-loop alert: the answer that raised it, its touchpoint's context, who is
    on it. What scoring's internal API and the gateway answer, the `data` of the `alert.*`
    webhooks and of the stream's `alert` events."""

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


class AlertList(BaseModel):
    """Alerts newest first; `next_cursor` fetches the next page."""

    items: list[AlertView]
    next_cursor: str | None = None


class AlertNote(BaseModel):
    """Who acknowledges or resolves an alert, and a note (e.g. what was done)."""

    model_config = ConfigDict(extra="forbid")

    by: Annotated[str, StringConstraints(max_length=200)] | None = None
    note: Annotated[str, StringConstraints(max_length=2000)] | None = None
