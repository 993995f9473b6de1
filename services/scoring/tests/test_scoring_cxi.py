"""CX Index answers through the handler: counted from their items, revised exactly, rebuilt
from the raw rows, and reported with each item's figure."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from cxloop_scoring.rebuild import rebuild
from cxloop_shared.events import CXI_ITEMS, ResponseRecorded, cxi_score
from scoring_support import BEARER, T0, response
from sqlalchemy.ext.asyncio import AsyncEngine


def cxi_answer(
    workspace_id: str, response_id: str, effective: int, easy: int, enjoyable: int, **fields: Any
) -> ResponseRecorded:
    items = dict(zip(CXI_ITEMS, (effective, easy, enjoyable), strict=True))
    return response(
        workspace_id,
        response_id,
        cxi_score(items),  # type: ignore[arg-type]
        touchpoint="onboarding",
        metric="cxi",
        items=items,
        **fields,
    )


async def cx_index(api: httpx.AsyncClient, workspace_id: str) -> dict[str, Any]:
    report = await api.get(
        "/internal/v1/metrics",
        params={
            "workspace_id": workspace_id,
            "touchpoint": "onboarding",
            "from": T0.isoformat(),
            "to": (T0 + timedelta(days=1)).isoformat(),
        },
        headers=BEARER,
    )
    assert report.status_code == 200, report.text
    values = [value for value in report.json()["values"] if value["metric"] == "cxi"]
    assert len(values) == 1
    return values[0]  # type: ignore[no-any-return]


async def test_cx_index_is_reported_from_its_items_and_a_revision_replaces_them(
    handle: Any, configure: Any, api: httpx.AsyncClient, engine: AsyncEngine, workspace_id: str
) -> None:
    await configure(workspace_id, settings={"min_n": 2})
    await handle(
        [
            cxi_answer(workspace_id, "r1", 5, 5, 4),
            cxi_answer(workspace_id, "r2", 3, 4, 2),
            cxi_answer(workspace_id, "r3", 1, 2, 3),
            cxi_answer(workspace_id, "r4", 4, 3, 3),
        ]
    )
    first = await cx_index(api, workspace_id)
    # r3 revised to (5, 5, 5) and r2's redelivery changes nothing.
    await handle(
        [
            cxi_answer(workspace_id, "r3", 5, 5, 5, revision=2),
            cxi_answer(workspace_id, "r2", 3, 4, 2),
        ]
    )
    revised = await cx_index(api, workspace_id)

    # effective 5,3,1,4 → 25; easy 5,4,2,3 → 25; enjoyable 4,2,3,3 → 0: CXi 16.67.
    assert first["n"] == 4
    assert first["score"] == pytest.approx(50 / 3)
    assert first["details"] == pytest.approx({"effective": 25.0, "easy": 25.0, "enjoyable": 0.0})
    # effective 5,3,5,4 → 75; easy 5,4,5,3 → 75; enjoyable 4,2,5,3 → 25: CXi 58.33.
    assert revised["n"] == 4
    assert revised["score"] == pytest.approx(175 / 3)
    assert revised["details"] == pytest.approx({"effective": 75.0, "easy": 75.0, "enjoyable": 25.0})
    lines: list[str] = []
    assert (await rebuild(engine, workspace=workspace_id, emit=lines.append)).differences == 0
