"""The scoring schema: raw answers (every revision, and the latest) and the rollups.

Rollups are the only thing metrics are read from. `channel` is '' rather than null
where it is part of a key, because a primary key column cannot be null.
"""

from __future__ import annotations

from cxloop_shared.db import service_metadata
from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    PrimaryKeyConstraint,
    SmallInteger,
    Table,
    Text,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY

metadata = service_metadata("scoring")


def _answer_columns() -> list[Column[object]]:
    return [
        Column("workspace_id", Text, nullable=False),
        Column("response_id", Text, nullable=False),
        Column("revision", Integer, nullable=False),
        Column("touchpoint", Text, nullable=False),
        Column("survey", Text),
        Column("metric", Text, nullable=False),
        Column("channel", Text),
        Column("customer_id", Text, nullable=False),
        Column("score", SmallInteger, nullable=False),
        Column("comment", Text),
        Column("answered_at", DateTime(timezone=True), nullable=False),
        Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    ]


answer_revisions = Table(
    "answer_revisions",
    metadata,
    *_answer_columns(),
    PrimaryKeyConstraint("workspace_id", "response_id", "revision"),
)

answers = Table(
    "answers",
    metadata,
    *_answer_columns(),
    PrimaryKeyConstraint("workspace_id", "response_id"),
    Index("ix_answers_workspace_answered", "workspace_id", "answered_at"),
    Index("ix_answers_workspace_customer", "workspace_id", "customer_id"),
)

rollups = Table(
    "rollups",
    metadata,
    Column("workspace_id", Text, nullable=False),
    Column("touchpoint", Text, nullable=False),
    Column("metric", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("bucket", DateTime(timezone=True), nullable=False),
    # Index = score 0..10; zero_indexes makes counts[0] mean Postgres's counts[1].
    Column("counts", ARRAY(Integer, zero_indexes=True), nullable=False),
    PrimaryKeyConstraint("workspace_id", "touchpoint", "metric", "channel", "bucket"),
    CheckConstraint("cardinality(counts) = 11", name="eleven_scores"),
    Index("ix_rollups_workspace_bucket", "workspace_id", "bucket"),
)

invitations_sent = Table(
    "invitations_sent",
    metadata,
    Column("workspace_id", Text, nullable=False),
    Column("invitation_id", Uuid, nullable=False),
    Column("touchpoint", Text, nullable=False),
    Column("metric", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("workspace_id", "invitation_id"),
)

sent_rollups = Table(
    "sent_rollups",
    metadata,
    Column("workspace_id", Text, nullable=False),
    Column("touchpoint", Text, nullable=False),
    Column("metric", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("bucket", DateTime(timezone=True), nullable=False),
    Column("sent", Integer, nullable=False),
    PrimaryKeyConstraint("workspace_id", "touchpoint", "metric", "channel", "bucket"),
    Index("ix_sent_rollups_workspace_bucket", "workspace_id", "bucket"),
)
