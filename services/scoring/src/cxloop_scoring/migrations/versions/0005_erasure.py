"""Erasure holds against late data: erased customers are remembered (by a digest of the
id, never the id) with their pseudonym. And the indexes the outcome and contact
resolution reports read through (each checked with EXPLAIN to be used):

- touchpoint_contexts (workspace_id, customer_id, occurred_at): a customer's touchpoints
  within N days after an answer or a contact, read per customer;
- touchpoint_contexts (workspace_id, touchpoint, occurred_at): the contacts of a window;
- invitation_origins (workspace_id, source, event_id) and answers (workspace_id,
  invitation_id): from those contacts to the answers of the invitations sent for them.

Building an index blocks writes to its table while it runs: on a large installation
run this while the consumers are stopped.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SCHEMA = "scoring"
INDEXES = {
    "ix_touchpoint_contexts_customer_time": (
        "touchpoint_contexts",
        ["workspace_id", "customer_id", "occurred_at"],
    ),
    "ix_touchpoint_contexts_touchpoint_time": (
        "touchpoint_contexts",
        ["workspace_id", "touchpoint", "occurred_at"],
    ),
    "ix_invitation_origins_event": ("invitation_origins", ["workspace_id", "source", "event_id"]),
    "ix_answers_workspace_invitation": ("answers", ["workspace_id", "invitation_id"]),
}


def upgrade() -> None:
    op.create_table(
        "erased_customers",
        sa.Column("workspace_id", sa.Text(), nullable=False),
        sa.Column("customer_digest", sa.Text(), nullable=False),
        sa.Column("pseudonym", sa.Text(), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", "customer_digest", name="pk_erased_customers"),
        schema=SCHEMA,
    )
    for name, (table, columns) in INDEXES.items():
        op.create_index(name, table, columns, schema=SCHEMA)


def downgrade() -> None:
    for name, (table, _) in INDEXES.items():
        op.drop_index(name, table_name=table, schema=SCHEMA)
    op.drop_table("erased_customers", schema=SCHEMA)
