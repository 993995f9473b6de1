"""A local SMTP server that keeps every message in memory and shows them over HTTP.

Run standalone with ``python -m cxloop_devstack.mailcatcher --smtp-port 1025 --http-port 8025``.
"""

from __future__ import annotations

import argparse
import asyncio
import email.policy
import email.utils
import html
import json
import re
import threading
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from cxloop_devstack.foreground import wait_for_shutdown
from cxloop_devstack.ports import free_port

HOST = "127.0.0.1"


class CaughtMessage(EmailMessage):
    """A received message (an ``EmailMessage``) plus its SMTP envelope.

    Sub-parts of a multipart message are of this class too; only the top-level message has
    the envelope fields filled in.
    """

    id: int = 0
    mail_from: str = ""
    rcpt_tos: tuple[str, ...] = ()
    received_at: datetime | None = None

    @property
    def text(self) -> str | None:
        """The text/plain body, if any."""
        return _body(self, "plain")

    @property
    def html(self) -> str | None:
        """The text/html body, if any."""
        return _body(self, "html")

    def to_json(self) -> dict[str, Any]:
        """The ``/api/messages`` representation of this message."""
        headers: dict[str, str] = {}
        for name, value in self.items():
            # Repeated headers (Received, ...) are kept, one per line.
            headers[name] = f"{headers[name]}\n{value}" if name in headers else str(value)
        return {
            "id": self.id,
            "mail_from": self.mail_from,
            "rcpt_tos": list(self.rcpt_tos),
            "subject": str(self.get("Subject", "")),
            "date": _date_iso(self),
            "received_at": self.received_at.isoformat() if self.received_at else None,
            "headers": headers,
            "text": self.text,
            "html": self.html,
        }


