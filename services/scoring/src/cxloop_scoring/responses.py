"""Answers as the read API hands them out: the page cursor, and the export's CSV and NDJSON.

Everything here is pure: the endpoints read rows through `response_repository` and
shape them with these functions.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
from collections.abc import Iterable
from datetime import datetime

from cxloop_shared.answers import RESPONSE_COLUMNS, ExportFormat, ResponseView
from cxloop_shared.errors import BadRequest

# (answered_at, response_id) of the last answer of a page: the next page starts after it.
ResponseCursor = tuple[datetime, str]

MEDIA_TYPES: dict[ExportFormat, str] = {
    "csv": "text/csv; charset=utf-8",
    "ndjson": "application/x-ndjson",
}
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection);
# a leading quote makes it text. Tab and carriage return are on OWASP's list as well.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class InvalidCursor(BadRequest):
    """A page cursor this API did not hand out."""


def encode_cursor(cursor: ResponseCursor) -> str:
    """The opaque cursor of a page's last answer."""
    answered_at, response_id = cursor
    raw = json.dumps([answered_at.isoformat(), response_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> ResponseCursor:
    """The position an opaque cursor stands for; `InvalidCursor` (400) for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        answered_at, response_id = json.loads(raw)
        moment = datetime.fromisoformat(answered_at)
    # Bad base64, UTF-8 or JSON, the wrong shape, no time, or JSON nested past all reason.
    except (ValueError, TypeError, binascii.Error, RecursionError):
        raise InvalidCursor("cursor: not a cursor this API handed out") from None
    if moment.tzinfo is None or not isinstance(response_id, str):
        raise InvalidCursor("cursor: not a cursor this API handed out")
    return moment, response_id


def safe_cell(value: object) -> str:
    """One CSV cell: text a spreadsheet would run as a formula gets a leading quote."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return json.dumps(value)  # a CX Index answer's items
    text = str(value)
    return f"'{text}" if isinstance(value, str) and text.startswith(FORMULA_STARTS) else text


def csv_lines(rows: Iterable[ResponseView], *, header: bool = False) -> str:
    """CSV (RFC 4180: CRLF, quotes doubled, quoted where needed) of `rows`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if header:
        writer.writerow(RESPONSE_COLUMNS)
    for row in rows:
        writer.writerow([safe_cell(getattr(row, column)) for column in RESPONSE_COLUMNS])
    return buffer.getvalue()


def ndjson_lines(rows: Iterable[ResponseView]) -> str:
    """One JSON document per answer, each on its own line."""
    return "".join(f"{row.model_dump_json()}\n" for row in rows)


def export_chunk(rows: Iterable[ResponseView], *, export_format: ExportFormat) -> str:
    """A chunk of the export (the CSV header row comes from `export_header`)."""
    return csv_lines(rows) if export_format == "csv" else ndjson_lines(rows)


def export_header(export_format: ExportFormat) -> str:
    """What an export starts with: the CSV header row; nothing for NDJSON."""
    return csv_lines([], header=True) if export_format == "csv" else ""
