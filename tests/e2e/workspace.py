"""Setting up a workspace through the public API, as a user would."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class Keys:
    """The keys a test works with."""

    admin: str
    ingest: str
    read: str


def csat_config(workspace_id: str, *, smtp_port: int, min_n: int = 1) -> dict[str, Any]:
    """A workspace measuring CSAT after checkout, sending email to the local catcher."""
    return {
        "workspace": workspace_id,
        "timezone": "UTC",
        "touchpoints": {
            "checkout": {
                "stage": "purchase",
                "survey": "csat_checkout",
                "policy": {
                    "delay": "PT0S",
                    "send_window": {"start": "00:00", "end": "23:59"},
                    "expire_after": "P3D",
                    "channels": ["email"],
                },
            }
        },
        "surveys": {
            "csat_checkout": {
                "metric": "csat",
                "question": {"en": "How satisfied are you with your checkout?"},
            }
        },
        "channels": {
            "email": {
                "kind": "smtp",
                "host": "127.0.0.1",
                "port": smtp_port,
                "from": "Acme <cx@acme.test>",
            }
        },
        "settings": {"min_n": min_n},
    }


def create_workspace(gateway: httpx.Client, *, admin_token: str, config: dict[str, Any]) -> Keys:
    """Create the workspace, apply its configuration, issue an ingest and a read key."""
    workspace_id = config["workspace"]
    created = gateway.post(
        "/v1/workspaces",
        json={"id": workspace_id, "name": workspace_id},
        headers={"Authorization": f"Bearer {admin_token}"},
    )
    assert created.status_code == 201, created.text
    admin = created.json()["admin_key"]["key"]
    auth = {"Authorization": f"Bearer {admin}"}
    applied = gateway.put("/v1/config", json=config, headers=auth)
    assert applied.status_code == 200, applied.text

    def key(name: str, scopes: list[str]) -> str:
        issued = gateway.post("/v1/api-keys", json={"name": name, "scopes": scopes}, headers=auth)
        assert issued.status_code == 201, issued.text
        return str(issued.json()["key"])

    return Keys(
        admin=admin,
        ingest=key("shop", ["events:write"]),
        read=key("dashboard", ["metrics:read"]),
    )
