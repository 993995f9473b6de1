"""Customer profiles with consent, and opt-outs by address.

Revision ID: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "dispatch"


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("workspace_id", sa.Text, primary_key=True),
        sa.Column("customer_id", sa.Text, primary_key=True),
        sa.Column("fields", JSONB, nullable=False, server_default="{}"),
        sa.Column("field_times", JSONB, nullable=False, server_default="{}"),
        sa.Column("opted_out", JSONB, nullable=False, server_default="{}"),
        sa.Column("erased_at", sa.DateTime(timezone=True)),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        schema=SCHEMA,
    )
    op.create_table(
        "address_opt_outs",
        sa.Column("workspace_id", sa.Text, primary_key=True),
        sa.Column("address_digest", sa.Text, primary_key=True),
        sa.Column("channel", sa.Text, primary_key=True),
        sa.Column("opted_out_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    # Fatigue looks up a customer's invitations by send time.
    op.create_index(
        "ix_invitations_customer",
        "invitations",
        ["workspace_id", "customer_id", "send_at"],
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_index("ix_invitations_customer", "invitations", schema=SCHEMA)
    op.drop_table("address_opt_outs", schema=SCHEMA)
    op.drop_table("customers", schema=SCHEMA)
