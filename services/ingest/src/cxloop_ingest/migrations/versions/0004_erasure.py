"""Erasure holds against late data: answers remember whose they are (null for answers
recorded before, and for erased customers), so an erasure finds the comments of answers
given without an invitation; erased customers are remembered by a digest of the id.

Revision ID: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "ingest"


def upgrade() -> None:
    op.add_column("answers", sa.Column("customer_id", sa.Text(), nullable=True), schema=SCHEMA)
    op.create_index(
        "ix_answers_customer", "answers", ["workspace_id", "customer_id"], schema=SCHEMA
    )
    op.create_table(
        "erased_customers",
        sa.Column("workspace_id", sa.Text(), nullable=False),
        sa.Column("customer_digest", sa.Text(), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", "customer_digest", name="pk_erased_customers"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("erased_customers", schema=SCHEMA)
    op.drop_index("ix_answers_customer", table_name="answers", schema=SCHEMA)
    op.drop_column("answers", "customer_id", schema=SCHEMA)
