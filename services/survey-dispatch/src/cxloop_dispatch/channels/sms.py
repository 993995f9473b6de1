"""SMS through Twilio's Messages API: a short text the customer answers by replying a number.

`POST {base_url}/2010-04-01/Accounts/{AccountSid}/Messages.json` with HTTP Basic
(account SID, auth token) and the form fields `To`, `From` (`MessagingServiceSid` when
the sender is a Messaging Service, `MG…`), `Body` and, when dispatch serves one,
`StatusCallback`. Twilio answers 201 with the Message resource; its `sid` is the receipt.
Errors are JSON `{"code", "message", "more_info", "status"}`; only `code` is kept, as
the message repeats the number.

The reply is read by ingest's `/v1/inbound/sms`, so the text names the numeric scale.
CX Index asks three questions a single reply cannot carry: its text carries the link.

`I-Twilio-Idempotency-Token` carries the invitation id. Twilio sends that header on its
own webhooks; that its REST API deduplicates creates by it is not documented, so an
ambiguous send is still never resent blindly.

Twilio reports delivery later through `StatusCallback`; `sms_delivery_status` reads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from cxloop_shared.config import ChannelConfig
from cxloop_shared.events import Metric

from cxloop_dispatch.channels import http
from cxloop_dispatch.channels.base import HandingOver, SendFailed, SendReceipt, Survey

TWILIO_API = "https://api.twilio.com"
MAX_TEXT = 320  # three GSM-7 segments at most (153 characters each); Twilio allows 1600
DeliveryStatus = Literal["delivered", "failed"]


def _twilio_code(document: Any) -> str | None:
    return http.error_code(document.get("code")) if isinstance(document, dict) else None


TWILIO_ERRORS = http.ProviderErrors(
    provider="twilio",
    code=_twilio_code,
    retryable=frozenset({"20429"}),  # "Too many requests", sent with 429
    permanent=frozenset({"21610", "21211", "21614", "21408", "21612", "20003"}),
    reasons={
        "20003": "authentication failed",
        "20429": "too many requests",
        "21211": "invalid To number",
        "21408": "region not enabled",
        "21610": "recipient unsubscribed",
        "21612": "To number unreachable",
        "21614": "To number cannot receive SMS",
    },
)

# Words that stay within GSM-7 (no curly quotes or ellipsis), so a segment is 153+ chars.
_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "reply": "Reply {low}-{high} ({low} = {low_label}, {high} = {high_label}).",
        "yes_no": "Reply 1 for yes, 0 for no.",
        "link": "Answer here: {url}",
        "stop": "Reply STOP to opt out.",
    },
    "de": {
        "reply": "Antworten Sie mit {low}-{high} ({low} = {low_label}, {high} = {high_label}).",
        "yes_no": "Antworten Sie 1 für Ja, 0 für Nein.",
        "link": "Hier antworten: {url}",
        "stop": "Abmelden: STOP antworten.",
    },
}
_ENDS: dict[str, dict[Metric, tuple[str, str]]] = {
    "en": {
        "nps": ("not likely", "very likely"),
        "csat": ("very dissatisfied", "very satisfied"),
        "ces": ("strongly disagree", "strongly agree"),
    },
    "de": {
        "nps": ("unwahrscheinlich", "sehr wahrscheinlich"),
        "csat": ("sehr unzufrieden", "sehr zufrieden"),
        "ces": ("stimme gar nicht zu", "stimme voll zu"),
    },
}
_STATUSES: dict[str, DeliveryStatus] = {
    "delivered": "delivered",
    "read": "delivered",  # read implies delivered (channels with read receipts)
    "undelivered": "failed",
    "failed": "failed",
    "canceled": "failed",  # never sent
}


def sms_text(survey: Survey) -> str:
    """The survey as one short text: brand, question, how to answer, how to opt out.

    Within `MAX_TEXT` characters by shortening the question, except for a CX Index
    text, whose answer link alone can be longer.
    """
    lang = survey.locale.replace("_", "-").split("-")[0].lower()
    words = _WORDS.get(lang, _WORDS["en"])
    ends = _ENDS.get(lang, _ENDS["en"])
    if survey.metric == "yes_no":
        how = words["yes_no"]
    elif survey.metric in ends and survey.scores:
        low_label, high_label = ends[survey.metric]
        how = words["reply"].format(
            low=min(survey.scores),
            high=max(survey.scores),
            low_label=low_label,
            high_label=high_label,
        )
    else:
        how = words["link"].format(url=survey.answer_url)
    prefix = f"{survey.brand}: " if survey.brand else ""
    suffix = f" {how} {words['stop']}"
    question = " ".join(survey.question.split())
    room = max(MAX_TEXT - len(prefix) - len(suffix), 40)
    if len(question) > room:
        question = question[: room - 3].rstrip() + "..."
    return f"{prefix}{question}{suffix}"


def sms_delivery_status(form: Mapping[str, str]) -> DeliveryStatus | None:
    """What a Twilio status callback says about delivery, if anything final.

    `MessageStatus` (older callbacks: `SmsStatus`) `delivered` is delivered;
    `undelivered` and `failed` are failed; `queued`, `accepted`, `sending`, `sent` and
    anything unknown are not final yet, so None.
    """
    status = form.get("MessageStatus") or form.get("SmsStatus") or ""
    return _STATUSES.get(status.strip().lower())


class SmsChannel:
    """Sends through a workspace's Twilio account."""

    def __init__(
        self,
        config: ChannelConfig,
        *,
        status_callback: str | None = None,
        timeout: float = http.TOTAL_TIMEOUT,
        connect_timeout: float = http.CONNECT_TIMEOUT,
    ) -> None:
        if not config.account_sid or config.auth_token is None or not config.from_:
            raise SendFailed(
                "twilio channel needs account_sid, auth_token and from", permanent=True
            )
        self._account_sid = config.account_sid
        self._auth_token = config.auth_token.get_secret_value()
        self._sender = config.from_
        base = (config.base_url or TWILIO_API).rstrip("/")
        self._url = f"{base}/2010-04-01/Accounts/{config.account_sid}/Messages.json"
        self._status_callback = status_callback
        self._timeouts = http.Timeouts(connect=connect_timeout, total=timeout)

    async def send(self, survey: Survey, *, handing_over: HandingOver) -> SendReceipt:
        """Create the Message; 429 and 5xx are retried, other refusals are final."""
        sender_field = "MessagingServiceSid" if _is_messaging_service(self._sender) else "From"
        form = {"To": survey.address, sender_field: self._sender, "Body": sms_text(survey)}
        if self._status_callback:
            form["StatusCallback"] = self._status_callback
        document = await http.post(
            self._url,
            errors=TWILIO_ERRORS,
            handing_over=handing_over,
            timeouts=self._timeouts,
            headers={"I-Twilio-Idempotency-Token": survey.message_key},
            auth=(self._account_sid, self._auth_token),
            form=form,
        )
        sid = document.get("sid") if isinstance(document, dict) else None
        return SendReceipt(provider_message_id=sid if isinstance(sid, str) else None)


def _is_messaging_service(sender: str) -> bool:
    return sender.startswith("MG") and len(sender) == 34
