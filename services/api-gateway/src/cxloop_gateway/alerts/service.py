"""Alerts read and moved through scoring, which owns them."""

from __future__ import annotations

import uuid
from typing import Literal

from cxloop_shared.answers import AlertList, AlertNote, AlertState, AlertView
from cxloop_shared.apikeys import Principal

from cxloop_gateway.scoring import ScoringClient

AlertAction = Literal["acknowledge", "resolve"]


async def list_alerts(
    scoring: ScoringClient,
    *,
    workspace_id: str,
    state: AlertState | None,
    limit: int,
    cursor: str | None,
) -> AlertList:
    """One page of the workspace's alerts, newest first; scoring checks the cursor."""
    query = {"limit": str(limit)}
    if state is not None:
        query["state"] = state
    if cursor is not None:
        query["cursor"] = cursor
    return await scoring.read(
        AlertList, "/internal/v1/alerts", workspace_id=workspace_id, query=query
    )


async def change_alert(
    scoring: ScoringClient,
    *,
    caller: Principal,
    alert_id: uuid.UUID,
    action: AlertAction,
    note: AlertNote,
) -> AlertView:
    """Acknowledge or resolve one of the caller's workspace's alerts.

    Without a `by`, the alert records the key that moved it, so the log always says who.
    """
    change = note.model_copy(update={"by": note.by or f"api-key:{caller.key_id}"})
    return await scoring.call(
        "POST",
        AlertView,
        f"/internal/v1/alerts/{alert_id}/{action}",
        workspace_id=caller.workspace_id,
        body=change.model_dump(exclude_none=True),
    )