class MailCatcher:
    """SMTP on ``smtp_port`` (given or free) and a browsable inbox on ``http_port``."""

    def __init__(
        self, smtp_port: int | None = None, http_port: int | None = None, host: str = HOST
    ) -> None:
        self.host = host
        self._smtp_port = smtp_port
        self._http_port = http_port
        self._messages: list[CaughtMessage] = []
        self._last_id = 0
        self._changed = threading.Condition()
        self._controller: Controller | None = None
        self._http: ThreadingHTTPServer | None = None
        self._http_thread: threading.Thread | None = None

    @property
    def smtp_port(self) -> int:
        """The SMTP port (chosen at start() when none was given)."""
        if self._smtp_port is None:
            raise RuntimeError("MailCatcher is not started")
        return self._smtp_port

    @property
    def http_port(self) -> int:
        """The HTTP port (chosen at start() when none was given)."""
        if self._http is None:
            raise RuntimeError("MailCatcher is not started")
        return int(self._http.server_address[1])

    @property
    def http_url(self) -> str:
        """Base URL of the web inbox."""
        return f"http://{self.host}:{self.http_port}"

    @property
    def messages(self) -> list[CaughtMessage]:
        """Snapshot of every message received so far, oldest first."""
        with self._changed:
            return list(self._messages)

    def start(self) -> None:
        """Start the SMTP and HTTP servers (each in its own thread)."""
        if self._smtp_port is None:
            self._smtp_port = free_port(self.host)
        controller = Controller(
            _Handler(self), hostname=self.host, port=self._smtp_port, ready_timeout=10
        )
        try:
            controller.start()
        except BaseException:
            # On a bind failure aiosmtpd leaves its private loop open (ResourceWarning).
            controller.loop.close()
            raise
        self._controller = controller
        self._http = ThreadingHTTPServer(
            (self.host, self._http_port or 0), _make_http_handler(self)
        )
        self._http.daemon_threads = True
        self._http_thread = threading.Thread(
            target=self._http.serve_forever, name="mailcatcher-http", daemon=True
        )
        self._http_thread.start()

    def stop(self) -> None:
        """Stop both servers; the messages stay readable."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._http_thread is not None:
            self._http_thread.join()
            self._http_thread = None

    def clear(self) -> None:
        """Forget every message received so far."""
        with self._changed:
            self._messages.clear()

    def wait_for(self, count: int, timeout: float) -> list[CaughtMessage]:
        """Block until at least ``count`` messages arrived; return them all.

        Raises ``TimeoutError`` after ``timeout`` seconds. Blocks the calling thread: from
        async code whose own loop sends the mail, use :meth:`wait_for_async`.
        """
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._messages) >= count, timeout):
                got = len(self._messages)
                raise TimeoutError(f"expected {count} messages within {timeout}s, got {got}")
            return list(self._messages)

    async def wait_for_async(
        self,
        count: int,
        timeout: float,  # noqa: ASYNC109 (same signature as wait_for)
    ) -> list[CaughtMessage]:
        """Like :meth:`wait_for` without blocking the event loop."""
        deadline = time.monotonic() + timeout
        while True:
            messages = self.messages
            if len(messages) >= count:
                return messages
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"expected {count} messages within {timeout}s, got {len(messages)}"
                )
            await asyncio.sleep(0.05)

    def _receive(self, raw: bytes, mail_from: str, rcpt_tos: list[str]) -> None:
        # SMTP data uses CRLF; without this every body would end its lines with "\r".
        raw = raw.replace(b"\r\n", b"\n")
        message = BytesParser(CaughtMessage, policy=email.policy.default).parsebytes(raw)
        assert isinstance(message, CaughtMessage)
        message.mail_from = mail_from
        message.rcpt_tos = tuple(rcpt_tos)
        message.received_at = datetime.now(UTC)
        with self._changed:
            # Ids keep growing across clear(), so a stale /messages/<n> link never shows another.
            self._last_id += 1
            message.id = self._last_id
            self._messages.append(message)
            self._changed.notify_all()

    def _find(self, message_id: int) -> CaughtMessage | None:
        return next((m for m in self.messages if m.id == message_id), None)


class _Handler:
    """aiosmtpd handler: hand every DATA payload to the catcher."""

    def __init__(self, catcher: MailCatcher) -> None:
        self.catcher = catcher

    async def handle_DATA(  # noqa: N802 (name fixed by aiosmtpd)
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        raw = envelope.original_content or b""
        self.catcher._receive(raw, envelope.mail_from or "", list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


def _make_http_handler(catcher: MailCatcher) -> type[BaseHTTPRequestHandler]:
    class InboxHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0].rstrip("/") or "/"
            if path == "/":
                self._send(200, "text/html; charset=utf-8", _index_html(catcher.messages))
            elif path == "/api/messages":
                body = json.dumps([m.to_json() for m in catcher.messages], indent=2)
                self._send(200, "application/json", body)
            elif match := re.fullmatch(r"/messages/(\d+)(/source)?", path):
                message = catcher._find(int(match.group(1)))
                if message is None:
                    self._send(404, "text/plain; charset=utf-8", "no such message\n")
                elif match.group(2):
                    self._send(200, "text/plain; charset=utf-8", message.as_string())
                else:
                    self._send(200, "text/html; charset=utf-8", _message_html(message))
            else:
                self._send(404, "text/plain; charset=utf-8", "not found\n")

        def do_DELETE(self) -> None:
            if self.path.rstrip("/") == "/api/messages":
                catcher.clear()
                self._send(204, "text/plain", "")
            else:
                self._send(404, "text/plain; charset=utf-8", "not found\n")

        def log_message(self, format: str, *args: Any) -> None:
            """Silence per-request logging on stderr."""

        def _send(self, status: int, content_type: str, body: str) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return InboxHandler


def _index_html(messages: list[CaughtMessage]) -> str:
    rows = "\n".join(
        "<tr><td>{id}</td><td>{frm}</td><td>{to}</td><td><a href='/messages/{id}'>{subj}</a>"
        "</td><td>{when}</td><td><a href='/messages/{id}/source'>source</a></td></tr>".format(
            id=m.id,
            frm=html.escape(str(m.get("From", m.mail_from))),
            to=html.escape(", ".join(m.rcpt_tos)),
            subj=html.escape(str(m.get("Subject", "(no subject)"))),
            when=html.escape(m.received_at.strftime("%Y-%m-%d %H:%M:%S") if m.received_at else ""),
        )
        for m in reversed(messages)
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>cxloop mail</title>"
        "<style>body{font-family:sans-serif}td,th{padding:4px 10px;text-align:left}</style>"
        f"</head><body><h1>cxloop mail ({len(messages)})</h1><table>"
        "<tr><th>#</th><th>From</th><th>To</th><th>Subject</th><th>Received (UTC)</th><th></th>"
        f"</tr>{rows}</table></body></html>"
    )


def _message_html(message: CaughtMessage) -> str:
    # The HTML part is shown as sent: that is the point of a mail preview.
    if message.html is not None:
        return message.html
    text = message.text if message.text is not None else message.as_string()
    return f"<!doctype html><meta charset='utf-8'><pre>{html.escape(text)}</pre>"


def _body(message: EmailMessage, subtype: str) -> str | None:
    try:
        part = message.get_body(preferencelist=(subtype,))
        if part is None:
            return None
        content = part.get_content()
    except (KeyError, LookupError, ValueError):
        return None
    return content if isinstance(content, str) else None


def _date_iso(message: CaughtMessage) -> str | None:
    """The Date header as ISO 8601, falling back to the arrival time."""
    raw = message.get("Date")
    if raw:
        try:
            return email.utils.parsedate_to_datetime(str(raw)).isoformat()
        except (TypeError, ValueError):
            pass
    return message.received_at.isoformat() if message.received_at else None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The mailcatcher command-line options (shared with ``cxloop-devstack mailcatcher``)."""
    parser.add_argument("--host", default=HOST)
    parser.add_argument("--smtp-port", type=int, default=1025)
    parser.add_argument("--http-port", type=int, default=8025)


def run_foreground(args: argparse.Namespace) -> None:
    """Serve until Ctrl-C or SIGTERM."""
    catcher = MailCatcher(args.smtp_port, args.http_port, host=args.host)
    catcher.start()
    print(f"SMTP on {args.host}:{catcher.smtp_port}, inbox at {catcher.http_url}", flush=True)
    try:
        wait_for_shutdown()
    finally:
        catcher.stop()


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m cxloop_devstack.mailcatcher``."""
    parser = argparse.ArgumentParser(description=__doc__)
    add_arguments(parser)
    run_foreground(parser.parse_args(argv))


if __name__ == "__main__":
    main()
