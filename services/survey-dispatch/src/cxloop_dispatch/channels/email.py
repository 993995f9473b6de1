"""Email over SMTP: HTML and text parts, one-click scale buttons, a stable Message-ID."""

from __future__ import annotations

from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from pathlib import Path

import aiosmtplib
from cxloop_shared.config import ChannelConfig
from jinja2 import Environment, FileSystemLoader, select_autoescape

from cxloop_dispatch.channels.base import HandingOver, SendFailed, SendReceipt, Survey

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent.parent / "templates"),
    autoescape=select_autoescape(["html"]),
    auto_reload=False,
)
BUTTON_METRICS = {"nps", "csat", "ces", "yes_no"}


def compose(survey: Survey, *, sender: str) -> EmailMessage:
    """The survey email: the scale as one-click links to `answer_url?s=N`."""
    message = EmailMessage()
    message["Subject"] = survey.question
    message["From"] = sender
    message["To"] = survey.address
    message["Date"] = formatdate(localtime=False)
    domain = parseaddr(sender)[1].partition("@")[2] or "cxloop.local"
    # Stable per invitation, so a provider or a mailbox can spot a resend.
    message["Message-ID"] = f"<{survey.message_key}@{domain}>"
    if survey.unsubscribe_url:
        # RFC 8058: mail clients show an unsubscribe button that POSTs without a session.
        message["List-Unsubscribe"] = f"<{survey.unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    buttons = survey.metric in BUTTON_METRICS
    context = {
        "survey": survey,
        "buttons": buttons,
        "labels": {0: "No", 1: "Yes"} if survey.metric == "yes_no" else {},
    }
    message.set_content(_templates.get_template("survey_email.txt").render(context))
    message.add_alternative(
        _templates.get_template("survey_email.html").render(context), subtype="html"
    )
    return message


class SmtpChannel:
    """Sends through the workspace's SMTP server with aiosmtplib."""

    def __init__(self, config: ChannelConfig, *, timeout: float = 20.0) -> None:
        if not config.host or not config.from_:
            raise SendFailed("smtp channel needs host and from", permanent=True)
        self._config = config
        self._timeout = timeout

    async def send(self, survey: Survey, *, handing_over: HandingOver) -> SendReceipt:
        """Deliver `survey`; 5xx replies are permanent failures, 4xx and network errors not."""
        config = self._config
        assert config.from_ is not None
        message = compose(survey, sender=config.from_)
        envelope_from = Address(addr_spec=parseaddr(config.from_)[1]).addr_spec
        smtp = aiosmtplib.SMTP(
            hostname=config.host,
            port=config.port or 25,
            timeout=self._timeout,
            start_tls=config.starttls,
        )
        handed_over = False
        try:
            await smtp.connect()
            if config.username and config.password:
                await smtp.login(config.username, config.password.get_secret_value())
            await smtp.mail(envelope_from)
            await smtp.rcpt(survey.address)
            await handing_over()
            handed_over = True
            response = await smtp.data(message.as_bytes())
        except aiosmtplib.SMTPResponseException as exc:
            raise SendFailed(f"smtp {exc.code}: {exc.message}", permanent=exc.code >= 500) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            # No reply after the message left: the server may have queued it.
            raise SendFailed(f"smtp: {exc!r}", permanent=False, ambiguous=handed_over) from exc
        finally:
            if smtp.is_connected:
                try:
                    await smtp.quit()
                except (aiosmtplib.SMTPException, OSError):
                    smtp.close()
        return SendReceipt(provider_message_id=message["Message-ID"] or response.message)
