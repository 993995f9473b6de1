"""Ingest's settings."""

from __future__ import annotations

from cxloop_shared.settings import ServiceSettings
from pydantic import Field


class Settings(ServiceSettings):
    """Ingest: the public door for touchpoints, answers and unsubscribes."""

    port: int = Field(8001, description="Port the HTTP server listens on.")
    max_body_bytes: int = Field(1024 * 1024, description="Largest request body accepted.")
    max_batch_events: int = Field(1000, description="Most events in one POST /v1/events.")
    dedupe_days: int = Field(
        30, ge=7, description="How long an event id is remembered for dedupe (at least 7 days)."
    )
    public_url: str | None = Field(
        None,
        description=(
            "The URL senders use to reach ingest (e.g. https://cx.example.com) when a proxy sits "
            "in front; schemes that sign the URL (Twilio) are verified against it."
        ),
    )
