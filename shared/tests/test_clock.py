"""The movable clock: an offset file moves `utcnow()`, and nothing else does."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cxloop_shared.clock import ENV
from cxloop_shared.events import utcnow


def test_the_offset_file_moves_the_clock_and_is_reread_when_it_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    offset = tmp_path / "offset"
    offset.write_text("86400")
    monkeypatch.setenv(ENV, str(offset))

    assert utcnow() - datetime.now(UTC) > timedelta(hours=23, minutes=59)
    offset.write_text("-3600")
    os.utime(offset, ns=(1, 1))  # a different mtime even within the same clock tick
    assert datetime.now(UTC) - utcnow() > timedelta(minutes=59)


def test_without_the_setting_the_clock_is_the_systems(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)

    assert abs(utcnow() - datetime.now(UTC)) < timedelta(seconds=1)
