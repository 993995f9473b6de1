"""Ingest's tables: what it has accepted, answers' revisions, and its outbox."""

from __future__ import annotations

from cxloop_shared.db import service_metadata
from cxloop_shared.outbox import outbox_table
from sqlalchemy import Column, DateTime, Integer, Table, Text, func
from sqlalchemy.dialects.postgresql import UUID

metadata = service_metadata("ingest")

received_events = Table(
    "received_events",
    metadata,
    Column("workspace_id", Text, primary_key=True),
    Column("source", Text, primary_key=True),
    Column("event_id", Text, primary_key=True),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

answers = Table(
    "answers",
    metadata,
    Column("workspace_id", Text, primary_key=True),
    Column("response_id", Text, primary_key=True),
    Column("invitation_id", UUID(as_uuid=True), nullable=True),
    Column("revision", Integer, nullable=False),
    Column("score", Integer, nullable=False),
    Column("comment", Text, nullable=True),
    Column("answered_at", DateTime(timezone=True), nullable=False),
)

outbox = outbox_table(metadata)
