"""Routes of /v1/journeys/{key}/map: a journey's stages and touchpoints with their scores
and statuses, answered by scoring."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from cxloop_shared.events import Key
from cxloop_shared.readmodels import JourneyMap
from fastapi import APIRouter, Path, Query
from pydantic import AwareDatetime

from cxloop_gateway.deps import MetricsReader, ScoringDep

router = APIRouter(prefix="/v1/journeys", tags=["journeys"])


@router.get("/{key}/map", response_model=JourneyMap)
async def get_journey_map(
    scoring: ScoringDep,
    caller: MetricsReader,
    key: Annotated[Key, Path(description="The journey's key in the workspace configuration.")],
    start: Annotated[
        AwareDatetime | None, Query(alias="from", description="Default: 30 days before `to`.")
    ] = None,
    end: Annotated[AwareDatetime | None, Query(alias="to", description="Default: now.")] = None,
) -> JourneyMap:
    """Each stage of the journey in order, its touchpoints, their scores over the window and
    a green/yellow/red status from the journey's thresholds (grey: too few answers)."""
    query = {
        "from": start.isoformat() if start else None,
        "to": end.isoformat() if end else None,
    }
    return await scoring.read(
        JourneyMap,
        f"/internal/v1/journeys/{quote(key, safe='')}/map",
        workspace_id=caller.workspace_id,
        query={name: value for name, value in query.items() if value is not None},
    )
