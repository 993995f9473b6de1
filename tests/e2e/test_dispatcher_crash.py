"""SIGKILL the dispatcher mid-stream: after a restart nothing is lost and nothing is sent twice."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from cxloop_shared.db import create_engine
from sqlalchemy import text

from tests.e2e.conftest import Stack
from tests.e2e.test_walking_skeleton import wait_until
from tests.e2e.workspace import create_workspace, csat_config

pytestmark = pytest.mark.e2e
EVENTS = 60


def invitation_states(database_url: str, workspace_id: str) -> dict[str, str]:
    async def read() -> dict[str, str]:
        engine = create_engine(database_url, pool_size=1)
        try:
            async with engine.connect() as connection:
                rows = await connection.execute(
                    text(
                        "select id::text, status from dispatch.invitations where workspace_id = :w"
                    ),
                    {"w": workspace_id},
                )
                return {row.id: row.status for row in rows}
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_killing_the_dispatcher_loses_and_duplicates_nothing(
    stack: Stack, workspace_id: str, database_url: str
) -> None:
    with stack.client("gateway") as gateway:
        keys = create_workspace(
            gateway,
            admin_token=stack.settings.admin_token,
            config=csat_config(workspace_id, smtp_port=stack.mail.smtp_port),
        )
    domain = f"{workspace_id}.example.com"
    events = [
        {
            "id": f"order-{i}",
            "touchpoint": "checkout",
            "occurred_at": "2026-11-23T07:00:00Z",
            "customer": {"id": f"c-{i}", "email": f"c{i}@{domain}"},
        }
        for i in range(EVENTS)
    ]

    def emails() -> list[str]:
        return [
            str(m["Message-ID"]).strip("<>").split("@")[0]
            for m in stack.mail.messages
            if m.rcpt_tos and m.rcpt_tos[0].endswith(domain)
        ]

    with stack.client("ingest", keys.ingest) as ingest:
        assert ingest.post("/v1/events", json={"events": events}).status_code == 202

    wait_until(lambda: len(emails()) >= 5, every=0.02)
    dispatcher = stack.services["dispatch"]
    dispatcher.kill()
    sent_before_crash = len(emails())
    dispatcher.start()
    dispatcher.wait_ready()

    final = wait_until(
        lambda: (
            (s := invitation_states(database_url, workspace_id))
            and len(s) == EVENTS
            and all(state in {"sent", "unknown", "failed"} for state in s.values())
            and s
        )
    )
    per_invitation = Counter(emails())
    assert sent_before_crash < EVENTS, "the crash happened mid-stream"
    assert set(per_invitation.values()) == {1}, "no invitation was emailed twice"
    assert "failed" not in final.values()
    for invitation_id, state in final.items():
        if state == "sent":
            assert per_invitation[invitation_id] == 1, "every sent invitation arrived once"
        else:  # unknown: the provider may have it; never resent blindly
            assert per_invitation[invitation_id] <= 1
    unknown = [i for i, state in final.items() if state == "unknown"]
    assert len(per_invitation) >= EVENTS - len(unknown)
