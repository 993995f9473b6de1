"""The gateway's settings: the shared ones plus the bootstrap admin token and where scoring is."""

from __future__ import annotations

from cxloop_shared.settings import ServiceSettings
from pydantic import Field, SecretStr

DEV_ADMIN_TOKEN = "dev-admin-token-change-me"  # noqa: S105 (the documented dev default)


class Settings(ServiceSettings):
    """Settings of the api-gateway, read from `CXLOOP_`-prefixed environment variables."""

    port: int = Field(8000, description="Port the HTTP server listens on.")
    admin_token: SecretStr = Field(
        SecretStr(DEV_ADMIN_TOKEN),
        description="Bootstrap admin token (CXLOOP_ADMIN_TOKEN): creates workspaces, acts on any.",
    )
    scoring_url: str = Field(
        "http://127.0.0.1:8003", description="Base URL of scoring's internal read API."
    )
    scoring_timeout_seconds: float = Field(
        10.0, description="How long a metrics request waits for scoring before answering 503."
    )
    dispatch_url: str = Field(
        "http://127.0.0.1:8002", description="Base URL of dispatch's internal read API."
    )
    dispatch_timeout_seconds: float = Field(
        10.0, description="How long a customer or trace request waits for dispatch (then 503)."
    )
    config_body_limit_bytes: int = Field(
        1024 * 1024, description="Largest workspace configuration a PUT /v1/config accepts."
    )
    body_limit_bytes: int = Field(
        1024 * 1024, ge=1, description="Largest request body any route accepts (else 413)."
    )
    rate_limit_per_second: float = Field(
        50.0, gt=0, description="Requests per second each API key (and the admin token) may make."
    )
    rate_limit_burst: int = Field(
        100, ge=1, description="Requests a key may make at once before its rate applies (429)."
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Dashboard origins browsers may call from, a JSON list in "
        'CXLOOP_CORS_ORIGINS such as ["https://cx.acme.test"] (empty: same origin only).',
    )
    key_touch_interval_seconds: float = Field(
        60.0, description="How often, at most, a key's last_used_at is written per process."
    )
    stream_heartbeat_seconds: float = Field(
        15.0, gt=0, description="Idle seconds before GET /v1/stream sends a heartbeat comment."
    )
    stream_queue_size: int = Field(
        256, ge=1, description="Events a live stream may fall behind before it is dropped."
    )
    stream_max_per_workspace: int = Field(
        20, ge=1, description="Live streams one workspace may hold open per gateway process."
    )
    stream_metrics_debounce_seconds: float = Field(
        1.0, ge=0, description="At most one `metrics` hint per touchpoint per this many seconds."
    )
