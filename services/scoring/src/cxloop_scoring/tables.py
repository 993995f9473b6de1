"""The scoring schema: raw answers (every revision, and the latest) and the rollups;
the touchpoint context alerts carry; alerts, their outbox and outbound webhook deliveries.

Rollups are the only thing metrics are read from, and a function of the raw rows
(`answers`, `invitations_sent`): every key part is stamped on the raw row when it is
recorded. `channel` and `persona` are '' rather than null where they are part of a
key, because a primary key column cannot be null.
"""

from __future__ import annotations

from cxloop_shared.db import service_metadata
from cxloop_shared.outbox import outbox_table
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    PrimaryKeyConstraint,
    SmallInteger,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

metadata = service_metadata("scoring")


def _answer_columns() -> list[Column[object]]:
    return [
        Column("workspace_id", Text, nullable=False),
        Column("response_id", Text, nullable=False),
        Column("revision", Integer, nullable=False),
        Column("touchpoint", Text, nullable=False),
        Column("survey", Text),
        Column("metric", Text, nullable=False),
        Column("channel", Text),
        Column("customer_id", Text, nullable=False),
        Column("score", SmallInteger, nullable=False),
        Column("comment", Text),
        Column("invitation_id", Uuid),
        Column("answered_at", DateTime(timezone=True), nullable=False),
        Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        # The customer's persona on the invitation's touchpoint when recorded; '' unknown.
        Column("persona", Text, nullable=False, server_default=""),
        # CX Index answers: {"effective": 1-5, "easy": 1-5, "enjoyable": 1-5}; null otherwise.
        Column("items", JSONB),
    ]


answer_revisions = Table(
    "answer_revisions",
    metadata,
    *_answer_columns(),
    PrimaryKeyConstraint("workspace_id", "response_id", "revision"),
)

answers = Table(
    "answers",
    metadata,
    *_answer_columns(),
    PrimaryKeyConstraint("workspace_id", "response_id"),
    Index("ix_answers_workspace_answered", "workspace_id", "answered_at"),
    Index("ix_answers_workspace_customer", "workspace_id", "customer_id"),
    # From an invitation to its answer (contact-resolution reports).
    Index("ix_answers_workspace_invitation", "workspace_id", "invitation_id"),
)

