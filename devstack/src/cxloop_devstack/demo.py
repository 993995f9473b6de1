"""`make run DEMO=1`: synthetic customers checking out and some of them answering."""

from __future__ import annotations

import random
import re
import threading
import uuid
from datetime import UTC, datetime

import httpx

from cxloop_devstack.stack import StackSettings

MAIL_API = "http://127.0.0.1:8025/api/messages"


def feed(settings: StackSettings, ingest_key: str, stopping: threading.Event) -> None:
    """Post a checkout every second; answer about half of the surveys that arrive."""
    answered: set[str] = set()
    rng = random.Random(7)
    with httpx.Client(timeout=10) as client:
        while not stopping.wait(1.0):
            customer = f"demo-{rng.randrange(500)}"
            client.post(
                f"{settings.url('ingest')}/v1/events",
                headers={"Authorization": f"Bearer {ingest_key}"},
                json={
                    "id": f"demo-{uuid.uuid4().hex}",
                    "touchpoint": "checkout",
                    "occurred_at": datetime.now(UTC).isoformat(),
                    "customer": {"id": customer, "email": f"{customer}@example.com"},
                    "attributes": {"order_value": round(rng.uniform(10, 300), 2)},
                },
            )
            for message in client.get(MAIL_API).json():
                if message["id"] in answered:
                    continue
                answered.add(message["id"])
                link = re.search(r"(http://\S+/r/[\w.\-]+)\?s=", message.get("text") or "")
                if link and rng.random() < 0.5:
                    score = rng.choices([1, 2, 3, 4, 5], weights=[1, 1, 2, 5, 6])[0]
                    client.post(link.group(1), data={"score": str(score)})
