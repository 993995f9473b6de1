"""Workspaces, API keys and workspace configurations.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "gateway"


def upgrade() -> None:
    op.create_table(
        "workspaces",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("timezone", sa.Text(), server_default=sa.text("'UTC'"), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="pk_workspaces"),
        schema=SCHEMA,
    )
    op.create_table(
        "api_keys",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("workspace_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("prefix", sa.Text(), nullable=False),
        sa.Column("key_hash", sa.Text(), nullable=False),
        sa.Column("scopes", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            [f"{SCHEMA}.workspaces.id"],
            name="fk_api_keys_workspace_id_workspaces",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        schema=SCHEMA,
    )
    op.create_index("ix_api_keys_prefix", "api_keys", ["prefix"], unique=True, schema=SCHEMA)
    op.create_index(
        "ix_api_keys_workspace_id_created_at",
        "api_keys",
        ["workspace_id", "created_at", "id"],
        schema=SCHEMA,
    )
    op.create_table(
        "workspace_configs",
        sa.Column("workspace_id", sa.Text(), nullable=False),
        sa.Column("document", postgresql.JSONB(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            [f"{SCHEMA}.workspaces.id"],
            name="fk_workspace_configs_workspace_id_workspaces",
        ),
        sa.PrimaryKeyConstraint("workspace_id", name="pk_workspace_configs"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("workspace_configs", schema=SCHEMA)
    op.drop_index("ix_api_keys_workspace_id_created_at", table_name="api_keys", schema=SCHEMA)
    op.drop_index("ix_api_keys_prefix", table_name="api_keys", schema=SCHEMA)
    op.drop_table("api_keys", schema=SCHEMA)
    op.drop_table("workspaces", schema=SCHEMA)
