"""What the live stream says, as server-sent events: pure functions from cxloop's events
to `text/event-stream` frames.

- `response`: an answer, new or revised; `data` is a `GET /v1/responses` item, its `id`
  `<response_id>/<revision>`.
- `alert`: a closed-loop alert was raised; `data` is a `GET /v1/alerts` item.
- `metrics`: `{"touchpoint": ...}`, a hint that the touchpoint's metrics changed (re-read
  `GET /v1/metrics`).
- `overflow`: the client fell too far behind and was dropped; re-read and reconnect.
- `close`: the stream ended (the gateway stops, its Kafka feed broke, or the key was
  revoked); re-read and reconnect.
- comment lines (`: heartbeat`) keep proxies from closing an idle stream.
"""

from __future__ import annotations

import json
from typing import Any

from cxloop_shared.answers import AlertView, ResponseView
from cxloop_shared.events import AlertRaised, ResponseRecorded

# Browsers (and the dashboard's reader) wait this long before reconnecting.
RECONNECT_MS = 3000
OPENING = f"retry: {RECONNECT_MS}\n: connected\n\n".encode()
HEARTBEAT = b": heartbeat\n\n"
_NOT_IN_A_FIELD = str.maketrans("", "", "\r\n\0")


def frame(event: str, data: Any, *, event_id: str | None = None) -> bytes:
    """One server-sent event: `data` as JSON on one line (JSON escapes every line break).

    The `id` is cleaned of line breaks and NUL, which would end the field early.
    """
    lines = []
    if event_id is not None:
        lines.append(f"id: {event_id.translate(_NOT_IN_A_FIELD)}")
    lines.append(f"event: {event}")
    lines.append(f"data: {json.dumps(data, separators=(',', ':'))}")
    return ("\n".join(lines) + "\n\n").encode()


def response_frame(recorded: ResponseRecorded) -> bytes:
    """The `response` event of an answer, shaped as the answers API shapes it."""
    view = ResponseView.model_validate(recorded, from_attributes=True)
    return frame(
        "response",
        view.model_dump(mode="json"),
        event_id=f"{recorded.response_id}/{recorded.revision}",
    )


def alert_frame(raised: AlertRaised) -> bytes:
    """The `alert` event of a raised alert, shaped as the alerts API shapes it (open)."""
    view = AlertView.model_validate(raised, from_attributes=True)
    return frame("alert", view.model_dump(mode="json"), event_id=str(raised.alert_id))


def metrics_frame(touchpoint: str) -> bytes:
    """The hint that `touchpoint`'s metrics changed."""
    return frame("metrics", {"touchpoint": touchpoint})


def overflow_frame(queued: int) -> bytes:
    """The last frame of a client that fell `queued` events behind."""
    return frame(
        "overflow",
        {"detail": f"more than {queued} events behind; reload and reconnect", "queued": queued},
    )


def closing_frame() -> bytes:
    """The last frame of a stream the gateway ends."""
    return frame("close", {"detail": "the stream ended; reconnect"})
