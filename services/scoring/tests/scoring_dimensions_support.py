"""Helpers of the dimension, journey and rebuild tests: touchpoints that name the customer's
persona, and a workspace whose touchpoints sit on journey stages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cxloop_shared.events import Customer, Touchpoint, TouchpointReceived
from scoring_support import T0

# touchpoint -> (stage, metric of its survey); `unstaged` sits on no stage.
STAGED: dict[str, tuple[str | None, str]] = {
    "checkout": ("purchase", "csat"),
    "cart": ("purchase", "nps"),
    "order_delivered": ("use", "nps"),
    "ticket_closed": ("support", "csat"),
    "unstaged": (None, "ces"),
}
STAGES = ["awareness", "purchase", "use", "support"]
THRESHOLDS = {"nps": {"green": 30, "red": 0}, "csat": {"green": 80, "red": 60}}


def customer_touchpoint(
    workspace_id: str,
    event_id: str,
    *,
    persona: str | None,
    touchpoint: str = "checkout",
    customer_id: str = "c-1",
    at: datetime = T0,
) -> TouchpointReceived:
    """A TouchpointReceived event from source `shop` whose customer has `persona`."""
    return TouchpointReceived(
        workspace_id=workspace_id,
        source="shop",
        received_at=at,
        event=Touchpoint(
            id=event_id,
            touchpoint=touchpoint,
            occurred_at=at,
            customer=Customer(id=customer_id, persona=persona),
            channel="web",
        ),
    )


def staged_configuration(
    stages: dict[str, str | None] | None = None, **settings: Any
) -> dict[str, Any]:
    """The configuration document of a workspace measuring STAGED's touchpoints, with the
    journey `buy_and_use`; `stages` moves touchpoints to other stages."""
    moved = {key: stage for key, (stage, _) in STAGED.items()} | (stages or {})
    touchpoints: dict[str, Any] = {}
    for key, (_, metric) in STAGED.items():
        touchpoints[key] = {"survey": f"{metric}_survey", "policy": {"channels": ["preferred"]}}
        if moved[key] is not None:
            touchpoints[key]["stage"] = moved[key]
    return {
        "timezone": settings.pop("timezone", "UTC"),
        "touchpoints": touchpoints,
        "surveys": {
            f"{metric}_survey": {"metric": metric, "question": {"en": "How was it?"}}
            for metric in ("nps", "csat", "ces")
        },
        "journeys": {"buy_and_use": {"stages": STAGES, "thresholds": THRESHOLDS}},
        "settings": {"min_n": 1, **settings},
    }
