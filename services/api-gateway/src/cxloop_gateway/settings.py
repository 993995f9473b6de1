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
    config_body_limit_bytes: int = Field(
        1024 * 1024, description="Largest workspace configuration a PUT /v1/config accepts."
    )
    key_touch_interval_seconds: float = Field(
        60.0, description="How often, at most, a key's last_used_at is written per process."
    )
