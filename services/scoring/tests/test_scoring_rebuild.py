"""`cxloop-scoring rebuild`: rollups recomputed from the raw rows find exactly the rows that
were corrupted, and `--repair` puts them right."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from datetime import timedelta
from typing import Any

import httpx
from cxloop_scoring.rebuild import rebuild
from cxloop_scoring.rollups import histogram_of
from scoring_dimensions_support import customer_touchpoint
from scoring_support import BEARER, T0, invitation, response
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

LATER = T0 + timedelta(hours=1)


async def record(handle: Any, workspace_id: str) -> None:
    """Answers of two personas, a revision that leaves a rollup of zeros behind, and
    invitations sent."""
    smb, enterprise = uuid.uuid4(), uuid.uuid4()
    await handle(
        [
            customer_touchpoint(workspace_id, "e1", persona="smb-owner"),
            customer_touchpoint(workspace_id, "e2", persona="enterprise", customer_id="c-2"),
        ]
    )
    await handle(
        [
            invitation(workspace_id, smb, event_id="e1"),
            invitation(workspace_id, enterprise, event_id="e2", customer_id="c-2"),
            response(workspace_id, "r1", 9, invitation_id=smb),
            response(workspace_id, "r2", 0, invitation_id=enterprise),
            response(workspace_id, "r3", 7, collected_via="api"),
            response(workspace_id, "r4", 3, channel="sms"),
        ]
    )
    # r4 moves to a later bucket: its old rollup stays behind as a row of zeros.
    await handle([response(workspace_id, "r4", 10, channel="sms", revision=2, answered_at=LATER)])


def key(workspace_id: str, persona: str, *, channel: str = "web", at: Any = T0) -> str:
    return json.dumps(
        {
            "workspace_id": workspace_id,
            "touchpoint": "checkout",
            "metric": "nps",
            "channel": channel,
            "persona": persona,
            "bucket": at.isoformat(),
        }
    )


async def corrupt(engine: AsyncEngine, workspace_id: str) -> None:
    """Change one rollup and one sent rollup, delete one of each, add a stray one of each."""
    statements = [
        "update scoring.rollups set counts[10] = counts[10] + 2"  # score 9 (1-based arrays)
        " where workspace_id = :w and persona = 'smb-owner'",
        "delete from scoring.rollups where workspace_id = :w and persona = 'enterprise'",
        "insert into scoring.rollups (workspace_id, touchpoint, metric, channel, persona,"
        " bucket, counts) values (:w, 'checkout', 'nps', 'email', 'ghost', :t,"
        " array[0,0,0,0,0,1,0,0,0,0,0])",
        "update scoring.sent_rollups set sent = 5"
        " where workspace_id = :w and persona = 'smb-owner'",
        "delete from scoring.sent_rollups where workspace_id = :w and persona = 'enterprise'",
        "insert into scoring.sent_rollups (workspace_id, touchpoint, metric, channel, persona,"
        " bucket, sent) values (:w, 'checkout', 'nps', 'sms', '', :t, 3)",
    ]
    async with engine.begin() as connection:
        for statement in statements:
            await connection.execute(text(statement), {"w": workspace_id, "t": T0})


def expected_differences(workspace_id: str) -> list[str]:
    nine, zero, ghost = histogram_of([9]), histogram_of([0]), histogram_of([5])
    twice_more = histogram_of([9, 9, 9])
    return [  # in key order: workspace, touchpoint, metric, channel, persona, bucket
        f"rollups {key(workspace_id, 'ghost', channel='email')}: "
        f"live {json.dumps(ghost)}, rebuilt missing",
        f"rollups {key(workspace_id, 'enterprise')}: live missing, rebuilt {json.dumps(zero)}",
        f"rollups {key(workspace_id, 'smb-owner')}: "
        f"live {json.dumps(twice_more)}, rebuilt {json.dumps(nine)}",
        f"sent_rollups {key(workspace_id, 'enterprise', channel='email')}: live missing, rebuilt 1",
        f"sent_rollups {key(workspace_id, 'smb-owner', channel='email')}: live 5, rebuilt 1",
        f"sent_rollups {key(workspace_id, '', channel='sms')}: live 3, rebuilt missing",
    ]


async def metrics(api: httpx.AsyncClient, workspace_id: str) -> Any:
    answer = await api.get(
        "/internal/v1/metrics",
        params={
            "workspace_id": workspace_id,
            "from": T0.isoformat(),
            "to": (T0 + timedelta(days=1)).isoformat(),
            "group_by": "persona",
        },
        headers=BEARER,
    )
    return answer.json()


async def test_rebuild_finds_the_corrupted_rows_and_repair_fixes_them(
    handle: Any, engine: AsyncEngine, api: httpx.AsyncClient, workspace_id: str
) -> None:
    other = f"{workspace_id}-other"
    await record(handle, workspace_id)
    await record(handle, other)
    before = await metrics(api, workspace_id)
    lines: list[str] = []
    clean = await rebuild(engine, workspace=workspace_id, emit=lines.append)
    assert (clean.differences, clean.rollups, clean.sent_rollups) == (0, 4, 2)
    assert lines == [clean.line()]
    assert lines[-1].endswith("the rollups match")

    await corrupt(engine, workspace_id)
    await corrupt(engine, other)
    lines.clear()
    found = await rebuild(engine, workspace=workspace_id, emit=lines.append)
    assert (found.rollup_differences, found.sent_differences, found.repaired) == (3, 3, False)
    assert lines[:-1] == expected_differences(workspace_id)
    assert lines[-1] == (
        "rebuild: 3 rollup and 3 sent-rollup difference(s) against 4 rollup and 2 sent-rollup"
        " row(s) rebuilt from the raw rows; not repaired (use --repair)"
    )
    assert await metrics(api, workspace_id) != before

    lines.clear()
    repaired = await rebuild(engine, workspace=workspace_id, repair=True, emit=lines.append)
    assert repaired.repaired
    assert lines[:-1] == expected_differences(workspace_id)
    assert lines[-1].endswith("; repaired")
    assert (await rebuild(engine, workspace=workspace_id, emit=lambda _: None)).differences == 0
    assert await metrics(api, workspace_id) == before

    # The other workspace was out of scope: still corrupted, until rebuilt itself.
    assert (await rebuild(engine, workspace=other, emit=lambda _: None)).differences == 6
    await rebuild(engine, workspace=other, repair=True, emit=lambda _: None)
    assert (await rebuild(engine, workspace=other, emit=lambda _: None)).differences == 0


async def run_command(database_url: str, *arguments: str) -> tuple[int, list[str]]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cxloop_scoring",
        "rebuild",
        *arguments,
        env={**os.environ, "CXLOOP_DATABASE_URL": database_url},
        stdout=asyncio.subprocess.PIPE,
    )
    output, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, output.decode().splitlines()


async def test_the_rebuild_command_exits_1_on_differences_and_0_once_repaired(
    handle: Any, engine: AsyncEngine, database_url: str, workspace_id: str
) -> None:
    await record(handle, workspace_id)
    await corrupt(engine, workspace_id)

    status, lines = await run_command(database_url, "--workspace", workspace_id)
    assert status == 1
    assert lines[:-1] == expected_differences(workspace_id)
    assert "not repaired" in lines[-1]

    status, lines = await run_command(database_url, "--workspace", workspace_id, "--repair")
    assert status == 0
    assert lines[:-1] == expected_differences(workspace_id)
    assert lines[-1].endswith("; repaired")
    assert (await rebuild(engine, workspace=workspace_id, emit=lambda _: None)).differences == 0
