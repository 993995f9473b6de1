"""Closed-loop alerts: touchpoint contexts, invitation origins, alerts and their outbox,
outbound webhook deliveries and their log; answers remember their invitation.

Revision ID: 0002
Revises: 0001
Create Date: 2026-02-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from cxloop_shared.migrations import create_outbox
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SCHEMA = "scoring"


def upgrade() -> None:
    for table in ("answer_revisions", "answers"):
        op.add_column(table, sa.Column("invitation_id", sa.Uuid()), schema=SCHEMA)
    op.create_table(
        "touchpoint_contexts",
        sa.Column("workspace_id", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("touchpoint", sa.Text(), nullable=False),
        sa.Column("channel", sa.Text()),
        sa.Column("customer_id", sa.Text(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attributes", JSONB(), nullable=False),
        sa.Column(
            "recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint(
            "workspace_id", "source", "event_id", name="pk_touchpoint_contexts"
        ),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_touchpoint_contexts_workspace_customer",
        "touchpoint_contexts",
        ["workspace_id", "customer_id"],
        schema=SCHEMA,
    )
    op.create_table(
        "invitation_origins",
        sa.Column("workspace_id", sa.Text(), nullable=False),
        sa.Column("invitation_id", sa.Uuid(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", "invitation_id", name="pk_invitation_origins"),
        schema=SCHEMA,
    )
    op.create_table(
        "alerts",
        sa.Column("alert_id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Text(), nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("response_id", sa.Text(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("invitation_id", sa.Uuid()),
        sa.Column("customer_id", sa.Text(), nullable=False),
        sa.Column("touchpoint", sa.Text(), nullable=False),
        sa.Column("survey", sa.Text()),
        sa.Column("metric", sa.Text(), nullable=False),
        sa.Column("channel", sa.Text()),
        sa.Column("score", sa.SmallInteger(), nullable=False),
        sa.Column("comment", sa.Text()),
        sa.Column("context", JSONB(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False, server_default="open"),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True)),
        sa.Column("acknowledged_by", sa.Text()),
        sa.Column("resolved_at", sa.DateTime(timezone=True)),
        sa.Column("resolved_by", sa.Text()),
        sa.Column("note", sa.Text()),
        sa.PrimaryKeyConstraint("alert_id", name="pk_alerts"),
        sa.CheckConstraint(
            "state in ('open', 'acknowledged', 'resolved')", name="ck_alerts_state_is_known"
        ),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_alerts_workspace_raised",
        "alerts",
        ["workspace_id", "raised_at", "alert_id"],
        schema=SCHEMA,
    )
    op.create_index(
        "ix_alerts_workspace_state_raised",
        "alerts",
        ["workspace_id", "state", "raised_at", "alert_id"],
        schema=SCHEMA,
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("workspace_id", sa.Text(), nullable=False),
        sa.Column("endpoint", sa.Text(), nullable=False),
        sa.Column("message_id", sa.Text(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text()),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_deliveries"),
        sa.UniqueConstraint(
            "workspace_id", "endpoint", "message_id", name="uq_webhook_deliveries_workspace_id"
        ),
        sa.CheckConstraint(
            "status in ('pending', 'delivered', 'failed')",
            name="ck_webhook_deliveries_status_is_known",
        ),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_webhook_deliveries_due",
        "webhook_deliveries",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_webhook_deliveries_workspace",
        "webhook_deliveries",
        ["workspace_id", "id"],
        schema=SCHEMA,
    )
    op.create_table(
        "webhook_attempts",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("delivery_id", sa.BigInteger(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_code", sa.SmallInteger()),
        sa.Column("error", sa.Text()),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_attempts"),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            [f"{SCHEMA}.webhook_deliveries.id"],
            name="fk_webhook_attempts_delivery_id_webhook_deliveries",
            ondelete="CASCADE",
        ),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_webhook_attempts_delivery",
        "webhook_attempts",
        ["delivery_id", "attempt"],
        schema=SCHEMA,
    )
    create_outbox(SCHEMA)


def downgrade() -> None:
    for table in (
        "outbox",
        "webhook_attempts",
        "webhook_deliveries",
        "alerts",
        "invitation_origins",
        "touchpoint_contexts",
    ):
        op.drop_table(table, schema=SCHEMA)
    for table in ("answers", "answer_revisions"):
        op.drop_column(table, "invitation_id", schema=SCHEMA)
