"""WhatsApp through Meta's Cloud API: an approved template whose URL button opens the survey.

A survey invitation is business-initiated, and outside the 24-hour customer-service
window WhatsApp accepts only approved templates, so this adapter always sends the
template and never free text, even when a window happens to be open. The workspace
registers a template (`template`, in `template_language`) whose body has one variable,
the question, and whose first button is a URL button `https://<ingest>/r/{{1}}`: the
dynamic suffix is the answer token.

`POST {base_url}/{phone_number_id}/messages` with `Authorization: Bearer <access token>`:

    {"messaging_product": "whatsapp", "to": "<number without +>", "type": "template",
     "template": {"name": ..., "language": {"code": ...}, "components": [
        {"type": "body", "parameters": [{"type": "text", "text": <question>}]},
        {"type": "button", "sub_type": "url", "index": "0",
         "parameters": [{"type": "text", "text": <answer token>}]}]}}

Meta answers `{"messaging_product", "contacts": [{"input", "wa_id"}], "messages":
[{"id": "wamid…"}]}`; `messages[0].id` is the receipt. Errors are Graph API errors,
`{"error": {"message", "type", "code", "error_data": {"details"}, "fbtrace_id"}}`,
classified by `code` before the HTTP status, which says less (a throttled send need not
be a 429). Some failures (131026, undeliverable) arrive only later, through the
messages webhook, which dispatch does not read yet.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from cxloop_shared.config import ChannelConfig

from cxloop_dispatch.channels import http
from cxloop_dispatch.channels.base import HandingOver, SendFailed, SendReceipt, Survey

GRAPH_API = "https://graph.facebook.com/v21.0"
MAX_PARAMETER = 1024  # a template body is at most 1024 characters, variables filled in


def _graph_code(document: Any) -> str | None:
    if not isinstance(document, dict) or not isinstance(document.get("error"), dict):
        return None
    return http.error_code(document["error"].get("code"))


WHATSAPP_ERRORS = http.ProviderErrors(
    provider="whatsapp",
    code=_graph_code,
    retryable=frozenset({"1", "2", "4", "80007", "130429", "131000", "131016", "131056"}),
    permanent=frozenset({"0", "10", "190", "131026", "131031", "132001", "132000", "368"}),
    reasons={
        "0": "authentication failed",
        "1": "unknown API error",
        "2": "service temporarily unavailable",
        "4": "app rate limit",
        "10": "permission denied",
        "190": "access token expired",
        "368": "account restricted for policy violations",
        "80007": "business account rate limit",
        "130429": "throughput rate limit",
        "131000": "something went wrong",
        "131016": "service unavailable",
        "131026": "message undeliverable",
        "131031": "business account locked",
        "131056": "too many messages to this number",
        "132000": "template parameter count mismatch",
        "132001": "template does not exist in this language",
    },
)


def template_message(survey: Survey, *, template: str, language: str) -> dict[str, Any]:
    """The Cloud API body that sends `template` with the question and the answer token."""
    # Meta refuses newlines, tabs and runs of spaces in a body variable.
    question = " ".join(survey.question.split())[:MAX_PARAMETER]
    return {
        "messaging_product": "whatsapp",
        "to": survey.address.removeprefix("+"),
        "type": "template",
        "template": {
            "name": template,
            "language": {"code": language},
            "components": [
                {"type": "body", "parameters": [{"type": "text", "text": question}]},
                {
                    "type": "button",
                    "sub_type": "url",
                    "index": "0",
                    "parameters": [{"type": "text", "text": answer_token(survey.answer_url)}],
                },
            ],
        },
    }


def answer_token(answer_url: str) -> str:
    """The token in `https://…/r/<token>`, which the template's button URL appends."""
    path = urlsplit(answer_url).path
    _, marker, token = path.rpartition("/r/")
    if not marker or not token or "/" in token:
        raise SendFailed("whatsapp: the answer URL has no /r/<token>", permanent=True)
    return token


class WhatsAppChannel:
    """Sends a workspace's approved survey template from its business phone number."""

    def __init__(
        self,
        config: ChannelConfig,
        *,
        timeout: float = http.TOTAL_TIMEOUT,
        connect_timeout: float = http.CONNECT_TIMEOUT,
    ) -> None:
        if not config.phone_number_id or config.access_token is None or not config.template:
            raise SendFailed(
                "whatsapp channel needs phone_number_id, access_token and template",
                permanent=True,
            )
        base = (config.base_url or GRAPH_API).rstrip("/")
        self._url = f"{base}/{config.phone_number_id}/messages"
        self._access_token = config.access_token.get_secret_value()
        self._template = config.template
        self._language = config.template_language
        self._timeouts = http.Timeouts(connect=connect_timeout, total=timeout)

    async def send(self, survey: Survey, *, handing_over: HandingOver) -> SendReceipt:
        """Send the template; rate limits and outages are retried, refusals are final."""
        message = template_message(survey, template=self._template, language=self._language)
        document = await http.post(
            self._url,
            errors=WHATSAPP_ERRORS,
            handing_over=handing_over,
            timeouts=self._timeouts,
            headers={**http.JSON_CONTENT, "Authorization": f"Bearer {self._access_token}"},
            content=http.json_bytes(message),
        )
        return SendReceipt(provider_message_id=_message_id(document))


def _message_id(document: Any) -> str | None:
    messages = document.get("messages") if isinstance(document, dict) else None
    if isinstance(messages, list) and messages and isinstance(messages[0], dict):
        found = messages[0].get("id")
        return found if isinstance(found, str) else None
    return None
