"""CX Index answers: the three items' scores beside the summary score.

Revision ID: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "ingest"


def upgrade() -> None:
    op.add_column("answers", sa.Column("items", JSONB, nullable=True), schema=SCHEMA)


def downgrade() -> None:
    op.drop_column("answers", "items", schema=SCHEMA)
