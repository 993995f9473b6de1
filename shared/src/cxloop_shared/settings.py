"""Settings every service shares, read from `CXLOOP_`-prefixed environment variables."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Base settings of a cxloop service; each service subclasses it with its own fields."""

    model_config = SettingsConfigDict(env_prefix="CXLOOP_", extra="ignore")

    database_url: str = Field(
        "postgresql+asyncpg://postgres@127.0.0.1:5432/cxloop",
        description="SQLAlchemy async URL of the one cxloop database.",
    )
    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092", description="Comma-separated Kafka bootstrap servers."
    )
    kafka_idempotence: bool = Field(
        True,
        description="Idempotent producer; turn off for brokers that reject it (Tansu).",
    )
    host: str = Field("127.0.0.1", description="Interface the HTTP server binds to.")
    port: int = Field(8000, description="Port the HTTP server listens on.")
    log_level: str = Field("INFO", description="Minimum log level.")
    log_json: bool = Field(True, description="JSON logs (off: human-readable console logs).")
    tracing_enabled: bool = Field(
        False,
        description="Export OpenTelemetry traces and carry W3C trace context in Kafka headers.",
    )
    otlp_endpoint: str = Field(
        "http://localhost:4318",
        description="OTLP/HTTP collector base URL; OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT wins.",
    )
    link_secret: SecretStr = Field(
        SecretStr("dev-link-secret-change-me"),
        description="Signs survey and unsubscribe links; the same value on ingest and dispatch.",
    )
    internal_token: SecretStr = Field(
        SecretStr("dev-internal-token-change-me"),
        description="Bearer token for service-to-service read APIs.",
    )
    config_cache_ttl_seconds: float = Field(
        5.0, description="How long a workspace configuration read from the gateway stays cached."
    )
    consumer_batch_size: int = Field(500, description="Most Kafka messages handled per batch.")
    shutdown_grace_seconds: float = Field(
        20.0, description="How long a stopping service waits for in-flight work."
    )
