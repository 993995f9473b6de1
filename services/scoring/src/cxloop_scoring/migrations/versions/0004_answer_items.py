"""CX Index answers keep their three items, so their rollups can be rebuilt from raw rows.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SCHEMA = "scoring"


def upgrade() -> None:
    for table in ("answers", "answer_revisions"):
        op.add_column(table, sa.Column("items", JSONB, nullable=True), schema=SCHEMA)


def downgrade() -> None:
    for table in ("answers", "answer_revisions"):
        op.drop_column(table, "items", schema=SCHEMA)
