"""Configuration parts for the gateway tests: one valid item of every part, and a whole
configuration holding one of each under the same key."""

from __future__ import annotations

from typing import Any

MASK = "**********"


def part_values(key: str) -> dict[str, Any]:
    """A valid item of every keyed part, by the configuration field that holds it.

    The touchpoint names the survey `key`; the rest stand alone.
    """
    return {
        "surveys": {
            "metric": "csat",
            "question": {"en": "How satisfied are you?"},
            "follow_up": {"en": "Why?"},
        },
        "touchpoints": {
            "stage": "support",
            "survey": key,
            "policy": {"delay": "PT2H", "sample": 0.5, "channels": ["preferred"]},
        },
        "journeys": {
            "stages": ["purchase", "support"],
            "thresholds": {"csat": {"green": 80.0, "red": 60.0}},
        },
        "sources": {
            "kind": "stripe",
            "secrets": ["whsec_probe_one", "whsec_probe_two"],
            "touchpoints": {"invoice.paid": key},
        },
        "channels": {
            "kind": "twilio",
            "account_sid": "AC123",
            "auth_token": "twilio-probe-token",
            "from": "+15550100",
        },
        "endpoints": {
            "url": "https://crm.example.test/hooks/cx",
            "secret": "whsec_probe_endpoint",
            "events": ["alert.created"],
        },
    }


def probe_config(workspace_id: str, key: str = "probe") -> dict[str, Any]:
    """A whole configuration with one item of every part named `key`, secrets included."""
    values = part_values(key)
    return {
        "workspace": workspace_id,
        "timezone": "Europe/Berlin",
        **{field: {key: value} for field, value in values.items()},
        "fatigue": [{"scope": "any_survey", "max": 1, "per": "P7D"}],
        "alerts": [{"when": "csat <= 2", "notify": [key]}],
    }


# Where each keyed part is served, by the configuration field that holds it.
KEYED_PATHS = {
    "touchpoints": "/v1/touchpoints",
    "surveys": "/v1/surveys",
    "journeys": "/v1/journeys",
    "sources": "/v1/sources",
    "channels": "/v1/channels",
    "endpoints": "/v1/endpoints",
}
LISTED_PATHS = {"alerts": "/v1/alert-rules", "fatigue": "/v1/fatigue-rules"}
