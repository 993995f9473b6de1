"""Persona as a rollup dimension: stamped on answers, their revisions, invitations sent and
touchpoint contexts, and a key column of rollups and sent rollups ('' for existing rows).

Re-keying a rollup table rebuilds its primary key index under an exclusive lock: on
a large installation run it while the consumers are stopped.

Revision ID: 0003
Revises: 0002
Create Date: 2026-03-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SCHEMA = "scoring"
RAW = ("answer_revisions", "answers", "invitations_sent", "touchpoint_contexts")
ROLLUPS = ("rollups", "sent_rollups")
OLD_KEY = ["workspace_id", "touchpoint", "metric", "channel", "bucket"]
NEW_KEY = ["workspace_id", "touchpoint", "metric", "channel", "persona", "bucket"]


def _persona() -> sa.Column[str]:
    return sa.Column("persona", sa.Text(), nullable=False, server_default="")


def upgrade() -> None:
    for table in RAW + ROLLUPS:
        op.add_column(table, _persona(), schema=SCHEMA)
    for table in ROLLUPS:
        op.drop_constraint(f"pk_{table}", table, type_="primary", schema=SCHEMA)
        op.create_primary_key(f"pk_{table}", table, NEW_KEY, schema=SCHEMA)


def downgrade() -> None:
    # Fold each old key's persona rows into one row before the persona key is dropped.
    op.execute(
        f"""
        create temp table folded_rollups on commit drop as
        select workspace_id, touchpoint, metric, channel, bucket,
               array_agg(total order by score) as counts
        from (
            select workspace_id, touchpoint, metric, channel, bucket, score,
                   sum(count)::int as total
            from {SCHEMA}.rollups, unnest(counts) with ordinality as scores(count, score)
            group by workspace_id, touchpoint, metric, channel, bucket, score
        ) as per_score
        group by workspace_id, touchpoint, metric, channel, bucket
        """  # noqa: S608 (identifiers from constants, here and below)
    )
    op.execute(
        f"""
        create temp table folded_sent_rollups on commit drop as
        select workspace_id, touchpoint, metric, channel, bucket, sum(sent)::int as sent
        from {SCHEMA}.sent_rollups
        group by workspace_id, touchpoint, metric, channel, bucket
        """  # noqa: S608
    )
    for table in ROLLUPS:
        op.execute(f"delete from {SCHEMA}.{table}")  # noqa: S608
        op.execute(
            f"insert into {SCHEMA}.{table} ({', '.join(OLD_KEY)}, {_VALUE[table]})"  # noqa: S608
            f" select {', '.join(OLD_KEY)}, {_VALUE[table]} from folded_{table}"
        )
        op.drop_constraint(f"pk_{table}", table, type_="primary", schema=SCHEMA)
        op.create_primary_key(f"pk_{table}", table, OLD_KEY, schema=SCHEMA)
    for table in RAW + ROLLUPS:
        op.drop_column(table, "persona", schema=SCHEMA)


_VALUE = {"rollups": "counts", "sent_rollups": "sent"}
