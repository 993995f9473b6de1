"""Migration 0003 on a database of its own: existing rows get persona '', rollups are keyed
by persona, and a downgrade folds the persona rows of each old key back into one."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import cxloop_scoring
import pytest
from alembic import command
from cxloop_devstack.postgres import create_database
from cxloop_shared.migrations import alembic_config, upgrade
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

MIGRATIONS = Path(cxloop_scoring.__file__).parent / "migrations"
ROLLUP = (
    "insert into scoring.rollups (workspace_id, touchpoint, metric, channel, bucket, counts{p})"
    " values ('acme', 'checkout', 'nps', 'web', '2026-11-23T07:00:00Z', array{counts}{v})"
)
SENT = (
    "insert into scoring.sent_rollups (workspace_id, touchpoint, metric, channel, bucket, sent{p})"
    " values ('acme', 'checkout', 'nps', 'email', '2026-11-23T07:00:00Z', {sent}{v})"
)


def sql(url: str, *statements: str) -> list[list[tuple[Any, ...]]]:
    async def run() -> list[list[tuple[Any, ...]]]:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as connection:
                found = []
                for statement in statements:
                    result = await connection.execute(text(statement))
                    found.append([tuple(row) for row in result] if result.returns_rows else [])
                return found
        finally:
            await engine.dispose()

    return asyncio.run(run())


def with_persona(template: str, persona: str, **values: Any) -> str:
    return template.format(p=", persona", v=f", '{persona}'", **values)


@pytest.fixture
def database(database_url: str) -> Any:
    name = f"scoring_migration_{uuid.uuid4().hex[:8]}"
    url = asyncio.run(create_database(database_url, name))
    yield url
    admin = make_url(database_url).set(database="postgres").render_as_string(hide_password=False)

    async def drop() -> None:
        engine = create_async_engine(admin, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as connection:
                await connection.execute(text(f'drop database "{name}" with (force)'))
        finally:
            await engine.dispose()

    asyncio.run(drop())


def test_0003_keys_rollups_by_persona_and_folds_them_back(database: str) -> None:
    upgrade(MIGRATIONS, url=database, schema="scoring", revision="0002")
    sql(
        database,
        ROLLUP.format(p="", v="", counts=[0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2]),
        SENT.format(p="", v="", sent=3),
    )

    upgrade(MIGRATIONS, url=database, schema="scoring")
    rollups, sent, key = sql(
        database,
        "select persona, counts from scoring.rollups",
        "select persona, sent from scoring.sent_rollups",
        "select array_agg(a.attname::text order by k.ord) from pg_index i"
        " cross join unnest(i.indkey) with ordinality as k(attnum, ord)"
        " join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum"
        " where i.indrelid = 'scoring.rollups'::regclass and i.indisprimary",
    )
    assert rollups == [("", [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2])]
    assert sent == [("", 3)]
    assert key == [(["workspace_id", "touchpoint", "metric", "channel", "persona", "bucket"],)]

    # The same old key under another persona is another row now.
    sql(
        database,
        with_persona(ROLLUP, "smb-owner", counts=[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
        with_persona(SENT, "smb-owner", sent=2),
    )
    command.downgrade(alembic_config(MIGRATIONS, url=database, schema="scoring"), "0002")
    rollups, sent = sql(
        database,
        "select counts from scoring.rollups",
        "select sent from scoring.sent_rollups",
    )
    assert rollups == [([1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 3],)]
    assert sent == [(5,)]
