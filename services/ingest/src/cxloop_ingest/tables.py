"""Ingest's tables: what it has accepted, answers' revisions, and its outbox."""

from __future__ import annotations

from cxloop_shared.db import service_metadata
from cxloop_shared.outbox import outbox_table
from sqlalchemy import Column, DateTime, Index, Integer, Table, Text, func
from sqlalchemy.dialects.postgresql import JSONB, UUID

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
    # CX Index answers: {"effective": 1-5, "easy": 1-5, "enjoyable": 1-5}; null otherwise.
    Column("items", JSONB, nullable=True),
    Column("comment", Text, nullable=True),
    Column("answered_at", DateTime(timezone=True), nullable=False),
    # Whose answer it is, so an erasure finds its comment; null for an erased customer
    # (and for answers recorded before ingest kept it).
    Column("customer_id", Text, nullable=True),
    Index("ix_answers_customer", "workspace_id", "customer_id"),
)

outbox = outbox_table(metadata)

# Invitations sent to an address, from cx.invitations: an SMS reply carries only the
# sender's number, and this is how it finds the question it answers.
sent_invitations = Table(
    "sent_invitations",
    metadata,
    Column("workspace_id", Text, primary_key=True),
    Column("invitation_id", UUID(as_uuid=True), primary_key=True),
    Column("address_digest", Text, nullable=False),
    Column("customer_id", Text, nullable=False),
    Column("touchpoint", Text, nullable=False),
    Column("survey", Text, nullable=False),
    Column("metric", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=False),
    Column("answer_until", DateTime(timezone=True), nullable=False),
    Index("ix_sent_invitations_address", "workspace_id", "address_digest", "sent_at"),
)

# Customers erased, so that what arrives about them later is not kept either: named by
# `cxloop_shared.erasure.customer_digest` (a SHA-256 of workspace and id), never by the id.
erased_customers = Table(
    "erased_customers",
    metadata,
    Column("workspace_id", Text, primary_key=True),
    Column("customer_digest", Text, primary_key=True),
    Column("erased_at", DateTime(timezone=True), nullable=False),
)
