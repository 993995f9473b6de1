"""The trace context of the touchpoint an invitation was decided for, so that its later
steps (sent, failed, expired) continue that touchpoint's trace when tracing is on.

Revision ID: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "dispatch"


def upgrade() -> None:
    op.add_column("invitations", sa.Column("trace", JSONB, nullable=True), schema=SCHEMA)


def downgrade() -> None:
    op.drop_column("invitations", "trace", schema=SCHEMA)
