"""Ingest's HTTP models (the events themselves live in cxloop_shared.events)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from cxloop_shared.errors import Unprocessable
from cxloop_shared.events import CxiItem, Identifier, Key, Touchpoint
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)


class TouchpointBatch(BaseModel):
    """Several touchpoints in one request, accepted or rejected whole."""

    events: list[Touchpoint] = Field(min_length=1)


class ResponseIn(BaseModel):
    """An answer collected outside cxloop's own pages: IVR, agent desk, in-app prompt."""

    model_config = ConfigDict(extra="forbid")

    id: Identifier = Field(description="Your id for this answer; posting it again is idempotent.")
    touchpoint: Key = Field(description="A configured touchpoint; its survey gives the scale.")
    customer_id: Identifier
    score: int | None = Field(
        None, ge=0, le=10, description="The answer on the survey's scale (not for CX Index)."
    )
    items: dict[CxiItem, int] | None = Field(
        None,
        description="CX Index surveys only: effective, easy and enjoyable, 1-5 each.",
    )
    comment: Annotated[str, StringConstraints(max_length=5000)] | None = None
    answered_at: AwareDatetime | None = Field(None, description="When answered; now if absent.")
    channel: Key | None = Field(None, description="Where it was collected (ivr, in_app…).")
    invitation_id: uuid.UUID | None = None


class ResponseOut(BaseModel):
    """What became of a posted answer."""

    response_id: str
    revision: int = Field(description="1 for a new answer, higher when it revised an earlier one.")
    duplicate: bool = Field(description="True when the same answer had already been recorded.")


class AcceptedOut(BaseModel):
    """What happened to the posted items."""

    accepted: int = Field(description="Items made durable and queued.")
    duplicates: int = Field(description="Items already received before; nothing was queued.")
    duplicate: bool = Field(description="True when every posted item was a duplicate.")
    ignored: str | None = Field(
        None, description="A provider event type the source does not map; nothing was queued."
    )


EVENTS_BODY_SCHEMA: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "oneOf": [
                    {"$ref": "#/components/schemas/Touchpoint"},
                    {"$ref": "#/components/schemas/TouchpointBatch"},
                ]
            }
        }
    },
}

_ONE = TypeAdapter(Touchpoint)
_MANY = TypeAdapter(TouchpointBatch)


def parse_touchpoints(document: object, *, max_events: int) -> list[Touchpoint]:
    """One touchpoint or `{"events": [...]}`, validated whole; errors name item and field."""
    try:
        if isinstance(document, dict) and "events" in document:
            events = document["events"]
            if isinstance(events, list) and len(events) > max_events:
                raise Unprocessable(f"a batch holds at most {max_events} events, got {len(events)}")
            return _MANY.validate_python(document).events
        return [_ONE.validate_python(document)]
    except ValidationError as exc:
        errors = [
            {
                "location": ".".join(str(part) for part in error["loc"]),
                "message": error["msg"],
                "type": error["type"],
            }
            for error in exc.errors()[:100]
        ]
        summary = "; ".join(f"{e['location']}: {e['message']}" for e in errors[:5])
        raise Unprocessable(f"invalid event(s): {summary}", errors=errors) from exc
