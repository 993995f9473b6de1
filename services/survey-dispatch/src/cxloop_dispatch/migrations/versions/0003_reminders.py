"""Reminders (when the next is due, how many went out, whether an answer came), and the
time zone a send must respect, and the provider's delivery report.

Revision ID: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "dispatch"


def upgrade() -> None:
    op.add_column("invitations", sa.Column("remind_at", sa.DateTime(timezone=True)), schema=SCHEMA)
    op.add_column(
        "invitations",
        sa.Column("reminders_sent", sa.Integer, nullable=False, server_default="0"),
        schema=SCHEMA,
    )
    op.add_column(
        "invitations", sa.Column("answered_at", sa.DateTime(timezone=True)), schema=SCHEMA
    )
    op.add_column("invitations", sa.Column("timezone", sa.Text), schema=SCHEMA)
    op.add_column("invitations", sa.Column("delivery", sa.Text), schema=SCHEMA)
    op.create_index(
        "ix_invitations_remind",
        "invitations",
        ["remind_at"],
        schema=SCHEMA,
        postgresql_where=sa.text("status = 'sent' and answered_at is null"),
    )

    # The scheduler's expiry and orphan sweeps run every poll: index what they look for.
    op.create_index(
        "ix_invitations_expiring",
        "invitations",
        ["expires_at"],
        schema=SCHEMA,
        postgresql_where=sa.text("status = 'scheduled'"),
    )
    op.create_index(
        "ix_invitations_sending",
        "invitations",
        ["claimed_at"],
        schema=SCHEMA,
        postgresql_where=sa.text("status = 'sending'"),
    )


def downgrade() -> None:
    op.drop_index("ix_invitations_sending", "invitations", schema=SCHEMA)
    op.drop_index("ix_invitations_expiring", "invitations", schema=SCHEMA)
    op.drop_index("ix_invitations_remind", "invitations", schema=SCHEMA)
    for column in ("delivery", "timezone", "answered_at", "reminders_sent", "remind_at"):
        op.drop_column("invitations", column, schema=SCHEMA)
