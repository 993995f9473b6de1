"""Dispatch's tables: invitations (with every decision), the send ledger, the outbox."""

from __future__ import annotations

from cxloop_shared.db import service_metadata
from cxloop_shared.outbox import outbox_table
from sqlalchemy import Column, DateTime, Index, Integer, Table, Text, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import JSONB, UUID

metadata = service_metadata("dispatch")

# One row per touchpoint event: scheduled ones become sends, suppressed ones keep
# their reason, so the trace of any event is one lookup.
invitations = Table(
    "invitations",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("workspace_id", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("event_id", Text, nullable=False),
    Column("touchpoint", Text, nullable=False),
    Column("customer_id", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("survey", Text),
    Column("metric", Text),
    Column("channel", Text),
    Column("address", Text),
    Column("locale", Text),
    Column("timezone", Text),
    Column("send_at", DateTime(timezone=True)),
    Column("expires_at", DateTime(timezone=True)),
    Column("claimed_at", DateTime(timezone=True)),
    Column("sent_at", DateTime(timezone=True)),
    Column("remind_at", DateTime(timezone=True)),
    Column("reminders_sent", Integer, nullable=False, server_default="0"),
    Column("answered_at", DateTime(timezone=True)),
    Column("delivery", Text),  # the provider's delivery report: delivered | failed
    # W3C trace headers of the touchpoint it was decided for; null when tracing was off.
    Column("trace", JSONB),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("workspace_id", "source", "event_id"),
    Index("ix_invitations_due", "send_at", postgresql_where="status = 'scheduled'"),
    Index("ix_invitations_customer", "workspace_id", "customer_id", "send_at"),
    Index("ix_invitations_expiring", "expires_at", postgresql_where="status = 'scheduled'"),
    Index("ix_invitations_sending", "claimed_at", postgresql_where="status = 'sending'"),
    Index(
        "ix_invitations_remind",
        "remind_at",
        postgresql_where="status = 'sent' and answered_at is null",
    ),
)

# Written before each provider call and after its answer: a row left at
# `handing_over` means the provider may have the message, so it is never resent.
send_ledger = Table(
    "send_ledger",
    metadata,
    Column("invitation_id", UUID(as_uuid=True), primary_key=True),
    Column("attempt", Integer, primary_key=True),
    Column("channel", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("detail", Text),
    Column("provider_message_id", Text),
    Column("started_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("finished_at", DateTime(timezone=True)),
)

outbox = outbox_table(metadata)

# The customer as dispatch knows them: merged from touchpoints (per field, the newest
# `occurred_at` wins), with consent from cx.customers. Erasure clears the personal
# fields and keeps the row, so a late touchpoint cannot bring them back.
customers = Table(
    "customers",
    metadata,
    Column("workspace_id", Text, primary_key=True),
    Column("customer_id", Text, primary_key=True),
    Column("fields", JSONB, nullable=False, server_default="{}"),
    Column("field_times", JSONB, nullable=False, server_default="{}"),
    Column("opted_out", JSONB, nullable=False, server_default="{}"),
    Column("erased_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Opt-outs of an address rather than a customer (an SMS STOP from a number), by the
# address's keyed digest.
address_opt_outs = Table(
    "address_opt_outs",
    metadata,
    Column("workspace_id", Text, primary_key=True),
    Column("address_digest", Text, primary_key=True),
    Column("channel", Text, primary_key=True),
    Column("opted_out_at", DateTime(timezone=True), nullable=False),
)
