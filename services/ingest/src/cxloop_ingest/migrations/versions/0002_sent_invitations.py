"""Invitations sent to an address, so SMS replies find their question.

Revision ID: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "ingest"


def upgrade() -> None:
    op.create_table(
        "sent_invitations",
        sa.Column("workspace_id", sa.Text, primary_key=True),
        sa.Column("invitation_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("address_digest", sa.Text, nullable=False),
        sa.Column("customer_id", sa.Text, nullable=False),
        sa.Column("touchpoint", sa.Text, nullable=False),
        sa.Column("survey", sa.Text, nullable=False),
        sa.Column("metric", sa.Text, nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answer_until", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_sent_invitations_address",
        "sent_invitations",
        ["workspace_id", "address_digest", "sent_at"],
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("sent_invitations", schema=SCHEMA)
