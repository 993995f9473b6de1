"""The dispatcher's settings."""

from __future__ import annotations

from cxloop_shared.settings import ServiceSettings
from pydantic import Field


class Settings(ServiceSettings):
    """Survey dispatch: policy, scheduling and sending."""

    port: int = Field(8002, description="Port the HTTP server listens on.")
    public_url: str = Field(
        "http://127.0.0.1:8001", description="Ingest's public base URL, for answer links."
    )
    callback_url: str | None = Field(
        None,
        description=(
            "Dispatch's own public base URL, for provider delivery reports (Twilio status "
            "callbacks); without it providers report nothing back."
        ),
    )
    scheduler_poll_seconds: float = Field(
        0.5, description="How often due invitations are looked for."
    )
    send_batch: int = Field(20, description="Most invitations claimed at once by one dispatcher.")
    send_concurrency: int = Field(10, description="Sends in flight at once per dispatcher.")
    send_lease_seconds: float = Field(
        60.0,
        description="After this long a claimed send is presumed orphaned by a dead dispatcher.",
    )
    send_max_attempts: int = Field(
        5, ge=1, description="Provider calls per channel before falling back to the next one."
    )
    retry_base_seconds: float = Field(
        10.0, description="First retry delay; doubles per attempt, with jitter, up to an hour."
    )
    circuit_failures: int = Field(
        5, ge=1, description="Failures in a row that open a provider's circuit."
    )
    circuit_cooldown_seconds: float = Field(
        30.0, description="How long an open circuit keeps sends off the provider."
    )
    brand: str = Field("Sent with cxloop", description="Footer line of survey messages.")
