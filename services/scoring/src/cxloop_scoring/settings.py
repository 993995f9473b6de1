"""Scoring's settings, from `CXLOOP_`-prefixed environment variables."""

from __future__ import annotations

from cxloop_shared.settings import ServiceSettings
from pydantic import Field


class Settings(ServiceSettings):
    """Settings of the scoring service."""

    port: int = Field(8003, description="Port the HTTP server listens on.")
    consumer_group: str = Field(
        "scoring",
        description=(
            "Kafka consumer group that reads responses and invitations; touchpoints are read "
            "by `<group>-touchpoints`, erasure requests by `<group>-customers`."
        ),
    )
    delivery_poll_seconds: float = Field(
        1.0, gt=0, description="How often due webhook deliveries are looked for."
    )
    delivery_batch: int = Field(
        50, ge=1, description="Most webhook deliveries claimed at once by one worker."
    )
    delivery_concurrency: int = Field(
        10, ge=1, description="Webhook POSTs in flight at once per worker."
    )
    delivery_timeout_seconds: float = Field(
        10.0, gt=0, description="How long one webhook POST may take, connection included."
    )
    delivery_retry_base_seconds: float = Field(
        5.0, gt=0, description="First webhook retry delay; doubles per attempt, with jitter."
    )
    delivery_retry_cap_seconds: float = Field(
        3600.0, gt=0, description="Longest wait between two attempts at a webhook."
    )
    delivery_max_attempts: int = Field(
        8, ge=1, description="Attempts at a webhook before its delivery is marked failed."
    )
    delivery_lease_seconds: float = Field(
        60.0,
        gt=0,
        description=(
            "After this long a claimed delivery is presumed orphaned by a dead worker and "
            "claimed again; longer than the POST timeout."
        ),
    )
