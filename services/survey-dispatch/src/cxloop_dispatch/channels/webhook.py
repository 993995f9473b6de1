"""A signed webhook per invitation, for in-app prompts and contact-center desktops.

The receiver shows the question in its own UI and answers through ingest's
`/v1/responses`, or sends the customer to `response_url`. The body:

    {"type": "invitation.created", "timestamp": "<ISO 8601>",
     "data": {"invitation_id", "customer_id", "question", "metric", "scores", "locale",
              "response_url"}}

signed per Standard Webhooks (standardwebhooks.com) with the channel's `whsec_` secret:
`webhook-id` is the invitation id, the same on every retry so the receiver can drop a
duplicate; `webhook-timestamp` is unix seconds; `webhook-signature` is `v1,<base64
HMAC-SHA256 of "<id>.<timestamp>.<body>">`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from cxloop_shared.config import ChannelConfig
from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook

from cxloop_dispatch.channels import http
from cxloop_dispatch.channels.base import HandingOver, SendFailed, SendReceipt, Survey

EVENT_TYPE = "invitation.created"
Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


WEBHOOK_ERRORS = http.ProviderErrors(provider="webhook")


def invitation_event(survey: Survey, *, at: datetime) -> dict[str, object]:
    """The webhook body announcing `survey` to the receiver."""
    return {
        "type": EVENT_TYPE,
        "timestamp": at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "data": {
            "invitation_id": str(survey.invitation_id),
            "customer_id": survey.address,
            "question": survey.question,
            "metric": survey.metric,
            "scores": list(survey.scores),
            "locale": survey.locale,
            "response_url": survey.answer_url,
        },
    }


class WebhookChannel:
    """POSTs each invitation to the workspace's endpoint, signed per Standard Webhooks."""

    def __init__(
        self,
        config: ChannelConfig,
        *,
        timeout: float = http.TOTAL_TIMEOUT,
        connect_timeout: float = http.CONNECT_TIMEOUT,
        clock: Clock = _utcnow,
    ) -> None:
        if not config.url or config.secret is None:
            raise SendFailed("webhook channel needs url and secret", permanent=True)
        try:
            self._signer = Webhook(config.secret.get_secret_value())
        except (EmptyWebhookSecretError, ValueError) as exc:  # bad base64 is a ValueError
            raise SendFailed(
                "webhook channel secret is not a whsec_<base64> secret", permanent=True
            ) from exc
        self._url = config.url
        self._timeouts = http.Timeouts(connect=connect_timeout, total=timeout)
        self._clock = clock

    async def send(self, survey: Survey, *, handing_over: HandingOver) -> SendReceipt:
        """Deliver the event; a 2xx is accepted, 408/429/5xx retried, other answers final."""
        # Whole seconds, so `timestamp` and the signed `webhook-timestamp` agree.
        at = self._clock().astimezone(UTC).replace(microsecond=0)
        body = http.json_bytes(invitation_event(survey, at=at))
        message_id = survey.message_key
        headers = {
            **http.JSON_CONTENT,
            "webhook-id": message_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": self._signer.sign(message_id, at, body.decode()),
        }
        await http.post(
            self._url,
            errors=WEBHOOK_ERRORS,
            handing_over=handing_over,
            timeouts=self._timeouts,
            headers=headers,
            content=body,
        )
        return SendReceipt(provider_message_id=message_id)
