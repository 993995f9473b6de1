"""Kafka topic names and their partition counts: the contract table of DESIGN.md."""

from __future__ import annotations

TOUCHPOINTS = "cx.touchpoints"
INVITATIONS = "cx.invitations"
RESPONSES = "cx.responses"
CUSTOMERS = "cx.customers"
ALERTS = "cx.alerts"

PARTITIONS: dict[str, int] = {
    TOUCHPOINTS: 12,
    INVITATIONS: 12,
    RESPONSES: 12,
    CUSTOMERS: 12,
    ALERTS: 3,
}


def dlq(topic: str) -> str:
    """Name of the dead-letter topic that holds poison messages of `topic`."""
    return f"{topic}.dlq"


def all_topics() -> dict[str, int]:
    """Every topic cxloop uses, dead-letter topics included, with its partition count."""
    topics = dict(PARTITIONS)
    topics.update({dlq(name): 1 for name in PARTITIONS})
    return topics
