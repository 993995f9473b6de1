"""Ingest's first tables: dedupe ledger, answers, outbox.

Revision ID: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from cxloop_shared.migrations import create_outbox
from sqlalchemy.dialects.postgresql import UUID

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "ingest"


def upgrade() -> None:
    op.create_table(
        "received_events",
        sa.Column("workspace_id", sa.Text, primary_key=True),
        sa.Column("source", sa.Text, primary_key=True),
        sa.Column("event_id", sa.Text, primary_key=True),
        sa.Column(
            "received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_received_events_received_at", "received_events", ["received_at"], schema=SCHEMA
    )
    op.create_table(
        "answers",
        sa.Column("workspace_id", sa.Text, primary_key=True),
        sa.Column("response_id", sa.Text, primary_key=True),
        sa.Column("invitation_id", UUID(as_uuid=True), nullable=True),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("comment", sa.Text, nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    create_outbox(SCHEMA)


def downgrade() -> None:
    for table in ("outbox", "answers", "received_events"):
        op.drop_table(table, schema=SCHEMA)