rollups = Table(
    "rollups",
    metadata,
    Column("workspace_id", Text, nullable=False),
    Column("touchpoint", Text, nullable=False),
    Column("metric", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("bucket", DateTime(timezone=True), nullable=False),
    # Index = score 0..10; zero_indexes makes counts[0] mean Postgres's counts[1].
    Column("counts", ARRAY(Integer, zero_indexes=True), nullable=False),
    Column("persona", Text, nullable=False, server_default=""),
    PrimaryKeyConstraint("workspace_id", "touchpoint", "metric", "channel", "persona", "bucket"),
    CheckConstraint("cardinality(counts) = 11", name="eleven_scores"),
    Index("ix_rollups_workspace_bucket", "workspace_id", "bucket"),
)

invitations_sent = Table(
    "invitations_sent",
    metadata,
    Column("workspace_id", Text, nullable=False),
    Column("invitation_id", Uuid, nullable=False),
    Column("touchpoint", Text, nullable=False),
    Column("metric", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=False),
    Column("persona", Text, nullable=False, server_default=""),
    PrimaryKeyConstraint("workspace_id", "invitation_id"),
)

sent_rollups = Table(
    "sent_rollups",
    metadata,
    Column("workspace_id", Text, nullable=False),
    Column("touchpoint", Text, nullable=False),
    Column("metric", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("bucket", DateTime(timezone=True), nullable=False),
    Column("sent", Integer, nullable=False),
    Column("persona", Text, nullable=False, server_default=""),
    PrimaryKeyConstraint("workspace_id", "touchpoint", "metric", "channel", "persona", "bucket"),
    Index("ix_sent_rollups_workspace_bucket", "workspace_id", "bucket"),
)

# What a touchpoint said when it happened: the context an alert on its answer carries.
# Never the customer's email or phone: those stay with dispatch.
touchpoint_contexts = Table(
    "touchpoint_contexts",
    metadata,
    Column("workspace_id", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("event_id", Text, nullable=False),
    Column("touchpoint", Text, nullable=False),
    Column("channel", Text),
    Column("customer_id", Text, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("attributes", JSONB, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("persona", Text, nullable=False, server_default=""),
    PrimaryKeyConstraint("workspace_id", "source", "event_id"),
    Index("ix_touchpoint_contexts_workspace_customer", "workspace_id", "customer_id"),
    # The outcome and contact-resolution reports (`outcome_repository`): a customer's
    # touchpoints after a moment, and the contacts of a window.
    Index("ix_touchpoint_contexts_customer_time", "workspace_id", "customer_id", "occurred_at"),
    Index("ix_touchpoint_contexts_touchpoint_time", "workspace_id", "touchpoint", "occurred_at"),
)

# Which touchpoint each invitation was sent for, from any of its lifecycle events.
invitation_origins = Table(
    "invitation_origins",
    metadata,
    Column("workspace_id", Text, nullable=False),
    Column("invitation_id", Uuid, nullable=False),
    Column("source", Text, nullable=False),
    Column("event_id", Text, nullable=False),
    PrimaryKeyConstraint("workspace_id", "invitation_id"),
    # From a touchpoint to the invitations sent for it (contact-resolution reports).
    Index("ix_invitation_origins_event", "workspace_id", "source", "event_id"),
)

alerts = Table(
    "alerts",
    metadata,
    Column("alert_id", Uuid, nullable=False),
    Column("workspace_id", Text, nullable=False),
    Column("rule", Text, nullable=False),
    Column("response_id", Text, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("invitation_id", Uuid),
    Column("customer_id", Text, nullable=False),
    Column("touchpoint", Text, nullable=False),
    Column("survey", Text),
    Column("metric", Text, nullable=False),
    Column("channel", Text),
    Column("score", SmallInteger, nullable=False),
    Column("comment", Text),
    Column("context", JSONB, nullable=False),
    Column("state", Text, nullable=False, server_default="open"),
    Column("raised_at", DateTime(timezone=True), nullable=False),
    Column("acknowledged_at", DateTime(timezone=True)),
    Column("acknowledged_by", Text),
    Column("resolved_at", DateTime(timezone=True)),
    Column("resolved_by", Text),
    Column("note", Text),
    PrimaryKeyConstraint("alert_id"),
    CheckConstraint("state in ('open', 'acknowledged', 'resolved')", name="state_is_known"),
    Index("ix_alerts_workspace_raised", "workspace_id", "raised_at", "alert_id"),
    Index("ix_alerts_workspace_state_raised", "workspace_id", "state", "raised_at", "alert_id"),
)

# One row per message per endpoint; the worker posts the exact `body`, signed anew
# on each attempt. The endpoint's URL and secret are read from the configuration
# when sending, so no secret is stored here and a rotated one applies at once.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("workspace_id", Text, nullable=False),
    Column("endpoint", Text, nullable=False),
    Column("message_id", Text, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("status", Text, nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("finished_at", DateTime(timezone=True)),
    Column("last_error", Text),
    UniqueConstraint("workspace_id", "endpoint", "message_id"),
    CheckConstraint("status in ('pending', 'delivered', 'failed')", name="status_is_known"),
    Index(
        "ix_webhook_deliveries_due",
        "next_attempt_at",
        postgresql_where=text("status = 'pending'"),
    ),
    Index("ix_webhook_deliveries_workspace", "workspace_id", "id"),
)

# The delivery log: every attempt, with what the endpoint answered or what went wrong.
webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column(
        "delivery_id",
        BigInteger,
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("attempt", Integer, nullable=False),
    Column("attempted_at", DateTime(timezone=True), nullable=False),
    Column("status_code", SmallInteger),
    Column("error", Text),
    Column("duration_ms", Integer, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True)),
    Index("ix_webhook_attempts_delivery", "delivery_id", "attempt"),
)

# Customers erased, so that their late answers, touchpoints and invitations are stored
# as the erasure left the rest: under `pseudonym`. Named by `cxloop_shared.erasure.customer_digest`
# (a SHA-256 of workspace and id), never by the id.
erased_customers = Table(
    "erased_customers",
    metadata,
    Column("workspace_id", Text, nullable=False),
    Column("customer_digest", Text, nullable=False),
    Column("pseudonym", Text, nullable=False),
    Column("erased_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("workspace_id", "customer_digest"),
)

outbox = outbox_table(metadata)
