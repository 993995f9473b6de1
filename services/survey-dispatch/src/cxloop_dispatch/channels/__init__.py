"""Channel adapters: one module per channel behind the `Channel` interface."""

from __future__ import annotations

from cxloop_shared.config import ChannelConfig

from cxloop_dispatch.channels.base import Channel, HandingOver, SendFailed, SendReceipt, Survey
from cxloop_dispatch.channels.email import SmtpChannel
from cxloop_dispatch.channels.sms import SmsChannel, sms_delivery_status
from cxloop_dispatch.channels.webhook import WebhookChannel
from cxloop_dispatch.channels.whatsapp import WhatsAppChannel

__all__ = [
    "Channel",
    "HandingOver",
    "SendFailed",
    "SendReceipt",
    "SmsChannel",
    "SmtpChannel",
    "Survey",
    "WebhookChannel",
    "WhatsAppChannel",
    "build",
    "sms_delivery_status",
]


def build(config: ChannelConfig, *, sms_status_callback: str | None = None) -> Channel:
    """The adapter for a configured channel.

    `sms_status_callback` is the URL Twilio posts delivery reports to for this channel
    (read them with `sms_delivery_status`); without it Twilio reports none.
    """
    if config.kind == "smtp":
        return SmtpChannel(config)
    if config.kind == "twilio":
        return SmsChannel(config, status_callback=sms_status_callback)
    if config.kind == "whatsapp":
        return WhatsAppChannel(config)
    if config.kind == "webhook":
        return WebhookChannel(config)
    raise SendFailed(f"channel kind {config.kind!r} is not supported", permanent=True)
