"""The gateway's tables. Ingest, dispatch and scoring read three of them: keep their shape."""

from __future__ import annotations

from cxloop_shared.db import service_metadata
from sqlalchemy import (
    ARRAY,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

metadata = service_metadata("gateway")

workspaces = Table(
    "workspaces",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("timezone", Text, nullable=False, server_default=text("'UTC'")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Read by every service through cxloop_shared.apikeys.KeyVerifier (by prefix, unrevoked).
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("workspace_id", Text, ForeignKey("workspaces.id"), nullable=False),
    Column("name", Text, nullable=False),
    Column("prefix", Text, nullable=False),
    Column("key_hash", Text, nullable=False),
    Column("scopes", ARRAY(Text), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Index("ix_api_keys_prefix", "prefix", unique=True),
    Index("ix_api_keys_workspace_id_created_at", "workspace_id", "created_at", "id"),
)

# Read by every service through cxloop_shared.config.ConfigCache. `document` holds secrets in
# clear: this table is the secret store, and no API ever returns it unmasked.
workspace_configs = Table(
    "workspace_configs",
    metadata,
    Column("workspace_id", Text, ForeignKey("workspaces.id"), primary_key=True),
    Column("document", JSONB, nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
