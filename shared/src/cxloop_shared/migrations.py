"""Alembic, one schema per service: every service's migrations run through here.

A service keeps its revisions in `<package>/migrations/versions/`, and its
`migrations/env.py` is one call to `run_env()`. `upgrade()` is what the service's
`migrate` command and the test suite call.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa
from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine


def alembic_config(migrations_dir: Path, *, url: str, schema: str) -> Config:
    """An Alembic configuration for one service, with no alembic.ini needed."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["schema"] = schema
    return config


def upgrade(migrations_dir: Path, *, url: str, schema: str, revision: str = "head") -> None:
    """Bring one service's schema up to `revision`."""
    command.upgrade(alembic_config(migrations_dir, url=url, schema=schema), revision)


def run_env(metadata: MetaData) -> None:
    """The body of a service's `env.py`: run its migrations online, in its own schema."""
    config = context.config
    schema: str = config.attributes["schema"]
    url = config.get_main_option("sqlalchemy.url")
    assert url is not None

    def migrate(connection: Connection) -> None:
        connection.execute(text(f'create schema if not exists "{schema}"'))
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table_schema=schema,
            include_schemas=False,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def run() -> None:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as connection:
                # Several replicas may start at once: one migrates, the others wait.
                await connection.execute(
                    text("select pg_advisory_xact_lock(hashtext(:k))"), {"k": f"migrate:{schema}"}
                )
                await connection.run_sync(migrate)
        finally:
            await engine.dispose()

    asyncio.run(run())


def create_outbox(schema: str) -> None:
    """Create the outbox table (see `cxloop_shared.outbox`) in a service's schema."""
    from alembic import op
    from sqlalchemy.dialects.postgresql import JSONB

    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("key", sa.LargeBinary, nullable=False),
        sa.Column("value", sa.LargeBinary, nullable=False),
        sa.Column("headers", JSONB, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        schema=schema,
    )
