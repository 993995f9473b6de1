"""Raw answers and their revisions, score rollups, and invitations sent.

Revision ID: 0001
Revises:
Create Date: 2026-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = "scoring"


def _answer_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("workspace_id", sa.Text(), nullable=False),
        sa.Column("response_id", sa.Text(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("touchpoint", sa.Text(), nullable=False),
        sa.Column("survey", sa.Text()),
        sa.Column("metric", sa.Text(), nullable=False),
        sa.Column("channel", sa.Text()),
        sa.Column("customer_id", sa.Text(), nullable=False),
        sa.Column("score", sa.SmallInteger(), nullable=False),
        sa.Column("comment", sa.Text()),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "answer_revisions",
        *_answer_columns(),
        sa.PrimaryKeyConstraint(
            "workspace_id", "response_id", "revision", name="pk_answer_revisions"
        ),
        schema=SCHEMA,
    )
    op.create_table(
        "answers",
        *_answer_columns(),
        sa.PrimaryKeyConstraint("workspace_id", "response_id", name="pk_answers"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_answers_workspace_answered", "answers", ["workspace_id", "answered_at"], schema=SCHEMA
    )
    op.create_index(
        "ix_answers_workspace_customer", "answers", ["workspace_id", "customer_id"], schema=SCHEMA
    )
    op.create_table(
        "rollups",
        sa.Column("workspace_id", sa.Text(), nullable=False),
        sa.Column("touchpoint", sa.Text(), nullable=False),
        sa.Column("metric", sa.Text(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("bucket", sa.DateTime(timezone=True), nullable=False),
        sa.Column("counts", postgresql.ARRAY(sa.Integer()), nullable=False),
        sa.PrimaryKeyConstraint(
            "workspace_id", "touchpoint", "metric", "channel", "bucket", name="pk_rollups"
        ),
        sa.CheckConstraint("cardinality(counts) = 11", name="ck_rollups_eleven_scores"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_rollups_workspace_bucket", "rollups", ["workspace_id", "bucket"], schema=SCHEMA
    )
    op.create_table(
        "invitations_sent",
        sa.Column("workspace_id", sa.Text(), nullable=False),
        sa.Column("invitation_id", sa.Uuid(), nullable=False),
        sa.Column("touchpoint", sa.Text(), nullable=False),
        sa.Column("metric", sa.Text(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", "invitation_id", name="pk_invitations_sent"),
        schema=SCHEMA,
    )
    op.create_table(
        "sent_rollups",
        sa.Column("workspace_id", sa.Text(), nullable=False),
        sa.Column("touchpoint", sa.Text(), nullable=False),
        sa.Column("metric", sa.Text(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("bucket", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "workspace_id", "touchpoint", "metric", "channel", "bucket", name="pk_sent_rollups"
        ),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_sent_rollups_workspace_bucket",
        "sent_rollups",
        ["workspace_id", "bucket"],
        schema=SCHEMA,
    )


def downgrade() -> None:
    for table in ("sent_rollups", "invitations_sent", "rollups", "answers", "answer_revisions"):
        op.drop_table(table, schema=SCHEMA)
