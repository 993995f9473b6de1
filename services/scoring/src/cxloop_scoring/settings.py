"""Scoring's settings, from `CXLOOP_`-prefixed environment variables."""

from __future__ import annotations

from cxloop_shared.settings import ServiceSettings
from pydantic import Field


class Settings(ServiceSettings):
    """Settings of the scoring service."""

    port: int = Field(8003, description="Port the HTTP server listens on.")
    consumer_group: str = Field(
        "scoring", description="Kafka consumer group that reads responses and invitations."
    )
