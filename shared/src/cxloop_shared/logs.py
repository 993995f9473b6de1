"""Structured logs: JSON lines with the service name, never secrets or full personal data.

Context travels in structlog's contextvars: ingest binds the event ids of a request, the
Kafka consumer those of the batch or message it handles (`kafka.batch_log_context`), so
every line written meanwhile names the events it is about. With tracing on, each line
also carries `trace_id` and `span_id`.
"""

from __future__ import annotations

import logging
import sys

import structlog

from cxloop_shared import tracing
from cxloop_shared.events import (
    AlertRaised,
    CxEvent,
    InvitationChanged,
    ResponseRecorded,
    TouchpointReceived,
)


def configure_logging(*, service: str, level: str = "INFO", json: bool = True) -> None:
    """Route stdlib and structlog output through one JSON (or console) renderer."""
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        tracing.add_trace_ids,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.CallsiteParameterAdder(
            [structlog.processors.CallsiteParameter.MODULE]
        ),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                _add_service(service),
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # httpx logs every request URL at INFO; provider URLs can carry account ids or tokens.
    for noisy in ("aiokafka", "uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _add_service(service: str) -> structlog.types.Processor:
    def add(_: object, __: str, event: structlog.types.EventDict) -> structlog.types.EventDict:
        event["service"] = service
        return event

    return add


def event_log_ids(event: CxEvent) -> dict[str, str]:
    """The ids an event's log lines carry: its workspace and the touchpoint event,
    invitation, answer or alert it is about. Never customer ids or addresses."""
    ids = {"workspace_id": event.workspace_id}
    if isinstance(event, TouchpointReceived):
        ids["event_id"] = event.event.id
        ids["source"] = event.source
    if isinstance(event, InvitationChanged):
        ids["event_id"] = event.event_id
        ids["source"] = event.source
    if isinstance(event, ResponseRecorded | AlertRaised):
        ids["response_id"] = event.response_id
    if isinstance(event, AlertRaised):
        ids["alert_id"] = str(event.alert_id)
    invitation_id = getattr(event, "invitation_id", None)
    if invitation_id is not None:
        ids["invitation_id"] = str(invitation_id)
    return ids


def mask_email(email: str | None) -> str | None:
    """`ana@example.com` → `a***@example.com`: enough to debug, not enough to identify."""
    if not email or "@" not in email:
        return None if email is None else "***"
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"
